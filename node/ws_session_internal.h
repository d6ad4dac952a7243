/*
 * ws_session_internal.h - what the files of the ws_session module share
 * (ws_session.c: lifetime, liveness and the join; ws_session_input.c:
 * input; ws_session_output.c: the outgoing queue).
 */
#ifndef SB_WS_SESSION_INTERNAL_H
#define SB_WS_SESSION_INTERNAL_H

#include "config.h"
#include "ws_session.h"

/* Called by ws_sessions_init: the configuration and handlers the input
 * side uses, which outlive the sessions. */
void ws_session_input_init(const sb_config *cfg, const ws_handlers *handlers);

/* ws_session.c's: whether the socket is still in use (open, or closing but
 * still writing), and dropping it without writing, once the current
 * callback returns. */
bool ws_session_socket_live(const ws_session *s);
void ws_session_doom(ws_session *s);

/* ws_session_output.c's: set up and tear down with the module; ask for
 * the session's writeable callback before the loop sleeps; drop what is
 * queued. */
int ws_session_output_init(struct event_base *base, const sb_config *cfg);
void ws_session_output_stop(void);
void ws_session_want_write(ws_session *s);
void ws_session_queue_clear(ws_session *s);

#endif
