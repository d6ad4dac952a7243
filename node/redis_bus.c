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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/sha.h>

#include "clock.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "redis_bus.h"
#include "redis_scripts.h"

enum { S_JOIN, S_LEAVE, S_CREATE, S_GET, S_LIST, S_DELETE, S_REFRESH, S_SWEEP,
       S_RESTORE, S_REAP, S_COUNT };

static const char *const script_text[S_COUNT] = {
    SCRIPT_JOIN, SCRIPT_LEAVE, SCRIPT_CREATE, SCRIPT_GET,
    SCRIPT_LIST, SCRIPT_DELETE, SCRIPT_REFRESH, SCRIPT_SWEEP,
    SCRIPT_RESTORE, SCRIPT_REAP,
};

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SWEEP_BATCH 500
#define KEY_MAX 256

typedef struct {
    const char *name;
    bool subscriber;
    redisAsyncContext *ac;
    bool up;
    bool ever_up;
    int backoff_ms;
    struct event *retry;
} bus_link;

typedef struct {
    bus_reply_fn fn;
    void *privdata;
    double sent;                /* monotonic seconds */
} bus_request;

static struct {
    struct event_base *base;
    const sb_config *cfg;
    bus_handlers h;
    bus_link cmd, sub;
    struct event *heartbeat;
    long long sweep_cursor;
    size_t pending;
    bool stopping;
    char sha[S_COUNT][41];
    char channel_prefix[KEY_MAX];  /* "<prefix>room:{" */
    size_t channel_prefix_len;
} bus;

static void link_connect(bus_link *link);
static void send_heartbeat(void);

static int heartbeat_period_ms(void)
{
    return bus.cfg->heartbeat_ttl * 1000 / 3;
}

static int occupied_ttl_ms(void)
{
    /* Refreshed every third of the heartbeat TTL; three missed refreshes
     * (a dead node) let the keys go. */
    return bus.cfg->heartbeat_ttl * 3 * 1000;
}

/* ---- keys ---------------------------------------------------------------- */

static void key_room(char *out, const char *room_id)
{
    snprintf(out, KEY_MAX, "%sroom:{%s}", bus.cfg->key_prefix, room_id);
}

static void key_members(char *out, const char *room_id)
{
    snprintf(out, KEY_MAX, "%sroom:{%s}:members", bus.cfg->key_prefix, room_id);
}

static void key_node_rooms(char *out)
{
    snprintf(out, KEY_MAX, "%snode:%s:rooms", bus.cfg->key_prefix, bus.cfg->node_id);
}

static void key_index(char *out)
{
    snprintf(out, KEY_MAX, "%srooms", bus.cfg->key_prefix);
}

/* The channel of a room has the same name as its hash. */
#define key_channel key_room

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

static void on_request_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
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
}

/* Send argv on the command link and count it in flight until its reply;
 * fn may be NULL. */
static int send_command(int argc, const char **argv, const size_t *argvlen,
                        bus_reply_fn fn, void *privdata)
{
    if (!bus.cmd.up)
        return -1;
    bus_request *req = malloc(sizeof(*req));
    if (!req)
        return -1;
    req->fn = fn;
    req->privdata = privdata;
    req->sent = sb_clock_monotonic_s();
    if (redisAsyncCommandArgv(bus.cmd.ac, on_request_reply, req, argc, argv, argvlen) != REDIS_OK) {
        free(req);
        return -1;
    }
    bus.pending++;
    return 0;
}

#define MAX_ARGS 16

/* EVALSHA script with keys then args, all NUL-terminated strings except
 * those with an explicit length in lens (0 = use strlen). */
static int eval_script(int script, int nkeys, int nargs, const char *const *values,
                       const size_t *lens, bus_reply_fn fn, void *privdata)
{
    const char *argv[MAX_ARGS + 3];
    size_t argvlen[MAX_ARGS + 3];
    char nkeys_str[16];
    snprintf(nkeys_str, sizeof(nkeys_str), "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = bus.sha[script];
    argv[2] = nkeys_str;
    for (int i = 0; i < 3; i++)
        argvlen[i] = strlen(argv[i]);
    for (int i = 0; i < nkeys + nargs; i++) {
        argv[3 + i] = values[i];
        argvlen[3 + i] = lens && lens[i] ? lens[i] : strlen(values[i]);
    }
    return send_command(3 + nkeys + nargs, argv, argvlen, fn, privdata);
}

/* ---- links --------------------------------------------------------------- */

static void schedule_reconnect(bus_link *link)
{
    if (bus.stopping)
        return;
    struct timeval tv = { link->backoff_ms / 1000, (link->backoff_ms % 1000) * 1000 };
    evtimer_add(link->retry, &tv);
    link->backoff_ms = link->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : link->backoff_ms * 2;
}

static void on_link_connect(const redisAsyncContext *ac, int status)
{
    bus_link *link = ac->data;
    if (status != REDIS_OK) {
        sb_warn(NULL, NULL, "redis %s link: connect failed: %s", link->name, ac->errstr);
        link->ac = NULL;              /* hiredis frees the context */
        schedule_reconnect(link);
        return;
    }
    bool was_up_before = link->ever_up;
    if (was_up_before)
        metrics.redis_reconnects++;
    link->up = true;
    link->ever_up = true;
    link->backoff_ms = BACKOFF_MIN_MS;
    sb_info(NULL, NULL, "redis %s link: connected to %s:%d", link->name,
            bus.cfg->redis.host, bus.cfg->redis.port);
    if (link->subscriber) {
        if (bus.h.on_subscriber_up)
            bus.h.on_subscriber_up();
        return;
    }
    send_heartbeat();
    if (was_up_before && bus.h.on_commands_up)
        bus.h.on_commands_up();
}

static void on_link_disconnect(const redisAsyncContext *ac, int status)
{
    bus_link *link = ac->data;
    bool was_up = link->up;
    link->ac = NULL;
    link->up = false;
    if (bus.stopping)
        return;
    sb_warn(NULL, NULL, "redis %s link: disconnected%s%s", link->name,
            status == REDIS_OK ? "" : ": ", status == REDIS_OK ? "" : ac->errstr);
    if (link->subscriber && was_up && bus.h.on_subscriber_down)
        bus.h.on_subscriber_down();
    schedule_reconnect(link);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *r = reply;
    bus_link *link = ac->data;
    if (r && r->type == REDIS_REPLY_ERROR)
        sb_error(NULL, NULL, "redis %s link: %s failed: %s", link->name,
                 (const char *)privdata, r->str);
}

/* Commands that every fresh connection needs before anything else. */
static void queue_link_setup(bus_link *link)
{
    const sb_redis_target *t = &bus.cfg->redis;
    if (t->password[0]) {
        if (t->username[0])
            redisAsyncCommand(link->ac, on_setup_reply, "AUTH", "AUTH %s %s", t->username, t->password);
        else
            redisAsyncCommand(link->ac, on_setup_reply, "AUTH", "AUTH %s", t->password);
    }
    if (link->subscriber)
        return;
    if (t->db)
        redisAsyncCommand(link->ac, on_setup_reply, "SELECT", "SELECT %d", t->db);
    for (int i = 0; i < S_COUNT; i++)
        redisAsyncCommand(link->ac, on_setup_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", script_text[i]);
}

static void link_connect(bus_link *link)
{
    const sb_redis_target *t = &bus.cfg->redis;
    redisAsyncContext *ac = redisAsyncConnect(t->host, t->port);
    if (!ac || ac->err) {
        sb_warn(NULL, NULL, "redis %s link: %s", link->name, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(link);
        return;
    }
    ac->data = link;
    link->ac = ac;
    redisLibeventAttach(ac, bus.base);
    redisAsyncSetConnectCallback(ac, on_link_connect);
    redisAsyncSetDisconnectCallback(ac, on_link_disconnect);
    queue_link_setup(link);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    link_connect(arg);
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
    const char *kind = r->element[0]->str;
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
    if (!bus.sub.up)
        return -1;
    char channel[KEY_MAX];
    key_channel(channel, room_id);
    /* hiredis keeps the callback per channel and calls it for the
     * confirmation and for every message. */
    return redisAsyncCommand(bus.sub.ac, on_subscriber_reply, NULL, "%s %s", verb, channel)
           == REDIS_OK ? 0 : -1;
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

static void on_sweep_reply(redisReply *r, void *privdata)
{
    (void)privdata;
    if (r && r->type == REDIS_REPLY_INTEGER)
        bus.sweep_cursor = r->integer;
}

static void sweep_index_step(void)
{
    char index[KEY_MAX], cursor[32], count[16];
    key_index(index);
    snprintf(cursor, sizeof(cursor), "%lld", bus.sweep_cursor);
    snprintf(count, sizeof(count), "%d", SWEEP_BATCH);
    const char *values[] = { index, bus.cfg->key_prefix, cursor, count };
    eval_script(S_SWEEP, 1, 3, values, NULL, on_sweep_reply, NULL);
}

static void on_reap_reply(redisReply *r, void *privdata)
{
    (void)privdata;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer < 0)
        return;
    metrics.members_reaped += (uint64_t)r->element[0]->integer;
    for (size_t i = 1; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            sb_warn(NULL, NULL, "node %s stopped heartbeating: removed its members (%lld reaped in all)",
                    r->element[i]->str, r->element[0]->integer);
}

/* Any node may reap; the lock inside the script makes it one per period. */
static void reap_dead_nodes(void)
{
    char nodes[KEY_MAX], lock[KEY_MAX], lock_ms[16], departure[16];
    snprintf(nodes, sizeof(nodes), "%snodes", bus.cfg->key_prefix);
    snprintf(lock, sizeof(lock), "%sreaper:lock", bus.cfg->key_prefix);
    snprintf(lock_ms, sizeof(lock_ms), "%d", heartbeat_period_ms() - 100);
    snprintf(departure, sizeof(departure), "%d", bus.cfg->departure_timeout);
    const char *values[] = { nodes, lock, bus.cfg->key_prefix, bus.cfg->node_id, lock_ms, departure };
    eval_script(S_REAP, 2, 4, values, NULL, on_reap_reply, NULL);
}

static void on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    send_heartbeat();
    reap_dead_nodes();
    sweep_index_step();
}

/* SET ... GET answers the previous value: none means Redis has no record
 * of this node — it restarted empty, or the heartbeat expired and the
 * reaper may have removed our members. Either way they are written back. */
static void on_heartbeat_reply(redisReply *r, void *privdata)
{
    (void)privdata;
    if (!r || r->type != REDIS_REPLY_NIL)
        return;
    if (bus.h.on_membership_lost)
        bus.h.on_membership_lost();
}

static void send_heartbeat(void)
{
    if (!bus.cmd.up)
        return;
    char key[KEY_MAX], nodes[KEY_MAX], ttl[16];
    snprintf(key, sizeof(key), "%snode:%s", bus.cfg->key_prefix, bus.cfg->node_id);
    snprintf(nodes, sizeof(nodes), "%snodes", bus.cfg->key_prefix);
    snprintf(ttl, sizeof(ttl), "%d", bus.cfg->heartbeat_ttl);
    const char *set[] = { "SET", key, "1", "EX", ttl, "GET" };
    const char *sadd[] = { "SADD", nodes, bus.cfg->node_id };
    send_command(6, set, NULL, on_heartbeat_reply, NULL);
    send_command(3, sadd, NULL, NULL, NULL);
}

void bus_deregister(void)
{
    char key[KEY_MAX], nodes[KEY_MAX], node_rooms[KEY_MAX];
    snprintf(key, sizeof(key), "%snode:%s", bus.cfg->key_prefix, bus.cfg->node_id);
    snprintf(nodes, sizeof(nodes), "%snodes", bus.cfg->key_prefix);
    key_node_rooms(node_rooms);
    const char *del[] = { "DEL", key, node_rooms };
    const char *srem[] = { "SREM", nodes, bus.cfg->node_id };
    send_command(3, del, NULL, NULL, NULL);
    send_command(3, srem, NULL, NULL, NULL);
}

/* ---- public requests ------------------------------------------------------- */

int bus_room_create(const char *room_id, const char *created_at, long long created_ms,
                    const bus_room_params *p, bus_reply_fn fn, void *privdata)
{
    char room[KEY_MAX], index[KEY_MAX], ms[32], max[16], empty[16], departure[16];
    key_room(room, room_id);
    key_index(index);
    snprintf(ms, sizeof(ms), "%lld", created_ms);
    snprintf(max, sizeof(max), "%d", p->max_participants);
    snprintf(empty, sizeof(empty), "%d", p->empty_timeout);
    snprintf(departure, sizeof(departure), "%d", p->departure_timeout);
    const char *values[] = { room, index, created_at, ms, max, empty, departure,
                             p->metadata_json, room_id };
    return eval_script(S_CREATE, 2, 7, values, NULL, fn, privdata);
}

int bus_room_get(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char room[KEY_MAX], members[KEY_MAX];
    key_room(room, room_id);
    key_members(members, room_id);
    const char *values[] = { room, members };
    return eval_script(S_GET, 2, 0, values, NULL, fn, privdata);
}

int bus_room_members(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char members[KEY_MAX];
    key_members(members, room_id);
    const char *argv[] = { "HKEYS", members };
    return send_command(2, argv, NULL, fn, privdata);
}

int bus_room_list(long long offset, long long limit, bus_reply_fn fn, void *privdata)
{
    char index[KEY_MAX], off[32], lim[32];
    key_index(index);
    snprintf(off, sizeof(off), "%lld", offset);
    snprintf(lim, sizeof(lim), "%lld", limit);
    const char *values[] = { index, bus.cfg->key_prefix, off, lim };
    return eval_script(S_LIST, 1, 3, values, NULL, fn, privdata);
}

int bus_room_delete(const char *room_id, const char *envelope, size_t envelope_len,
                    bus_reply_fn fn, void *privdata)
{
    char room[KEY_MAX], members[KEY_MAX], index[KEY_MAX], channel[KEY_MAX];
    key_room(room, room_id);
    key_members(members, room_id);
    key_index(index);
    key_channel(channel, room_id);
    const char *values[] = { room, members, index, room_id, channel, envelope };
    const size_t lens[] = { 0, 0, 0, 0, 0, envelope_len };
    return eval_script(S_DELETE, 3, 3, values, lens, fn, privdata);
}

int bus_member_join(const char *room_id, const char *user_id, const char *envelope,
                    size_t envelope_len, bus_reply_fn fn, void *privdata)
{
    char room[KEY_MAX], members[KEY_MAX], node_rooms[KEY_MAX], channel[KEY_MAX];
    char member[256], ttl[16];
    key_room(room, room_id);
    key_members(members, room_id);
    key_node_rooms(node_rooms);
    key_channel(channel, room_id);
    snprintf(member, sizeof(member), "{\"node\":\"%s\",\"joined_at\":%lld}",
             bus.cfg->node_id, (long long)sb_clock_wall_ms());
    snprintf(ttl, sizeof(ttl), "%d", occupied_ttl_ms());
    const char *values[] = { room, members, node_rooms, user_id, member, ttl, channel,
                             envelope, room_id };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, envelope_len, 0 };
    return eval_script(S_JOIN, 3, 6, values, lens, fn, privdata);
}

int bus_member_restore(const char *room_id, const char *user_id, const char *envelope,
                       size_t envelope_len, bus_reply_fn fn, void *privdata)
{
    char room[KEY_MAX], members[KEY_MAX], node_rooms[KEY_MAX], index[KEY_MAX], channel[KEY_MAX];
    char member[256], ttl[16], created[SB_ISO8601_SIZE], ms[32], empty[16], departure[16], max[16];
    long long now = (long long)sb_clock_wall_ms();
    key_room(room, room_id);
    key_members(members, room_id);
    key_node_rooms(node_rooms);
    key_index(index);
    key_channel(channel, room_id);
    snprintf(member, sizeof(member), "{\"node\":\"%s\",\"joined_at\":%lld}", bus.cfg->node_id, now);
    snprintf(ttl, sizeof(ttl), "%d", occupied_ttl_ms());
    sb_clock_iso8601(now, created);
    snprintf(ms, sizeof(ms), "%lld", now);
    snprintf(empty, sizeof(empty), "%d", bus.cfg->empty_timeout);
    snprintf(departure, sizeof(departure), "%d", bus.cfg->departure_timeout);
    snprintf(max, sizeof(max), "%d", bus.cfg->max_participants);
    const char *values[] = { room, members, node_rooms, index, user_id, member, ttl, channel,
                             envelope, room_id, created, ms, empty, departure, max };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, 0, envelope_len, 0, 0, 0, 0, 0, 0 };
    return eval_script(S_RESTORE, 4, 11, values, lens, fn, privdata);
}

int bus_member_leave(const char *room_id, const char *user_id, const char *envelope,
                     size_t envelope_len, bool last_local, bus_reply_fn fn, void *privdata)
{
    char room[KEY_MAX], members[KEY_MAX], node_rooms[KEY_MAX], channel[KEY_MAX], departure[16];
    key_room(room, room_id);
    key_members(members, room_id);
    key_node_rooms(node_rooms);
    key_channel(channel, room_id);
    snprintf(departure, sizeof(departure), "%d", bus.cfg->departure_timeout);
    const char *values[] = { room, members, node_rooms, user_id, channel, envelope, room_id,
                             last_local ? "1" : "0", departure };
    const size_t lens[] = { 0, 0, 0, 0, 0, envelope_len, 0, 0, 0 };
    return eval_script(S_LEAVE, 3, 6, values, lens, fn, privdata);
}

int bus_rooms_refresh(const char *const *room_ids, size_t n)
{
    enum { ROOMS_PER_CALL = 200 };
    char ttl[16], nkeys[16];
    snprintf(ttl, sizeof(ttl), "%d", occupied_ttl_ms());
    for (size_t start = 0; start < n; start += ROOMS_PER_CALL) {
        size_t count = n - start < ROOMS_PER_CALL ? n - start : ROOMS_PER_CALL;
        size_t argc = 3 + 2 * count + 1;
        const char **argv = malloc(argc * sizeof(*argv));
        size_t *lens = malloc(argc * sizeof(*lens));
        char (*keys)[KEY_MAX] = malloc(2 * count * KEY_MAX);
        if (!argv || !lens || !keys) {
            free(argv);
            free(lens);
            free(keys);
            return -1;
        }
        snprintf(nkeys, sizeof(nkeys), "%zu", 2 * count);
        argv[0] = "EVALSHA";
        argv[1] = bus.sha[S_REFRESH];
        argv[2] = nkeys;
        for (size_t i = 0; i < count; i++) {
            key_room(keys[2 * i], room_ids[start + i]);
            key_members(keys[2 * i + 1], room_ids[start + i]);
            argv[3 + 2 * i] = keys[2 * i];
            argv[4 + 2 * i] = keys[2 * i + 1];
        }
        argv[argc - 1] = ttl;
        for (size_t i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        int rc = send_command((int)argc, argv, lens, NULL, NULL);
        free(argv);
        free(lens);
        free(keys);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int bus_publish(const char *room_id, const char *data, size_t len)
{
    char channel[KEY_MAX];
    key_channel(channel, room_id);
    const char *argv[] = { "PUBLISH", channel, data };
    const size_t lens[] = { 7, strlen(channel), len };
    if (!bus.cmd.up)
        return -1;
    /* The hot path: no reply is needed, so none is tracked. */
    return redisAsyncCommandArgv(bus.cmd.ac, NULL, NULL, 3, argv, lens) == REDIS_OK ? 0 : -1;
}

/* ---- lifecycle ------------------------------------------------------------- */

static void compute_script_shas(void)
{
    for (int i = 0; i < S_COUNT; i++) {
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)script_text[i], strlen(script_text[i]), digest);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            snprintf(bus.sha[i] + 2 * j, 3, "%02x", digest[j]);
    }
}

static void link_init(bus_link *link, const char *name, bool subscriber)
{
    link->name = name;
    link->subscriber = subscriber;
    link->backoff_ms = BACKOFF_MIN_MS;
    link->retry = evtimer_new(bus.base, on_retry_timer, link);
}

int bus_start(struct event_base *base, const sb_config *cfg, const bus_handlers *handlers)
{
    memset(&bus, 0, sizeof(bus));
    bus.base = base;
    bus.cfg = cfg;
    bus.h = *handlers;
    snprintf(bus.channel_prefix, sizeof(bus.channel_prefix), "%sroom:{", cfg->key_prefix);
    bus.channel_prefix_len = strlen(bus.channel_prefix);
    compute_script_shas();
    link_init(&bus.cmd, "command", false);
    link_init(&bus.sub, "subscriber", true);
    bus.heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat_timer, NULL);
    if (!bus.cmd.retry || !bus.sub.retry || !bus.heartbeat)
        return -1;
    int period_ms = heartbeat_period_ms();
    struct timeval tv = { period_ms / 1000, (period_ms % 1000) * 1000 };
    event_add(bus.heartbeat, &tv);
    link_connect(&bus.cmd);
    link_connect(&bus.sub);
    return 0;
}

void bus_stop(void)
{
    bus.stopping = true;
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
    return bus.cmd.up && bus.sub.up;
}

size_t bus_pending(void)
{
    return bus.pending;
}
