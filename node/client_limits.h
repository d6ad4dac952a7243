/*
 * client_limits.h - who the client is, and the limits on what one client
 * may cost the node (internal to the transport layer of node/).
 *
 * Owns: the client address of a request or upgrade (the TCP peer, or the
 * X-Forwarded-For hop named by a trusted proxy), the REST token buckets
 * per address (--http-rate-limit) and the WebSockets held per address
 * (--max-connections-per-ip). An IPv6 client is counted by its /64, the
 * block one subscriber is given, so that an address per request does not
 * make a new client per request. The tables are addr_limits.c's, sized
 * so no number of addresses grows them past a bound.
 */
#ifndef SB_CLIENT_LIMITS_H
#define SB_CLIENT_LIMITS_H

#include <stdbool.h>

#include <libwebsockets.h>

#include "config.h"
#include "netaddr.h"

/* 0, or -1 when memory runs out. */
int client_limits_init(const sb_config *cfg);
void client_limits_stop(void);

/* The client address of the request on wsi, whose headers are still
 * there (an HTTP request, or an upgrade before it is confirmed). */
sb_ipaddr client_address(struct lws *wsi);

/* A REST request from `client` may go on; otherwise false, with the
 * whole seconds until it may (*retry_after_s, at least 1). */
bool client_limits_http_allow(const sb_ipaddr *client, unsigned *retry_after_s);
/* One more WebSocket for `client`: false when it holds
 * --max-connections-per-ip already. Each true is paired with a release. */
bool client_limits_ws_acquire(const sb_ipaddr *client);
void client_limits_ws_release(const sb_ipaddr *client);

#endif
