/*
 * recovery.h - repairs after a Redis outage (see recovery.c for what can
 * be lost and how each loss is repaired).
 */
#ifndef SB_RECOVERY_H
#define SB_RECOVERY_H

#include <event2/event.h>

#include <stdbool.h>

#include "config.h"
#include "room_table.h"

void recovery_init(struct event_base *base, const sb_config *cfg);
/* Take a member out in Redis, which publishes its `user-left` to every
 * node. When Redis cannot be asked now, the leave is kept and replayed
 * once it is back; -1 then, so the caller can tell local sessions itself.
 * last_local: no other member of the room is on this node. */
int recovery_member_leave(const char *room_id, const char *user_id, bool last_local);
/* The command link is back: replay the remembered leaves. */
void recovery_replay_leaves(void);
/* Redis has no record of this node, or may have lost its last writes:
 * write every live member back and take out those it kept that are gone. */
void recovery_restore_members(void);
/* The room's channel was re-subscribed: catch up with missed joins now and
 * with missed leaves one heartbeat TTL later. */
void recovery_resync_room(const sb_room *room);
/* At shutdown. */
void recovery_free(void);

#endif
