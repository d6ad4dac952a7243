/*
 * ws_session.h - one WebSocket connection of a participant.
 *
 * Owns: the connection's two state machines — the join (waiting for the
 * room's channel, join sent, joined) and the socket (open, closing,
 * dropping, closed) — which only this module writes, the reassembly of incoming fragments into whole
 * messages under the size limit, the rate limit, and the outgoing queue of
 * shared frames that is written only from LWS_CALLBACK_SERVER_WRITEABLE
 * (called for the turn's recipients before the loop sleeps; see
 * docs/design.md#limits, Slow readers).
 *
 * The queue is bounded in bytes: a participant that stops reading is
 * dropped once its queue passes --max-queued-bytes, so a slow reader costs
 * the others nothing and the node at most that much memory per
 * connection.
 *
 * A session outlives its socket while a Redis request still refers to it:
 * `refs` counts the socket and every request in flight; the last unref
 * frees it. ws_session_can_send() is the one test of whether the
 * connection is still in use; `wsi` is NULL once the socket is gone.
 */
#ifndef SB_WS_SESSION_H
#define SB_WS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "config.h"
#include "frame.h"
#include "ids.h"
#include "protocol.h"
#include "ratelimit.h"
#include "room_table.h"

/* The join, moved forward by relay.c through the functions below. */
typedef enum {
    WS_WAIT_CHANNEL, /* the room's channel subscription is not confirmed yet */
    WS_JOIN_SENT,    /* join script queued; waiting for its reply and our announcement */
    WS_JOINED        /* `connected` sent; relaying */
} ws_state;

/* The socket. Only WS_OPEN sends and receives. */
typedef enum {
    WS_OPEN,
    WS_CLOSING,  /* writing what is queued, then closing with close_code */
    WS_DROPPING, /* to be closed without writing (dead, or not reading) */
    WS_CLOSED    /* gone; wsi is NULL */
} ws_link;

typedef struct ws_session {
    struct lws *wsi;
    unsigned refs;
    ws_state state;
    ws_link link;
    char user_id[SB_UUID_LEN + 1];
    char room_id[SB_UUID_LEN + 1];
    sb_room *room; /* set while the session is in the room table */
    /* Resuming (docs/design.md#resume): this connection's secret, given in
     * `connected`'s token; the one a ?resume= token presented, while the
     * resume is tried; what `connected` then says. */
    char resume_secret[SB_RESUME_SECRET_LEN + 1];
    char resume_presented[SB_RESUME_SECRET_LEN + 1];
    bool resuming;
    uint64_t resume_serial; /* names this attempt in its "back" envelope */
    unsigned resume_tries;  /* asked again, waiting for the gap's front */
    bool resumed, missed;
    /* The connection ends as a deliberate leave (the client's close 1000,
     * or a close the node decided, not a drain): no window. */
    bool leaving;
    /* The participant resumed on another connection: this one leaves
     * nothing behind. */
    bool taken_over;
    /* With auth on: {"identity","name","metadata"} from the token, shown to
     * the others and stored with the member; NULL in open mode. */
    json_t *profile;

    /* Join bookkeeping: whether the join script answered and our own join
     * came back on the channel, the frames held for after `connected`, and
     * relay.c's notes (the reply's participant list, users who left after
     * our join), freed here. */
    bool join_replied;
    bool announced;
    ptr_array early_frames; /* sb_frame *, sent right after `connected` */
    char **participants;
    size_t n_participants;
    ptr_array left_early;         /* char *, users who left after our join */
    json_t *participant_profiles; /* with auth on: `connected`'s list of objects */

    /* Incoming message being reassembled. */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_in_message, rx_binary, rx_skip;
    uint8_t rx_utf8;  /* UTF-8 state of the text message so far */
    bool peer_closed; /* the client sent its close frame: ignore the rest */

    /* Outgoing ring of frames. */
    sb_frame **q;
    size_t q_head, q_count, q_cap;
    size_t q_bytes;
    int close_code; /* sent when WS_CLOSING ends */

    /* Liveness: when the peer last sent anything, and our ping state. */
    uint64_t heard_ms;
    bool ping_due, ping_sent;
    bool write_due; /* in the list written before the loop sleeps */
    size_t index; /* position in the list of all sessions */

    sb_token_bucket bucket;
    unsigned refusals;
    uint64_t refusal_window_ms;
} ws_session;

/* What a session hands to the layer above it (relay.c); sessions never
 * call that layer by name. */
typedef struct {
    /* The socket to a well-formed room id is open: enter the room. */
    void (*join)(ws_session *s);
    /* The socket is gone: leave the room. */
    void (*leave)(ws_session *s);
    /* A complete, valid message from the client (pings are answered here). */
    void (*message)(ws_session *s, const sb_client_msg *msg);
} ws_handlers;

/* Module setup; cfg and handlers must outlive the sessions. Starts the
 * liveness sweep: a peer silent for --ping-interval gets a ping, one
 * silent for --ping-interval + --ping-timeout is dropped (the others then
 * get `user-left`). */
int ws_sessions_init(struct event_base *base, const sb_config *cfg, const ws_handlers *handlers);
void ws_sessions_stop(void);
/* The peer showed it is alive (a pong). */
void ws_session_heard(ws_session *s);

/* The socket to /ws/<room_id> is open: create the session and start the
 * join. With auth on, `token` (the ?access_token= value, NULL when none)
 * must allow joining the room first: else the session is refused with
 * 4401 or 4403. `resume` (the ?resume= value, NULL when none) asks to
 * resume a held participant; one that is no token is ignored. Returns NULL
 * when memory runs out (the socket is then closed). */
ws_session *ws_session_open(struct lws *wsi, const char *path_room_id, const char *token,
                            const char *resume);
/* A piece of a message. Returns 0, or the code to fail the connection
 * with (1007: text that is not UTF-8). */
int ws_session_on_receive(ws_session *s, const void *in, size_t len);
/* The client sent its close frame with `code` (1005: none): 1000 is a
 * deliberate leave. */
void ws_session_on_peer_close(ws_session *s, int code);
/* Returns -1 when lws should close the connection. */
int ws_session_on_writeable(ws_session *s);
void ws_session_on_closed(ws_session *s);

/* The join, step by step (see relay.c). The script was queued: */
void ws_session_join_sent(ws_session *s);
/* The script answered, or our own join came back on the channel; each
 * returns true when both have now happened. */
bool ws_session_join_replied(ws_session *s);
bool ws_session_join_announced(ws_session *s);
/* In the room: send `connected`, then the frames held meanwhile, and start
 * reading the client's messages. */
void ws_session_enter_room(ws_session *s, sb_frame *connected);
/* Frames to send right after `connected`, before those held meanwhile
 * (a resumed participant's gap); takes a reference to each. */
void ws_session_hold_first(ws_session *s, sb_frame *const *frames, size_t n);
/* Move the frames queued and not yet written into `out` (with their
 * references), oldest first. */
void ws_session_take_unsent(ws_session *s, ptr_array *out);
/* The resume was refused: join afresh under a new user id. */
void ws_session_resume_refused(ws_session *s);

/* The connection is open and not closing: it may be written to, and what
 * it sends is read. */
static inline bool ws_session_can_send(const ws_session *s)
{
    return s->link == WS_OPEN;
}

void ws_session_ref(ws_session *s);
void ws_session_unref(ws_session *s);

/* Queue a frame (takes its own reference); nothing unless
 * ws_session_can_send(). Before `connected` has gone out, frames wait in
 * early_frames so `connected` is always first. */
void ws_session_send(ws_session *s, sb_frame *f);
/* Queue frame f for every session of the list (such as a room's locals)
 * but `except`. */
void ws_session_broadcast(const ptr_array *sessions, sb_frame *f, const ws_session *except);
/* Send {"type":"error","message":...}. */
void ws_session_send_error(ws_session *s, const char *message);
/* Send `message` (if not NULL) as an error, then close with `code`; nothing
 * unless ws_session_can_send(). */
void ws_session_refuse(ws_session *s, const char *message, int code);
/* Send {"type":<type>,...} frame f, then close with `code`. */
void ws_session_send_and_close(ws_session *s, sb_frame *f, int code);

/* The session with this user id in a list of sessions (such as a room's
 * locals or waiting), or NULL. */
ws_session *ws_session_find(const ptr_array *sessions, const char *user_id);
size_t ws_session_count(void);
/* Send every open session {"type":<type>}. */
void ws_sessions_send_all(const char *type);
/* Stop (true) or resume (false) reading from every joined client
 * (node/overload.h). While paused nobody is pinged or dropped for
 * silence, and the silence so far is forgiven on resuming. */
void ws_sessions_pause_input(bool pause);

/* Send every open session {"type":<type>} (if type is not NULL), then
 * close it with `code` (to drain). */
void ws_sessions_close_all(const char *type, int code);

#endif
