/*
 * http_request.h - what the REST route handlers share (internal to the
 * http_* files of node/).
 *
 * A handler gets the parsed request, answers with one of the respond
 * functions — now, or from a Redis callback after http_park() — and never
 * touches lws itself: http_routes.c writes the answer when the socket is
 * writeable.
 */
#ifndef SB_HTTP_REQUEST_H
#define SB_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "config.h"
#include "ids.h"

typedef struct http_request {
    struct lws *wsi; /* NULL: client gone, Redis reply pending */
    int method;      /* LWSHUMETH_* */
    char path[256];
    char origin[256];
    char room_id[SB_UUID_LEN + 1];
    char *body;
    size_t body_len;
    bool body_unread;
    bool waiting;             /* a Redis request is in flight */
    bool responded;           /* response is ready to write */
    const char *content_type; /* NULL: application/json */
    bool headers_sent;
    int status;
    char *resp;
    size_t resp_len, resp_sent;
} http_request;

/* Answer with `body` (consumed; NULL for no body). */
void http_respond_json(http_request *req, int status, json_t *body);
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
