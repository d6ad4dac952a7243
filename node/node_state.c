/*
 * node_state.c - the draining flag (see node_state.h).
 *
 * A module of its own, below every other, so that the modules that ask
 * whether the node is draining need not call up into main.c.
 */
#include "node_state.h"

static bool draining;

bool node_is_draining(void)
{
    return draining;
}

void node_set_draining(void)
{
    draining = true;
}
