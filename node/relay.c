/*
 * relay.c - rooms across nodes (see relay.h for the ordering argument).
 *
 * A join, step by step:
 *
 *   1. the room's channel is subscribed (once per room per node);
 *   2. the join script runs: it checks the room and its capacity, adds
 *      the member, and publishes our "join" envelope inside Redis;
 *   3. two things then arrive, in either order: the script's reply (the
 *      members before us) on the command link, and our own "join"
 *      envelope on the subscriber link. From the envelope on, the session
 *      is in the room for everyone and receives room traffic, held back
 *      in its early buffer; once both have arrived it gets `connected`,
 *      then the held frames, and may speak.
 *
 * Events on the channel that come before our own envelope happened before
 * our join and are already in the reply's member list, so they are not
 * shown to the joining session; a leave that comes after it is remembered
 * so the reply does not bring that member back.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "room_table.h"

static const sb_config *cfg;
static struct event_base *base;

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

void relay_init(struct event_base *event_base, const sb_config *config)
{
    base = event_base;
    cfg = config;
}

/* ---- frames and envelopes ----------------------------------------------------- */

static char *envelope_for(sb_env_event event, const char *subject, const sb_frame *f, size_t *len)
{
    return sb_envelope_encode(cfg->node_id, event, subject, f->buf + LWS_PRE, f->len, len);
}

static void deliver_to_locals(sb_room *room, sb_frame *f, const ws_session *except)
{
    for (size_t i = 0; i < room->locals.count; i++) {
        ws_session *s = room->locals.items[i];
        if (s != except)
            ws_session_send(s, f);
    }
}

/* ---- room subscription ------------------------------------------------------- */

static bool room_subscribe(sb_room *room)
{
    if (bus_subscribe(room->id) != 0)
        return false;
    room->sub = ROOM_SUBSCRIBING;
    return true;
}

/* Drop the room's subscription once no session needs it, and free it. */
static void room_release(sb_room *room)
{
    if (room->locals.count || room->waiting.count)
        return;
    if (room->sub == ROOM_SUBSCRIBED || room->sub == ROOM_SUBSCRIBING)
        room->sub = bus_unsubscribe(room->id) == 0 ? ROOM_UNSUBSCRIBING : ROOM_UNSUBSCRIBED;
    room_table_release_if_unused(room);
}

static void detach_from_room(ws_session *s)
{
    sb_room *room = s->room;
    if (!room)
        return;
    ptr_array_remove(&room->waiting, s);
    ptr_array_remove(&room->locals, s);
    s->room = NULL;
    room_release(room);
}

static void fail_join(ws_session *s, const char *message, int code)
{
    detach_from_room(s);
    if (s->wsi)
        ws_session_refuse(s, message, code);
}

/* ---- join ---------------------------------------------------------------------- */

static bool left_early(const ws_session *s, const char *user_id)
{
    for (size_t i = 0; i < s->left_early.count; i++)
        if (strcmp(s->left_early.items[i], user_id) == 0)
            return true;
    return false;
}

static void send_connected(ws_session *s)
{
    size_t len;
    char *buf = sb_protocol_build_connected(s->user_id, s->room_id,
                                            (const char *const *)s->participants,
                                            s->n_participants, cfg->node_id, LWS_PRE, &len);
    sb_frame *f = frame_adopt(buf, len);
    ws_session_send(s, f);
    frame_unref(f);
}

static void complete_join(ws_session *s)
{
    s->state = WS_JOINED;
    send_connected(s);
    for (size_t i = 0; i < s->early_frames.count; i++)
        ws_session_send(s, s->early_frames.items[i]);
    for (size_t i = 0; i < s->early_frames.count; i++)
        frame_unref(s->early_frames.items[i]);
    ptr_array_free(&s->early_frames);
    for (size_t i = 0; i < s->left_early.count; i++)
        free(s->left_early.items[i]);
    ptr_array_free(&s->left_early);
    lws_rx_flow_control(s->wsi, 1);
    sb_info(s->room_id, s->user_id, "joined (%zu already in the room)", s->n_participants);
}

/* The member was added in Redis but its socket is gone: take it out again
 * so the others see it leave. */
static void undo_join(ws_session *s)
{
    sb_room *room = s->room;
    ptr_array_remove(&room->waiting, s);
    ptr_array_remove(&room->locals, s);
    sb_frame *f = frame_user_event("user-left", s->user_id, s->room_id);
    size_t elen;
    char *env = f ? envelope_for(SB_ENV_LEAVE, s->user_id, f, &elen) : NULL;
    if (!env || bus_member_leave(s->room_id, s->user_id, env, elen, room->locals.count == 0,
                                 NULL, NULL) != 0)
        remember_leave(s->room_id, s->user_id);
    free(env);
    frame_unref(f);
    detach_from_room(s);
}

static bool store_participants(ws_session *s, const redisReply *r)
{
    size_t n = r->elements - 1;
    s->participants = calloc(n + 1, sizeof(char *));
    if (!s->participants)
        return false;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i + 1];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        char *id = strdup(e->str);
        if (!id)
            return false;
        s->participants[s->n_participants++] = id;
        if (!room_find_local(s->room, id) && !left_early(s, id))
            room_add_remote(s->room, id);
    }
    return true;
}

static void on_join_reply(redisReply *r, void *privdata)
{
    ws_session *s = privdata;
    long long code = (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1
                      && r->element[0]->type == REDIS_REPLY_INTEGER)
                     ? r->element[0]->integer : -100;
    if (!s->wsi || s->state != WS_JOIN_SENT) {
        if (code == 0 && s->room)
            undo_join(s);
        else
            detach_from_room(s);
    } else if (code == -1) {
        sb_info(s->room_id, s->user_id, "refused: room not found");
        fail_join(s, SB_ERR_ROOM_NOT_FOUND, SB_CLOSE_ROOM_NOT_FOUND);
    } else if (code == -2) {
        sb_info(s->room_id, s->user_id, "refused: room is full");
        fail_join(s, SB_ERR_ROOM_FULL, SB_CLOSE_ROOM_FULL);
    } else if (code != 0) {
        fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_INTERNAL);
    } else if (!store_participants(s, r)) {
        undo_join(s);
        ws_session_refuse(s, NULL, SB_CLOSE_INTERNAL);
    } else {
        s->join_replied = true;
        if (s->announced)
            complete_join(s);
    }
    ws_session_unref(s);
}

static void send_join(ws_session *s)
{
    s->state = WS_JOIN_SENT;
    sb_frame *f = frame_user_event("user-joined", s->user_id, s->room_id);
    size_t elen;
    char *env = f ? envelope_for(SB_ENV_JOIN, s->user_id, f, &elen) : NULL;
    frame_unref(f);
    ws_session_ref(s);
    if (!env || bus_member_join(s->room_id, s->user_id, env, elen, on_join_reply, s) != 0) {
        ws_session_unref(s);
        fail_join(s, SB_ERR_UNAVAILABLE, 1013);
    }
    free(env);
}

void relay_session_join(ws_session *s)
{
    if (!bus_is_ready()) {
        ws_session_refuse(s, SB_ERR_UNAVAILABLE, 1013);
        return;
    }
    sb_room *room = room_table_get_or_create(s->room_id);
    if (!room || !ptr_array_push(&room->waiting, s)) {
        if (room)
            room_table_release_if_unused(room);
        ws_session_refuse(s, NULL, SB_CLOSE_INTERNAL);
        return;
    }
    s->room = room;
    if (room->sub == ROOM_SUBSCRIBED)
        send_join(s);
    else if (room->sub == ROOM_UNSUBSCRIBED && !room_subscribe(room))
        fail_join(s, SB_ERR_UNAVAILABLE, 1013);
    /* otherwise the subscription callbacks carry on */
}

/* ---- leave ----------------------------------------------------------------------- */

void relay_session_leave(ws_session *s)
{
    if (!s->room)
        return;
    if (s->state == WS_JOIN_SENT)
        return;                     /* on_join_reply finishes it */
    if (s->state != WS_JOINED) {
        detach_from_room(s);
        return;
    }
    sb_room *room = s->room;
    ptr_array_remove(&room->locals, s);
    sb_frame *f = frame_user_event("user-left", s->user_id, s->room_id);
    size_t elen;
    char *env = f ? envelope_for(SB_ENV_LEAVE, s->user_id, f, &elen) : NULL;
    int rc = env ? bus_member_leave(s->room_id, s->user_id, env, elen, room->locals.count == 0,
                                    NULL, NULL) : -1;
    /* The others normally hear of it when the envelope comes back; with
     * Redis away, tell the local ones now. */
    if (rc != 0) {
        if (f)
            deliver_to_locals(room, f, NULL);
        remember_leave(s->room_id, s->user_id);
    }
    free(env);
    frame_unref(f);
    sb_info(s->room_id, s->user_id, "left");
    detach_from_room(s);
}

/* ---- messages from clients --------------------------------------------------------- */

void relay_client_message(ws_session *s, const sb_client_msg *msg)
{
    sb_room *room = s->room;
    if (s->state != WS_JOINED || !room)
        return;
    ws_session *target = NULL;
    if (msg->to) {
        target = room_find_local(room, msg->to);
        if (!target && !room_has_remote(room, msg->to)) {
            ws_session_send_error(s, SB_ERR_UNKNOWN_TARGET);
            return;
        }
    }
    size_t len = 0;
    char *buf = sb_protocol_build_relay(msg, s->room_id, s->user_id, LWS_PRE, &len);
    sb_frame *f = frame_adopt(buf, len);
    if (!f)
        return;
    bool publish;
    if (msg->to) {
        if (target)
            ws_session_send(target, f);
        publish = !target;
    } else {
        deliver_to_locals(room, f, s);
        publish = room->remotes.count > 0;
    }
    if (publish) {
        size_t elen;
        char *env = envelope_for(SB_ENV_MSG, msg->to, f, &elen);
        if (env && bus_publish(s->room_id, env, elen) == 0)
            metrics.relay_published++;
        free(env);
    }
    frame_unref(f);
}

/* ---- messages from the room channel ---------------------------------------------------- */

static ws_session *find_waiting(sb_room *room, const char *user_id)
{
    for (size_t i = 0; i < room->waiting.count; i++) {
        ws_session *s = room->waiting.items[i];
        if (strcmp(s->user_id, user_id) == 0)
            return s;
    }
    return NULL;
}

static void on_own_join(sb_room *room, const char *user_id, sb_frame *f)
{
    ws_session *s = find_waiting(room, user_id);
    deliver_to_locals(room, f, NULL);
    if (!s || s->state != WS_JOIN_SENT)
        return;
    s->announced = true;
    ptr_array_remove(&room->waiting, s);
    ptr_array_push(&room->locals, s);
    if (s->join_replied && s->wsi)
        complete_join(s);
}

static void note_leave_for_joiners(sb_room *room, const char *user_id)
{
    for (size_t i = 0; i < room->locals.count; i++) {
        ws_session *s = room->locals.items[i];
        if (s->state == WS_JOIN_SENT && !s->join_replied) {
            char *copy = strdup(user_id);
            if (copy && !ptr_array_push(&s->left_early, copy))
                free(copy);
        }
    }
}

static void close_room_locally(sb_room *room, sb_frame *f)
{
    /* Closing a session can free the room: work on a copy of the list. */
    ptr_array snap = ptr_array_copy(&room->locals);
    for (size_t i = 0; i < snap.count; i++)
        ws_session_send_and_close(snap.items[i], f, SB_CLOSE_NORMAL);
    ptr_array_free(&snap);
}

static void on_channel_message(const char *room_id, const char *data, size_t len)
{
    sb_room *room = room_table_find(room_id);
    sb_envelope env;
    if (!room)
        return;
    if (sb_envelope_decode(data, len, &env) != 0) {
        sb_warn(room_id, NULL, "ignored a malformed envelope on the room channel");
        return;
    }
    bool own = env.origin_len == strlen(cfg->node_id)
               && memcmp(env.origin, cfg->node_id, env.origin_len) == 0;
    if (env.event == SB_ENV_MSG && own)
        return;                      /* delivered locally when it was sent */
    char subject[SB_UUID_LEN + 1] = "";
    if (env.subject_len) {
        if (env.subject_len > SB_UUID_LEN)
            return;
        memcpy(subject, env.subject, env.subject_len);
        subject[env.subject_len] = '\0';
    }
    sb_frame *f = frame_copy(env.payload, env.payload_len);
    if (!f)
        return;
    switch (env.event) {
    case SB_ENV_MSG:
        metrics.relay_received++;
        if (subject[0]) {
            ws_session *target = room_find_local(room, subject);
            if (target)
                ws_session_send(target, f);
        } else {
            deliver_to_locals(room, f, NULL);
        }
        break;
    case SB_ENV_JOIN:
        if (own) {
            on_own_join(room, subject, f);
        } else {
            room_add_remote(room, subject);
            deliver_to_locals(room, f, NULL);
        }
        break;
    case SB_ENV_LEAVE:
        room_remove_remote(room, subject);
        note_leave_for_joiners(room, subject);
        deliver_to_locals(room, f, NULL);
        break;
    case SB_ENV_REJOIN:
        /* Written back after Redis lost it: news only to a node that did
         * not know the member. */
        if (!own && !room_find_local(room, subject) && !room_has_remote(room, subject)) {
            room_add_remote(room, subject);
            deliver_to_locals(room, f, NULL);
        }
        break;
    case SB_ENV_CLOSE:
        sb_info(room_id, NULL, "room closed");
        close_room_locally(room, f);
        break;
    }
    frame_unref(f);
}

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
            sb_frame *f = frame_user_event("user-left", user, room->id);
            deliver_to_locals(room, f, NULL);
            frame_unref(f);
            room_remove_remote(room, user);
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_STRING || room_find_local(room, e->str)
                || room_has_remote(room, e->str) || find_waiting(room, e->str))
                continue;
            room_add_remote(room, e->str);
            sb_frame *f = frame_user_event("user-joined", e->str, room->id);
            deliver_to_locals(room, f, NULL);
            frame_unref(f);
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

static void on_late_resync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    char *room_id = arg;
    sb_room *room = room_table_find(room_id);
    if (room && room->locals.count && room->sub == ROOM_SUBSCRIBED)
        resync_members(room_id, true);
    free(room_id);
}

static void schedule_late_resync(const sb_room *room)
{
    char *room_id = strdup(room->id);
    struct timeval tv = { cfg->heartbeat_ttl, 0 };
    if (room_id && event_base_once(base, -1, EV_TIMEOUT, on_late_resync, room_id, &tv) != 0)
        free(room_id);
}

static void on_subscribed(const char *room_id)
{
    sb_room *room = room_table_find(room_id);
    if (!room || room->sub != ROOM_SUBSCRIBING)
        return;
    room->sub = ROOM_SUBSCRIBED;
    if (room->locals.count) {
        resync_members(room->id, false);
        schedule_late_resync(room);
    }
    /* send_join can fail and detach sessions: walk a copy. */
    ptr_array snap = ptr_array_copy(&room->waiting);
    for (size_t i = 0; i < snap.count; i++) {
        ws_session *s = snap.items[i];
        if (s->state == WS_WAIT_CHANNEL)
            send_join(s);
    }
    ptr_array_free(&snap);
}

static void on_unsubscribed(const char *room_id)
{
    sb_room *room = room_table_find(room_id);
    if (!room || room->sub != ROOM_UNSUBSCRIBING)
        return;
    room->sub = ROOM_UNSUBSCRIBED;
    /* Someone came to the room while we were leaving its channel. */
    if ((room->locals.count || room->waiting.count) && !room_subscribe(room)) {
        sb_warn(room_id, NULL, "could not subscribe again to the room channel");
        return;
    }
    room_table_release_if_unused(room);
}

static void collect_room(sb_room *room, void *arg)
{
    ptr_array_push(arg, room);
}

/* The rooms as they are now, to act on one by one (acting may free one). */
static ptr_array rooms_snapshot(void)
{
    ptr_array rooms = { 0 };
    room_table_foreach(collect_room, &rooms);
    return rooms;
}

static void on_subscriber_up(void)
{
    ptr_array rooms = rooms_snapshot();
    for (size_t i = 0; i < rooms.count; i++) {
        sb_room *room = rooms.items[i];
        if (room->locals.count || room->waiting.count)
            room_subscribe(room);
        else
            room_table_release_if_unused(room);
    }
    ptr_array_free(&rooms);
}

/* Every subscription is gone with the link. Joined sessions keep relaying
 * locally; a join that has not been announced yet never will be, so it
 * is refused and the client may retry. */
static void on_subscriber_down(void)
{
    ptr_array rooms = rooms_snapshot();
    for (size_t i = 0; i < rooms.count; i++) {
        sb_room *room = rooms.items[i];
        room->sub = ROOM_UNSUBSCRIBED;
        /* The last fail_join may free the room: count first, then stop
         * touching it. */
        for (size_t left = room->waiting.count; left > 0; left--) {
            ws_session *s = room->waiting.items[0];
            if (s->state == WS_JOIN_SENT) {
                /* on_join_reply sees it gone and undoes the join */
                ptr_array_remove(&room->waiting, s);
                s->state = WS_GONE;
                ws_session_refuse(s, SB_ERR_UNAVAILABLE, 1013);
            } else {
                fail_join(s, SB_ERR_UNAVAILABLE, 1013);
            }
        }
    }
    ptr_array_free(&rooms);
}

/* ---- upkeep --------------------------------------------------------------------------------- */

typedef struct {
    const char **ids;
    size_t n, cap;
} id_list;

static void collect_occupied(sb_room *room, void *arg)
{
    id_list *list = arg;
    if (room->locals.count && list->n < list->cap)
        list->ids[list->n++] = room->id;
}

void relay_refresh_rooms(void)
{
    id_list list = { NULL, 0, room_table_count() };
    if (!list.cap)
        return;
    list.ids = malloc(list.cap * sizeof(*list.ids));
    if (!list.ids)
        return;
    room_table_foreach(collect_occupied, &list);
    if (list.n)
        bus_rooms_refresh(list.ids, list.n);
    free(list.ids);
}

/* ---- after a Redis outage -------------------------------------------------------------- */

typedef struct {
    char *envelope;
    size_t len;
    char room_id[SB_UUID_LEN + 1];
} replayed_leave;

/* A replayed leave that found nothing to remove (Redis restarted empty)
 * still has to be announced. */
static void on_replayed_leave(redisReply *r, void *privdata)
{
    replayed_leave *p = privdata;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        bus_publish(p->room_id, p->envelope, p->len);
    free(p->envelope);
    free(p);
}

static void replay_pending_leaves(void)
{
    for (size_t i = 0; i < pending_leaves.count; i++) {
        pending_leave *p = pending_leaves.items[i];
        sb_room *room = room_table_find(p->room_id);
        sb_frame *f = frame_user_event("user-left", p->user_id, p->room_id);
        replayed_leave *ctx = f ? malloc(sizeof(*ctx)) : NULL;
        if (ctx) {
            ctx->envelope = envelope_for(SB_ENV_LEAVE, p->user_id, f, &ctx->len);
            snprintf(ctx->room_id, sizeof(ctx->room_id), "%s", p->room_id);
            if (!ctx->envelope
                || bus_member_leave(p->room_id, p->user_id, ctx->envelope, ctx->len,
                                    !room || room->locals.count == 0, on_replayed_leave, ctx) != 0) {
                free(ctx->envelope);
                free(ctx);
            }
        }
        frame_unref(f);
        free(p);
    }
    ptr_array_free(&pending_leaves);
}

static void on_commands_up(void)
{
    sb_info(NULL, NULL, "redis is back: replaying %zu leaves", pending_leaves.count);
    replay_pending_leaves();
}

static void restore_room(sb_room *room)
{
    for (size_t i = 0; i < room->locals.count; i++) {
        ws_session *s = room->locals.items[i];
        if (s->state != WS_JOINED)
            continue;
        sb_frame *f = frame_user_event("user-joined", s->user_id, s->room_id);
        size_t elen;
        char *env = f ? envelope_for(SB_ENV_REJOIN, s->user_id, f, &elen) : NULL;
        if (env)
            bus_member_restore(s->room_id, s->user_id, env, elen, NULL, NULL);
        free(env);
        frame_unref(f);
    }
}

/* Redis has forgotten this node: write every live member back. */
static void on_membership_lost(void)
{
    ptr_array rooms = rooms_snapshot();
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
}

static const bus_handlers handlers = {
    .on_message = on_channel_message,
    .on_subscribed = on_subscribed,
    .on_unsubscribed = on_unsubscribed,
    .on_subscriber_up = on_subscriber_up,
    .on_subscriber_down = on_subscriber_down,
    .on_commands_up = on_commands_up,
    .on_membership_lost = on_membership_lost,
};

const bus_handlers *relay_bus_handlers(void)
{
    return &handlers;
}
