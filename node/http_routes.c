/*
 * http_routes.c - REST routes (see http_routes.h).
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
#include "http_routes.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "node_state.h"
#include "protocol.h"
#include "redis_bus.h"
#include "turn.h"

#define WRITE_SLICE 16384
#define LIST_DEFAULT_LIMIT 1000
#define LIST_MAX_LIMIT 10000
#define MAX_TIMEOUT_S (7 * 24 * 3600)
#define MAX_PARTICIPANTS_LIMIT 100000
#define TURN_CREDENTIAL_TTL_S 86400

typedef struct http_request {
    struct lws *wsi;            /* NULL: client gone, Redis reply pending */
    int method;                 /* LWSHUMETH_* */
    char path[256];
    char origin[256];
    char room_id[SB_UUID_LEN + 1];
    char *body;
    size_t body_len;
    bool body_too_large;
    bool waiting;               /* a Redis request is in flight */
    bool responded;             /* response is ready to write */
    const char *content_type;   /* NULL: application/json */
    bool headers_sent;
    int status;
    char *resp;
    size_t resp_len, resp_sent;
} http_request;

static const sb_config *cfg;

void http_routes_init(const sb_config *config)
{
    cfg = config;
}

/* ---- responses --------------------------------------------------------------- */

static void respond_json(http_request *req, int status, json_t *body)
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

static void respond_detail(http_request *req, int status, const char *detail)
{
    respond_json(req, status, json_pack("{s:s}", "detail", detail));
}

static void respond_unavailable(http_request *req)
{
    respond_detail(req, 503, "Redis unavailable");
}

static int add_header(struct lws *wsi, const char *name, const char *value,
                      unsigned char **p, unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static int add_cors_headers(struct lws *wsi, const http_request *req,
                            unsigned char **p, unsigned char *end)
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
    const char *type = !req->resp_len ? NULL
                     : req->content_type ? req->content_type : "application/json";
    if (lws_add_http_common_headers(wsi, (unsigned int)req->status, type, req->resp_len, &p, end)
        || add_cors_headers(wsi, req, &p, end))
        return -1;
    if (req->method == LWSHUMETH_OPTIONS
        && (add_header(wsi, "access-control-allow-methods:", "GET, POST, DELETE, OPTIONS", &p, end)
            || add_header(wsi, "access-control-allow-headers:",
                          "Content-Type, Authorization, X-Requested-With", &p, end)
            || add_header(wsi, "access-control-max-age:", "600", &p, end)))
        return -1;
    if (req->status == 405
        && add_header(wsi, "allow:", "GET, POST, DELETE, OPTIONS", &p, end))
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
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return -1;
        req->resp_sent += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    /* An oversized body was not read: the connection cannot be reused. */
    bool close = req->body_too_large;
    request_reset(req);
    if (close || lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* ---- routes that need Redis ------------------------------------------------------------ */

/* Common preamble of every Redis reply: the request may be orphaned. */
static bool reply_still_wanted(http_request *req)
{
    req->waiting = false;
    if (req->wsi)
        return true;
    free(req->body);
    free(req->resp);
    free(req);
    return false;
}

static bool park(http_request *req, int rc)
{
    if (rc != 0) {
        respond_unavailable(req);
        return false;
    }
    req->waiting = true;
    return true;
}

static void on_create_reply(redisReply *r, void *privdata)
{
    http_request *req = privdata;
    if (!reply_still_wanted(req))
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        respond_unavailable(req);
        return;
    }
    char link[64], message[96];
    snprintf(link, sizeof(link), "/room/%s", req->room_id);
    snprintf(message, sizeof(message), "Room %s created successfully", req->room_id);
    sb_info(req->room_id, NULL, "room created");
    respond_json(req, 200, json_pack("{s:s,s:s,s:s}", "room_id", req->room_id,
                                     "join_link", link, "message", message));
}

/* Read an optional whole number in [min, max] from the body. */
static const char *body_int(json_t *body, const char *name, long long min, long long max,
                            int *out)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return "invalid";
    *out = (int)json_integer_value(v);
    return NULL;
}

static void route_create_room(http_request *req)
{
    bus_room_params params = {
        .max_participants = cfg->max_participants,
        .empty_timeout = cfg->empty_timeout,
        .departure_timeout = cfg->departure_timeout,
        .metadata_json = "null",
    };
    json_t *body = NULL;
    char *metadata = NULL;
    if (req->body_len) {
        json_error_t jerr;
        body = json_loadb(req->body, req->body_len, 0, &jerr);
        if (!body) {
            respond_detail(req, 422, "Invalid JSON body");
            return;
        }
        if (!json_is_object(body)) {
            json_decref(body);
            respond_detail(req, 422, "Body must be a JSON object");
            return;
        }
        const char *bad = NULL;
        if (body_int(body, "max_participants", 1, MAX_PARTICIPANTS_LIMIT, &params.max_participants))
            bad = "max_participants must be an integer from 1 to 100000";
        else if (body_int(body, "empty_timeout", 1, MAX_TIMEOUT_S, &params.empty_timeout))
            bad = "empty_timeout must be an integer number of seconds from 1 to 604800";
        else if (body_int(body, "departure_timeout", 1, MAX_TIMEOUT_S, &params.departure_timeout))
            bad = "departure_timeout must be an integer number of seconds from 1 to 604800";
        json_t *meta = json_object_get(body, "metadata");
        if (!bad && meta && !json_is_null(meta)) {
            if (!json_is_object(meta))
                bad = "metadata must be a JSON object";
            else if (!(metadata = json_dumps(meta, JSON_COMPACT)))
                bad = "metadata could not be stored";
            else
                params.metadata_json = metadata;
        }
        if (bad) {
            json_decref(body);
            free(metadata);
            respond_detail(req, 422, bad);
            return;
        }
    }
    sb_id_generate(req->room_id);
    long long ms = sb_clock_wall_ms();
    char created[SB_ISO8601_SIZE];
    sb_clock_iso8601(ms, created);
    park(req, bus_room_create(req->room_id, created, ms, &params, on_create_reply, req));
    json_decref(body);
    free(metadata);
}

static void on_list_reply(redisReply *r, void *privdata)
{
    http_request *req = privdata;
    if (!reply_still_wanted(req))
        return;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        respond_unavailable(req);
        return;
    }
    json_t *rooms = json_array();
    for (size_t i = 0; i + 2 < r->elements; i += 3) {
        redisReply **e = r->element + i;
        if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING)
            continue;
        json_array_append_new(rooms, json_pack("{s:s,s:I,s:s}", "room_id", e[0]->str,
                                               "participant_count", (json_int_t)e[2]->integer,
                                               "created_at", e[1]->str));
    }
    respond_json(req, 200, rooms);
}

/* A query number, or def when absent; -1 when present but not valid. */
static long long query_number(struct lws *wsi, const char *name_eq, long long def, long long max)
{
    char buf[32];
    const char *v = lws_get_urlarg_by_name(wsi, name_eq, buf, sizeof(buf));
    if (!v)
        return def;
    if (!*v)
        return -1;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0 || n > max)
        return -1;
    return n;
}

static void route_list_rooms(http_request *req)
{
    long long limit = query_number(req->wsi, "limit=", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT);
    long long offset = query_number(req->wsi, "offset=", 0, 1LL << 40);
    if (limit < 0 || offset < 0) {
        respond_detail(req, 422, "limit must be an integer from 0 to 10000 and offset a non-negative integer");
        return;
    }
    if (limit == 0) {
        respond_json(req, 200, json_array());
        return;
    }
    park(req, bus_room_list(offset, limit, on_list_reply, req));
}

static const char *hash_field(const redisReply *flat, const char *name)
{
    for (size_t i = 0; i + 1 < flat->elements; i += 2)
        if (flat->element[i]->type == REDIS_REPLY_STRING && strcmp(flat->element[i]->str, name) == 0
            && flat->element[i + 1]->type == REDIS_REPLY_STRING)
            return flat->element[i + 1]->str;
    return NULL;
}

static json_t *participant_json(const redisReply *user, const redisReply *value)
{
    json_error_t jerr;
    json_t *m = json_loads(value->str, 0, &jerr);
    const char *node = m ? json_string_value(json_object_get(m, "node")) : NULL;
    json_t *joined = m ? json_object_get(m, "joined_at") : NULL;
    char iso[SB_ISO8601_SIZE] = "";
    if (json_is_integer(joined))
        sb_clock_iso8601(json_integer_value(joined), iso);
    json_t *p = json_pack("{s:s,s:s?,s:s?}", "user_id", user->str, "node_id", node,
                          "joined_at", iso[0] ? iso : NULL);
    json_decref(m);
    return p;
}

static void on_get_reply(redisReply *r, void *privdata)
{
    http_request *req = privdata;
    if (!reply_still_wanted(req))
        return;
    if (r && r->type == REDIS_REPLY_NIL) {
        respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY) {
        respond_unavailable(req);
        return;
    }
    const redisReply *room = r->element[0], *members = r->element[1];
    json_t *participants = json_array();
    for (size_t i = 0; i + 1 < members->elements; i += 2)
        if (members->element[i]->type == REDIS_REPLY_STRING
            && members->element[i + 1]->type == REDIS_REPLY_STRING)
            json_array_append_new(participants,
                                  participant_json(members->element[i], members->element[i + 1]));
    const char *max = hash_field(room, "max_participants");
    const char *empty = hash_field(room, "empty_timeout");
    const char *departure = hash_field(room, "departure_timeout");
    const char *meta = hash_field(room, "metadata");
    json_error_t jerr;
    json_t *metadata = meta ? json_loads(meta, JSON_DECODE_ANY, &jerr) : NULL;
    long long max_n = max ? atoll(max) : 0;
    json_t *out = json_pack("{s:s,s:I,s:s?,s:o,s:o,s:I,s:I,s:o}",
                            "room_id", req->room_id,
                            "participant_count", (json_int_t)json_array_size(participants),
                            "created_at", hash_field(room, "created_at"),
                            "max_participants", max_n > 0 ? json_integer(max_n) : json_null(),
                            "metadata", metadata ? metadata : json_null(),
                            "empty_timeout", (json_int_t)(empty ? atoll(empty) : 0),
                            "departure_timeout", (json_int_t)(departure ? atoll(departure) : 0),
                            "participants", participants);
    respond_json(req, 200, out);
}

static void on_delete_reply(redisReply *r, void *privdata)
{
    http_request *req = privdata;
    if (!reply_still_wanted(req))
        return;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        respond_unavailable(req);
        return;
    }
    if (r->integer == 0) {
        respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return;
    }
    char message[96];
    snprintf(message, sizeof(message), "Room %s closed", req->room_id);
    sb_info(req->room_id, NULL, "room deleted over REST");
    respond_json(req, 200, json_pack("{s:s,s:s}", "room_id", req->room_id, "message", message));
}

static void route_delete_room(http_request *req)
{
    json_t *closed = json_pack("{s:s,s:s}", "type", "room-closed", "room_id", req->room_id);
    size_t plen, elen;
    char *payload = sb_json_dump_headroom(closed, 0, &plen);
    json_decref(closed);
    char *env = payload ? sb_envelope_encode(cfg->node_id, SB_ENV_CLOSE, NULL, payload, plen, &elen)
                        : NULL;
    free(payload);
    if (!env) {
        respond_detail(req, 500, "Out of memory");
        return;
    }
    park(req, bus_room_delete(req->room_id, env, elen, on_delete_reply, req));
    free(env);
}

/* ---- routes answered locally ------------------------------------------------------------- */

static void route_info(http_request *req)
{
    json_t *endpoints = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
        "create_room", "POST /create-room", "list_rooms", "GET /rooms",
        "get_room", "GET /rooms/{room_id}", "delete_room", "DELETE /rooms/{room_id}",
        "websocket", "WS /ws/{room_id}", "health", "GET /healthz", "ready", "GET /readyz",
        "ice_servers", "GET /ice-servers", "metrics", "GET /metrics");
    respond_json(req, 200, json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", "Switchboard",
                                     "description", "WebRTC signaling server",
                                     "version", SB_VERSION, "node_id", cfg->node_id,
                                     "endpoints", endpoints));
}

static void route_metrics(http_request *req)
{
    size_t len = 0;
    char *body = metrics_render(&len);
    if (!body) {
        respond_detail(req, 500, "Out of memory");
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
    respond_json(req, 200, json_pack("{s:s,s:s}", "status", "ok", "node_id", cfg->node_id));
}

static void route_readyz(http_request *req)
{
    if (node_is_draining())
        respond_json(req, 503, json_pack("{s:s,s:s}", "status", "draining", "detail", "Node is draining"));
    else if (!bus_is_ready())
        respond_json(req, 503, json_pack("{s:s,s:s}", "status", "unavailable", "detail", "Redis unavailable"));
    else
        respond_json(req, 200, json_pack("{s:s,s:s}", "status", "ready", "node_id", cfg->node_id));
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
                                credential, sizeof(credential)) == 0)
            json_array_append_new(servers, json_pack("{s:o,s:s,s:s}", "urls", turn,
                                                     "username", username, "credential", credential));
        else
            json_decref(turn);
    }
    respond_json(req, 200, json_pack("{s:o,s:i}", "iceServers", servers, "ttl", TURN_CREDENTIAL_TTL_S));
}

/* ---- routing ------------------------------------------------------------------------------- */

typedef struct {
    const char *path;           /* exact path, or a prefix ending in '/' for /rooms/{id} */
    bool has_id;
    void (*get)(http_request *);
    void (*post)(http_request *);
    void (*del)(http_request *);
} route;

static void route_get_room(http_request *req);

static const route routes[] = {
    { "/",            false, route_info,       NULL,              NULL },
    { "/create-room", false, NULL,             route_create_room, NULL },
    { "/rooms",       false, route_list_rooms, NULL,              NULL },
    { "/rooms/",      true,  route_get_room,   NULL,              route_delete_room },
    { "/healthz",     false, route_healthz,    NULL,              NULL },
    { "/readyz",      false, route_readyz,     NULL,              NULL },
    { "/ice-servers", false, route_ice_servers, NULL,             NULL },
    { "/metrics",     false, route_metrics,    NULL,              NULL },
};

static void route_get_room(http_request *req)
{
    park(req, bus_room_get(req->room_id, on_get_reply, req));
}

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
        respond_detail(req, 404, "Not Found");
        return;
    }
    if (req->method == LWSHUMETH_OPTIONS) {
        respond_json(req, 204, NULL);
        return;
    }
    void (*handler)(http_request *) = req->method == LWSHUMETH_GET ? r->get
                                    : req->method == LWSHUMETH_POST ? r->post
                                    : req->method == LWSHUMETH_DELETE ? r->del : NULL;
    if (!handler) {
        respond_detail(req, 405, "Method Not Allowed");
        return;
    }
    if (r->has_id && !req->room_id[0]) {
        respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
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
        respond_detail(req, 404, "Not Found");
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
        req->body_too_large = true;
        respond_detail(req, 413, "Request body too large");
        return 0;
    }
    if (req->method == LWSHUMETH_POST && content_length > 0)
        return 0;                     /* wait for the body */
    dispatch(req);
    return 0;
}

int http_on_body(struct lws *wsi, http_request **slot, const void *in, size_t len)
{
    (void)wsi;
    http_request *req = *slot;
    if (!req || req->body_too_large || !len)
        return 0;
    if (req->body_len + len > cfg->max_message_bytes) {
        req->body_too_large = true;
        free(req->body);
        req->body = NULL;
        respond_detail(req, 413, "Request body too large");
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
    if (req && !req->body_too_large && !req->responded && !req->waiting)
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
        req->wsi = NULL;              /* the Redis reply frees it */
        return;
    }
    free(req->body);
    free(req->resp);
    free(req);
}
