/*
 * server.h - the libwebsockets context on the node's libevent loop.
 *
 * Owns: the lws context and vhost (HTTP and WebSocket on one port) and
 * the single protocol callback that sends HTTP events to http_routes,
 * WebSocket events to ws_session, and each connection's phase changes to
 * listener (which accepts the connections and caps them).
 */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include <event2/event.h>

#include "config.h"

int server_start(struct event_base *base, const sb_config *cfg);
void server_stop(void);

#endif
