/*
 * redis_sentinel.c - the master's address from Redis Sentinel (see
 * redis_sentinel.h).
 *
 * Two kinds of connection to the sentinels, both hiredis async on the
 * node's event_base:
 *
 *   ask    one at a time, short-lived: SENTINEL get-master-addr-by-name
 *          <name>, closed once answered. A sentinel that does not answer
 *          within ASK_TIMEOUT_MS, answers nil (it does not know the
 *          master) or an error is skipped for the next one.
 *   watch  one subscription to +switch-master, on one sentinel at a time;
 *          when it drops, the next sentinel is watched. Each time the
 *          subscription starts, an ask follows: a failover may have
 *          happened while nobody was watching.
 *
 * Sentinel is the authority on failover; this module only reports what it
 * says. Whether the address really is the master is checked by redis_bus
 * (ROLE on connect), which asks again when it is not.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "redis_events.h"
#include <hiredis/async.h>

#include "clock.h"
#include "log.h"
#include "redis_addr.h"
#include "redis_sentinel.h"

#define ASK_TIMEOUT_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SWITCH_CHANNEL "+switch-master"

static struct {
    struct event_base *base;
    const sb_config *cfg;
    sentinel_handlers h;
    bool started;
    /* ask */
    bool asking;
    redisAsyncContext *ask_ac; /* the sentinel being asked, or NULL */
    struct event *ask_timer;   /* its deadline; without ask_ac, the next round */
    int ask_next;              /* sentinel to try next */
    int ask_tried;             /* sentinels tried in this round */
    int ask_backoff_ms;
    char ask_failure[256]; /* why the last sentinel gave no address */
    /* watch */
    redisAsyncContext *watch_ac;
    struct event *watch_timer;
    int watch_next;
    int watch_backoff_ms;
} sn;

static void ask_next_sentinel(void);
static void watch_connect(void);

static int next_backoff(int *backoff_ms)
{
    int now = *backoff_ms;
    *backoff_ms = now * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : now * 2;
    return now;
}

static void timer_in(struct event *ev, int ms)
{
    struct timeval tv = sb_clock_timeval((uint64_t)ms);
    evtimer_add(ev, &tv);
}

static const sb_hostport *sentinel_at(int i)
{
    return &sn.cfg->sentinels[i];
}

static redisAsyncContext *connect_to(const sb_hostport *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        return NULL;
    }
    redis_events_attach(ac, sn.base);
    return ac;
}

/* ---- ask ------------------------------------------------------------------- */

/* The reply of get-master-addr-by-name as an address, or a reason. */
static bool read_master_reply(const redisReply *r, sb_hostport *out)
{
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(sn.ask_failure, sizeof(sn.ask_failure), "does not know a master named %s",
                 sn.cfg->redis_master_name);
        return false;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(sn.ask_failure, sizeof(sn.ask_failure), "answered %.100s", r->str);
        return false;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING
        || sb_sentinel_addr_parse(r->element[0]->str, r->element[0]->len, r->element[1]->str,
                                  r->element[1]->len, out)
               != 0) {
        snprintf(sn.ask_failure, sizeof(sn.ask_failure), "answered no usable address");
        return false;
    }
    return true;
}

static void on_ask_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    if (ac != sn.ask_ac)
        return; /* given up on (timeout, stop) */
    sn.ask_ac = NULL;
    evtimer_del(sn.ask_timer);
    redisReply *r = reply;
    if (!r) {
        /* Refused or dropped; hiredis frees the context. */
        snprintf(sn.ask_failure, sizeof(sn.ask_failure), "%s",
                 ac->errstr ? ac->errstr : "connection lost");
        ask_next_sentinel();
        return;
    }
    sb_hostport master;
    bool ok = read_master_reply(r, &master);
    redisAsyncDisconnect(ac); /* closes once this callback returns */
    if (!ok) {
        ask_next_sentinel();
        return;
    }
    sn.asking = false;
    sn.ask_backoff_ms = BACKOFF_MIN_MS;
    /* The next ask starts with the sentinel that answered. */
    sn.ask_next = (int)(intptr_t)privdata;
    if (sn.h.on_master)
        sn.h.on_master(master.host, master.port);
}

static void ask_next_sentinel(void)
{
    if (sn.ask_tried == sn.cfg->n_sentinels) {
        sb_warn(NULL, NULL, "redis sentinel: none of %d sentinels named the master %s (last: %s)",
                sn.cfg->n_sentinels, sn.cfg->redis_master_name, sn.ask_failure);
        timer_in(sn.ask_timer, next_backoff(&sn.ask_backoff_ms));
        return;
    }
    int i = sn.ask_next;
    sn.ask_next = (i + 1) % sn.cfg->n_sentinels;
    sn.ask_tried++;
    const sb_hostport *s = sentinel_at(i);
    redisAsyncContext *ac = connect_to(s);
    if (!ac
        || redisAsyncCommand(ac, on_ask_reply, (void *)(intptr_t)i,
                             "SENTINEL get-master-addr-by-name %s", sn.cfg->redis_master_name)
               != REDIS_OK) {
        if (ac)
            redisAsyncFree(ac);
        snprintf(sn.ask_failure, sizeof(sn.ask_failure), "cannot connect to %s:%d", s->host,
                 s->port);
        ask_next_sentinel(); /* bounded: ask_tried grows to n_sentinels */
        return;
    }
    sn.ask_ac = ac;
    timer_in(sn.ask_timer, ASK_TIMEOUT_MS);
}

/* The asked sentinel's deadline, or the pause between two rounds. */
static void on_ask_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (sn.ask_ac) {
        redisAsyncContext *ac = sn.ask_ac;
        sn.ask_ac = NULL; /* its callback, run by the free, is ignored */
        snprintf(sn.ask_failure, sizeof(sn.ask_failure), "no answer within %d ms", ASK_TIMEOUT_MS);
        redisAsyncFree(ac);
        ask_next_sentinel();
        return;
    }
    sn.ask_tried = 0;
    ask_next_sentinel();
}

void sentinel_ask(void)
{
    if (!sn.started || sn.asking)
        return;
    sn.asking = true;
    sn.ask_tried = 0;
    ask_next_sentinel();
}

/* ---- watch ------------------------------------------------------------------ */

static void on_switch_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    redisReply *r = reply;
    if (ac != sn.watch_ac || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        sn.watch_backoff_ms = BACKOFF_MIN_MS;
        sentinel_ask(); /* a failover may have gone unheard */
        return;
    }
    if (strcmp(r->element[0]->str, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING)
        return;
    sb_hostport master;
    int rc = sb_sentinel_switch_parse(r->element[2]->str, r->element[2]->len,
                                      sn.cfg->redis_master_name, &master);
    if (rc < 0) {
        sb_warn(NULL, NULL, "redis sentinel: unreadable %s event ignored", SWITCH_CHANNEL);
        return;
    }
    if (rc == 0)
        return; /* another master's */
    sb_warn(NULL, NULL, "redis sentinel: failover, the master %s is now %s:%d",
            sn.cfg->redis_master_name, master.host, master.port);
    if (sn.h.on_master)
        sn.h.on_master(master.host, master.port);
}

static void watch_retry(void)
{
    if (sn.started)
        timer_in(sn.watch_timer, next_backoff(&sn.watch_backoff_ms));
}

static void on_watch_connect(const redisAsyncContext *ac, int status)
{
    if (ac != sn.watch_ac || status == REDIS_OK)
        return;
    sn.watch_ac = NULL; /* hiredis frees it */
    watch_retry();
}

static void on_watch_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    if (ac != sn.watch_ac)
        return;
    sn.watch_ac = NULL;
    sb_warn(NULL, NULL, "redis sentinel: lost the %s subscription; watching the next sentinel",
            SWITCH_CHANNEL);
    watch_retry();
}

static void watch_connect(void)
{
    const sb_hostport *s = sentinel_at(sn.watch_next);
    sn.watch_next = (sn.watch_next + 1) % sn.cfg->n_sentinels;
    redisAsyncContext *ac = connect_to(s);
    if (!ac) {
        watch_retry();
        return;
    }
    sn.watch_ac = ac;
    redisAsyncSetConnectCallback(ac, on_watch_connect);
    redisAsyncSetDisconnectCallback(ac, on_watch_disconnect);
    redisAsyncCommand(ac, on_switch_message, NULL, "SUBSCRIBE %s", SWITCH_CHANNEL);
}

static void on_watch_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    watch_connect();
}

/* ---- lifecycle ---------------------------------------------------------------- */

int sentinel_start(struct event_base *base, const sb_config *cfg, const sentinel_handlers *h)
{
    memset(&sn, 0, sizeof(sn));
    sn.base = base;
    sn.cfg = cfg;
    sn.h = *h;
    sn.ask_backoff_ms = BACKOFF_MIN_MS;
    sn.watch_backoff_ms = BACKOFF_MIN_MS;
    sn.ask_timer = evtimer_new(base, on_ask_timer, NULL);
    sn.watch_timer = evtimer_new(base, on_watch_timer, NULL);
    if (!sn.ask_timer || !sn.watch_timer || cfg->n_sentinels < 1)
        return -1;
    sn.started = true;
    watch_connect();
    return 0;
}

void sentinel_stop(void)
{
    sn.started = false;
    redisAsyncContext *acs[] = { sn.ask_ac, sn.watch_ac };
    sn.ask_ac = NULL;
    sn.watch_ac = NULL;
    for (int i = 0; i < 2; i++)
        if (acs[i])
            redisAsyncFree(acs[i]); /* their callbacks see a context given up on */
    struct event **timers[] = { &sn.ask_timer, &sn.watch_timer };
    for (int i = 0; i < 2; i++) {
        if (*timers[i])
            event_free(*timers[i]);
        *timers[i] = NULL;
    }
}
