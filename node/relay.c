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
#include "resume.h"
#include "room_table.h"

static const sb_config *cfg;

void relay_init(struct event_base *base, const sb_config *config)
{
    cfg = config;
    recovery_init(base, config);
    resume_init(base, config);
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
    room_release(room);
}

static void fail_join(ws_session *s, const char *message, int code)
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

static void complete_join(ws_session *s)
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
static void undo_join(ws_session *s)
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
        /* Entering a room this node had no one else in: some of its
         * members may be held for a resume. */
        if (resume_enabled() && s->n_participants && s->room->locals.count <= 1)
            resume_learn_room(s->room);
        if (ws_session_join_replied(s))
            complete_join(s);
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

static void send_join(ws_session *s);

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
            complete_join(s);
        }
    } else if (code == -4) {
        /* Held, but its node has not yet put in front of the gap what it
         * kept for it (docs/design.md#resume): ask again shortly. */
        if (resume_send_later(s, on_resume_reply) != 0)
            fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_INTERNAL);
    } else if (code == -1 || code == -3) {
        sb_info(s->room_id, NULL, "nothing to resume: joining afresh");
        ws_session_resume_refused(s);
        send_join(s);
    } else {
        fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_INTERNAL);
    }
    ws_session_unref(s);
}

static void send_join(ws_session *s)
{
    ws_session_join_sent(s);
    if (s->resuming) {
        ws_session_ref(s);
        if (resume_send(s, on_resume_reply, s) != 0) {
            ws_session_unref(s);
            fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
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
        fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
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
        send_join(s);
    else if (room->sub == ROOM_UNSUBSCRIBED && !room_subscribe(room))
        fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
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
        undo_join(s);
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

/* ---- messages from the room channel ---------------------------------------------------- */

static void on_own_join(sb_room *room, const char *user_id, sb_frame *f)
{
    ws_session *s = ws_session_find(&room->waiting, user_id);
    ws_session_broadcast(&room->locals, f, NULL);
    if (!s || s->state != WS_JOIN_SENT || !ws_session_can_send(s))
        return; /* a refused join is undone by on_join_reply or the leave */
    ptr_array_remove(&room->waiting, s);
    ptr_array_push(&room->locals, s);
    if (ws_session_join_announced(s))
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

/* The same identity joined again (SCRIPT_JOIN_AUTH took this member out
 * of Redis): if the member is ours, send it the envelope's error and close
 * it with 4001. Its leave, published by the script, tells the others;
 * its own leave later finds nothing to remove and publishes nothing. */
static void replace_local(sb_room *room, const char *user_id, sb_frame *f)
{
    ws_session *s = ws_session_find(&room->locals, user_id);
    if (!s || !ws_session_can_send(s))
        return;
    sb_info(room->id, user_id, "replaced by a newer connection of the same identity");
    metrics_count_error(SB_ERR_REPLACED);
    ws_session_send_and_close(s, f, SB_CLOSE_REPLACED);
}

/* The participant resumed on another connection: this one is closed (4001)
 * and leaves nothing behind, neither a leave nor a hold. */
static void take_over(sb_room *room, ws_session *old)
{
    sb_info(room->id, old->user_id, "resumed on a newer connection");
    old->taken_over = true;
    ptr_array_remove(&room->locals, old);
    old->room = NULL;
    ws_session_refuse(old, SB_ERR_REPLACED, SB_CLOSE_REPLACED);
}

/* A member resumed (docs/design.md#resume). Nobody is told: the
 * participant never left. On its own node, its session enters the room
 * as a joining one does on its own join. */
static void on_back(sb_room *room, const char *user_id, bool own, const sb_envelope *env)
{
    ws_session *old = ws_session_find(&room->locals, user_id);
    if (old)
        take_over(room, old);
    resume_note_back(room, user_id);
    if (!own) {
        room_add_remote(room, user_id);
        return;
    }
    ws_session *s = resume_attempt_find(room, user_id, env->payload, env->payload_len);
    if (!s || s->state != WS_JOIN_SENT || !ws_session_can_send(s))
        return; /* a resume whose socket went is held again by its reply */
    ptr_array_remove(&room->waiting, s);
    ptr_array_push(&room->locals, s);
    if (ws_session_join_announced(s))
        complete_join(s);
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
        return; /* delivered locally when it was sent */
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
        if (resume_capturing(NULL))
            resume_capture(room, subject, f);
        if (subject[0]) {
            ws_session *target = ws_session_find(&room->locals, subject);
            if (target)
                ws_session_send(target, f);
        } else {
            ws_session_broadcast(&room->locals, f, NULL);
        }
        break;
    case SB_ENV_JOIN:
        if (own) {
            on_own_join(room, subject, f);
        } else {
            room_add_remote(room, subject);
            ws_session_broadcast(&room->locals, f, NULL);
        }
        break;
    case SB_ENV_LEAVE:
        room_remove_remote(room, subject);
        resume_note_left(room, subject);
        note_leave_for_joiners(room, subject);
        ws_session_broadcast(&room->locals, f, NULL);
        break;
    case SB_ENV_REJOIN:
        /* Written back after Redis lost it: news only to a node that did
         * not know the member. */
        if (!own && !ws_session_find(&room->locals, subject) && !room_has_remote(room, subject)) {
            room_add_remote(room, subject);
            ws_session_broadcast(&room->locals, f, NULL);
        }
        break;
    case SB_ENV_CLOSE:
        sb_info(room_id, NULL, "room closed");
        close_room_locally(room, f);
        break;
    case SB_ENV_REPLACE:
        replace_local(room, subject, f);
        break;
    case SB_ENV_AWAY:
        if (!ws_session_find(&room->locals, subject))
            resume_note_away(room, subject, 0);
        if (own) {
            resume_capture_end(room, subject);
            room_release(room); /* may free the room: the switch ends here */
        }
        break;
    case SB_ENV_BACK:
        on_back(room, subject, own, &env);
        break;
    }
    frame_unref(f);
}

static void on_subscribed(const char *room_id)
{
    sb_room *room = room_table_find(room_id);
    if (!room || room->sub != ROOM_SUBSCRIBING)
        return;
    room->sub = ROOM_SUBSCRIBED;
    if (room->locals.count)
        recovery_resync_room(room);
    /* send_join can fail and detach sessions: walk a copy. */
    ptr_array snap = ptr_array_copy(&room->waiting);
    for (size_t i = 0; i < snap.count; i++) {
        ws_session *s = snap.items[i];
        if (s->state == WS_WAIT_CHANNEL && ws_session_can_send(s))
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

static void on_subscriber_up(void)
{
    ptr_array rooms = room_table_snapshot();
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
    resume_capture_drop_all();
    ptr_array rooms = room_table_snapshot();
    for (size_t i = 0; i < rooms.count; i++) {
        sb_room *room = rooms.items[i];
        room->sub = ROOM_UNSUBSCRIBED;
        /* The last fail_join may free the room: walk a copy of the list
         * and touch the room no more. */
        ptr_array joining = ptr_array_copy(&room->waiting);
        for (size_t j = 0; j < joining.count; j++) {
            ws_session *s = joining.items[j];
            if (s->state == WS_JOIN_SENT && s->join_replied) {
                /* in Redis already: take it out again */
                undo_join(s);
                ws_session_refuse(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
            } else if (s->state == WS_JOIN_SENT) {
                /* on_join_reply sees it refused and undoes the join; the
                 * session keeps the room alive until then */
                ws_session_refuse(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
            } else {
                fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
            }
        }
        ptr_array_free(&joining);
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

/* Keep the Redis keys of every room with local members alive (every
 * heartbeat period). */
static void refresh_rooms(void)
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

/* A room kept subscribed for a member being held here, whose hold found
 * the member already gone (resumed or replaced meanwhile): no "away" comes
 * to release it, so the next heartbeat does. */
static void release_idle_rooms(void)
{
    if (room_table_count() == room_table_count_occupied())
        return;
    ptr_array rooms = room_table_snapshot();
    for (size_t i = 0; i < rooms.count; i++) {
        sb_room *room = rooms.items[i];
        if (room->sub == ROOM_SUBSCRIBED && !room->locals.count && !room->waiting.count)
            room_release(room);
    }
    ptr_array_free(&rooms);
}

static void upkeep(void)
{
    refresh_rooms();
    release_idle_rooms();
}

static const bus_handlers channel_handlers = {
    .on_message = on_channel_message,
    .on_subscribed = on_subscribed,
    .on_unsubscribed = on_unsubscribed,
    .on_subscriber_up = on_subscriber_up,
    .on_subscriber_down = on_subscriber_down,
    .on_commands_up = recovery_replay_leaves,
    .on_membership_lost = recovery_restore_members,
    .on_heartbeat = upkeep,
};

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

const bus_handlers *relay_bus_handlers(void)
{
    return &channel_handlers;
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
