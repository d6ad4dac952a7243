/*
 * main.c - the switchboard node: configuration, the loop, and stopping.
 *
 * Calls go one way. A module calls only modules below it (──►); a lower
 * module reaches up only through a struct of handlers that main.c hands
 * it at start (══►): ws_handlers (join, leave, message) and bus_handlers
 * (channel messages, links up and down, heartbeat), both the relay module's, and
 * the /metrics gauges, read here.
 *
 *   lws ──► server ──┬──► http_routes ─────────────────────┐
 *                    │                                     ▼
 *                    └──► ws_session ══► relay ────────► redis_bus ◄──► Redis
 *                             ▲           │ │ ▲              ║
 *                             └───────────┘ │ ╚══════════════╝
 *                                           └──► recovery ──► redis_bus
 *
 * So a client message goes socket → server → ws_session ══► relay →
 * redis_bus → Redis, and another node's comes back Redis → redis_bus ══►
 * relay → ws_session → socket. room_table, frame, metrics, node_state and
 * access (tokens, asked by ws_session and http_routes) are below
 * everything and call nothing in node/ (scripts/node-graph.sh prints the
 * graph from a build). `switchboard token` is token_cli.c, run instead of
 * the node.
 *
 * Everything runs on one libevent event_base: lws as a foreign loop and
 * both hiredis connections. No threads.
 *
 * Stopping (SIGTERM or SIGINT): readiness turns 503, new WebSockets are
 * refused, every participant gets {"type":"reconnect"}, then, DRAIN_GRACE_MS
 * later, is held for a resume and closed with 1012; the holds (or leaves)
 * reach Redis, the node deregisters, and the process exits 0 — or after
 * DRAIN_MAX_MS whatever is left. A second signal exits at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "access.h"
#include "clock.h"
#include "config.h"
#include "http_routes.h"
#include "log.h"
#include "node_state.h"
#include "overload.h"
#include "protocol.h"
#include "recovery.h"
#include "redis_bus.h"
#include "relay.h"
#include "resume.h"
#include "room_table.h"
#include "server.h"
#include "token_cli.h"
#include "ws_session.h"

#define DRAIN_MAX_MS 5000
#define DRAIN_POLL_MS 20
/* Between `reconnect` and the close: what clients sent before they read
 * it is still relayed (docs/design.md#drain). */
#define DRAIN_GRACE_MS 300

static struct {
    struct event_base *base;
    sb_config cfg;
    struct event *sigterm, *sigint, *drain_poll, *drain_close;
    bool deregistered;
    int drain_elapsed_ms;
} node;

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

/* The node holds one descriptor per connection: take all the OS allows.
 * listener.c then keeps a reserve of it free and caps connections at the
 * rest. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            sb_warn(NULL, NULL, "cannot raise the file descriptor limit: %s", strerror(errno));
    }
}

static void read_gauges(sb_gauges *g)
{
    g->connections = ws_session_count();
    g->rooms_local = room_table_count_occupied();
    g->redis_up = bus_is_ready();
    g->draining = node_is_draining();
    g->input_paused = overload_active();
}

static void on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    node.drain_elapsed_ms += DRAIN_POLL_MS;
    bool sessions_gone = ws_session_count() == 0;
    if (sessions_gone && !node.deregistered) {
        bus_deregister();
        node.deregistered = true;
    }
    /* Held participants' captures go to Redis when their "away" is back. */
    bool idle = sessions_gone && bus_pending() == 0 && !resume_capturing(NULL);
    if (idle || node.drain_elapsed_ms >= DRAIN_MAX_MS) {
        if (!sessions_gone || bus_pending())
            sb_warn(NULL, NULL, "drain time is up: %zu sessions, %zu Redis requests left",
                    ws_session_count(), bus_pending());
        event_base_loopbreak(node.base);
        return;
    }
    struct timeval tv = sb_clock_timeval(DRAIN_POLL_MS);
    evtimer_add(node.drain_poll, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (node_is_draining()) {
        sb_warn(NULL, NULL, "second signal: exiting now");
        event_base_loopbreak(node.base);
        return;
    }
    sb_info(NULL, NULL, "%s: draining %zu connections", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            ws_session_count());
    node_set_draining();
    ws_sessions_send_all("reconnect");
    struct timeval tv = sb_clock_timeval(DRAIN_GRACE_MS);
    evtimer_add(node.drain_close, &tv);
}

/* The grace is over: hold every participant for a resume, then close. */
static void on_drain_close(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    relay_drain();
    ws_sessions_close_all(NULL, SB_CLOSE_RESTART);
    node.drain_elapsed_ms = DRAIN_GRACE_MS;
    struct timeval tv = sb_clock_timeval(DRAIN_POLL_MS);
    evtimer_add(node.drain_poll, &tv);
}

/* With epoll, changes of interest made during one loop iteration are
 * applied once before the next wait: a socket asked for writeability and
 * written in the same iteration (every recipient of a relayed message,
 * the Redis link after a publish) costs no epoll_ctl pair. */
static struct event_base *new_base(void)
{
    struct event_config *ec = event_config_new();
    if (!ec)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

static int start(void)
{
    node.base = new_base();
    if (!node.base)
        return -1;
    access_init(&node.cfg);
    relay_init(node.base, &node.cfg);
    if (ws_sessions_init(node.base, &node.cfg, relay_ws_handlers()) != 0)
        return -1;
    http_routes_init(&node.cfg, read_gauges);
    if (bus_start(node.base, &node.cfg, relay_bus_handlers()) != 0)
        return -1;
    if (overload_init(node.base, &node.cfg) != 0)
        return -1;
    if (server_start(node.base, &node.cfg) != 0)
        return -1;
    node.sigterm = evsignal_new(node.base, SIGTERM, on_signal, NULL);
    node.sigint = evsignal_new(node.base, SIGINT, on_signal, NULL);
    node.drain_poll = evtimer_new(node.base, on_drain_poll, NULL);
    node.drain_close = evtimer_new(node.base, on_drain_close, NULL);
    if (!node.sigterm || !node.sigint || !node.drain_poll || !node.drain_close)
        return -1;
    evsignal_add(node.sigterm, NULL);
    evsignal_add(node.sigint, NULL);
    return 0;
}

static void stop(void)
{
    server_stop();
    overload_stop();
    ws_sessions_stop();
    bus_stop();
    recovery_free();
    resume_stop();
    room_table_clear();
    struct event **events[] = { &node.sigterm, &node.sigint, &node.drain_poll, &node.drain_close };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (*events[i])
            event_free(*events[i]);
        *events[i] = NULL;
    }
    if (node.base)
        event_base_free(node.base);
    node.base = NULL;
}

int main(int argc, char **argv)
{
    /* A subcommand, before the node's own flags. */
    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return token_cli_main(argc - 1, argv + 1, env_lookup);
    char err[256];
    sb_config_result rc = sb_config_parse(&node.cfg, argc, argv, env_lookup, err, sizeof(err));
    if (rc == SB_CONFIG_HELP) {
        sb_config_print_help(stdout);
        return 0;
    }
    if (rc == SB_CONFIG_VERSION) {
        printf("switchboard %s\n", SB_VERSION);
        return 0;
    }
    if (rc != SB_CONFIG_OK) {
        /* The hint is added here only: err is the reason alone. */
        fprintf(stderr, "switchboard: %s (see --help)\n", err);
        return 2;
    }
    sb_log_init(node.cfg.log_level, node.cfg.log_format, node.cfg.node_id);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (start() != 0) {
        stop();
        return 1;
    }
    if (node.cfg.cluster.count)
        sb_info(NULL, NULL, "switchboard %s listening on %s:%d (%s), redis cluster %s", SB_VERSION,
                node.cfg.host, node.cfg.port, node.cfg.tls_cert[0] ? "https, wss" : "http, ws",
                node.cfg.redis_cluster);
    else if (node.cfg.n_sentinels)
        sb_info(NULL, NULL,
                "switchboard %s listening on %s:%d (%s), redis master %s from %d sentinels",
                SB_VERSION, node.cfg.host, node.cfg.port,
                node.cfg.tls_cert[0] ? "https, wss" : "http, ws", node.cfg.redis_master_name,
                node.cfg.n_sentinels);
    else
        sb_info(NULL, NULL, "switchboard %s listening on %s:%d (%s), redis %s:%d", SB_VERSION,
                node.cfg.host, node.cfg.port, node.cfg.tls_cert[0] ? "https, wss" : "http, ws",
                node.cfg.redis.host, node.cfg.redis.port);
    if (access_enabled())
        sb_info(NULL, NULL, "auth is on: rooms and the REST API need a token");
    else
        sb_warn(NULL, NULL,
                "auth is off (no --auth-secret): anyone who reaches this node can list, create, "
                "join and delete rooms and fetch TURN credentials");
    event_base_dispatch(node.base);
    sb_info(NULL, NULL, "stopped");
    stop();
    return 0;
}
