/*
 * listener.c - the listening socket, the connection cap, the descriptor
 * reserve and the header deadline (see listener.h).
 *
 * Why the node accepts instead of lws: lws 4.1.6 counts only the sockets it
 * manages against its per-thread limit, which defaults to the whole
 * RLIMIT_NOFILE. The process also holds stdio, epoll, the signal pipe, two
 * Redis sockets and more, so accept() fails with EMFILE before lws's count
 * reaches its limit and lws never pauses its listener. On EMFILE lws logs
 * "accept: errno 24" and returns; the connection stays queued, the listener
 * stays readable, and the loop calls it again at once — a busy loop that
 * floods the log. Sizing lws's fd_limit_per_thread below the real limit
 * would pause it, but then lws looks up every socket event by a linear
 * scan of its descriptor table, which 20 000 connections cannot afford. So
 * lws gets no listener, and each accepted socket is adopted
 * (lws_adopt_descriptor_vhost_via_info) exactly as its own listener would.
 *
 * Descriptors: FD_RESERVE of RLIMIT_NOFILE stay free for what is not a
 * client (Redis reconnects and their name lookups, the refusal below), and
 * the cap is the rest, or --max-connections when lower. At the cap a new
 * connection is accepted, answered 503 and closed at once: a clear refusal
 * the load balancer can retry elsewhere. Should accept() still fail for
 * lack of descriptors, the listener is paused — connections wait in the
 * kernel's queue — and resumes when a connection closes or RESUME_MS
 * later, so it never spins.
 *
 * Header deadline: connections in their header phase (or, once a request's
 * headers are in, the phase of its announced body) sit in a list, oldest
 * first (a constant deadline keeps it sorted), and one timer closes those
 * past the deadline. Our own timer rather than lws_set_timeout: lws on a
 * foreign libevent loop re-arms its timer only from its own callbacks, and
 * a trickled byte must not extend the deadline. lws's header tables are
 * sized to the cap (server.c), so a connection never waits for a table
 * behind slow ones.
 *
 * TLS (--tls-cert): the adopted socket starts with lws's TLS handshake,
 * inside the header phase, so a client that stalls the handshake meets
 * the same deadline as one that stalls its headers.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "listener.h"
#include "log.h"

#define FD_RESERVE 32
#define RESUME_MS 250
#define ACCEPT_BATCH 64 /* accepts per wake-up, so the loop serves others */

typedef struct tcp_conn {
    struct lws *wsi;
    uint64_t phase_start_ms;
    struct tcp_conn *prev, *next; /* the header-phase list */
    unsigned requests;            /* whose headers were complete */
    sb_ipaddr peer;
    sb_ipaddr ws_client; /* family 0: no WebSocket counted */
    bool in_header_phase;
    bool in_body; /* the phase is a request body's, after its headers */
    bool upgraded;
    bool adopting; /* inside lws_adopt_...: the caller frees it */
    bool closed;
} tcp_conn;

static struct {
    int fd;
    size_t cap, open;
    struct lws_vhost *vh;
    struct event *readable, *resume, *deadline;
    bool paused;
    bool tls;                  /* the vhost speaks TLS: no cleartext refusals */
    tcp_conn *oldest, *newest; /* header phase, by phase start */
} L = { .fd = -1 };

#define FULL_BODY "{\"detail\":\"Too many connections\"}"
#define TIMEOUT_BODY "{\"detail\":\"Request timed out\"}"
_Static_assert(sizeof(FULL_BODY) - 1 == 33, "Content-Length below");
_Static_assert(sizeof(TIMEOUT_BODY) - 1 == 30, "Content-Length below");
static const char full_response[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                    "Content-Type: application/json\r\n"
                                    "Content-Length: 33\r\n"
                                    "Connection: close\r\n\r\n" FULL_BODY;
static const char timeout_response[] = "HTTP/1.1 408 Request Timeout\r\n"
                                       "Content-Type: application/json\r\n"
                                       "Content-Length: 30\r\n"
                                       "Connection: close\r\n\r\n" TIMEOUT_BODY;

/* ---- header phase ---- */

static void phase_end(tcp_conn *t)
{
    if (!t->in_header_phase)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        L.oldest = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        L.newest = t->prev;
    t->prev = t->next = NULL;
    t->in_header_phase = false;
    t->in_body = false;
}

static void arm_deadline(uint64_t now)
{
    if (!L.oldest || !L.deadline)
        return;
    uint64_t due = L.oldest->phase_start_ms + LISTENER_HEADER_DEADLINE_MS;
    struct timeval tv = sb_clock_timeval(due > now ? due - now : 0);
    evtimer_add(L.deadline, &tv);
}

static void phase_begin(tcp_conn *t)
{
    uint64_t now = sb_clock_monotonic_ms();
    phase_end(t);
    t->phase_start_ms = now;
    t->in_header_phase = true;
    t->prev = L.newest;
    if (L.newest)
        L.newest->next = t;
    else
        L.oldest = t;
    L.newest = t;
    if (L.oldest == t)
        arm_deadline(now);
}

/* Close one connection past its deadline. A first request, and a request
 * whose body is late, get a 408 (nothing is written to them yet); an idle
 * keep-alive connection is just closed, as HTTP allows. The close runs
 * listener_closed, which frees t. */
static void expire(tcp_conn *t)
{
    bool in_body = t->in_body;
    phase_end(t);
    if (!t->wsi)
        return;
    if ((t->requests == 0 || in_body) && !L.tls)
        (void)send(lws_get_socket_fd(t->wsi), timeout_response, sizeof(timeout_response) - 1,
                   MSG_NOSIGNAL | MSG_DONTWAIT);
    sb_info(NULL, NULL, "closed a connection: %s not complete within %d ms",
            in_body ? "request body" : "headers", LISTENER_HEADER_DEADLINE_MS);
    lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = sb_clock_monotonic_ms();
    while (L.oldest && now - L.oldest->phase_start_ms >= LISTENER_HEADER_DEADLINE_MS)
        expire(L.oldest);
    arm_deadline(now);
}

/* ---- accepting ---- */

static void pause_accepting(void)
{
    if (L.paused)
        return;
    event_del(L.readable);
    L.paused = true;
    struct timeval tv = sb_clock_timeval(RESUME_MS);
    evtimer_add(L.resume, &tv);
}

static void resume_accepting(void)
{
    if (!L.paused)
        return;
    L.paused = false;
    evtimer_del(L.resume);
    event_add(L.readable, NULL);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    resume_accepting();
}

static void refuse_full(int fd)
{
    sb_warn(NULL, NULL, "refused a connection: %zu connections open (the cap)", L.cap);
    if (!L.tls)
        (void)send(fd, full_response, sizeof(full_response) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

static void adopt(int fd, const struct sockaddr *peer)
{
    tcp_conn *t = calloc(1, sizeof(*t));
    if (!t) {
        close(fd);
        return;
    }
    sb_ipaddr_from_sockaddr(peer, &t->peer);
    int one = 1; /* signaling is small messages: no Nagle delay */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    L.open++;
    phase_begin(t);
    t->adopting = true;
    lws_adopt_desc_t info;
    memset(&info, 0, sizeof(info));
    info.vh = L.vh;
    /* ALLOW_SSL: with a certificate on the vhost, lws starts the TLS
     * handshake on the socket, as its own listener would. */
    info.type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (L.tls ? LWS_ADOPT_ALLOW_SSL : 0);
    info.fd.sockfd = fd;
    info.opaque = t;
    /* On failure lws has closed fd, and may or may not have run
     * listener_closed for it. */
    struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&info);
    t->adopting = false;
    if (wsi && !t->closed) {
        t->wsi = wsi;
        return;
    }
    if (!t->closed) {
        phase_end(t);
        L.open--;
    }
    free(t);
}

static void on_readable(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(lfd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: retrying now
             * would fail the same way. */
            sb_warn(NULL, NULL, "accept paused: %s", strerror(errno));
            pause_accepting();
            return;
        }
        if (L.open >= L.cap)
            refuse_full(fd);
        else
            adopt(fd, (struct sockaddr *)&peer);
    }
}

/* ---- set-up ---- */

static size_t connection_cap(int max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur <= FD_RESERVE) {
        sb_error(NULL, NULL, "the descriptor limit leaves no room for connections (need > %d)",
                 FD_RESERVE);
        return 0;
    }
    size_t by_fds = rl.rlim_cur == RLIM_INFINITY ? (size_t)1 << 20 : rl.rlim_cur - FD_RESERVE;
    if (max_connections <= 0)
        return by_fds;
    if ((size_t)max_connections > by_fds) {
        sb_warn(NULL, NULL,
                "--max-connections %d is more than the descriptor limit allows: using %zu",
                max_connections, by_fds);
        return by_fds;
    }
    return (size_t)max_connections;
}

static int bind_listen(const char *host, int port)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

size_t listener_open(const char *host, int port, int max_connections)
{
    L.cap = connection_cap(max_connections);
    if (L.cap == 0)
        return 0;
    L.fd = bind_listen(host, port);
    if (L.fd < 0) {
        sb_error(NULL, NULL, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        return 0;
    }
    return L.cap;
}

int listener_run(struct event_base *base, struct lws_vhost *vh, bool tls)
{
    L.vh = vh;
    L.tls = tls;
    L.readable = event_new(base, L.fd, EV_READ | EV_PERSIST, on_readable, NULL);
    L.resume = evtimer_new(base, on_resume, NULL);
    L.deadline = evtimer_new(base, on_deadline, NULL);
    if (!vh || !L.readable || !L.resume || !L.deadline)
        return -1;
    return event_add(L.readable, NULL);
}

void listener_stop(void)
{
    struct event **events[] = { &L.readable, &L.resume, &L.deadline };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (*events[i])
            event_free(*events[i]);
        *events[i] = NULL;
    }
    if (L.fd >= 0)
        close(L.fd);
    L.fd = -1;
}

size_t listener_connections(void)
{
    return L.open;
}

/* ---- lws events ---- */

static tcp_conn *conn_of(struct lws *wsi)
{
    return wsi ? lws_get_opaque_user_data(wsi) : NULL;
}

void listener_peer(struct lws *wsi, sb_ipaddr *out)
{
    tcp_conn *t = conn_of(wsi);
    if (t)
        *out = t->peer;
    else
        memset(out, 0, sizeof(*out));
}

void listener_set_ws_client(struct lws *wsi, const sb_ipaddr *client)
{
    tcp_conn *t = conn_of(wsi);
    if (t)
        t->ws_client = *client;
}

bool listener_ws_client(struct lws *wsi, sb_ipaddr *out)
{
    tcp_conn *t = conn_of(wsi);
    if (!t || t->ws_client.family == 0)
        return false;
    *out = t->ws_client;
    return true;
}

void listener_headers_done(struct lws *wsi)
{
    tcp_conn *t = conn_of(wsi);
    if (t && t->in_header_phase) {
        phase_end(t);
        t->requests++;
    }
}

void listener_awaiting_body(struct lws *wsi)
{
    tcp_conn *t = conn_of(wsi);
    if (t && !t->upgraded && !t->closed) {
        phase_begin(t);
        t->in_body = true;
    }
}

void listener_body_done(struct lws *wsi)
{
    tcp_conn *t = conn_of(wsi);
    if (t && t->in_body)
        phase_end(t);
}

void listener_awaiting_headers(struct lws *wsi)
{
    tcp_conn *t = conn_of(wsi);
    if (t && !t->upgraded && !t->closed)
        phase_begin(t);
}

void listener_upgraded(struct lws *wsi)
{
    tcp_conn *t = conn_of(wsi);
    if (t) {
        phase_end(t);
        t->upgraded = true;
    }
}

void listener_closed(struct lws *wsi)
{
    tcp_conn *t = conn_of(wsi);
    if (!t)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    phase_end(t);
    t->closed = true;
    t->wsi = NULL;
    L.open--;
    resume_accepting(); /* a descriptor is free again */
    if (!t->adopting)
        free(t);
}
