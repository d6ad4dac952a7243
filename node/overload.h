/*
 * overload.h - a node that cannot keep up slows its clients down before
 * Redis drops a subscriber (docs/design.md#limits, Overload).
 *
 * Redis keeps what a subscriber has not read yet in its output buffer and
 * closes the link once that passes client-output-buffer-limit pubsub
 * (32 MiB hard, 8 MiB for 60 s by default); every message in it is then
 * lost. Every OVERLOAD_CHECK_MS the node asks Redis how far behind each
 * node's subscriber is (CLIENT LIST TYPE pubsub, the omem of the links
 * named sbsub:<node>). While the slowest is more than --overload-backlog
 * bytes behind, the node stops reading from its clients: their messages
 * wait in TCP buffers, and their sends block, instead of being lost
 * further down. It reads again once the backlog is under a quarter of the
 * bound. Every node takes part, because every node's clients feed every
 * subscriber. When Redis does not answer the check, reading resumes.
 */
#ifndef SB_OVERLOAD_H
#define SB_OVERLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "config.h"

#define OVERLOAD_CHECK_MS 50

/* Starts the periodic check (nothing when --overload-backlog is 0). */
int overload_init(struct event_base *base, const sb_config *cfg);
void overload_stop(void);
/* Client input is paused. */
bool overload_active(void);

#endif
