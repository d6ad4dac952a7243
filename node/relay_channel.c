/*
 * relay_channel.c - what comes from the Redis bus: the room channels'
 * envelopes, subscription changes and the heartbeat's upkeep (part of the
 * relay module; see relay.h and relay.c for the join's steps).
 *
 * An envelope is turned into a shared frame once and goes to the room's
 * local sessions: a message to all of them or to its `to`, a join or a
 * leave to all; our own join, or our own resume's "back", moves that
 * session into the room. A message this node published itself was
 * delivered locally when it was sent, so it is not delivered twice.
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

static void on_own_join(sb_room *room, const char *user_id, sb_frame *f)
{
    ws_session *s = ws_session_find(&room->waiting, user_id);
    ws_session_broadcast(&room->locals, f, NULL);
    if (!s || s->state != WS_JOIN_SENT || !ws_session_can_send(s))
        return; /* a refused join is undone by on_join_reply or the leave */
    ptr_array_remove(&room->waiting, s);
    ptr_array_push(&room->locals, s);
    if (ws_session_join_announced(s))
        relay_complete_join(s);
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
        relay_complete_join(s);
}

static void on_channel_message(const char *room_id, const char *data, size_t len)
{
    sb_room *room = room_table_find(room_id);
    sb_envelope env;
    if (!room)
        return;
    const char *node_id = relay_config()->node_id;
    if (sb_envelope_decode(data, len, &env) != 0) {
        sb_warn(room_id, NULL, "ignored a malformed envelope on the room channel");
        return;
    }
    bool own =
        env.origin_len == strlen(node_id) && memcmp(env.origin, node_id, env.origin_len) == 0;
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
            relay_room_release(room); /* may free the room: the switch ends here */
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
    /* relay_send_join can fail and detach sessions: walk a copy. */
    ptr_array snap = ptr_array_copy(&room->waiting);
    for (size_t i = 0; i < snap.count; i++) {
        ws_session *s = snap.items[i];
        if (s->state == WS_WAIT_CHANNEL && ws_session_can_send(s))
            relay_send_join(s);
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
    if ((room->locals.count || room->waiting.count) && !relay_room_subscribe(room)) {
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
            relay_room_subscribe(room);
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
                relay_undo_join(s);
                ws_session_refuse(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
            } else if (s->state == WS_JOIN_SENT) {
                /* on_join_reply sees it refused and undoes the join; the
                 * session keeps the room alive until then */
                ws_session_refuse(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
            } else {
                relay_fail_join(s, SB_ERR_UNAVAILABLE, SB_CLOSE_TRY_AGAIN);
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
            relay_room_release(room);
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

const bus_handlers *relay_bus_handlers(void)
{
    return &channel_handlers;
}
