/*
 * wsconn.c - libwebsockets client side of the generator (see wsconn.h).
 *
 * Source addresses. A TCP connection is identified by its four-tuple, so
 * one source address can reach one server port only about 28 000 times
 * (the ephemeral port range). libwebsockets 4.1.6 binds a client socket
 * when lws_client_connect_info.iface names an interface or an address:
 * lws_client_connect_2_dnsreq -> lws_socket_bind(vhost, fd, 0, iface)
 * -> lws_interface_to_sa(), which falls back to inet_pton() when no
 * interface has that name, then bind() with port 0. Rotating iface over
 * 127.0.0.2, 127.0.0.3, ... (all of 127/8 is on lo) multiplies the
 * connections a generator can open to one node.
 *
 * Receiving. lws hands a message over in pieces no larger than its
 * receive buffer; pieces are appended to a per-connection buffer that is
 * released after a large message, so idle connections hold none. A
 * message that arrives in one piece is passed on without a copy.
 *
 * Forced service. Data lws has read but not yet handed over (a message
 * that arrived in the same segment as the 101 Switching Protocols answer
 * stays in the connection's "buflist") is processed by lws's libevent
 * idle timer, which every socket event re-arms 1 ms ahead
 * (lib/event-libs/libevent/libevent.c, lws_event_cb). On a busy loop
 * that timer keeps moving and does not fire until the loop has a quiet
 * millisecond: `connected` messages then waited hundreds of ms. A timer
 * of our own that lws does not touch does the same forced service every
 * FORCED_SERVICE_US, with the public lws_service_adjust_timeout() and
 * _lws_plat_service_forced_tsi() that event-lib plugins use.
 *
 * No liveness timers. lws 4.1.6 keeps every connection's ping ("validity")
 * timer in one sorted linked list and inserts by walking it from the head
 * (lws_dll2_add_sorted via __lws_sul_insert); a new connection's timer is
 * the latest, so each connect walked all the others and opening N
 * connections cost O(N^2). The generator does not need to ping the server,
 * so connections get a policy without validity checks, and no timer.
 *
 * The per-connection user data is the caller's bench_conn (ccinfo.userdata),
 * so lws never allocates or frees it; c->wsi is cleared on close so a mode
 * can tell a live connection from a dead one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libwebsockets.h>

#include "util.h"
#include "wsconn.h"

_Static_assert(WSCONN_PRE >= LWS_PRE, "WSCONN_PRE must cover LWS_PRE");

#define RX_KEEP_BYTES 8192
#define FORCED_SERVICE_US 1000

conn_stats wsconn_stats;

static struct {
    struct lws_context *context;
    struct event *forced_service;
    const bench_opts *opts;
    conn_handlers h;
    char source_ips[MAX_SOURCE_IPS][24];
    int n_source_ips;
    unsigned next_source;
    bool stopping; /* closes from here on are ours */
} ws;

/* ---- events from lws ---------------------------------------------------- */

static void finish(bench_conn *c, const char *why)
{
    bool was_open = c->state == CONN_OPEN;
    c->state = CONN_CLOSED;
    c->wsi = NULL;
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
    if (was_open)
        wsconn_stats.closed++;
    else
        wsconn_stats.failed++;
    if (ws.h.on_closed)
        ws.h.on_closed(c, was_open, why);
}

static void on_connection_error(bench_conn *c, const char *in, size_t len)
{
    char why[96];
    if (ws.stopping) {
        finish(c, NULL);
        return;
    }
    snprintf(why, sizeof(why), "connect failed: %.*s", in ? (int)(len ? len : strlen(in)) : 7,
             in ? in : "unknown");
    finish(c, why);
}

static bool rx_append(bench_conn *c, const void *in, size_t len)
{
    if (c->rx_len + len + 1 > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 4096;
        while (cap < c->rx_len + len + 1)
            cap *= 2;
        char *rx = realloc(c->rx, cap);
        if (!rx)
            return false;
        c->rx = rx;
        c->rx_cap = cap;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    c->rx[c->rx_len] = '\0';
    return true;
}

static void deliver(bench_conn *c, char *buf, size_t len)
{
    wsconn_stats.msgs_in++;
    if (ws.h.on_message)
        ws.h.on_message(c, buf, len);
}

static void on_receive(bench_conn *c, struct lws *wsi, void *in, size_t len)
{
    wsconn_stats.bytes_in += len;
    bool first = lws_is_first_fragment(wsi);
    bool final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (first && final && c->rx_len == 0) {
        deliver(c, in, len);
        return;
    }
    if (first)
        c->rx_len = 0;
    if (!rx_append(c, in, len)) {
        wsconn_stats.rx_dropped++;
        c->rx_len = 0;
        return;
    }
    if (!final)
        return;
    deliver(c, c->rx, c->rx_len);
    c->rx_len = 0;
    if (c->rx_cap > RX_KEEP_BYTES) {
        free(c->rx);
        c->rx = NULL;
        c->rx_cap = 0;
    }
}

static int on_writeable(bench_conn *c, struct lws *wsi)
{
    if (c->close_requested) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    if (ws.h.on_writeable)
        ws.h.on_writeable(c);
    return c->wsi ? 0 : -1;
}

static void on_peer_close(bench_conn *c, const unsigned char *in, size_t len)
{
    if (len >= 2)
        c->close_code = (in[0] << 8) | in[1];
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    bench_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c && c->state == CONN_CONNECTING)
            on_connection_error(c, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->wsi = wsi;
        c->state = CONN_OPEN;
        c->t_open_us = now_us();
        wsconn_stats.opened++;
        if (ws.h.on_open)
            ws.h.on_open(c);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c && c->state == CONN_OPEN)
            on_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return c && c->state == CONN_OPEN ? on_writeable(c, wsi) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c)
            on_peer_close(c, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c && c->state != CONN_CLOSED) {
            char why[96] = "";
            if (!c->close_requested && !ws.stopping && c->close_code)
                snprintf(why, sizeof(why), "closed by server (code %d)", c->close_code);
            else if (!c->close_requested && !ws.stopping)
                snprintf(why, sizeof(why), "connection lost (no close frame)");
            finish(c, why[0] ? why : NULL);
        }
        return 0;
    default:
        return 0;
    }
}

/* secs_since_valid_hangup 0: lws arms no validity timer (see above). */
static const lws_retry_bo_t no_liveness_checks = { .secs_since_valid_ping = 0 };

static const struct lws_protocols protocols[] = {
    { "switchboard-bench", callback, 0, 4096, 0, NULL, 0 }, { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- setup -------------------------------------------------------------- */

static void on_forced_service(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (ws.context && !ws.stopping && lws_service_adjust_timeout(ws.context, 1, 0) == 0)
        _lws_plat_service_forced_tsi(ws.context, 0);
}

static void quiet_log(int level, const char *line)
{
    (void)level;
    (void)line;
}

int wsconn_init(struct event_base *base, const bench_opts *o, const conn_handlers *h)
{
    ws.opts = o;
    ws.h = *h;
    ws.n_source_ips = o->source_ips;
    for (int i = 0; i < o->source_ips; i++)
        snprintf(ws.source_ips[i], sizeof(ws.source_ips[i]), "127.0.0.%d", i + 2);
    lws_set_log_level(LLL_ERR, quiet_log);
    void *foreign_loops[1] = { base };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.foreign_loops = foreign_loops;
    info.options = LWS_SERVER_OPTION_LIBEVENT | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 30;
    info.connect_timeout_secs = 20;
    ws.context = lws_create_context(&info);
    if (!ws.context) {
        fprintf(stderr, "switchboard-bench: cannot create the libwebsockets context\n");
        return -1;
    }
    ws.forced_service = event_new(base, -1, EV_PERSIST, on_forced_service, NULL);
    struct timeval period = { 0, FORCED_SERVICE_US };
    if (!ws.forced_service || event_add(ws.forced_service, &period) != 0)
        return -1;
    return 0;
}

void wsconn_shutdown(void)
{
    ws.stopping = true;
    if (ws.forced_service)
        event_free(ws.forced_service);
    ws.forced_service = NULL;
    if (ws.context)
        lws_context_destroy(ws.context);
    ws.context = NULL;
}

/* ---- connections ---------------------------------------------------------- */

int wsconn_open(bench_conn *c, int target, const char *room_id, const char *resume_token)
{
    const bench_target *t = &ws.opts->targets[target];
    char path[192], host[96];
    if (resume_token)
        snprintf(path, sizeof(path), "/ws/%s?resume=%s", room_id, resume_token);
    else
        snprintf(path, sizeof(path), "/ws/%s", room_id);
    snprintf(host, sizeof(host), "%s:%d", t->host, t->port);
    c->target = target;
    c->state = CONN_CONNECTING;
    c->close_code = 0;
    c->close_requested = false;
    c->wsi = NULL;
    c->t_start_us = now_us();
    c->t_open_us = 0;
    wsconn_stats.attempts++;

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = ws.context;
    ci.address = t->host;
    ci.port = t->port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.protocol = NULL; /* like a browser's new WebSocket(url) */
    ci.local_protocol_name = protocols[0].name;
    ci.userdata = c;
    ci.pwsi = &c->wsi;
    ci.retry_and_idle_policy = &no_liveness_checks;
    if (ws.n_source_ips)
        ci.iface = ws.source_ips[ws.next_source++ % (unsigned)ws.n_source_ips];
    struct lws *wsi = lws_client_connect_via_info(&ci);
    if (!wsi && c->state == CONN_CONNECTING)
        finish(c, "connect failed: could not start (out of descriptors?)");
    return c->state == CONN_CLOSED ? -1 : 0;
}

void wsconn_want_write(bench_conn *c)
{
    if (c->wsi && c->state == CONN_OPEN)
        lws_callback_on_writable(c->wsi);
}

int wsconn_write(bench_conn *c, unsigned char *payload, size_t len)
{
    if (!c->wsi || c->state != CONN_OPEN)
        return -1;
    int n = lws_write(c->wsi, payload, len, LWS_WRITE_TEXT);
    if (n < (int)len)
        return -1;
    wsconn_stats.msgs_out++;
    wsconn_stats.bytes_out += len;
    return 0;
}

bool wsconn_choked(bench_conn *c)
{
    return !c->wsi || lws_send_pipe_choked(c->wsi);
}

void wsconn_close(bench_conn *c)
{
    if (!c->wsi || c->state != CONN_OPEN || c->close_requested)
        return;
    c->close_requested = true;
    lws_callback_on_writable(c->wsi);
}
