/*
 * node_state.h - process-wide facts other modules ask about.
 *
 * Owns: whether the node is draining (stopping after SIGTERM/SIGINT). The
 * HTTP routes answer /readyz with it and the server refuses new
 * WebSockets while it is set. main.c sets it on the first signal; it is
 * never cleared.
 */
#ifndef SB_NODE_STATE_H
#define SB_NODE_STATE_H

#include <stdbool.h>

bool node_is_draining(void);
void node_set_draining(void);

#endif
