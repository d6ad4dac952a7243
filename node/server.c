/*
 * server.c - lws context and protocol callback (see server.h).
 *
 * One protocol serves everything: lws gives a WebSocket upgrade without a
 * Sec-WebSocket-Protocol header to the first protocol of the vhost, which
 * is what a browser's plain `new WebSocket(url)` sends. The per-connection
 * slot lws allocates holds the http_request of an HTTP connection or the
 * ws_session of a WebSocket.
 *
 * With --tls-cert/--tls-key the vhost carries the certificate and every
 * adopted socket starts with lws's TLS handshake (listener.c); the files
 * are loaded once with OpenSSL first, so a bad one is named at start.
 *
 * lws's own ping policy is switched off: it keeps one timer per
 * connection in a sorted list, and inserting into that list walks it, so
 * its cost grows with the square of the connections. ws_session pings
 * silent peers from one periodic sweep instead.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "client_limits.h"
#include "http_parse.h"
#include "http_routes.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "node_state.h"
#include "protocol.h"
#include "rfc6455.h"
#include "server.h"
#include "token.h"
#include "ws_session.h"

/* Unmasked frames and RSV bits are failed inside lws's frame parser, by a
 * patch scripts/setup.sh applies (docs/design.md#hardening). */
#if !defined(LWS_WS_SERVER_FAILS_UNMASKED_AND_RSV)
#error "libwebsockets lacks scripts/lws-patches: build it with scripts/setup.sh"
#endif

#define WS_PATH_PREFIX "/ws/"

/* Two fields, not a union: lws keeps the slot across an HTTP-to-WebSocket
 * upgrade and sends HTTP events (such as DROP_PROTOCOL) around it. */
typedef struct {
    struct http_request *http;
    ws_session *ws;
} conn_slot;

static struct lws_context *context;
static const sb_config *cfg;

/* What lws needs to answer an upgrade. Without it lws would hang up
 * without a word; a handshake cannot be refused with a close frame, so it
 * gets 400 instead. Sec-WebSocket-Version is checked apart (426). */
static bool upgrade_request_is_complete(struct lws *wsi)
{
    char buf[128];
    int n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_KEY);
    if (n <= 0 || !sb_ws_key_is_valid(buf, (size_t)n))
        return false;
    n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_CONNECTION);
    return n > 0 && sb_http_list_has_token(buf, (size_t)n, "upgrade")
           && lws_hdr_total_length(wsi, WSI_TOKEN_HOST) > 0
           && lws_hdr_total_length(wsi, WSI_TOKEN_VERSION) > 0;
}

/* RFC 6455 §4.2.2: a version the server does not speak is answered with
 * 426 and the versions it does; lws would upgrade whatever was asked. */
static bool upgrade_version_supported(struct lws *wsi)
{
    char buf[8];
    int n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_VERSION);
    return n == 2 && memcmp(buf, "13", 2) == 0;
}

/* Refuse an upgrade with an HTTP status and the REST API's error body,
 * {"detail": …}; 426 also names the version we speak. Returns 1, what the
 * CONFIRM_UPGRADE callback returns to refuse (lws then ends the HTTP
 * transaction). */
static int refuse_upgrade(struct lws *wsi, unsigned int status, const char *detail)
{
    unsigned char buf[LWS_PRE + 512];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    char body[128], length[16];
    int len = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", detail);
    int length_len = snprintf(length, sizeof length, "%d", len);
    if (lws_add_http_header_status(wsi, status, &p, end)
        || lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                        (const unsigned char *)"application/json", 16, &p, end)
        || lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
                                        (const unsigned char *)length, length_len, &p, end)
        || (status == 426
            && lws_add_http_header_by_name(wsi, (const unsigned char *)"sec-websocket-version:",
                                           (const unsigned char *)"13", 2, &p, end))
        || lws_finalize_http_header(wsi, &p, end) || end - p < len)
        return 1;
    memcpy(p, body, (size_t)len);
    p += len;
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP);
    return 1;
}

/* Cross-site WebSocket hijacking: a page on another site can open a
 * WebSocket to us with its visitor's cookies and network position, and
 * browsers apply no CORS to WebSockets; the Origin header they always
 * send is the only sign of it. A client without Origin is no browser and
 * passes. With --cors-origins * every origin is welcome. */
static bool origin_refused(struct lws *wsi)
{
    if (strcmp(cfg->cors_origins, "*") == 0)
        return false;
    char origin[256];
    int n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
    if (n == 0 && lws_hdr_copy_fragment(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN, 0) < 0)
        return false; /* no Origin header at all */
    return n <= 0 || !sb_config_origin_allowed(cfg, origin);
}

/* Count the upgrade against its client's WebSockets, from now until the
 * connection's descriptor closes (released in LWS_CALLBACK_WSI_DESTROY).
 * False when the client holds --max-connections-per-ip already. */
static bool admit_client(struct lws *wsi)
{
    sb_ipaddr held;
    if (cfg->max_connections_per_ip <= 0 || listener_ws_client(wsi, &held))
        return true;
    sb_ipaddr client = client_address(wsi);
    if (!client_limits_ws_acquire(&client))
        return false;
    listener_set_ws_client(wsi, &client);
    return true;
}

/* Decide on an upgrade before it happens, answering a refusal with an HTTP
 * status: 404 for a path other than /ws/<segment>, 503 while draining —
 * a status the load balancer can retry on another node (the connection cap
 * is applied at accept, by listener.c) — 403 for an Origin not allowed,
 * and 429 past --max-connections-per-ip: not 503, since the client would
 * be just as many on any other node and the load balancer must not retry
 * it there. The room itself is checked after the socket is open, so the
 * client gets a proper error message and close code. Returns 1 when
 * refused (lws then finishes the HTTP transaction), 0 to go on. An
 * incomplete handshake gets 400, a WebSocket version other than 13 426. */
static int confirm_upgrade(struct lws *wsi)
{
    if (!upgrade_request_is_complete(wsi))
        return refuse_upgrade(wsi, HTTP_STATUS_BAD_REQUEST, "Incomplete WebSocket handshake");
    if (!upgrade_version_supported(wsi))
        return refuse_upgrade(wsi, 426, "Unsupported Sec-WebSocket-Version");
    char uri[128], room[SB_UUID_LEN + 1];
    unsigned int status = 0;
    const char *detail = NULL;
    int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    /* The path as sent: another spelling of a room (%xx, "//", dot
     * segments) is no WebSocket path; a plain segment that is no room id
     * opens and is refused in-band (4404). */
    sb_room_path kind =
        n > 0 ? sb_http_room_path(uri, (size_t)n, WS_PATH_PREFIX, room) : SB_ROOM_PATH_OTHER;
    if (kind != SB_ROOM_PATH_ID && kind != SB_ROOM_PATH_BAD_ID) {
        status = HTTP_STATUS_NOT_FOUND;
        detail = "Not Found";
    } else if (node_is_draining()) {
        status = HTTP_STATUS_SERVICE_UNAVAILABLE;
        detail = "Node is draining";
    } else if (origin_refused(wsi)) {
        status = HTTP_STATUS_FORBIDDEN;
        detail = "Origin not allowed";
        metrics_count_error(METRICS_ORIGIN_REFUSED);
        sb_info(NULL, NULL, "refused an upgrade: Origin not in --cors-origins");
    } else if (!admit_client(wsi)) {
        status = 429;
        detail = "Too many connections from this client";
        metrics_count_error(METRICS_CLIENT_CONNECTIONS);
        sb_info(NULL, NULL, "refused an upgrade: the client holds --max-connections-per-ip");
    }
    return status ? refuse_upgrade(wsi, status, detail) : 0;
}

static int on_established(struct lws *wsi, conn_slot *slot)
{
    char uri[128];
    /* Room for "access_token=" and a token of the largest size accepted;
     * a longer one is not found, hence refused as missing. lws decodes
     * %xx in query arguments; a token has no character that needs it. */
    char arg[SB_TOKEN_MAX + 32];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    const char *token = lws_get_urlarg_by_name(wsi, "access_token=", arg, sizeof(arg));
    /* Any argument fits, so a long one before it (the access token)
     * cannot hide the resume token; a value that is no token is ignored
     * by ws_session_open (docs/design.md#resume). */
    char resume_arg[SB_HTTP_ARG_MAX];
    const char *resume = lws_get_urlarg_by_name(wsi, "resume=", resume_arg, sizeof(resume_arg));
    slot->ws = ws_session_open(wsi, uri + strlen(WS_PATH_PREFIX), token, resume);
    return slot->ws ? 0 : -1;
}

/* The status code of a close frame's payload (RFC 6455 §5.5.1), 1005
 * when it has none. */
static int peer_close_code(const void *in, size_t len)
{
    const unsigned char *p = in;
    return p && len >= 2 ? (p[0] << 8) | p[1] : 1005;
}

/* Fail the WebSocket connection (RFC 6455 §7.1.7) with `code`, unless it
 * is 0: lws sends the close frame and drops the connection. */
static int fail_connection(struct lws *wsi, int code)
{
    if (!code)
        return 0;
    lws_close_reason(wsi, (enum lws_close_status)code, NULL, 0);
    return -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    conn_slot *slot = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        listener_headers_done(wsi);
        return confirm_upgrade(wsi);
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        listener_headers_done(wsi);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        listener_upgraded(wsi);
        return on_established(wsi, slot);
    case LWS_CALLBACK_RECEIVE:
        return slot->ws ? fail_connection(wsi, ws_session_on_receive(slot->ws, in, len)) : 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (slot->ws)
            ws_session_heard(slot->ws);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (slot->ws)
            ws_session_on_peer_close(slot->ws, peer_close_code(in, len));
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return slot->ws ? ws_session_on_writeable(slot->ws) : 0;
    case LWS_CALLBACK_CLOSED:
        if (slot->ws)
            ws_session_on_closed(slot->ws);
        slot->ws = NULL;
        return 0;
    case LWS_CALLBACK_HTTP:
        listener_headers_done(wsi);
        if (http_on_request(wsi, &slot->http))
            return -1;
        if (http_awaits_body(slot->http))
            listener_awaiting_body(wsi);
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        return http_on_body(wsi, &slot->http, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        listener_body_done(wsi);
        return http_on_body_complete(wsi, &slot->http);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_on_writeable(wsi, &slot->http);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* After a response on a keep-alive connection (or before an
         * upgrade, which ESTABLISHED then ends): headers again. */
        listener_awaiting_headers(wsi);
        /* fall through */
    case LWS_CALLBACK_CLOSED_HTTP:
        /* lws frees the slot after either; a keep-alive connection may
         * drop the protocol between requests without closing. */
        if (slot)
            http_on_closed(&slot->http);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY: {
        sb_ipaddr client;
        if (listener_ws_client(wsi, &client))
            client_limits_ws_release(&client);
        listener_closed(wsi);
        return 0;
    }
    default:
        return 0;
    }
}

/* lws gives every WebSocket a receive buffer of RX_BUFFER_BYTES for its
 * whole life: small keeps an idle connection cheap (100k of them is the
 * point), and a larger message simply arrives in pieces that ws_session
 * joins. */
#define RX_BUFFER_BYTES 1024
/* The most lws hands the kernel in one send. Left at 0, lws would cut
 * every write to RX_BUFFER_BYTES and send a 4 KiB offer in four sends, the
 * rest copied aside and sent on later wake-ups; this lets a whole batch of
 * frames (ws_session.c) go out in one. */
#define TX_PACKET_BYTES 65536
/* The loop's one read buffer. lws reads a WebSocket into it as far as it
 * holds (scripts/lws-patches/0004; unpatched, only RX_BUFFER_BYTES at a
 * time), so a 4 KiB offer with its frame header is one recv. */
#define SERV_BUF_BYTES 16384

// clang-format off
static const struct lws_protocols protocols[] = {
    { "switchboard", callback, sizeof(conn_slot), RX_BUFFER_BYTES, 0, NULL, TX_PACKET_BYTES },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};
// clang-format on

/* No hangup time: lws arms no per-connection validity timer. */
static const lws_retry_bo_t no_lws_liveness = { .secs_since_valid_ping = 0 };

/* lws's lines never carry a query string or a header value today (its
 * request line log has the path only), but a token must not reach the log
 * even if one did: every line is redacted first. */
static void lws_log_to_ours(int level, const char *line)
{
    char safe[1024];
    size_t n = sb_token_redact(line, strlen(line), safe, sizeof(safe));
    while (n && (safe[n - 1] == '\n' || safe[n - 1] == '\r'))
        n--;
    sb_log(level == LLL_ERR ? SB_LOG_ERROR : SB_LOG_WARN, NULL, NULL, "lws: %.*s", (int)n, safe);
}

/* Load --tls-cert and --tls-key the way lws will, before lws does, so a
 * bad file stops the node with the file and OpenSSL's reason named (and
 * before lws has set anything up on the loop that a failed context would
 * leave behind). 0 or -1 (logged). */
static int check_tls_files(const char *cert, const char *key)
{
    const char *files[2][2] = { { "--tls-cert", cert }, { "--tls-key", key } };
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i][1], "r"); /* OpenSSL's reason would be "system lib" */
        if (!f) {
            sb_error(NULL, NULL, "cannot read %s '%s': %s", files[i][0], files[i][1],
                     strerror(errno));
            return -1;
        }
        fclose(f);
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    const char *what = "cannot set up TLS";
    const char *file = "";
    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        what = "cannot load the TLS certificate (--tls-cert)";
        file = cert;
    } else if (ctx && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        what = "cannot load the TLS private key (--tls-key)";
        file = key;
    } else if (ctx && SSL_CTX_check_private_key(ctx) != 1) {
        what = "the TLS private key (--tls-key) does not match the certificate (--tls-cert)";
        file = key;
    } else if (ctx) {
        SSL_CTX_free(ctx);
        return 0;
    }
    char why[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, why, sizeof(why));
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
        what = "the TLS private key (--tls-key) does not match the certificate (--tls-cert)";
    ERR_clear_error();
    sb_error(NULL, NULL, "%s '%s': %s", what, file, why[0] ? why : "unknown error");
    SSL_CTX_free(ctx);
    return -1;
}

int server_start(struct event_base *base, const sb_config *config)
{
    cfg = config;
    if (cfg->tls_cert[0] != '\0' && check_tls_files(cfg->tls_cert, cfg->tls_key) != 0)
        return -1;
    if (client_limits_init(cfg) != 0)
        return -1;
    size_t cap = listener_open(cfg->host, cfg->port, cfg->max_connections);
    if (cap == 0)
        return -1;
    lws_set_log_level(sb_log_enabled(SB_LOG_DEBUG) ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO
                                                   : LLL_ERR | LLL_WARN,
                      lws_log_to_ours);
    void *foreign_loops[1] = { base };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* listener.c accepts */
    info.protocols = protocols;
    info.foreign_loops = foreign_loops;
    info.retry_and_idle_policy = &no_lws_liveness;
    info.options = LWS_SERVER_OPTION_LIBEVENT;
    /* Headers are parsed in tables of about 5 KiB that lws allocates when
     * a request starts and frees after its upgrade or response. One per
     * connection: with fewer, a connection that has sent its headers
     * would wait for a table behind connections that trickle theirs.
     * The header deadline bounds how long one is held: a slow sender
     * costs about 6 KiB (measured, with its lws state) for at most 5 s,
     * 120 MB if all of 20 000 connections were slow senders at once. */
    info.max_http_header_pool2 = (unsigned int)cap;
    info.pt_serv_buf_size = SERV_BUF_BYTES;
    info.timeout_secs = 10;
    bool tls = cfg->tls_cert[0] != '\0';
    if (tls) {
        /* lws loads both into the vhost's SSL_CTX while it creates the
         * context (check_tls_files has loaded them once already). */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    context = lws_create_context(&info);
    if (!context) {
        sb_error(NULL, NULL, "cannot start libwebsockets%s", tls ? " with TLS" : "");
        listener_stop();
        return -1;
    }
    return listener_run(base, lws_get_vhost_by_name(context, "default"), tls);
}

void server_stop(void)
{
    if (context)
        lws_context_destroy(context);
    context = NULL;
    listener_stop();
    client_limits_stop();
}
