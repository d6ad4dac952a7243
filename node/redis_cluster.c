/*
 * redis_cluster.c - per-master links, requests and their redirections,
 * and the shard subscriber (see redis_cluster.h; the map: redis_cluster_map.c).
 *
 * Masters live in a fixed table and keep their place for as long as the
 * map names them, so a link's context points at its entry. A master the
 * map no longer names is closed (its queued callbacks get NULL); one it
 * names for the first time is connected. Links retry with a backoff that
 * doubles from 100 ms to 1 s, and a drop also asks for the map again, so a
 * failover (the replica promoted, the map naming it) is followed within a
 * second or so of the cluster noticing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_events.h"

#include "clock.h"
#include "log.h"
#include "redis_cluster_internal.h"

struct cluster_state cl;

static const shard_link_events sub_events;

/* ---- readiness ------------------------------------------------------------- */

void check_commands_ready(void)
{
    bool ready = cl.map_ok;
    for (size_t i = 0; i < MASTERS_MAX && ready; i++)
        if (cl.m[i].used && !cl.m[i].up)
            ready = false;
    if (ready && !cl.commands_ready) {
        cl.commands_ready = true;
        if (cl.ev.on_commands_up)
            cl.ev.on_commands_up(cl.commands_were_ready);
        cl.commands_were_ready = true;
    } else if (!ready) {
        cl.commands_ready = false;
    }
}

void check_subscriber_ready(void)
{
    bool ready = cl.map_ok;
    for (size_t i = 0; i < MASTERS_MAX && ready; i++)
        if (cl.m[i].used && !cl.m[i].sub.up)
            ready = false;
    if (ready && !cl.sub_ready) {
        cl.sub_ready = true;
        if (cl.ev.on_subscriber_up)
            cl.ev.on_subscriber_up();
    }
}

bool cluster_commands_ready(void)
{
    return cl.commands_ready;
}

bool cluster_subscriber_ready(void)
{
    return cl.sub_ready;
}

/* ---- command links ---------------------------------------------------------- */

void backoff_add(struct event *ev, int *backoff_ms)
{
    struct timeval tv = sb_clock_timeval((uint64_t)*backoff_ms);
    evtimer_add(ev, &tv);
    *backoff_ms = *backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff_ms * 2;
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *r = reply;
    const master *m = ac->data;
    if (r && r->type == REDIS_REPLY_ERROR)
        sb_error(NULL, NULL, "redis %s:%d: %s failed: %s", m->host, m->port, (const char *)privdata,
                 r->str);
}

static void on_master_connect(const redisAsyncContext *ac, int status)
{
    master *m = ac->data;
    if (status != REDIS_OK) {
        sb_warn(NULL, NULL, "redis %s:%d: connect failed: %s", m->host, m->port, ac->errstr);
        m->ac = NULL;
        if (!cl.stopping && m->used) {
            backoff_add(m->retry, &m->backoff_ms);
            cluster_refresh();
        }
        return;
    }
    m->up = true;
    m->backoff_ms = BACKOFF_MIN_MS;
    sb_info(NULL, NULL, "redis command link: connected to %s:%d", m->host, m->port);
    check_commands_ready();
}

static void on_master_disconnect(const redisAsyncContext *ac, int status)
{
    master *m = ac->data;
    m->ac = NULL;
    m->up = false;
    check_commands_ready();
    if (cl.stopping || m->closing || !m->used)
        return;
    sb_warn(NULL, NULL, "redis %s:%d: disconnected%s%s", m->host, m->port,
            status == REDIS_OK ? "" : ": ", status == REDIS_OK ? "" : ac->errstr);
    backoff_add(m->retry, &m->backoff_ms);
    cluster_refresh();
}

void master_connect(master *m)
{
    redisAsyncContext *ac = redisAsyncConnect(m->host, m->port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        backoff_add(m->retry, &m->backoff_ms);
        return;
    }
    ac->data = m;
    m->ac = ac;
    m->closing = false;
    redis_events_attach(ac, cl.base);
    redisAsyncSetConnectCallback(ac, on_master_connect);
    redisAsyncSetDisconnectCallback(ac, on_master_disconnect);
    const sb_redis_target *t = &cl.cfg->redis;
    if (t->password[0] && t->username[0])
        redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s %s", t->username, t->password);
    else if (t->password[0])
        redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s", t->password);
    for (size_t i = 0; i < cl.n_scripts; i++)
        redisAsyncCommand(ac, on_setup_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", cl.scripts[i]);
}

static void on_master_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    master *m = arg;
    if (m->used && !m->ac)
        master_connect(m);
}

/* ---- requests and redirections ------------------------------------------------ */

typedef struct {
    redisCallbackFn *fn;
    void *privdata;
    char *cmd; /* as formatted for the wire, sent again on a redirection */
    size_t len;
    int redirects;
} cl_request;

static void request_done(cl_request *req, redisAsyncContext *ac, void *reply)
{
    if (req->fn)
        req->fn(ac, reply, req->privdata);
    free(req->cmd);
    free(req);
}

master *master_find(const char *host, int port)
{
    for (size_t i = 0; i < MASTERS_MAX; i++)
        if (cl.m[i].used && cl.m[i].port == port && strcmp(cl.m[i].host, host) == 0)
            return &cl.m[i];
    return NULL;
}

static void on_request_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* "MOVED <slot> <host>:<port>" or "ASK ...": resend there. False when the
 * reply is no redirection, or the target cannot take it now. */
static bool redirect(cl_request *req, const redisReply *r)
{
    bool moved = strncmp(r->str, "MOVED ", 6) == 0, ask = strncmp(r->str, "ASK ", 4) == 0;
    if (!moved && !ask)
        return false;
    cluster_refresh();
    unsigned slot;
    char host[256];
    if (sscanf(r->str + (moved ? 6 : 4), "%u %255[^ ]", &slot, host) != 2 || slot >= SB_SLOT_COUNT
        || ++req->redirects > REDIRECTS_MAX)
        return false;
    char *colon = strrchr(host, ':');
    if (!colon)
        return false;
    *colon = '\0';
    master *m = master_find(host, atoi(colon + 1));
    if (!m || !m->up)
        return false;
    if (moved) {
        cl.owner[slot] = (uint8_t)(m - cl.m);
        cl.map_moved = true;
    } else if (redisAsyncCommand(m->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return false;
    return redisAsyncFormattedCommand(m->ac, on_request_reply, req, req->cmd, req->len) == REDIS_OK;
}

static void on_request_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    cl_request *req = privdata;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && !cl.stopping && redirect(req, r))
        return;
    request_done(req, ac, reply);
}

/* The key a command is routed by. */
static const char *routing_key(int argc, const char **argv, size_t *len, const size_t *argvlen)
{
    int i = 1;
    if (argc >= 4 && (strcasecmp(argv[0], "EVALSHA") == 0 || strcasecmp(argv[0], "EVAL") == 0))
        i = atoi(argv[2]) > 0 ? 3 : -1;
    if (i < 0 || i >= argc)
        return NULL;
    *len = argvlen ? argvlen[i] : strlen(argv[i]);
    return argv[i];
}

int cluster_send(int argc, const char **argv, const size_t *argvlen, redisCallbackFn *fn,
                 void *privdata)
{
    size_t klen;
    const char *key = routing_key(argc, argv, &klen, argvlen);
    if (!key)
        return -1;
    uint8_t owner = cl.owner[sb_key_slot(key, klen)];
    if (owner == NO_MASTER || !cl.m[owner].up)
        return -1;
    cl_request *req = calloc(1, sizeof(*req));
    if (!req)
        return -1;
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        free(req);
        return -1;
    }
    req->fn = fn;
    req->privdata = privdata;
    req->cmd = cmd;
    req->len = (size_t)len;
    if (redisAsyncFormattedCommand(cl.m[owner].ac, on_request_reply, req, cmd, req->len)
        != REDIS_OK) {
        free(cmd);
        free(req);
        return -1;
    }
    return 0;
}

/* ---- shard pub/sub links ------------------------------------------------------ */

static void on_sub_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    master *m = arg;
    if (m->used && !m->sub.up)
        sub_connect(m);
}

void sub_connect(master *m)
{
    const sb_redis_target *t = &cl.cfg->redis;
    m->sub.owner = m;
    m->unsub_asked = 0;
    shard_link_open(&m->sub, cl.base, m->host, m->port, t->username, t->password, &sub_events);
}

static void on_sub_up(shard_link *l)
{
    master *m = l->owner;
    m->sub_backoff_ms = BACKOFF_MIN_MS;
    check_subscriber_ready();
}

static void on_sub_down(shard_link *l)
{
    master *m = l->owner;
    if (cl.stopping || !m->used)
        return;
    backoff_add(m->sub_retry, &m->sub_backoff_ms);
    cluster_refresh();
    subscriber_reset();
}

static void on_sub_reply(shard_link *l, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        /* A channel whose slot moved (MOVED), or a refused AUTH. */
        sb_warn(NULL, NULL, "redis shard link %s:%d: %s", l->host, l->port, r->str);
        cluster_refresh();
        subscriber_reset();
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    /* A master that gives a slot away unsubscribes its channels itself:
     * the map has moved, and the next one read resets the subscriber,
     * even if it comes from a master that has not heard of the move yet
     * (the channel, subscribed there again, then answers MOVED). */
    if (r->element[0]->type == REDIS_REPLY_STRING
        && strcmp(r->element[0]->str, "sunsubscribe") == 0) {
        master *m = l->owner;
        if (m->unsub_asked > 0)
            m->unsub_asked--;
        else
            cl.map_moved = true;
        cluster_refresh();
    }
    if (cl.ev.on_shard_reply)
        cl.ev.on_shard_reply(r);
}

static const shard_link_events sub_events = { on_sub_up, on_sub_down, on_sub_reply };

/* Every subscription is gone: close the other shard links too, tell the
 * node, and open them all again (a link that just failed keeps its
 * backoff). */
void subscriber_reset(void)
{
    bool was_ready = cl.sub_ready;
    cl.sub_ready = false;
    for (size_t i = 0; i < MASTERS_MAX; i++) {
        master *m = &cl.m[i];
        if (!m->used || !m->sub.up)
            continue;
        shard_link_close(&m->sub);
        if (!evtimer_pending(m->sub_retry, NULL))
            backoff_add(m->sub_retry, &m->sub_backoff_ms);
    }
    if (was_ready && cl.ev.on_subscriber_down)
        cl.ev.on_subscriber_down();
}

int cluster_subscribe(const char *channel, bool on)
{
    uint8_t owner = cl.owner[sb_key_slot_str(channel)];
    if (!cl.sub_ready || owner == NO_MASTER)
        return -1;
    const char *argv[] = { on ? "SSUBSCRIBE" : "SUNSUBSCRIBE", channel };
    if (shard_link_command(&cl.m[owner].sub, 2, argv) != 0)
        return -1;
    if (!on)
        cl.m[owner].unsub_asked++;
    return 0;
}

/* Its shard link and command link closed; the command link's queued
 * requests get NULL replies (hiredis calls them as it frees). */
void master_close_links(master *m)
{
    shard_link_close(&m->sub);
    if (m->ac) {
        redisAsyncContext *ac = m->ac;
        m->ac = NULL;
        m->up = false;
        redisAsyncFree(ac);
    }
}

/* ---- lifecycle ------------------------------------------------------------------ */

int cluster_start(struct event_base *base, const sb_config *cfg, const char *const *scripts,
                  size_t n, const cluster_events *ev)
{
    memset(&cl, 0, sizeof(cl));
    cl.base = base;
    cl.cfg = cfg;
    cl.ev = *ev;
    cl.scripts = scripts;
    cl.n_scripts = n;
    memset(cl.owner, NO_MASTER, sizeof(cl.owner));
    cl.refresh_timer = evtimer_new(base, cluster_map_on_timer, NULL);
    if (!cl.refresh_timer)
        return -1;
    for (size_t i = 0; i < MASTERS_MAX; i++) {
        cl.m[i].retry = evtimer_new(base, on_master_retry, &cl.m[i]);
        cl.m[i].sub_retry = evtimer_new(base, on_sub_retry, &cl.m[i]);
        if (!cl.m[i].retry || !cl.m[i].sub_retry)
            return -1;
    }
    cluster_refresh();
    return 0;
}

void cluster_stop(void)
{
    cl.stopping = true;
    if (cl.map_ac) {
        redisAsyncContext *ac = cl.map_ac;
        cl.map_ac = NULL;
        redisAsyncFree(ac);
    }
    for (size_t i = 0; i < MASTERS_MAX; i++) {
        master *m = &cl.m[i];
        master_close_links(m);
        if (m->retry)
            event_free(m->retry);
        if (m->sub_retry)
            event_free(m->sub_retry);
        m->retry = m->sub_retry = NULL;
    }
    if (cl.refresh_timer)
        event_free(cl.refresh_timer);
    cl.refresh_timer = NULL;
}
