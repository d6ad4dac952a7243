/*
 * http_routes.c - REST plumbing (see http_routes.h): routing, request
 * bodies, response writing, CORS, and the routes a node answers by itself
 * (/, /healthz, /readyz, /metrics, /ice-servers). The room routes, which
 * go to Redis, are in http_rooms.c.
 *
 * Every answer is JSON built with jansson and serialized once into the
 * request's response buffer; the writeable callback sends the headers and
 * then the body in slices of WRITE_SLICE bytes, one slice per callback, so
 * a long room listing never blocks the loop or piles up inside lws.
 *
 * Errors keep the seed's FastAPI shape {"detail": "..."}; the texts of its
 * generic errors ("Not Found", "Method Not Allowed") are kept verbatim.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "http_request.h"
#include "http_routes.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "node_state.h"
#include "protocol.h"
#include "redis_bus.h"
#include "turn.h"

#define WRITE_SLICE 16384
#define TURN_CREDENTIAL_TTL_S 86400

static const sb_config *cfg;
static http_gauges_fn read_gauges;

void http_routes_init(const sb_config *config, http_gauges_fn gauges)
{
    cfg = config;
    read_gauges = gauges;
    http_rooms_init(config);
}

/* ---- responses --------------------------------------------------------------- */

void http_respond_json(http_request *req, int status, json_t *body)
{
    free(req->resp);
    req->resp = NULL;
    req->resp_len = 0;
    if (body) {
        req->resp = sb_json_dump_headroom(body, 0, &req->resp_len);
        json_decref(body);
        if (!req->resp) {
            status = 500;
            req->resp_len = 0;
        }
    }
    req->status = status;
    req->responded = true;
    if (req->wsi)
        lws_callback_on_writable(req->wsi);
}

void http_respond_detail(http_request *req, int status, const char *detail)
{
    http_respond_json(req, status, json_pack("{s:s}", "detail", detail));
}

void http_respond_unavailable(http_request *req)
{
    http_respond_detail(req, 503, "Redis unavailable");
}

/* Common preamble of every Redis reply: the request may be orphaned. */
bool http_reply_wanted(http_request *req)
{
    req->waiting = false;
    if (req->wsi)
        return true;
    free(req->body);
    free(req->resp);
    free(req);
    return false;
}

bool http_park(http_request *req, int rc)
{
    if (rc != 0) {
        http_respond_unavailable(req);
        return false;
    }
    req->waiting = true;
    return true;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static int add_cors_headers(struct lws *wsi, const http_request *req, unsigned char **p,
                            unsigned char *end)
{
    if (strcmp(cfg->cors_origins, "*") == 0)
        return add_header(wsi, "access-control-allow-origin:", "*", p, end);
    if (!req->origin[0] || !sb_config_origin_allowed(cfg, req->origin))
        return 0;
    if (add_header(wsi, "access-control-allow-origin:", req->origin, p, end)
        || add_header(wsi, "vary:", "Origin", p, end))
        return 1;
    return 0;
}

static int write_headers(struct lws *wsi, http_request *req)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    const char *type = !req->resp_len      ? NULL
                       : req->content_type ? req->content_type
                                           : "application/json";
    if (lws_add_http_common_headers(wsi, (unsigned int)req->status, type, req->resp_len, &p, end)
        || add_cors_headers(wsi, req, &p, end))
        return -1;
    if (req->method == LWSHUMETH_OPTIONS
        && (add_header(wsi, "access-control-allow-methods:", "GET, POST, DELETE, OPTIONS", &p, end)
            || add_header(wsi, "access-control-allow-headers:",
                          "Content-Type, Authorization, X-Requested-With", &p, end)
            || add_header(wsi, "access-control-max-age:", "600", &p, end)))
        return -1;
    if (req->status == 405 && add_header(wsi, "allow:", "GET, POST, DELETE, OPTIONS", &p, end))
        return -1;
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Forget the finished request so a keep-alive connection can carry the next. */
static void request_reset(http_request *req)
{
    free(req->body);
    free(req->resp);
    struct lws *wsi = req->wsi;
    memset(req, 0, sizeof(*req));
    req->wsi = wsi;
}

int http_on_writeable(struct lws *wsi, http_request **slot)
{
    http_request *req = *slot;
    if (!req || !req->responded)
        return 0;
    if (!req->headers_sent) {
        if (write_headers(wsi, req))
            return -1;
        req->headers_sent = true;
        if (req->resp_len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (req->resp_sent < req->resp_len) {
        unsigned char buf[LWS_PRE + WRITE_SLICE];
        size_t n = req->resp_len - req->resp_sent;
        if (n > WRITE_SLICE)
            n = WRITE_SLICE;
        bool last = req->resp_sent + n == req->resp_len;
        memcpy(buf + LWS_PRE, req->resp + req->resp_sent, n);
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP)
            != (int)n)
            return -1;
        req->resp_sent += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    /* A body left unread on the wire: the connection cannot be reused. */
    bool close = req->body_unread;
    request_reset(req);
    if (close || lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* ---- routes answered locally ------------------------------------------------------------- */

static void route_info(http_request *req)
{
    json_t *endpoints = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "create_room", "POST /create-room", "list_rooms",
        "GET /rooms", "get_room", "GET /rooms/{room_id}", "delete_room", "DELETE /rooms/{room_id}",
        "websocket", "WS /ws/{room_id}", "health", "GET /healthz", "ready", "GET /readyz",
        "ice_servers", "GET /ice-servers", "metrics", "GET /metrics");
    http_respond_json(req, 200,
                      json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", "Switchboard", "description",
                                "WebRTC signaling server", "version", SB_VERSION, "node_id",
                                cfg->node_id, "endpoints", endpoints));
}

static void route_metrics(http_request *req)
{
    sb_gauges gauges;
    read_gauges(&gauges);
    size_t len = 0;
    char *body = metrics_render(&gauges, &len);
    if (!body) {
        http_respond_detail(req, 500, "Out of memory");
        return;
    }
    free(req->resp);
    req->resp = body;
    req->resp_len = len;
    req->content_type = "text/plain; version=0.0.4; charset=utf-8";
    req->status = 200;
    req->responded = true;
    lws_callback_on_writable(req->wsi);
}

static void route_healthz(http_request *req)
{
    http_respond_json(req, 200, json_pack("{s:s,s:s}", "status", "ok", "node_id", cfg->node_id));
}

static void route_readyz(http_request *req)
{
    if (node_is_draining())
        http_respond_json(
            req, 503, json_pack("{s:s,s:s}", "status", "draining", "detail", "Node is draining"));
    else if (!bus_is_ready())
        http_respond_json(
            req, 503,
            json_pack("{s:s,s:s}", "status", "unavailable", "detail", "Redis unavailable"));
    else
        http_respond_json(req, 200,
                          json_pack("{s:s,s:s}", "status", "ready", "node_id", cfg->node_id));
}

/* "a,b , c" -> ["a","b","c"] */
static json_t *url_list(const char *csv)
{
    json_t *urls = json_array();
    const char *p = csv;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *a = p, *b = p + n;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a)
            json_array_append_new(urls, json_stringn(a, (size_t)(b - a)));
        p += n + (p[n] == ',');
    }
    return urls;
}

/* ICE servers for RTCPeerConnection: {"iceServers":[...],"ttl":s}. TURN
 * credentials are minted for ?user_id= (or "anonymous") and expire after
 * TURN_CREDENTIAL_TTL_S. */
static void route_ice_servers(http_request *req)
{
    json_t *servers = json_array();
    json_t *stun = url_list(cfg->stun_urls);
    if (json_array_size(stun))
        json_array_append_new(servers, json_pack("{s:o}", "urls", stun));
    else
        json_decref(stun);
    json_t *turn = url_list(cfg->turn_urls);
    if (!json_array_size(turn)) {
        json_decref(turn);
    } else if (!cfg->turn_secret[0]) {
        json_array_append_new(servers, json_pack("{s:o}", "urls", turn));
    } else {
        char user[SB_UUID_LEN + 1] = "anonymous", username[128], credential[64];
        char arg[64];
        const char *given = lws_get_urlarg_by_name(req->wsi, "user_id=", arg, sizeof(arg));
        if (given && *given && strlen(given) <= SB_UUID_LEN && !strchr(given, ':'))
            snprintf(user, sizeof(user), "%s", given);
        long long expiry = sb_clock_wall_ms() / 1000 + TURN_CREDENTIAL_TTL_S;
        if (sb_turn_credentials(cfg->turn_secret, user, expiry, username, sizeof(username),
                                credential, sizeof(credential))
            == 0)
            json_array_append_new(servers, json_pack("{s:o,s:s,s:s}", "urls", turn, "username",
                                                     username, "credential", credential));
        else
            json_decref(turn);
    }
    http_respond_json(req, 200,
                      json_pack("{s:o,s:i}", "iceServers", servers, "ttl", TURN_CREDENTIAL_TTL_S));
}

/* ---- routing ------------------------------------------------------------------------------- */

typedef struct {
    const char *path; /* exact path, or a prefix ending in '/' for /rooms/{id} */
    bool has_id;
    void (*get)(http_request *);
    void (*post)(http_request *);
    void (*del)(http_request *);
} route;

static const route routes[] = {
    { "/", false, route_info, NULL, NULL },
    { "/create-room", false, NULL, route_create_room, NULL },
    { "/rooms", false, route_list_rooms, NULL, NULL },
    { "/rooms/", true, route_get_room, NULL, route_delete_room },
    { "/healthz", false, route_healthz, NULL, NULL },
    { "/readyz", false, route_readyz, NULL, NULL },
    { "/ice-servers", false, route_ice_servers, NULL, NULL },
    { "/metrics", false, route_metrics, NULL, NULL },
};

static const route *find_route(http_request *req)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route *r = &routes[i];
        if (!r->has_id) {
            if (strcmp(req->path, r->path) == 0)
                return r;
            continue;
        }
        size_t plen = strlen(r->path);
        const char *id = req->path + plen;
        if (strncmp(req->path, r->path, plen) != 0 || !*id || strchr(id, '/'))
            continue;
        /* A malformed id names no room: the answer is the room's 404. */
        if (strlen(id) == SB_UUID_LEN && sb_id_is_valid(id, SB_UUID_LEN))
            memcpy(req->room_id, id, SB_UUID_LEN + 1);
        return r;
    }
    return NULL;
}

static void dispatch(http_request *req)
{
    const route *r = find_route(req);
    if (!r) {
        http_respond_detail(req, 404, "Not Found");
        return;
    }
    if (req->method == LWSHUMETH_OPTIONS) {
        http_respond_json(req, 204, NULL);
        return;
    }
    void (*handler)(http_request *) = req->method == LWSHUMETH_GET      ? r->get
                                      : req->method == LWSHUMETH_POST   ? r->post
                                      : req->method == LWSHUMETH_DELETE ? r->del
                                                                        : NULL;
    if (!handler) {
        http_respond_detail(req, 405, "Method Not Allowed");
        return;
    }
    if (r->has_id && !req->room_id[0]) {
        http_respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return;
    }
    handler(req);
}

/* ---- lws callbacks ------------------------------------------------------------------------------ */

int http_on_request(struct lws *wsi, http_request **slot)
{
    http_request *req = *slot;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return -1;
        *slot = req;
    }
    request_reset(req);
    req->wsi = wsi;
    metrics.http_requests++;
    char *uri;
    int uri_len;
    req->method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
    if (uri_len >= (int)sizeof(req->path)) {
        http_respond_detail(req, 404, "Not Found");
        return 0;
    }
    memcpy(req->path, uri, (size_t)uri_len);
    req->path[uri_len] = '\0';
    if (lws_hdr_copy(wsi, req->origin, sizeof(req->origin), WSI_TOKEN_ORIGIN) < 0)
        req->origin[0] = '\0';

    char clen[32];
    long long content_length = 0;
    if (lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        content_length = atoll(clen);
    if (content_length > (long long)cfg->max_message_bytes) {
        req->body_unread = true;
        http_respond_detail(req, 413, "Request body too large");
        return 0;
    }
    /* lws does not decode a chunked request body: refuse it rather than
     * act on a request whose body we never saw. */
    if (!content_length && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        req->body_unread = true;
        http_respond_detail(req, 411, "Content-Length required");
        return 0;
    }
    if (req->method == LWSHUMETH_POST && content_length > 0)
        return 0; /* wait for the body */
    dispatch(req);
    return 0;
}

int http_on_body(struct lws *wsi, http_request **slot, const void *in, size_t len)
{
    (void)wsi;
    http_request *req = *slot;
    if (!req || req->body_unread || !len)
        return 0;
    if (req->body_len + len > cfg->max_message_bytes) {
        req->body_unread = true;
        free(req->body);
        req->body = NULL;
        http_respond_detail(req, 413, "Request body too large");
        return 0;
    }
    char *body = realloc(req->body, req->body_len + len + 1);
    if (!body)
        return -1;
    memcpy(body + req->body_len, in, len);
    req->body = body;
    req->body_len += len;
    return 0;
}

int http_on_body_complete(struct lws *wsi, http_request **slot)
{
    (void)wsi;
    http_request *req = *slot;
    if (req && !req->body_unread && !req->responded && !req->waiting)
        dispatch(req);
    return 0;
}

void http_on_closed(http_request **slot)
{
    http_request *req = *slot;
    *slot = NULL;
    if (!req)
        return;
    if (req->waiting) {
        req->wsi = NULL; /* the Redis reply frees it */
        return;
    }
    free(req->body);
    free(req->resp);
    free(req);
}
