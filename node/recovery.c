/*
 * recovery.c - putting rooms right after Redis was away (see recovery.h).
 *
 * Three things can be lost while a node cannot reach Redis, and each has
 * its own repair:
 *
 *   leaves    a participant who left could not be removed: remembered
 *             here and replayed when the command link is back, published
 *             even if Redis no longer had the member, so other nodes hear;
 *   members   Redis restarted empty, or took this node for dead and the
 *             reaper removed its members, or a promoted replica lacks
 *             the last writes: every live member is written back and
 *             announced as "rejoin", and a member of this node that Redis
 *             kept but no session here stands for (its leave was lost with
 *             the old master) is taken out and announced as left;
 *   events    the channel was down, so joins and leaves elsewhere went
 *             unseen: the room's remote members are compared with Redis
 *             after re-subscribing.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "frame.h"
#include "log.h"
#include "recovery.h"
#include "redis_bus.h"
#include "room_table.h"
#include "ws_session.h"

static const sb_config *cfg;
static struct event *late_resync; /* one timer for every re-subscribed room */

static void on_late_resync(evutil_socket_t fd, short what, void *arg);

void recovery_init(struct event_base *base, const sb_config *config)
{
    cfg = config;
    late_resync = evtimer_new(base, on_late_resync, NULL);
}

/* ---- leaves -------------------------------------------------------------------- */

/* Leaves that could not reach Redis, replayed when it is back so the other
 * nodes hear of them. */
typedef struct {
    char room_id[SB_UUID_LEN + 1];
    char user_id[SB_UUID_LEN + 1];
} pending_leave;
static ptr_array pending_leaves;

static void remember_leave(const char *room_id, const char *user_id)
{
    pending_leave *p = malloc(sizeof(*p));
    if (!p)
        return;
    snprintf(p->room_id, sizeof(p->room_id), "%s", room_id);
    snprintf(p->user_id, sizeof(p->user_id), "%s", user_id);
    if (!ptr_array_push(&pending_leaves, p))
        free(p);
}

/* The leave script removes the member and publishes the envelope. */
static int send_leave(const char *room_id, const char *user_id, bool last_local, bus_reply_fn fn,
                      void *privdata)
{
    size_t len;
    char *env = frame_member_envelope(cfg->node_id, SB_ENV_LEAVE, user_id, room_id, &len);
    int rc = env ? bus_member_leave(room_id, user_id, env, len, last_local, fn, privdata) : -1;
    free(env);
    return rc;
}

int recovery_member_leave(const char *room_id, const char *user_id, bool last_local)
{
    if (send_leave(room_id, user_id, last_local, NULL, NULL) == 0)
        return 0;
    remember_leave(room_id, user_id);
    return -1;
}

/* A replayed leave that found nothing to remove (Redis restarted empty)
 * still has to be announced. */
static void on_replayed_leave(redisReply *r, void *privdata)
{
    pending_leave *p = privdata;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        size_t len;
        char *env = frame_member_envelope(cfg->node_id, SB_ENV_LEAVE, p->user_id, p->room_id, &len);
        if (env)
            bus_publish(p->room_id, env, len);
        free(env);
    }
    free(p);
}

static void replay_pending_leaves(void)
{
    for (size_t i = 0; i < pending_leaves.count; i++) {
        pending_leave *p = pending_leaves.items[i];
        sb_room *room = room_table_find(p->room_id);
        if (send_leave(p->room_id, p->user_id, !room || room->locals.count == 0, on_replayed_leave,
                       p)
            != 0)
            free(p);
    }
    ptr_array_free(&pending_leaves);
}

void recovery_replay_leaves(void)
{
    if (pending_leaves.count)
        sb_info(NULL, NULL, "redis is back: replaying %zu leaves", pending_leaves.count);
    replay_pending_leaves();
}

static void restore_room(sb_room *room)
{
    for (size_t i = 0; i < room->locals.count; i++) {
        ws_session *s = room->locals.items[i];
        if (s->state != WS_JOINED)
            continue;
        size_t elen;
        char *env = frame_joined_envelope(cfg->node_id, SB_ENV_REJOIN, s->user_id, s->room_id,
                                          s->profile, &elen);
        if (env)
            bus_member_restore(s->room_id, s->user_id, s->profile, env, elen, NULL, NULL);
        free(env);
    }
}

/* ---- members Redis kept -------------------------------------------------------- */

static bool live_here(const char *room_id, const char *user_id)
{
    sb_room *room = room_table_find(room_id);
    return room
           && (ws_session_find(&room->locals, user_id) || ws_session_find(&room->waiting, user_id));
}

/* A members hash value {"node": ...} naming this node. */
static bool value_is_ours(const redisReply *v)
{
    json_t *m = json_loadb(v->str, v->len, 0, NULL);
    const char *node = json_string_value(json_object_get(m, "node"));
    bool ours = node && strcmp(node, cfg->node_id) == 0;
    json_decref(m);
    return ours;
}

static void on_member_values(redisReply *r, void *privdata)
{
    char *room_id = privdata;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *user = r->element[i], *value = r->element[i + 1];
        if (user->type != REDIS_REPLY_STRING || user->len != SB_UUID_LEN
            || value->type != REDIS_REPLY_STRING || !value_is_ours(value)
            || live_here(room_id, user->str))
            continue;
        sb_warn(room_id, user->str, "redis had a member that left this node: removing it");
        sb_room *room = room_table_find(room_id);
        recovery_member_leave(room_id, user->str, !room || room->locals.count == 0);
    }
    free(room_id);
}

static void on_node_rooms(redisReply *r, void *privdata)
{
    (void)privdata;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len != SB_UUID_LEN)
            continue;
        char *room_id = strdup(e->str);
        if (room_id && bus_room_member_values(room_id, on_member_values, room_id) != 0)
            free(room_id);
    }
}

/* Redis has forgotten this node, or may have lost its last writes: write
 * every live member back, and take out the members it kept that are
 * gone. */
void recovery_restore_members(void)
{
    ptr_array rooms = room_table_snapshot();
    size_t members = 0;
    for (size_t i = 0; i < rooms.count; i++) {
        sb_room *room = rooms.items[i];
        members += room->locals.count;
        restore_room(room);
    }
    if (members)
        sb_warn(NULL, NULL, "redis had no record of this node: wrote back %zu members in %zu rooms",
                members, rooms.count);
    ptr_array_free(&rooms);
    bus_node_rooms(on_node_rooms, NULL);
}

/* ---- missed events ------------------------------------------------------------- */

static bool reply_has(const redisReply *r, const char *user_id)
{
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, user_id) == 0)
            return true;
    return false;
}

typedef struct {
    char room_id[SB_UUID_LEN + 1];
    bool removals;
} resync_request;

static void tell_locals(sb_room *room, const char *type, const char *user_id)
{
    sb_frame *f = frame_user_event(type, user_id, room->id);
    ws_session_broadcast(&room->locals, f, NULL);
    frame_unref(f);
}

/* After the channel was lost, events may have been missed: compare the
 * remote members with Redis and tell the local participants about the
 * difference. Right after re-subscribing only newcomers are announced: the
 * other nodes may not have written their members back yet, so a member
 * missing from Redis is taken for gone only one heartbeat TTL later, when
 * every live node has had the time to do so. */
static void on_resync_reply(redisReply *r, void *privdata)
{
    resync_request *req = privdata;
    sb_room *room = room_table_find(req->room_id);
    if (room && r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = req->removals ? room->remotes.count : 0; i-- > 0;) {
            const char *user = room->remotes.items[i];
            if (reply_has(r, user))
                continue;
            tell_locals(room, "user-left", user);
            room_remove_remote(room, user);
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_STRING || ws_session_find(&room->locals, e->str)
                || room_has_remote(room, e->str) || ws_session_find(&room->waiting, e->str))
                continue;
            room_add_remote(room, e->str);
            tell_locals(room, "user-joined", e->str);
        }
    }
    free(req);
}

static void resync_members(const char *room_id, bool removals)
{
    resync_request *req = malloc(sizeof(*req));
    if (!req)
        return;
    snprintf(req->room_id, sizeof(req->room_id), "%s", room_id);
    req->removals = removals;
    if (bus_room_members(room_id, on_resync_reply, req) != 0)
        free(req);
}

static void resync_with_removals(sb_room *room, void *arg)
{
    (void)arg;
    if (room->locals.count && room->sub == ROOM_SUBSCRIBED)
        resync_members(room->id, true);
}

static void on_late_resync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    room_table_foreach(resync_with_removals, NULL);
}

void recovery_resync_room(const sb_room *room)
{
    resync_members(room->id, false);
    if (late_resync && !evtimer_pending(late_resync, NULL)) {
        struct timeval tv = sb_clock_timeval((uint64_t)cfg->heartbeat_ttl * 1000);
        evtimer_add(late_resync, &tv);
    }
}

void recovery_free(void)
{
    for (size_t i = 0; i < pending_leaves.count; i++)
        free(pending_leaves.items[i]);
    ptr_array_free(&pending_leaves);
    if (late_resync)
        event_free(late_resync);
    late_resync = NULL;
}
