/*
 * server.c - lws context and protocol callback (see server.h).
 *
 * One protocol serves everything: lws gives a WebSocket upgrade without a
 * Sec-WebSocket-Protocol header to the first protocol of the vhost, which
 * is what a browser's plain `new WebSocket(url)` sends. The per-connection
 * slot lws allocates holds the http_request of an HTTP connection or the
 * ws_session of a WebSocket.
 *
 * lws's own ping policy is switched off: it keeps one timer per
 * connection in a sorted list, and inserting into that list walks it, so
 * its cost grows with the square of the connections. ws_session pings
 * silent peers from one periodic sweep instead.
 */
#include <string.h>

#include <libwebsockets.h>

#include "http_routes.h"
#include "log.h"
#include "node_state.h"
#include "protocol.h"
#include "server.h"
#include "ws_session.h"

#define WS_PATH_PREFIX "/ws/"

/* Two fields, not a union: lws keeps the slot across an HTTP-to-WebSocket
 * upgrade and sends HTTP events (such as DROP_PROTOCOL) around it. */
typedef struct {
    struct http_request *http;
    ws_session *ws;
} conn_slot;

static struct lws_context *context;
static const sb_config *cfg;

/* Decide on an upgrade before it happens, answering a refusal with an HTTP
 * status: 404 for a path other than /ws/<something>, 503 while draining or
 * full — a status the load balancer can retry on another node. The room
 * itself is checked after the socket is open, so the client gets a proper
 * error message and close code. Returns 1 when refused (lws then finishes
 * the HTTP transaction), 0 to go on. */
static int confirm_upgrade(struct lws *wsi)
{
    char uri[128];
    unsigned int status = 0;
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0
        || strncmp(uri, WS_PATH_PREFIX, strlen(WS_PATH_PREFIX)) != 0) {
        status = HTTP_STATUS_NOT_FOUND;
    } else if (node_is_draining()) {
        status = HTTP_STATUS_SERVICE_UNAVAILABLE;
    } else if (cfg->max_connections > 0 && ws_session_count() >= (size_t)cfg->max_connections) {
        sb_warn(NULL, NULL, "refused a WebSocket: --max-connections %d reached",
                cfg->max_connections);
        status = HTTP_STATUS_SERVICE_UNAVAILABLE;
    }
    if (!status)
        return 0;
    /* lws's own refusal path: it writes the short status page itself. */
    lws_return_http_status(wsi, status, NULL);
    return 1;
}

static int on_established(struct lws *wsi, conn_slot *slot)
{
    char uri[128];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    slot->ws = ws_session_open(wsi, uri + strlen(WS_PATH_PREFIX));
    return slot->ws ? 0 : -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    conn_slot *slot = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(wsi, slot);
    case LWS_CALLBACK_RECEIVE:
        if (slot->ws)
            ws_session_on_receive(slot->ws, in, len);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (slot->ws)
            ws_session_heard(slot->ws);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return slot->ws ? ws_session_on_writeable(slot->ws) : 0;
    case LWS_CALLBACK_CLOSED:
        if (slot->ws)
            ws_session_on_closed(slot->ws);
        slot->ws = NULL;
        return 0;
    case LWS_CALLBACK_HTTP:
        return http_on_request(wsi, &slot->http);
    case LWS_CALLBACK_HTTP_BODY:
        return http_on_body(wsi, &slot->http, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_on_body_complete(wsi, &slot->http);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_on_writeable(wsi, &slot->http);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* lws frees the slot after either; a keep-alive connection may
         * drop the protocol between requests without closing. */
        if (slot)
            http_on_closed(&slot->http);
        return 0;
    default:
        return 0;
    }
}

/* lws gives every WebSocket a receive buffer of RX_BUFFER_BYTES for its
 * whole life: small keeps an idle connection cheap (100k of them is the
 * point), and a larger message simply arrives in pieces that ws_session
 * joins. */
#define RX_BUFFER_BYTES 1024
#define HEADER_TABLES 256

// clang-format off
static const struct lws_protocols protocols[] = {
    { "switchboard", callback, sizeof(conn_slot), RX_BUFFER_BYTES, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};
// clang-format on

/* No hangup time: lws arms no per-connection validity timer. */
static const lws_retry_bo_t no_lws_liveness = { .secs_since_valid_ping = 0 };

static void lws_log_to_ours(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    sb_log(level == LLL_ERR ? SB_LOG_ERROR : SB_LOG_WARN, NULL, NULL, "lws: %.*s", (int)n, line);
}

int server_start(struct event_base *base, const sb_config *config)
{
    cfg = config;
    lws_set_log_level(sb_log_enabled(SB_LOG_DEBUG) ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO
                                                   : LLL_ERR | LLL_WARN,
                      lws_log_to_ours);
    void *foreign_loops[1] = { base };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    info.iface = cfg->host;
    info.protocols = protocols;
    info.foreign_loops = foreign_loops;
    info.retry_and_idle_policy = &no_lws_liveness;
    info.options = LWS_SERVER_OPTION_LIBEVENT | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (strchr(cfg->host, ':'))
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    /* Headers are parsed in pooled 4 KiB tables that a connection holds
     * only until its upgrade; bounding the pool bounds that memory when
     * thousands connect at once (the others wait a moment for a table). */
    info.max_http_header_pool = HEADER_TABLES;
    info.timeout_secs = 10;
    context = lws_create_context(&info);
    if (!context) {
        sb_error(NULL, NULL, "cannot listen on %s:%d", cfg->host, cfg->port);
        return -1;
    }
    return 0;
}

void server_stop(void)
{
    if (context)
        lws_context_destroy(context);
    context = NULL;
}
