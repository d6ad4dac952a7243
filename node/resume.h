/*
 * resume.h - participants that survive their socket (docs/design.md#resume).
 *
 * Owns: what this node knows of the members held for a resume (in each
 * room's `held` list, for relay.c's hot path to test), the expiry of their
 * windows (a list of deadlines under one timer), and the Redis side of
 * holding, resuming and buffering the gap's messages, with the parsing of
 * a resume's reply into the session.
 *
 * relay.c calls it; it calls ws_session, room_table, frame and redis_bus,
 * never relay.c.
 */
#ifndef SB_RESUME_H
#define SB_RESUME_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "frame.h"
#include "redis_bus.h"
#include "room_table.h"
#include "ws_session.h"

void resume_init(struct event_base *base, const sb_config *cfg);
void resume_stop(void);
bool resume_enabled(void);

/* The token `connected` gives this connection (user id + secret). */
void resume_token(const ws_session *s, char out[SB_RESUME_TOKEN_LEN + 1]);

/* The joined session's socket was lost (not a deliberate leave), or its
 * node drains: hold the member for the window, in Redis and in
 * room->held. The caller has taken it out of the room's locals. -1 when
 * Redis cannot be asked (then leave it as before).
 *
 * Until this node hears its own "away", what it gets for the member on
 * the channel was published before the hold, so no sender kept it: it is
 * captured here (after the socket's unsent frames when take_unsent) and
 * then put in front of the gap. The room stays subscribed meanwhile. */
int resume_hold(ws_session *s, bool take_unsent);
/* A message from the channel (to all, or `to` one): captured for the
 * members of the room being held here. */
void resume_capture(const sb_room *room, const char *to, sb_frame *f);
/* Our own "away" came back: the capture ends and goes to Redis. */
void resume_capture_end(const sb_room *room, const char *user_id);
/* Captures are running: in the room (room_id), or anywhere (NULL). */
bool resume_capturing(const char *room_id);
/* The channel is lost: nothing more can be captured. */
void resume_capture_drop_all(void);

/* Ask Redis to resume s->user_id with the presented secret (the room's
 * channel is subscribed); fn gets the reply. -1 when Redis is away. */
int resume_send(ws_session *s, bus_reply_fn fn, void *privdata);
/* The same (with s as privdata) a little later, for a reply of -4: the
 * holding node has not yet put in front of the gap what it kept. fn gets
 * NULL when the socket went meanwhile or Redis is away. -1 when memory
 * ran out. */
int resume_send_later(ws_session *s, bus_reply_fn fn);
/* The session of this node whose resume a "back" envelope of ours (its
 * payload) announces, or NULL. */
ws_session *resume_attempt_find(const sb_room *room, const char *user_id, const char *payload,
                                size_t len);
/* The code of a resume's reply: 0 resumed, -1 no such room, -3 nothing to
 * resume, -4 not yet, -100 no valid reply. */
long long resume_reply_code(const redisReply *r);
/* Take a successful reply into the session: participants for
 * `connected`, held members, the gap's messages (sent right after
 * `connected`), and whether some were missed. false when memory ran out. */
bool resume_apply_reply(ws_session *s, const redisReply *r);

/* What the room channel says of held members. */
void resume_note_away(sb_room *room, const char *user_id, long long until_ms);
void resume_note_back(sb_room *room, const char *user_id);
void resume_note_left(sb_room *room, const char *user_id);
/* This node has just entered a room with other members: learn which of
 * them are held. */
void resume_learn_room(sb_room *room);

/* Relay envelope `env` in a room with held members (room->held.count > 0):
 * its payload (f's bytes, at the envelope's end) goes to the gap of each
 * held member it is for; the envelope is published if `publish`. */
int resume_relay(const sb_room *room, const sb_frame *f, const char *env, size_t env_len,
                 const char *to, const char *sender, bool publish);

#endif
