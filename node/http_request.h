/*
 * http_request.h - one REST request from its headers to the last byte of
 * its answer (internal to the http_* files of node/).
 *
 * Owns: the http_request of an HTTP connection (in the lws per-connection
 * slot), the checks of its framing, the collection of its body under the
 * size limit, the answer (JSON, CORS, written in slices when writeable),
 * parking while Redis works on it, and the connection's input while it is
 * answered.
 *
 * One request at a time per connection: lws parses a pipelined request
 * only once the previous answer is written, and the connection's input is
 * paused while a request waits for Redis. A refused request whose bytes
 * cannot be trusted (bad framing, a body left unread) ends the connection
 * once its answer is out: those bytes never become a next request.
 *
 * A handler answers with one of the respond functions — now, or from a
 * Redis callback after http_park() — and never touches lws itself.
 */
#ifndef SB_HTTP_REQUEST_H
#define SB_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "config.h"
#include "ids.h"
#include "token.h"

#define SB_HTTP_PATH_MAX 256

typedef struct http_request {
    struct lws *wsi; /* NULL: client gone, Redis reply pending */
    int method;      /* LWSHUMETH_* */
    char path[SB_HTTP_PATH_MAX];
    size_t path_len;
    char origin[256];
    char room_id[SB_UUID_LEN + 1];
    char identity[4 * SB_TOKEN_SUB_MAX + 1]; /* with auth on, the token's sub once checked */
    char *body;
    size_t body_len;
    bool expects_body;        /* a body is announced and not yet complete */
    bool close_after;         /* end the connection after the answer */
    bool input_paused;        /* parked: lws_rx_flow_control(wsi, 0) in force */
    bool waiting;             /* a Redis request is in flight */
    bool responded;           /* response is ready to write */
    const char *content_type; /* NULL: application/json */
    bool headers_sent;
    int status;
    unsigned retry_after_s; /* a Retry-After header when not 0 */
    /* An embedded web asset's headers (web_assets.h); NULL/empty: none. */
    const char *etag;
    const char *cache_control;
    char csp[1024];
    char *resp;
    size_t resp_len, resp_sent;
} http_request;

void http_requests_init(const sb_config *cfg);

/* ---- the lws side (http_routes.c calls these from its callbacks) ---- */

/* LWS_CALLBACK_HTTP: the request in the slot (allocated or reset), with
 * method, path and origin read and the framing checked. A refused request
 * comes back already answered (responded). NULL when out of memory. */
http_request *http_request_begin(struct lws *wsi, http_request **slot);
/* LWS_CALLBACK_HTTP_BODY: add to the body; answers 413 past the limit. */
int http_request_body(http_request *req, const void *in, size_t len);
/* LWS_CALLBACK_HTTP_BODY_COMPLETION: true when the request is complete
 * and still unanswered, i.e. it is to be dispatched now. */
bool http_request_body_done(http_request *req);
int http_request_writeable(struct lws *wsi, http_request **slot);
void http_request_closed(http_request **slot);

/* ---- answers (route handlers) ---- */

/* Answer with `body` (consumed; NULL for no body). */
void http_respond_json(http_request *req, int status, json_t *body);
/* Answer with bytes already serialized (taken over, freed later). */
void http_respond_raw(http_request *req, int status, const char *content_type, char *body,
                      size_t len);
/* Answer {"detail": detail}. */
void http_respond_detail(http_request *req, int status, const char *detail);
/* 503 {"detail":"Redis unavailable"} */
void http_respond_unavailable(http_request *req);
/* rc is what a redis_bus request returned: on failure answer 503 at once,
 * else mark the request as waiting for its reply. True when parked. */
bool http_park(http_request *req, int rc);
/* First thing in every Redis reply callback: false when the client has
 * gone meanwhile (the request is then freed and must not be touched). */
bool http_reply_wanted(http_request *req);

/* The room routes (http_rooms.c). req->room_id is set for the {id} ones. */
void http_rooms_init(const sb_config *cfg);
void route_create_room(http_request *req);
void route_list_rooms(http_request *req);
void route_get_room(http_request *req);
void route_delete_room(http_request *req);

#endif
