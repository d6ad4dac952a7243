/*
 * redis_cluster_map.c - the slot map of the cluster (see redis_cluster.h):
 * read with CLUSTER SLOTS over a link of its own, to a seed or a known
 * master in turn, and applied to the table of masters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_events.h"

#include "clock.h"
#include "log.h"
#include "redis_cluster_internal.h"

static master *master_add(const char *host, int port)
{
    for (size_t i = 0; i < MASTERS_MAX; i++) {
        master *m = &cl.m[i];
        if (m->used)
            continue;
        m->used = true;
        snprintf(m->host, sizeof(m->host), "%s", host);
        m->port = port;
        m->ac = NULL;
        m->up = m->closing = false;
        m->backoff_ms = m->sub_backoff_ms = BACKOFF_MIN_MS;
        return m;
    }
    return NULL;
}

/* The map no longer names it: its queued requests get NULL. */
static void master_drop(master *m)
{
    m->closing = true;
    m->used = false;
    evtimer_del(m->retry);
    evtimer_del(m->sub_retry);
    master_close_links(m);
    sb_info(NULL, NULL, "redis %s:%d is no longer a master", m->host, m->port);
}

/* One CLUSTER SLOTS entry: {start, end, {ip, port, ...}, replicas...}. */
static bool apply_range(const redisReply *e, uint8_t *owner, bool *seen, const char *map_host)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
        || e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER
        || e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2
        || e->element[2]->element[0]->type != REDIS_REPLY_STRING
        || e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        return false;
    long long start = e->element[0]->integer, end = e->element[1]->integer;
    const char *ip = e->element[2]->element[0]->str;
    int port = (int)e->element[2]->element[1]->integer;
    if (start < 0 || end >= SB_SLOT_COUNT || start > end || port < 1 || port > 65535)
        return false;
    /* An empty address means "the one you asked". */
    const char *host = ip[0] ? ip : map_host;
    master *m = master_find(host, port);
    if (!m && !(m = master_add(host, port)))
        return false;
    seen[m - cl.m] = true;
    for (long long s = start; s <= end; s++)
        owner[s] = (uint8_t)(m - cl.m);
    return true;
}

static void apply_map(const redisReply *r, const char *map_host)
{
    static uint8_t owner[SB_SLOT_COUNT];
    bool seen[MASTERS_MAX] = { false };
    memset(owner, NO_MASTER, sizeof(owner));
    for (size_t i = 0; i < r->elements; i++)
        if (!apply_range(r->element[i], owner, seen, map_host))
            sb_warn(NULL, NULL, "redis cluster: CLUSTER SLOTS entry %zu not understood", i);
    bool had_map = cl.map_ok, changed = memcmp(owner, cl.owner, sizeof(owner)) != 0;
    for (size_t i = 0; i < MASTERS_MAX; i++)
        if (cl.m[i].used && !seen[i])
            master_drop(&cl.m[i]);
    memcpy(cl.owner, owner, sizeof(owner));
    cl.map_ok = memchr(owner, NO_MASTER, sizeof(owner)) == NULL;
    if (!cl.map_ok)
        sb_warn(NULL, NULL, "redis cluster: some slots have no master");
    else if (changed)
        sb_info(NULL, NULL, "redis cluster: slot map read");
    for (size_t i = 0; i < MASTERS_MAX; i++) {
        master *m = &cl.m[i];
        if (!m->used)
            continue;
        if (!m->ac && !evtimer_pending(m->retry, NULL))
            master_connect(m);
        if (!m->sub.up && !evtimer_pending(m->sub_retry, NULL))
            sub_connect(m);
    }
    /* A slot moved (seen here, or by a MOVED that patched the map): its
     * channels are subscribed on the wrong master now. */
    if (had_map && (changed || cl.map_moved))
        subscriber_reset();
    cl.map_moved = false;
    check_commands_ready();
    check_subscriber_ready();
}

/* The masters known, then the seeds: where the map is asked for. A
 * master that has just taken or given a slot knows it first; a replica
 * learns it from the cluster bus a little later. */
static bool map_candidate(size_t i, char *host, size_t hostlen, int *port)
{
    const sb_redis_seeds *seeds = &cl.cfg->cluster;
    if (i < MASTERS_MAX) {
        if (!cl.m[i].used)
            return false;
        snprintf(host, hostlen, "%s", cl.m[i].host);
        *port = cl.m[i].port;
        return true;
    }
    i -= MASTERS_MAX;
    if (i >= seeds->count)
        return false;
    snprintf(host, hostlen, "%s", seeds->addr[i].host);
    *port = seeds->addr[i].port;
    return true;
}

static char map_host[256];
static int map_port;

static void on_map_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status;
    cl.map_ac = NULL;
}

static void on_map_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        (void)ac;
        cl.map_ac = NULL;
    }
}

static void on_slots(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    redisReply *r = reply;
    cl.refreshing = false;
    if (cl.stopping)
        return;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        sb_warn(NULL, NULL, "redis cluster: no slot map from %s: %s", map_host,
                r && r->type == REDIS_REPLY_ERROR ? r->str : "not reachable");
        if (r && cl.map_ac == ac) {
            cl.map_ac = NULL;
            redisAsyncFree(ac);
        }
        cl.next_candidate++;
        struct timeval tv = sb_clock_timeval(200);
        evtimer_add(cl.refresh_timer, &tv);
        return;
    }
    apply_map(r, map_host);
    /* Read from a seed that is no master: the next map comes from one. */
    if (cl.map_ac == ac && !master_find(map_host, map_port)) {
        cl.map_ac = NULL;
        redisAsyncFree(ac);
    }
    if (cl.refresh_again) {
        cl.refresh_again = false;
        cluster_refresh();
    }
}

static void map_connect(void)
{
    char host[256];
    int port = 0;
    size_t total = cl.cfg->cluster.count + MASTERS_MAX;
    for (size_t tries = 0; tries < total; tries++, cl.next_candidate++) {
        cl.next_candidate %= total;
        if (map_candidate(cl.next_candidate, host, sizeof(host), &port))
            break;
    }
    redisAsyncContext *ac = port ? redisAsyncConnect(host, port) : NULL;
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        cl.refreshing = false;
        cl.next_candidate++;
        struct timeval tv = sb_clock_timeval(200);
        evtimer_add(cl.refresh_timer, &tv);
        return;
    }
    snprintf(map_host, sizeof(map_host), "%s", host);
    map_port = port;
    cl.map_ac = ac;
    redis_events_attach(ac, cl.base);
    redisAsyncSetConnectCallback(ac, on_map_connect);
    redisAsyncSetDisconnectCallback(ac, on_map_disconnect);
    const sb_redis_target *t = &cl.cfg->redis;
    if (t->password[0] && t->username[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", t->username, t->password);
    else if (t->password[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", t->password);
}

void cluster_refresh(void)
{
    if (cl.stopping)
        return;
    if (cl.refreshing) {
        cl.refresh_again = true;
        return;
    }
    cl.refreshing = true;
    if (!cl.map_ac)
        map_connect();
    if (cl.map_ac && redisAsyncCommand(cl.map_ac, on_slots, NULL, "CLUSTER SLOTS") != REDIS_OK) {
        cl.refreshing = false;
        redisAsyncContext *ac = cl.map_ac;
        cl.map_ac = NULL;
        redisAsyncFree(ac);
    }
}

void cluster_map_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    cluster_refresh();
}
