/*
 * ws_frame_rules.h - the RFC 6455 frame rules libwebsockets 4.1.6 leaves
 * to the server it runs: every client frame masked (§5.1), and no RSV bit
 * without an extension that defines it (§5.2; we negotiate none).
 */
#ifndef SB_WS_FRAME_RULES_H
#define SB_WS_FRAME_RULES_H

#include <stdbool.h>

#include <libwebsockets.h>

/* True when the frame lws is delivering now (in RECEIVE, RECEIVE_PONG or
 * WS_PEER_INITIATED_CLOSE) breaks a rule: the connection must then be
 * failed with 1002. */
bool ws_frame_is_forbidden(struct lws *wsi);

#endif
