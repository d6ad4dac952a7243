/*
 * ws_session_internal.h - what the files of the ws_session module share
 * (ws_session.c: lifetime, join and output; ws_session_input.c: input).
 */
#ifndef SB_WS_SESSION_INTERNAL_H
#define SB_WS_SESSION_INTERNAL_H

#include "config.h"
#include "ws_session.h"

/* Called by ws_sessions_init: the configuration and handlers the input
 * side uses, which outlive the sessions. */
void ws_session_input_init(const sb_config *cfg, const ws_handlers *handlers);

#endif
