/*
 * http_routes.c - REST routing (see http_routes.h) and the routes a node
 * answers by itself (/, /healthz, /readyz, /metrics, /ice-servers, and the
 * embedded web pages: /app, /room/{id}, /switchboard.js, /assets/). The
 * room routes, which go to Redis, are in http_rooms.c, the API's own
 * description (/openapi.json, /docs) in http_api_docs.c; a request's
 * framing, body and answer are http_request.c's.
 *
 * Paths are matched byte for byte as the client sent them (lws passes the
 * path through undecoded): each resource has one spelling, and a room is
 * named only by its canonical lowercase id.
 *
 * Errors keep the FastAPI shape {"detail": "..."} of the product's first
 * backend, and the texts of its generic errors ("Not Found", "Method Not
 * Allowed") verbatim (docs/design.md#rest).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "access.h"
#include "client_limits.h"
#include "clock.h"
#include "http_api_docs.h"
#include "http_parse.h"
#include "http_request.h"
#include "http_routes.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "node_state.h"
#include "protocol.h"
#include "redis_bus.h"
#include "turn.h"
#include "web_assets.h"

#define TURN_CREDENTIAL_TTL_S 86400

static const sb_config *cfg;
static http_gauges_fn read_gauges;

void http_routes_init(const sb_config *config, http_gauges_fn gauges)
{
    cfg = config;
    http_requests_init(config);
    read_gauges = gauges;
    http_rooms_init(config);
}

/* ---- routes answered locally ------------------------------------------------------------- */

static void route_info(http_request *req)
{
    json_t *endpoints = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "create_room",
        "POST /create-room", "list_rooms", "GET /rooms", "get_room", "GET /rooms/{room_id}",
        "delete_room", "DELETE /rooms/{room_id}", "websocket", "WS /ws/{room_id}", "health",
        "GET /healthz", "ready", "GET /readyz", "ice_servers", "GET /ice-servers", "metrics",
        "GET /metrics", "openapi", "GET /openapi.json", "docs", "GET /docs", "app", "GET /app",
        "room_page", "GET /room/{room_id}", "client", "GET /switchboard.js");
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
    http_respond_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
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

/* The TURN user: with auth on the token's identity, its bytes outside
 * [A-Za-z0-9._@-] turned into '_' (a ':' would end the expiry field of
 * the username); else ?user_id= if it is a plain id, or "anonymous". */
static void turn_user(http_request *req, char *out, size_t size)
{
    if (req->identity[0]) {
        size_t n = 0;
        for (const char *p = req->identity; *p && n + 1 < size; p++, n++) {
            char c = *p;
            bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                         || c == '.' || c == '_' || c == '@' || c == '-';
            out[n] = plain ? c : '_';
        }
        out[n] = '\0';
        return;
    }
    char arg[SB_HTTP_ARG_MAX];
    const char *given = lws_get_urlarg_by_name(req->wsi, "user_id=", arg, sizeof(arg));
    if (given && *given && strlen(given) <= SB_UUID_LEN && !strchr(given, ':'))
        snprintf(out, size, "%s", given);
    else
        snprintf(out, size, "anonymous");
}

/* ICE servers for RTCPeerConnection: {"iceServers":[...],"ttl":s}. TURN
 * credentials are minted for turn_user() and expire after
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
        char user[sizeof(req->identity)], username[sizeof(user) + 32], credential[64];
        turn_user(req, user, sizeof(user));
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

/* ---- the web pages (web_assets.h) ------------------------------------------------------------ */

/* GET of an embedded page or script, with its ETag (304 when the client
 * has it already). Open with auth on too: a page holds no data, and its
 * token comes from the URL fragment, which never reaches a server. False
 * when the path is no web page (the REST routes decide). */
static bool serve_web(http_request *req)
{
    sb_web_route kind;
    const sb_web_asset *asset = sb_web_find(req->path, req->path_len, &kind);
    if (kind == SB_WEB_NONE)
        return false;
    if (req->method == LWSHUMETH_OPTIONS) {
        http_respond_json(req, 204, NULL);
        return true;
    }
    if (req->method != LWSHUMETH_GET && req->method != LWSHUMETH_HEAD) {
        http_respond_detail(req, 405, "Method Not Allowed");
        return true;
    }
    if (kind == SB_WEB_ROOM_NOT_FOUND) {
        http_respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return true;
    }
    req->etag = asset->etag;
    req->cache_control = sb_web_cache_control(asset);
    if (sb_web_is_page(asset)) {
        char host[256];
        if (lws_hdr_copy(req->wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
            host[0] = '\0';
        sb_web_csp(host, req->csp, sizeof(req->csp));
    }
    char tags[512];
    if (lws_hdr_copy(req->wsi, tags, sizeof(tags), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0
        && sb_web_etag_matches(tags, asset->etag)) {
        http_respond_raw(req, 304, NULL, NULL, 0);
        return true;
    }
    char *body = malloc(asset->len ? asset->len : 1);
    if (!body) {
        http_respond_detail(req, 500, "Out of memory");
        return true;
    }
    memcpy(body, asset->data, asset->len);
    http_respond_raw(req, 200, asset->content_type, body, asset->len);
    return true;
}

/* ---- routing ------------------------------------------------------------------------------- */

/* What a route needs with auth on (docs/design.md#access-control). */
typedef enum {
    OPEN,         /* nothing: /, /healthz, /readyz, /metrics */
    ANY_TOKEN,    /* any valid token */
    NEEDS_CREATE, /* the create grant */
    NEEDS_LIST,   /* the list grant */
    NEEDS_LOOK,   /* list, or join for the room in the path */
    NEEDS_ADMIN   /* the admin grant */
} access_rule;

typedef struct {
    void (*fn)(http_request *);
    access_rule rule;
} method_route;

typedef struct {
    const char *path; /* exact path, or the prefix of /rooms/{id} */
    bool has_id;
    method_route get, post, del;
} route;

#define NONE \
    { \
        NULL, OPEN \
    }

static const route routes[] = {
    { "/", false, { route_info, OPEN }, NONE, NONE },
    { "/create-room", false, NONE, { route_create_room, NEEDS_CREATE }, NONE },
    { "/rooms", false, { route_list_rooms, NEEDS_LIST }, NONE, NONE },
    { "/rooms/", true, { route_get_room, NEEDS_LOOK }, NONE, { route_delete_room, NEEDS_ADMIN } },
    { "/healthz", false, { route_healthz, OPEN }, NONE, NONE },
    { "/readyz", false, { route_readyz, OPEN }, NONE, NONE },
    { "/ice-servers", false, { route_ice_servers, ANY_TOKEN }, NONE, NONE },
    { "/metrics", false, { route_metrics, OPEN }, NONE, NONE },
    /* The API's description and its page (http_api_docs.c). */
    { "/openapi.json", false, { route_openapi, OPEN }, NONE, NONE },
    { "/docs", false, { route_docs, OPEN }, NONE, NONE },
    { "/docs.js", false, { route_docs_script, OPEN }, NONE, NONE },
};

/* With auth on, check the request's bearer token against the route's
 * rule; on refusal answer 401 (no valid token; with WWW-Authenticate) or
 * 403 (valid, not enough) and return false. */
static bool authorized(http_request *req, access_rule rule)
{
    if (rule == OPEN || !access_enabled())
        return true;
    char header[SB_TOKEN_MAX + 32];
    int n = lws_hdr_copy(req->wsi, header, sizeof(header), WSI_TOKEN_HTTP_AUTHORIZATION);
    sb_token_claims claims;
    if (n <= 0 || access_verify_bearer(header, (size_t)n, &claims) != SB_TOKEN_OK) {
        http_respond_detail(req, 401, "Not authenticated");
        return false;
    }
    bool ok = rule == ANY_TOKEN
              || (rule == NEEDS_CREATE && sb_token_allows(&claims, SB_GRANT_CREATE, NULL))
              || (rule == NEEDS_LIST && sb_token_allows(&claims, SB_GRANT_LIST, NULL))
              || (rule == NEEDS_LOOK
                  && (sb_token_allows(&claims, SB_GRANT_LIST, NULL)
                      || sb_token_allows(&claims, SB_GRANT_JOIN, req->room_id)))
              || (rule == NEEDS_ADMIN && sb_token_allows(&claims, SB_GRANT_ADMIN, NULL));
    if (!ok) {
        http_respond_detail(req, 403, "Forbidden");
        return false;
    }
    snprintf(req->identity, sizeof(req->identity), "%s", claims.sub);
    return true;
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
        /* One segment after the prefix is this route; unless it is a
         * room id as such (not uppercase, not %xx), it names no room and
         * gets the room's 404. Longer paths ("//", dot segments) are no
         * route at all. */
        sb_room_path kind = sb_http_room_path(req->path, req->path_len, r->path, req->room_id);
        if (kind != SB_ROOM_PATH_OTHER)
            return r;
    }
    return NULL;
}

static void dispatch(http_request *req)
{
    if (serve_web(req))
        return;
    const route *r = find_route(req);
    if (!r) {
        http_respond_detail(req, 404, "Not Found");
        return;
    }
    if (req->method == LWSHUMETH_OPTIONS) {
        http_respond_json(req, 204, NULL);
        return;
    }
    /* HEAD is a GET whose body is not sent (http_request.c). */
    bool get = req->method == LWSHUMETH_GET || req->method == LWSHUMETH_HEAD;
    const method_route *m = get                               ? &r->get
                            : req->method == LWSHUMETH_POST   ? &r->post
                            : req->method == LWSHUMETH_DELETE ? &r->del
                                                              : NULL;
    if (!m || !m->fn) {
        http_respond_detail(req, 405, "Method Not Allowed");
        return;
    }
    /* Before the room's 404: without a token, nothing is said about it. */
    if (!authorized(req, m->rule))
        return;
    if (r->has_id && !req->room_id[0]) {
        http_respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return;
    }
    m->fn(req);
}

/* ---- the rate limit per client ---------------------------------------------------------- */

/* Health checks come from the load balancer and scrapes from monitoring,
 * each from one address and steadily: refusing them would take a healthy
 * node out of rotation or blind its graphs. They are also the cheapest
 * routes (no Redis), so they are not counted. */
static bool rate_exempt(const http_request *req)
{
    return strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/readyz") == 0
           || strcmp(req->path, "/metrics") == 0;
}

/* Refuse the request with 429 when its client is over --http-rate-limit.
 * Before its body is read: an announced body is left unread and the
 * connection closed after the answer. */
static bool over_rate_limit(http_request *req)
{
    unsigned retry_after_s;
    if (cfg->http_rate_per_sec <= 0 || rate_exempt(req))
        return false;
    sb_ipaddr client = client_address(req->wsi);
    if (client_limits_http_allow(&client, &retry_after_s))
        return false;
    metrics_count_error(METRICS_HTTP_RATE_LIMITED);
    sb_info(NULL, NULL, "refused a request: the client is over --http-rate-limit");
    if (req->expects_body)
        req->close_after = true;
    req->retry_after_s = retry_after_s;
    http_respond_detail(req, 429, "Too many requests");
    return true;
}

/* ---- lws callbacks ------------------------------------------------------------------------------ */

int http_on_request(struct lws *wsi, http_request **slot)
{
    http_request *req = http_request_begin(wsi, slot);
    if (!req)
        return -1;
    if (!req->responded && !over_rate_limit(req) && !req->expects_body)
        dispatch(req);
    return 0;
}

bool http_awaits_body(const http_request *req)
{
    return req && req->expects_body;
}

int http_on_body(struct lws *wsi, http_request **slot, const void *in, size_t len)
{
    (void)wsi;
    return http_request_body(*slot, in, len);
}

int http_on_body_complete(struct lws *wsi, http_request **slot)
{
    (void)wsi;
    if (http_request_body_done(*slot))
        dispatch(*slot);
    return 0;
}

int http_on_writeable(struct lws *wsi, http_request **slot)
{
    return http_request_writeable(wsi, slot);
}

void http_on_closed(http_request **slot)
{
    http_request_closed(slot);
}
