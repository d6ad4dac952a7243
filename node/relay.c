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
#include "recovery.h"
#include "relay.h"
#include "relay_internal.h"
#include "resume.h"
#include "room_table.h"

static const sb_config *cfg;

const sb_config *relay_config(void)
{
    return cfg;
}

void relay_init(struct event_base *base, const sb_config *config)
{
    cfg = config;
    recovery_init(base, config);
    resume_init(base, config);
}

/* ---- room subscription ------------------------------------------------------- */

bool relay_room_subscribe(sb_room *room)
{
    if (bus_subscribe(room->id) != 0)
        return false;
    room->sub = ROOM_SUBSCRIBING;
    return true;
}

/* Drop the room's subscription once no session needs it, and free it. */
void relay_room_release(sb_room *room)
{
    /* A member being held here keeps the channel until its own "away"
     * comes back (resume.h). */
    if (room->locals.count || room->waiting.count || resume_capturing(room->id))
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
    relay_room_release(room);
}

void relay_fail_join(ws_session *s, const char *message, int code)
{
    detach_from_room(s);
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

void relay_complete_join(ws_session *s)
{
    size_t len;
    char token[SB_RESUME_TOKEN_LEN + 1];
    resume_token(s, token);
    sb_connected_resume rs = { token, s->resumed, s->missed };
    const sb_connected_resume *r = resume_enabled() ? &rs : NULL;
    char *buf =
        s->participant_profiles
            ? sb_protocol_build_connected_list(s->user_id, s->room_id, s->participant_profiles,
                                               cfg->node_id, r, LWS_PRE, &len)
            : sb_protocol_build_connected(s->user_id, s->room_id,
                                          (const char *const *)s->participants, s->n_participants,
                                          cfg->node_id, r, LWS_PRE, &len);
    sb_frame *f = frame_adopt(buf, len);
    if (!s->resumed)
        sb_info(s->room_id, s->user_id, "joined (%zu already in the room)", s->n_participants);
    ws_session_enter_room(s, f);
    frame_unref(f);
}

/* The member was added in Redis but its socket is gone: take it out again
 * so the others see it leave. */
void relay_undo_join(ws_session *s)
{
    sb_room *room = s->room;
    ptr_array_remove(&room->waiting, s);
    ptr_array_remove(&room->locals, s);
    recovery_member_leave(s->room_id, s->user_id, room->locals.count == 0);
    detach_from_room(s);
}

/* A member of the room on this node: in it, or joining it here. A join's
 * reply can list a member whose own join announcement, on the other Redis
 * connection, has not come back yet; taken for a remote, it would have
 * every broadcast in the room published for nobody. A resume in progress
 * is not counted: its participant may still be on another node. */
static bool is_local(const sb_room *room, const char *user_id)
{
    if (ws_session_find(&room->locals, user_id))
        return true;
    const ws_session *w = ws_session_find(&room->waiting, user_id);
    return w && !w->resuming;
}

/* Keep the reply's members, {0, id...} (open mode) or {0, id, value, ...}
 * (auth on), for `connected`, and learn which of them are elsewhere. */
static bool store_participants(ws_session *s, const redisReply *r)
{
    size_t step = s->profile ? 2 : 1, n = (r->elements - 1) / step;
    s->participants = calloc(n + 1, sizeof(char *));
    if (!s->participants)
        return false;
    if (s->profile && !(s->participant_profiles = json_array()))
        return false;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[1 + i * step];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        char *id = strdup(e->str);
        if (!id)
            return false;
        s->participants[s->n_participants++] = id;
        if (s->profile) { /* then step is 2: id, stored value */
            const redisReply *v = r->element[2 + i * step];
            bool stored = v->type == REDIS_REPLY_STRING;
            if (json_array_append_new(
                    s->participant_profiles,
                    frame_participant(id, stored ? v->str : NULL, stored ? v->len : 0))
                != 0)
                return false;
        }
        if (!is_local(s->room, id) && !left_early(s, id))
            room_add_remote(s->room, id);
    }
    return true;
}

static void on_join_reply(redisReply *r, void *privdata)
{
    ws_session *s = privdata;
    long long code = (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1
                      && r->element[0]->type == REDIS_REPLY_INTEGER)
                         ? r->element[0]->integer
                         : -100;
    if (!ws_session_can_send(s) || s->state != WS_JOIN_SENT) {
        if (code == 0 && s->room)
            relay_undo_join(s);
        else
            detach_from_room(s);
    } else if (code == -1) {
        sb_info(s->room_id, s->user_id, "refused: room not found");
        relay_fail_join(s, SB_ERR_ROOM_NOT_FOUND, SB_CLOSE_ROOM_NOT_FOUND);
    } else if (code == -2) {
        sb_info(s->room_id, s->user_id, "refused: room is full");
        relay_fail_join(s, SB_ERR_ROOM_FULL, SB_CLOSE_ROOM_FULL);
    } else if (code != 0) {
        relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_INTERNAL);
    } else if (!store_participants(s, r)) {
        relay_undo_join(s);
        ws_session_refuse(s, NULL, SB_CLOSE_INTERNAL);
    } else {
        /* Entering a room this node had no one else in: some of its
         * members may be held for a resume. */
        if (resume_enabled() && s->n_participants && s->room->locals.count <= 1)
            resume_learn_room(s->room);
        if (ws_session_join_replied(s))
            relay_complete_join(s);
    }
    ws_session_unref(s);
}

/* A member resumed in Redis whose new socket is gone already: hold it
 * again, or take it out if it cannot be held. */
static void hold_or_leave(ws_session *s)
{
    sb_room *room = s->room;
    ptr_array_remove(&room->waiting, s);
    ptr_array_remove(&room->locals, s);
    if (s->leaving || resume_hold(s, false) != 0)
        recovery_member_leave(s->room_id, s->user_id, room->locals.count == 0);
    detach_from_room(s);
}

/* The answer to a resume: in the room as before (then as a join from
 * here on), or, when there was nothing to resume, a fresh join. */
static void on_resume_reply(redisReply *r, void *privdata)
{
    ws_session *s = privdata;
    long long code = resume_reply_code(r);
    if (!ws_session_can_send(s) || s->state != WS_JOIN_SENT) {
        if (code == 0 && s->room)
            hold_or_leave(s);
        else
            detach_from_room(s);
    } else if (code == 0) {
        if (!resume_apply_reply(s, r)) {
            hold_or_leave(s);
            ws_session_refuse(s, NULL, SB_CLOSE_INTERNAL);
        } else if (ws_session_join_replied(s)) {
            relay_complete_join(s);
        }
    } else if (code == -4) {
        /* Held, but its node has not yet put in front of the gap what it
         * kept for it (docs/design.md#resume): ask again shortly. */
        if (resume_send_later(s, on_resume_reply) != 0)
            relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_INTERNAL);
    } else if (code == -1 || code == -3) {
        sb_info(s->room_id, NULL, "nothing to resume: joining afresh");
        ws_session_resume_refused(s);
        relay_send_join(s);
    } else {
        relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_INTERNAL);
    }
    ws_session_unref(s);
}

void relay_send_join(ws_session *s)
{
    ws_session_join_sent(s);
    if (s->resuming) {
        ws_session_ref(s);
        if (resume_send(s, on_resume_reply, s) != 0) {
            ws_session_unref(s);
            relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
        }
        return;
    }
    size_t elen;
    char *env =
        frame_joined_envelope(cfg->node_id, SB_ENV_JOIN, s->user_id, s->room_id, s->profile, &elen);
    ws_session_ref(s);
    if (!env
        || bus_member_join(s->room_id, s->user_id, s->profile, s->resume_secret, env, elen,
                           on_join_reply, s)
               != 0) {
        ws_session_unref(s);
        relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
    }
    free(env);
}

/* Enter the session's room: subscribe to its channel if needed, then run
 * the join script. Refuses the session if Redis is unavailable. */
static void session_join(ws_session *s)
{
    if (!bus_is_ready()) {
        ws_session_refuse(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
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
        relay_send_join(s);
    else if (room->sub == ROOM_UNSUBSCRIBED && !relay_room_subscribe(room))
        relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
    /* otherwise the subscription callbacks carry on */
}

/* ---- leave ----------------------------------------------------------------------- */

/* The session's socket is gone: leave the room. */
static void session_leave(ws_session *s)
{
    if (!s->room || s->taken_over)
        return;
    if (s->state == WS_JOIN_SENT && !s->join_replied)
        return; /* on_join_reply finishes it */
    if (s->state == WS_JOIN_SENT) {
        /* In Redis, but our own join has not come back yet: nobody else
         * will take the member out. */
        relay_undo_join(s);
        return;
    }
    if (s->state != WS_JOINED) {
        detach_from_room(s);
        return;
    }
    sb_room *room = s->room;
    ptr_array_remove(&room->locals, s);
    /* A lost socket (not a deliberate leave) holds the participant for a
     * resume: the others see nothing unless its window ends. */
    if (!s->leaving && resume_hold(s, true) == 0) {
        sb_info(s->room_id, s->user_id, "away: held %d s for a resume", cfg->resume_window);
        detach_from_room(s);
        return;
    }
    /* The others normally hear of it when the envelope comes back; with
     * Redis away, or only the room's channel (the subscriber link is down:
     * the envelope is published before the channel is subscribed again,
     * so it never comes back), tell the local ones now. */
    bool channel_down = room->sub == ROOM_UNSUBSCRIBED;
    if (recovery_member_leave(s->room_id, s->user_id, room->locals.count == 0) != 0
        || channel_down) {
        sb_frame *f = frame_user_event("user-left", s->user_id, s->room_id);
        ws_session_broadcast(&room->locals, f, NULL);
        frame_unref(f);
    }
    sb_info(s->room_id, s->user_id, "left");
    detach_from_room(s);
}

/* ---- messages from clients --------------------------------------------------------- */

/* Carry frame f to the room's members on other nodes: the envelope's
 * header and the frame's bytes go into the PUBLISH as they are. */
static void publish_message(ws_session *s, sb_frame *f, const char *to)
{
    char head[SB_ENV_HEADER_MAX];
    size_t head_len = sb_envelope_header(cfg->node_id, SB_ENV_MSG, to, head, sizeof(head));
    if (head_len && bus_publish_parts(s->room_id, head, head_len, frame_payload(f), f->len) == 0)
        metrics.relay_published++;
}

/* Deliver a validated message from a joined session. */
static void client_message(ws_session *s, const sb_client_msg *msg)
{
    sb_room *room = s->room;
    if (s->state != WS_JOINED || !room)
        return;
    ws_session *target = NULL;
    if (msg->to) {
        target = ws_session_find(&room->locals, msg->to);
        if (!target && !room_has_remote(room, msg->to) && !room_has_held(room, msg->to)) {
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
        ws_session_broadcast(&room->locals, f, s);
        publish = room->remotes.count > 0;
    }
    if (room->held.count) {
        /* Held members get it in their gap (docs/design.md#resume). */
        size_t elen;
        char *env = frame_envelope(f, cfg->node_id, SB_ENV_MSG, msg->to, &elen);
        if (env && resume_relay(room, f, env, elen, msg->to, s->user_id, publish) == 0 && publish)
            metrics.relay_published++;
        free(env);
    } else if (publish) {
        publish_message(s, f, msg->to);
    }
    frame_unref(f);
}

void relay_drain(void)
{
    if (!resume_enabled())
        return;
    ptr_array rooms = room_table_snapshot();
    for (size_t i = 0; i < rooms.count; i++) {
        sb_room *room = rooms.items[i];
        ptr_array snap = ptr_array_copy(&room->locals);
        for (size_t j = 0; j < snap.count; j++) {
            ws_session *s = snap.items[j];
            if (s->state != WS_JOINED || !ws_session_can_send(s))
                continue;
            ptr_array_remove(&room->locals, s);
            if (resume_hold(s, false) == 0)
                s->room = NULL; /* its close leaves nothing more to do */
            else
                ptr_array_push(&room->locals, s);
        }
        ptr_array_free(&snap);
    }
    ptr_array_free(&rooms);
}

static const ws_handlers session_handlers = {
    .join = session_join,
    .leave = session_leave,
    .message = client_message,
};

const ws_handlers *relay_ws_handlers(void)
{
    return &session_handlers;
}
