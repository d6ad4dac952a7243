/*
 * listener.h - the node's listening socket and the TCP connections it
 * accepts.
 *
 * Owns: accepting (the node accepts, then hands each socket to lws), the
 * connection cap (--max-connections, every TCP connection), the descriptors
 * kept in reserve below RLIMIT_NOFILE, and the header deadline: a
 * connection must finish the headers of a request within
 * LISTENER_HEADER_DEADLINE_MS of its accept (or of the end of its previous
 * response), and then the body the headers announce within as long again,
 * or it is closed.
 *
 * server.c reports the lws events that move a connection between phases.
 */
#ifndef SB_LISTENER_H
#define SB_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <libwebsockets.h>

#include "netaddr.h"

#define LISTENER_HEADER_DEADLINE_MS 5000

/* Bind and listen on host:port and work out the connection cap from
 * max_connections (0 = as many as the descriptor limit allows). Returns
 * the cap, or 0 on failure (logged). */
size_t listener_open(const char *host, int port, int max_connections);
/* Start accepting on base, handing connections to vh. With tls, vh has a
 * certificate: each connection starts with a TLS handshake, which counts
 * against the header deadline, and the refusals that listener.c writes
 * itself (503 at the cap, 408 at the deadline) become plain closes, since
 * cleartext bytes are no answer to a TLS client. 0 or -1. */
int listener_run(struct event_base *base, struct lws_vhost *vh, bool tls);
void listener_stop(void);

/* Open TCP connections (accepted and not yet closed). */
size_t listener_connections(void);

/* The TCP peer of an accepted connection (family 0 for any other wsi). */
void listener_peer(struct lws *wsi, sb_ipaddr *out);
/* The client address a WebSocket on this connection was counted under
 * (client_limits), kept until its descriptor closes. */
void listener_set_ws_client(struct lws *wsi, const sb_ipaddr *client);
/* That address, if one was set: true and *out. */
bool listener_ws_client(struct lws *wsi, sb_ipaddr *out);

/* lws events of an accepted connection (any other wsi is ignored). */
void listener_headers_done(struct lws *wsi);     /* a request's headers are in */
void listener_awaiting_body(struct lws *wsi);    /* the headers announced a body */
void listener_body_done(struct lws *wsi);        /* it is in */
void listener_awaiting_headers(struct lws *wsi); /* keep-alive: the next request */
void listener_upgraded(struct lws *wsi);         /* a WebSocket now */
void listener_closed(struct lws *wsi);           /* its descriptor is closed */

#endif
