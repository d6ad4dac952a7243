/*
 * relay.h - rooms across nodes: joins, leaves and message delivery.
 *
 * Owns the flow of docs/design.md#relay. A client message is delivered straight to
 * the room's other local sessions and, if the room has members elsewhere,
 * published once on the room channel; other nodes write the payload bytes
 * to their members unchanged.
 *
 * Membership changes are ordered by Redis: the join and leave scripts
 * publish inside Redis, and every node — the origin too — announces
 * `user-joined` / `user-left` to its sessions when the event comes back
 * on the channel. So every node shows joins and leaves in Redis's order,
 * and nobody gets a message from a member they have not been told about.
 * Messages keep their order per sender only: one between members on the
 * same node goes directly and may overtake an event from elsewhere that
 * Redis ordered before it (docs/design.md#ordering).
 */
#ifndef SB_RELAY_H
#define SB_RELAY_H

#include <event2/event.h>

#include "config.h"
#include "protocol.h"
#include "redis_bus.h"
#include "ws_session.h"

void relay_init(struct event_base *base, const sb_config *cfg);
/* The callbacks redis_bus delivers to. */
const bus_handlers *relay_bus_handlers(void);
/* The callbacks ws_session delivers to: a join subscribes to the room's
 * channel if needed, then runs the join script (the session is refused if
 * Redis is unavailable); a leave takes the member out; a message from a
 * joined session is delivered. */
const ws_handlers *relay_ws_handlers(void);
/* The node drains: hold every joined participant for a resume now, before
 * the sockets close, so what is sent to them from here on is kept for
 * them (docs/design.md#resume). */
void relay_drain(void);

#endif
