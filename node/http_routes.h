/*
 * http_routes.h - the REST API (docs/design.md#rest) on libwebsockets' HTTP
 * callbacks.
 *
 * Owns: the routing table and the routes a node answers by itself. The
 * callbacks below hand each request to http_request (framing, body,
 * answer) and dispatch it once it is complete.
 */
#ifndef SB_HTTP_ROUTES_H
#define SB_HTTP_ROUTES_H

#include <stddef.h>

#include <libwebsockets.h>

#include "config.h"
#include "metrics.h"

struct http_request;

/* Fills in the gauges of GET /metrics (see metrics.h). */
typedef void (*http_gauges_fn)(sb_gauges *out);

void http_routes_init(const sb_config *cfg, http_gauges_fn read_gauges);

/* The lws callbacks, each given the connection's slot. They return what
 * the lws callback should return. */
int http_on_request(struct lws *wsi, struct http_request **slot);
/* The request's headers announced a body that is not yet all in. */
bool http_awaits_body(const struct http_request *req);
int http_on_body(struct lws *wsi, struct http_request **slot, const void *in, size_t len);
int http_on_body_complete(struct lws *wsi, struct http_request **slot);
int http_on_writeable(struct lws *wsi, struct http_request **slot);
void http_on_closed(struct http_request **slot);

#endif
