/*
 * redis_bus.c - hiredis async on the node's libevent loop (see redis_bus.h).
 *
 * Two links, each a hiredis async context plus its reconnect timer:
 *
 *   commands    scripts, queries, PUBLISH; replies come back in order
 *   subscriber  SUBSCRIBE/UNSUBSCRIBE only; every message of every room
 *               arrives on it and is routed by channel name
 *
 * Both are opened at start and re-opened after any failure with a backoff
 * that doubles from 100 ms to 5 s. AUTH, SELECT and SCRIPT LOAD are queued
 * right behind the connect, so every request that follows on the same link
 * finds the scripts loaded — also on a Redis that restarted empty.
 *
 * A request with a callback goes through a small trampoline that counts it
 * in flight, so shutdown can wait until Redis has acknowledged the leaves
 * of the last sessions.
 *
 * With --redis-sentinels the address comes from redis_sentinel.c instead
 * of --redis-url (docs/design.md#sentinel). A link is then up only once
 * ROLE says "master", within LINK_READY_MS of the connect. A failed
 * connect, a lost link, a ROLE other than master and a READONLY error all
 * make the node forget the master and ask the sentinels again before the
 * next connect; a new address (an answer, or +switch-master) moves both
 * links to it at once. Once the command link is up on another master than
 * before, this node's members are written back, as after any loss:
 * replication is asynchronous, so the promoted replica may lack the last
 * writes of the old master.
 *
 * With --redis-cluster the links are redis_cluster.c's instead: one
 * command link per master, requests routed by their key's slot, and the
 * room channels are shard channels (SSUBSCRIBE, and SPUBLISH in the
 * scripts and for relayed messages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "clock.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "redis_bus.h"
#include "redis_bus_internal.h"
#include "redis_events.h"
#include "redis_cluster.h"
#include "redis_sentinel.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LINK_READY_MS 2000

typedef struct {
    const char *name;
    bool subscriber;
    redisAsyncContext *ac;
    bool up;
    bool ever_up;
    int backoff_ms;
    uint64_t up_since_ms; /* monotonic, when it last became usable */
    /* The next connect; with sentinels also the deadline of the one under
     * way. */
    struct event *retry;
    char host[SB_HOST_MAX]; /* where ac is connected */
    int port;
    bool awaiting_master; /* sentinels asked, connect on their answer */
} bus_link;

typedef struct {
    bus_reply_fn fn;
    void *privdata;
    double sent; /* monotonic seconds */
} bus_request;

static struct {
    struct event_base *base;
    const sb_config *cfg;
    bus_handlers h;
    bus_link cmd, sub;
    struct event *heartbeat;
    size_t pending;
    bool stopping;
    bool cluster;                     /* --redis-cluster */
    char channel_prefix[BUS_KEY_MAX]; /* "<prefix>room:{" */
    size_t channel_prefix_len;
    /* Sentinel mode (cfg->n_sentinels > 0). */
    bool sentinel;
    bool master_known;
    sb_hostport master;      /* the sentinels' last answer */
    sb_hostport last_master; /* where the command link was last up */
    bool master_changed;     /* members to write back */
} bus;

static void link_connect(bus_link *link);
static void link_drop(bus_link *link, int retry_ms);
static void forget_master(const char *host, int port);

/* The room id inside "<prefix>room:{<id>}", or false. */
static bool channel_room_id(const char *channel, size_t len, char out[SB_UUID_LEN + 1])
{
    size_t plen = bus.channel_prefix_len;
    if (len != plen + SB_UUID_LEN + 1 || memcmp(channel, bus.channel_prefix, plen) != 0
        || channel[len - 1] != '}')
        return false;
    memcpy(out, channel + plen, SB_UUID_LEN);
    out[SB_UUID_LEN] = '\0';
    return true;
}

/* ---- requests -------------------------------------------------------------- */

static void not_the_master(bus_link *link, const char *what);

static void on_request_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    bus_request *req = privdata;
    bus.pending--;
    redisReply *r = reply;
    if (r)
        metrics_observe_redis(sb_clock_monotonic_s() - req->sent);
    if (r && r->type == REDIS_REPLY_ERROR)
        sb_warn(NULL, NULL, "redis: %s", r->str);
    if (req->fn)
        req->fn(r, req->privdata);
    free(req);
    /* A master demoted under us answers writes with READONLY. */
    if (r && r->type == REDIS_REPLY_ERROR && bus.sentinel && ac == bus.cmd.ac
        && strstr(r->str, "READONLY"))
        not_the_master(&bus.cmd, "is read-only");
}

/* Send argv on the command link and count it in flight until its reply;
 * fn may be NULL. */
static bool commands_up(void)
{
    return bus.cluster ? cluster_commands_ready() : bus.cmd.up;
}

int bus_send(int argc, const char **argv, const size_t *argvlen, bus_reply_fn fn, void *privdata)
{
    if (!commands_up())
        return -1;
    bus_request *req = malloc(sizeof(*req));
    if (!req)
        return -1;
    req->fn = fn;
    req->privdata = privdata;
    req->sent = sb_clock_monotonic_s();
    int rc = bus.cluster
                 ? cluster_send(argc, argv, argvlen, on_request_reply, req)
                 : redisAsyncCommandArgv(bus.cmd.ac, on_request_reply, req, argc, argv, argvlen);
    if (rc != REDIS_OK) {
        free(req);
        return -1;
    }
    bus.pending++;
    return 0;
}

/* EVALSHA script with keys then args, all NUL-terminated strings except
 * those with an explicit length in lens (0 = use strlen). */
int bus_eval(int script, int nkeys, int nargs, const char *const *values, const size_t *lens,
             bus_reply_fn fn, void *privdata)
{
    const char *argv[BUS_MAX_ARGS + 3];
    size_t argvlen[BUS_MAX_ARGS + 3];
    char nkeys_str[16];
    snprintf(nkeys_str, sizeof(nkeys_str), "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = bus_script_sha(script);
    argv[2] = nkeys_str;
    for (int i = 0; i < 3; i++)
        argvlen[i] = strlen(argv[i]);
    for (int i = 0; i < nkeys + nargs; i++) {
        argv[3 + i] = values[i];
        argvlen[3 + i] = lens && lens[i] ? lens[i] : strlen(values[i]);
    }
    return bus_send(3 + nkeys + nargs, argv, argvlen, fn, privdata);
}

/* ---- links --------------------------------------------------------------- */

static int next_backoff(bus_link *link)
{
    int now = link->backoff_ms;
    link->backoff_ms = now * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : now * 2;
    return now;
}

static void retry_in(bus_link *link, int ms)
{
    if (bus.stopping)
        return;
    struct timeval tv = sb_clock_timeval((uint64_t)ms);
    evtimer_add(link->retry, &tv);
}

static void schedule_reconnect(bus_link *link)
{
    retry_in(link, next_backoff(link));
}

/* The link is usable: connected, and with sentinels, to the master. */
static void link_ready(bus_link *link)
{
    evtimer_del(link->retry); /* the connect's deadline */
    bool was_up_before = link->ever_up;
    if (was_up_before)
        metrics.redis_reconnects++;
    link->ever_up = true;
    link->up_since_ms = sb_clock_monotonic_ms();
    sb_info(NULL, NULL, "redis %s link: connected to %s:%d", link->name, link->host, link->port);
    if (link->subscriber)
        return; /* up once named: on_subscriber_named */
    link->up = true;
    if (bus.sentinel) {
        if (was_up_before
            && (strcmp(bus.last_master.host, link->host) != 0
                || bus.last_master.port != link->port))
            bus.master_changed = true;
        snprintf(bus.last_master.host, sizeof(bus.last_master.host), "%s", link->host);
        bus.last_master.port = link->port;
    }
    bus_send_heartbeat();
    if (was_up_before && bus.h.on_commands_up)
        bus.h.on_commands_up();
}

static void on_link_connect(const redisAsyncContext *ac, int status)
{
    bus_link *link = ac->data;
    if (link->ac != ac)
        return;
    if (status != REDIS_OK) {
        sb_warn(NULL, NULL, "redis %s link: connect to %s:%d failed: %s", link->name, link->host,
                link->port, ac->errstr);
        link->ac = NULL; /* hiredis frees the context */
        forget_master(link->host, link->port);
        schedule_reconnect(link);
        return;
    }
    if (!bus.sentinel)
        link_ready(link); /* with sentinels, once ROLE has answered */
}

static void on_link_disconnect(const redisAsyncContext *ac, int status)
{
    bus_link *link = ac->data;
    if (link->ac != ac)
        return; /* dropped by link_drop, which did the rest */
    bool was_up = link->up;
    link->ac = NULL;
    link->up = false;
    if (bus.stopping)
        return;
    /* A connection that lasted is worth a quick retry; one that Redis
     * accepts and then drops at once (refused AUTH, say) must not be
     * retried ten times a second, so its backoff keeps growing. */
    if (was_up && sb_clock_monotonic_ms() - link->up_since_ms >= BACKOFF_MAX_MS)
        link->backoff_ms = BACKOFF_MIN_MS;
    sb_warn(NULL, NULL, "redis %s link: disconnected%s%s", link->name,
            status == REDIS_OK ? "" : ": ", status == REDIS_OK ? "" : ac->errstr);
    forget_master(link->host, link->port);
    if (link->subscriber && was_up && bus.h.on_subscriber_down)
        bus.h.on_subscriber_down();
    schedule_reconnect(link);
}

/* Close the link now (its pending callbacks run with reply NULL) and
 * connect again in retry_ms. */
static void link_drop(bus_link *link, int retry_ms)
{
    redisAsyncContext *ac = link->ac;
    bool was_up = link->up;
    link->ac = NULL; /* so on_link_disconnect leaves the link alone */
    link->up = false;
    if (ac)
        redisAsyncFree(ac); /* deferred by hiredis when inside its callback */
    if (link->subscriber && was_up && bus.h.on_subscriber_down)
        bus.h.on_subscriber_down();
    retry_in(link, retry_ms);
}

/* ---- sentinel mode ---------------------------------------------------------- */

/* The master at host:port failed us: the next connect asks the sentinels
 * again (unless they have named another one meanwhile). */
static void forget_master(const char *host, int port)
{
    if (bus.sentinel && bus.master.port == port && strcmp(bus.master.host, host) == 0)
        bus.master_known = false;
}

/* host:port is not the master (ROLE, READONLY): no link stays there. */
static void not_the_master(bus_link *link, const char *what)
{
    sb_warn(NULL, NULL, "redis %s link: %s:%d %s; asking the sentinels again", link->name,
            link->host, link->port, what);
    char host[SB_HOST_MAX];
    int port = link->port;
    snprintf(host, sizeof(host), "%s", link->host);
    forget_master(host, port);
    bus_link *links[] = { &bus.cmd, &bus.sub };
    for (int i = 0; i < 2; i++)
        if (links[i]->ac && links[i]->port == port && strcmp(links[i]->host, host) == 0)
            link_drop(links[i], next_backoff(links[i]));
}

static void on_role_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    bus_link *link = ac->data;
    redisReply *r = reply;
    if (!r || link->ac != ac)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING
        && strcmp(r->element[0]->str, "master") == 0) {
        link_ready(link);
        return;
    }
    not_the_master(link, "is not the master (ROLE)");
}

/* The sentinels' answer, or a failover: move every link that is
 * elsewhere, and connect those that waited for it. */
static void on_master(const char *host, int port)
{
    if (bus.stopping)
        return;
    snprintf(bus.master.host, sizeof(bus.master.host), "%s", host);
    bus.master.port = port;
    bus.master_known = true;
    bus_link *links[] = { &bus.cmd, &bus.sub };
    for (int i = 0; i < 2; i++) {
        bus_link *link = links[i];
        if (link->ac) {
            if (link->port != port || strcmp(link->host, host) != 0)
                link_drop(link, 0);
        } else if (link->awaiting_master || evtimer_pending(link->retry, NULL)) {
            evtimer_del(link->retry);
            link_connect(link);
        }
    }
}

static const sentinel_handlers sentinel_events = { .on_master = on_master };

/* ---- connecting -------------------------------------------------------------- */

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *r = reply;
    bus_link *link = ac->data;
    if (r && r->type == REDIS_REPLY_ERROR)
        sb_error(NULL, NULL, "redis %s link: %s failed: %s", link->name, (const char *)privdata,
                 r->str);
}

/* The subscriber counts as up, and subscribes, only once the answer to its
 * CLIENT SETNAME (the last of its setup) is in: hiredis, once subscribed,
 * matches every answer that is not a message to a command sent while
 * subscribed, so an answer to a setup command arriving after the first
 * SUBSCRIBE would find no callback. */
static void on_subscriber_named(redisAsyncContext *ac, void *reply, void *privdata)
{
    on_setup_reply(ac, reply, privdata);
    bus_link *link = ac->data;
    if (!reply || link->ac != ac || link->up)
        return;
    link->up = true;
    if (bus.h.on_subscriber_up)
        bus.h.on_subscriber_up();
}

/* Commands that every fresh connection needs before anything else. */
static void queue_link_setup(bus_link *link)
{
    const sb_redis_target *t = &bus.cfg->redis;
    if (t->password[0]) {
        if (t->username[0])
            redisAsyncCommand(link->ac, on_setup_reply, "AUTH", "AUTH %s %s", t->username,
                              t->password);
        else
            redisAsyncCommand(link->ac, on_setup_reply, "AUTH", "AUTH %s", t->password);
    }
    if (bus.sentinel)
        redisAsyncCommand(link->ac, on_role_reply, NULL, "ROLE");
    if (link->subscriber) {
        redisAsyncCommand(link->ac, on_subscriber_named, "CLIENT SETNAME",
                          "CLIENT SETNAME " SB_SUBSCRIBER_NAME_PREFIX "%s", bus.cfg->node_id);
        return;
    }
    if (t->db)
        redisAsyncCommand(link->ac, on_setup_reply, "SELECT", "SELECT %d", t->db);
    for (int i = 0; i < S_COUNT; i++)
        redisAsyncCommand(link->ac, on_setup_reply, "SCRIPT LOAD", "SCRIPT LOAD %s",
                          bus_script_texts()[i]);
}

static void link_connect(bus_link *link)
{
    const sb_redis_target *t = &bus.cfg->redis;
    link->awaiting_master = false;
    if (bus.sentinel && !bus.master_known) {
        link->awaiting_master = true;
        sentinel_ask(); /* on_master connects */
        return;
    }
    snprintf(link->host, sizeof(link->host), "%s", bus.sentinel ? bus.master.host : t->host);
    link->port = bus.sentinel ? bus.master.port : t->port;
    redisAsyncContext *ac = redisAsyncConnect(link->host, link->port);
    if (!ac || ac->err) {
        sb_warn(NULL, NULL, "redis %s link: %s", link->name, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(link);
        return;
    }
    ac->data = link;
    link->ac = ac;
    redis_events_attach(ac, bus.base);
    redisAsyncSetConnectCallback(ac, on_link_connect);
    redisAsyncSetDisconnectCallback(ac, on_link_disconnect);
    queue_link_setup(link);
    if (bus.sentinel)
        retry_in(link, LINK_READY_MS); /* a master that never answers is skipped */
}

/* The next connect is due; with sentinels, or the connect under way took
 * too long. */
static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bus_link *link = arg;
    if (link->ac) {
        sb_warn(NULL, NULL, "redis %s link: %s:%d not ready within %d ms", link->name, link->host,
                link->port, LINK_READY_MS);
        forget_master(link->host, link->port);
        link_drop(link, next_backoff(link));
        return;
    }
    link_connect(link);
}

/* ---- subscriber ------------------------------------------------------------ */

static void on_subscriber_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    (void)privdata;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    /* On a cluster: "smessage", "ssubscribe", "sunsubscribe". */
    const char *kind = r->element[0]->str + (bus.cluster && r->element[0]->str[0] == 's');
    char room_id[SB_UUID_LEN + 1];
    if (!channel_room_id(r->element[1]->str, r->element[1]->len, room_id))
        return;
    if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        if (bus.h.on_message)
            bus.h.on_message(room_id, r->element[2]->str, r->element[2]->len);
    } else if (strcmp(kind, "subscribe") == 0) {
        if (bus.h.on_subscribed)
            bus.h.on_subscribed(room_id);
    } else if (strcmp(kind, "unsubscribe") == 0) {
        if (bus.h.on_unsubscribed)
            bus.h.on_unsubscribed(room_id);
    }
}

static int subscriber_command(const char *verb, const char *room_id)
{
    char channel[BUS_KEY_MAX];
    bus_key_room(channel, room_id);
    if (bus.cluster)
        return cluster_subscribe(channel, verb[0] == 'S');
    if (!bus.sub.up)
        return -1;
    /* hiredis keeps the callback per channel and calls it for the
     * confirmation and for every message. */
    return redisAsyncCommand(bus.sub.ac, on_subscriber_reply, NULL, "%s %s", verb, channel)
                   == REDIS_OK
               ? 0
               : -1;
}

int bus_subscribe(const char *room_id)
{
    return subscriber_command("SUBSCRIBE", room_id);
}

int bus_unsubscribe(const char *room_id)
{
    return subscriber_command("UNSUBSCRIBE", room_id);
}

/* ---- heartbeat and sweep ---------------------------------------------------- */

static void on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (bus.cluster)
        cluster_refresh();
    bus_send_heartbeat();
    bus_reap_dead_nodes();
    bus_sweep_index_step();
    if (bus.h.on_heartbeat)
        bus.h.on_heartbeat();
}

/* SET ... GET answers the previous value: none means Redis has no record
 * of this node — it restarted empty, or the heartbeat expired and the
 * reaper may have removed our members. Either way they are written back. */
static void on_heartbeat_reply(redisReply *r, void *privdata)
{
    (void)privdata;
    if (!r || r->type == REDIS_REPLY_ERROR)
        return;
    /* After a failover, written back whatever the heartbeat says: the
     * key may have been replicated while the last members were not. */
    bool lost = r->type == REDIS_REPLY_NIL || bus.master_changed;
    bus.master_changed = false;
    if (lost && bus.h.on_membership_lost)
        bus.h.on_membership_lost();
}

void bus_send_heartbeat(void)
{
    if (!commands_up())
        return;
    char key[BUS_KEY_MAX], nodes[BUS_KEY_MAX], ttl[16];
    bus_key_node(key, bus.cfg->node_id);
    bus_key_nodes(nodes);
    snprintf(ttl, sizeof(ttl), "%d", bus.cfg->heartbeat_ttl);
    const char *set[] = { "SET", key, "1", "EX", ttl, "GET" };
    const char *sadd[] = { "SADD", nodes, bus.cfg->node_id };
    bus_send(6, set, NULL, on_heartbeat_reply, NULL);
    bus_send(3, sadd, NULL, NULL, NULL);
}

redisAsyncContext *bus_command_link(void)
{
    return bus.cmd.up ? bus.cmd.ac : NULL;
}

size_t bus_refresh_rooms_per_call(size_t max)
{
    return bus.cluster ? 1 : max;
}

const sb_config *bus_config(void)
{
    return bus.cfg;
}

int bus_heartbeat_period_ms(void)
{
    return bus.cfg->heartbeat_ttl * 1000 / 3;
}

int bus_occupied_ttl_ms(void)
{
    /* Three heartbeat TTLs, refreshed every third of a TTL: the keys go
     * only after nine refreshes in a row are missed, once no live node
     * has members in the room. */
    return bus.cfg->heartbeat_ttl * 3 * 1000;
}

/* ---- lifecycle ------------------------------------------------------------- */

static void link_init(bus_link *link, const char *name, bool subscriber)
{
    link->name = name;
    link->subscriber = subscriber;
    link->backoff_ms = BACKOFF_MIN_MS;
    link->retry = evtimer_new(bus.base, on_retry_timer, link);
}

static void on_cluster_commands_up(bool again)
{
    /* Back after a master was lost: a promoted replica may lack the last
     * writes of any room, not only those in the heartbeat key's slot, so
     * the members are written back whatever the heartbeat says (as after
     * a Sentinel failover). */
    if (again)
        bus.master_changed = true;
    bus_send_heartbeat();
    if (again) {
        metrics.redis_reconnects++;
        if (bus.h.on_commands_up)
            bus.h.on_commands_up();
    }
}

static void on_cluster_subscriber_up(void)
{
    if (bus.h.on_subscriber_up)
        bus.h.on_subscriber_up();
}

static void on_cluster_subscriber_down(void)
{
    if (bus.h.on_subscriber_down)
        bus.h.on_subscriber_down();
}

static void on_cluster_shard_reply(const redisReply *r)
{
    on_subscriber_reply(NULL, (void *)r, NULL);
}

static int cluster_begin(void)
{
    static const cluster_events ev = { on_cluster_commands_up, on_cluster_shard_reply,
                                       on_cluster_subscriber_up, on_cluster_subscriber_down };
    return cluster_start(bus.base, bus.cfg, bus_script_texts(), S_COUNT, &ev);
}

int bus_start(struct event_base *base, const sb_config *cfg, const bus_handlers *handlers)
{
    memset(&bus, 0, sizeof(bus));
    bus.base = base;
    bus.cfg = cfg;
    bus.h = *handlers;
    bus.cluster = cfg->cluster.count > 0;
    snprintf(bus.channel_prefix, sizeof(bus.channel_prefix), "%sroom:{", cfg->key_prefix);
    bus.channel_prefix_len = strlen(bus.channel_prefix);
    if (bus_scripts_prepare(bus.cluster) != 0)
        return -1;
    bus.sentinel = cfg->n_sentinels > 0;
    if (bus.sentinel && sentinel_start(base, cfg, &sentinel_events) != 0)
        return -1;
    link_init(&bus.cmd, "command", false);
    link_init(&bus.sub, "subscriber", true);
    bus.heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat_timer, NULL);
    if (!bus.cmd.retry || !bus.sub.retry || !bus.heartbeat)
        return -1;
    struct timeval tv = sb_clock_timeval((uint64_t)bus_heartbeat_period_ms());
    event_add(bus.heartbeat, &tv);
    if (bus.cluster)
        return cluster_begin();
    link_connect(&bus.cmd);
    link_connect(&bus.sub);
    return 0;
}

void bus_stop(void)
{
    bus.stopping = true;
    if (bus.cluster)
        cluster_stop();
    if (bus.sentinel)
        sentinel_stop();
    bus_link *links[] = { &bus.cmd, &bus.sub };
    for (int i = 0; i < 2; i++) {
        if (links[i]->ac) {
            redisAsyncContext *ac = links[i]->ac;
            links[i]->ac = NULL;
            links[i]->up = false;
            redisAsyncFree(ac);
        }
        if (links[i]->retry)
            event_free(links[i]->retry);
        links[i]->retry = NULL;
    }
    if (bus.heartbeat)
        event_free(bus.heartbeat);
    bus.heartbeat = NULL;
}

bool bus_is_ready(void)
{
    if (bus.cluster)
        return cluster_commands_ready() && cluster_subscriber_ready();
    return bus.cmd.up && bus.sub.up;
}

size_t bus_pending(void)
{
    return bus.pending;
}
