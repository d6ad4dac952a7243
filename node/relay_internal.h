/*
 * relay_internal.h - what the files of the relay module share: relay.c
 * (the join's steps, the leave, clients' messages) and relay_channel.c
 * (what comes from the Redis bus).
 */
#ifndef SB_RELAY_INTERNAL_H
#define SB_RELAY_INTERNAL_H

#include <stdbool.h>

#include "config.h"
#include "room_table.h"
#include "ws_session.h"

const sb_config *relay_config(void);

/* Subscribe to the room's channel; false when the link is down. */
bool relay_room_subscribe(sb_room *room);
/* Drop the room's subscription once no session needs it, and free it. */
void relay_room_release(sb_room *room);

/* The join's steps (relay.c): the script is sent once the channel is
 * subscribed; `connected` goes once its reply and our own join envelope
 * are both in; a join refused after it reached Redis is undone; a failed
 * join leaves the room and refuses the session. */
void relay_send_join(ws_session *s);
void relay_complete_join(ws_session *s);
void relay_undo_join(ws_session *s);
void relay_fail_join(ws_session *s, const char *message, int code);

#endif
