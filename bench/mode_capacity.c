/*
 * mode_capacity.c - N idle connections in rooms of 2..10, held, then a
 * round of messages in a sample of rooms that must lose nothing; the
 * node's memory per connection and its CPU while idle.
 *
 * Memory: VmRSS of every --node-pid before the first connection, once all
 * are connected, and after the hold; growth divided by the connections that
 * joined. The hold should outlast the node's ping interval: a connection
 * that has received its first ping and answered costs more (libwebsockets
 * allocates its receive buffer on the first frame in). RSS counts
 * pages touched, so it includes what the allocator keeps and what libevent
 * and lws allocate per socket, which is what an operator pays.
 *
 * Idle CPU: utime + stime of every --node-pid over the hold period,
 * divided by its length. Nothing is sent during the hold; what the nodes
 * spend then is their upkeep (timers, room refreshes, WebSocket pings).
 *
 * The relay check: every participant of the sampled rooms sends one
 * broadcast ICE candidate; each peer must receive each exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "hist.h"
#include "modes.h"
#include "msg.h"
#include "report.h"
#include "sysinfo.h"
#include "util.h"

#define CHECK_TIMEOUT_S 15.0
#define SETTLE_AFTER_ALL_S 1.0

typedef enum { PH_CONNECT, PH_HOLD, PH_CHECK, PH_DONE } cap_phase;

typedef struct {
    long rss_before, rss_connected, rss_after, fd_limit;
    double cpu_start, cpu_end;
} node_reading;

static struct {
    const bench_opts *o;
    cap_phase phase;
    uint32_t connections, next_launch;
    uint64_t t_first_start, t_last_join, t_hold_start, t_hold_end;
    node_reading nodes[MAX_NODE_PIDS];
    uint8_t *sampled;    /* per room */
    uint64_t *seen_from; /* per participant: bit per sender slot (check round) */
    uint32_t check_rooms, check_sent;
    uint64_t check_expected, check_received, check_dup;
    bool settle_armed;
    hist to_connected, check_latency;
} C;

static unsigned char txbuf[WSCONN_PRE + MSG_MAX];

static void begin_hold(void *arg);

/* ---- readings ---------------------------------------------------------------- */

typedef enum { RSS_BEFORE, RSS_CONNECTED, RSS_AFTER } rss_moment;

static void read_nodes_rss(rss_moment when)
{
    for (int i = 0; i < C.o->n_node_pids; i++) {
        long kib = proc_rss_kib(C.o->node_pids[i]);
        if (when == RSS_BEFORE)
            C.nodes[i].rss_before = kib;
        else if (when == RSS_CONNECTED)
            C.nodes[i].rss_connected = kib;
        else
            C.nodes[i].rss_after = kib;
    }
}

static void read_nodes_cpu(bool end)
{
    for (int i = 0; i < C.o->n_node_pids; i++) {
        double s = proc_cpu_seconds(C.o->node_pids[i]);
        if (end)
            C.nodes[i].cpu_end = s;
        else
            C.nodes[i].cpu_start = s;
    }
}

/* RSS growth summed over the nodes, from before the first connection to
 * `when`. */
static long rss_growth_kib(rss_moment when)
{
    long sum = 0;
    for (int i = 0; i < C.o->n_node_pids; i++) {
        long at = when == RSS_CONNECTED ? C.nodes[i].rss_connected : C.nodes[i].rss_after;
        if (C.nodes[i].rss_before >= 0 && at >= 0)
            sum += at - C.nodes[i].rss_before;
    }
    return sum;
}

static double idle_cpu_pct(void)
{
    double hold = (double)(C.t_hold_end - C.t_hold_start) / 1e6, sum = 0;
    for (int i = 0; i < C.o->n_node_pids; i++)
        if (C.nodes[i].cpu_start >= 0 && C.nodes[i].cpu_end >= 0)
            sum += C.nodes[i].cpu_end - C.nodes[i].cpu_start;
    return hold > 0 ? 100.0 * sum / hold : 0;
}

/* ---- connecting ---------------------------------------------------------------- */

static participant *next_to_launch(void)
{
    if (C.next_launch >= F.n_parts)
        return NULL;
    if (!C.t_first_start)
        C.t_first_start = now_us();
    return &F.parts[C.next_launch++];
}

static void check_all_resolved(void)
{
    if (C.phase == PH_CONNECT && !C.settle_armed && F.joined + F.gone >= F.n_parts) {
        C.settle_armed = true;
        runner_after(SETTLE_AFTER_ALL_S, begin_hold, NULL);
    }
}

static void cap_connected(participant *p, const ctl_msg *m)
{
    (void)m;
    hist_record(&C.to_connected, p->t_connected_us - p->conn.t_start_us);
    C.t_last_join = p->t_connected_us;
    launcher_done();
    launcher_pump();
    check_all_resolved();
}

static void cap_closed(participant *p, bool was_open, const char *why)
{
    (void)was_open;
    (void)why;
    if (!p->joined) {
        launcher_done();
        launcher_pump();
    }
    check_all_resolved();
}

/* ---- the relay check ------------------------------------------------------------- */

static void finish_check(void *arg)
{
    (void)arg;
    if (C.phase == PH_DONE)
        return;
    C.phase = PH_DONE;
    runner_phase("done");
    runner_finish();
}

static bool room_whole(const room *r)
{
    for (uint16_t s = 0; s < r->size; s++) {
        const participant *p = fleet_peer(r, s);
        if (!p->joined || p->gone || p->peers_known != r->size - 1)
            return false;
    }
    return r->size <= 64;
}

static void begin_check(void)
{
    C.phase = PH_CHECK;
    runner_phase("relay check");
    uint32_t want = (uint32_t)C.o->sample_rooms;
    uint32_t step = want && F.n_rooms > want ? F.n_rooms / want : 1;
    for (uint32_t r = (uint32_t)(rng_next() % step); r < F.n_rooms && C.check_rooms < want;
         r += step) {
        room *rm = &F.rooms[r];
        if (!room_whole(rm))
            continue;
        C.sampled[r] = 1;
        C.check_rooms++;
        C.check_expected += (uint64_t)rm->size * (rm->size - 1);
        for (uint16_t s = 0; s < rm->size; s++) {
            participant *p = fleet_peer(rm, s);
            p->pending = 1;
            wsconn_want_write(&p->conn);
        }
    }
    if (C.check_expected == 0)
        finish_check(NULL);
    else
        runner_after(CHECK_TIMEOUT_S, finish_check, NULL);
}

static void cap_writeable(participant *p)
{
    if (C.phase != PH_CHECK || !p->pending)
        return;
    p->pending = 0;
    msg_stamp st = { p->index, ++p->seq, now_us() };
    size_t len = msg_build((char *)txbuf + WSCONN_PRE, SIG_ICE, NULL, &st);
    if (wsconn_write(&p->conn, txbuf + WSCONN_PRE, len) == 0)
        C.check_sent++;
}

static void cap_stamp(participant *p, const msg_stamp *st, const char *buf, size_t len)
{
    participant *s = &F.parts[st->sender];
    if (C.phase != PH_CHECK || !C.sampled[p->room] || s->room != p->room || s == p) {
        bench_error("a relayed message nobody should have received");
        return;
    }
    if (!msg_has_sender(buf, len, s->user_id))
        bench_error("sender_id does not match the stamp");
    uint64_t bit = 1ull << s->slot;
    if (C.seen_from[p->index] & bit) {
        C.check_dup++;
        return;
    }
    C.seen_from[p->index] |= bit;
    C.check_received++;
    hist_record(&C.check_latency, now_us() - st->sent_us);
    if (C.check_received >= C.check_expected)
        finish_check(NULL);
}

/* ---- phases ----------------------------------------------------------------------- */

static void end_hold(void *arg)
{
    (void)arg;
    C.t_hold_end = now_us();
    read_nodes_cpu(true);
    read_nodes_rss(RSS_AFTER);
    begin_check();
}

static void begin_hold(void *arg)
{
    (void)arg;
    if (C.phase != PH_CONNECT)
        return;
    C.phase = PH_HOLD;
    runner_phase("hold");
    cpu_window_end();
    C.t_hold_start = now_us();
    read_nodes_rss(RSS_CONNECTED);
    read_nodes_cpu(false);
    runner_after(C.o->hold, end_hold, NULL);
}

/* ---- mode interface ----------------------------------------------------------------- */

/* Sizes uniform in [min, max] adding up to exactly n. */
static uint16_t *room_sizes(uint32_t n, uint32_t *n_rooms)
{
    uint32_t cap = n / (uint32_t)C.o->min_room + 1, r = 0, left = n;
    uint16_t *sizes = malloc(cap * sizeof(uint16_t));
    if (!sizes)
        return NULL;
    while (left > 0) {
        uint32_t s = (uint32_t)rng_range(C.o->min_room, C.o->max_room);
        if (s > left)
            s = left;
        if (left - s > 0 && left - s < (uint32_t)C.o->min_room)
            s = left; /* no room smaller than min at the end */
        sizes[r++] = (uint16_t)s;
        left -= s;
    }
    *n_rooms = r;
    return sizes;
}

static int cap_prepare(const bench_opts *o)
{
    static const fleet_hooks hooks = {
        .on_connected = cap_connected,
        .on_stamp = cap_stamp,
        .on_writeable = cap_writeable,
        .on_closed = cap_closed,
    };
    memset(&C, 0, sizeof(C));
    C.o = o;
    C.connections = (uint32_t)runner_fit_fds(o->connections, 64);
    if (C.connections < 2)
        return 2;
    for (int i = 0; i < o->n_node_pids; i++) {
        C.nodes[i].fd_limit = proc_fd_limit(o->node_pids[i]);
        long share = (long)C.connections / o->n_targets;
        if (C.nodes[i].fd_limit > 0 && share > C.nodes[i].fd_limit - 32)
            fprintf(stderr,
                    "switchboard-bench: node pid %d may hold at most ~%ld descriptors "
                    "(its limit); this run gives a node about %ld connections\n",
                    (int)o->node_pids[i], C.nodes[i].fd_limit, share);
    }
    uint32_t n_rooms;
    uint16_t *sizes = room_sizes(C.connections, &n_rooms);
    if (!sizes)
        return 1;
    int rc = fleet_alloc(o, n_rooms, sizes, 0, &hooks);
    free(sizes);
    if (rc != 0)
        return 1;
    C.sampled = calloc(F.n_rooms, 1);
    C.seen_from = calloc(F.n_parts, sizeof(uint64_t));
    if (!C.sampled || !C.seen_from)
        return 1;
    hist_reset(&C.to_connected);
    hist_reset(&C.check_latency);
    runner_phase("creating rooms");
    if (fleet_create_rooms() != 0)
        return 1;
    read_nodes_rss(RSS_BEFORE);
    return 0;
}

static void cap_start(void)
{
    runner_phase("connecting");
    cpu_window_begin();
    launcher_init(C.o->concurrency, next_to_launch);
    launcher_pump();
}

static void cap_progress(char *buf, size_t cap)
{
    if (C.phase == PH_CONNECT) {
        double span = C.t_first_start ? (double)(now_us() - C.t_first_start) / 1e6 : 0;
        snprintf(buf, cap, "connecting: %u/%u joined, %u failed, %.0f joins/s", F.joined, F.n_parts,
                 F.gone, span > 0 ? F.joined / span : 0.0);
    } else {
        snprintf(buf, cap, "%s: %u connections open, check %llu/%llu delivered",
                 runner_phase_name(), F.joined - F.gone, (unsigned long long)C.check_received,
                 (unsigned long long)C.check_expected);
    }
}

static double ramp_s(void)
{
    return C.t_last_join > C.t_first_start ? (double)(C.t_last_join - C.t_first_start) / 1e6 : 0;
}

static void cap_json(FILE *out, uint64_t lost, double per_conn)
{
    double ramp = ramp_s();
    fputc('{', out);
    report_json_common(out);
    fprintf(out,
            ",\"capacity\":{\"requested\":%d,\"connections\":%u,\"joined\":%u,\"failed\":%u,"
            "\"rooms\":%u,\"joins_per_s\":%.1f,\"hold_s\":%.3f,\"time_to_connected\":",
            C.o->connections, C.connections, F.joined, F.n_parts - F.joined, F.n_rooms,
            ramp > 0 ? F.joined / ramp : 0.0, (double)(C.t_hold_end - C.t_hold_start) / 1e6);
    hist_write_json(&C.to_connected, out);
    fprintf(out, ",\"nodes\":[");
    for (int i = 0; i < C.o->n_node_pids; i++)
        fprintf(out,
                "%s{\"pid\":%d,\"fd_limit\":%ld,\"rss_before_kib\":%ld,"
                "\"rss_connected_kib\":%ld,\"rss_after_kib\":%ld,\"idle_cpu_s\":%.3f}",
                i ? "," : "", (int)C.o->node_pids[i], C.nodes[i].fd_limit, C.nodes[i].rss_before,
                C.nodes[i].rss_connected, C.nodes[i].rss_after,
                C.nodes[i].cpu_end - C.nodes[i].cpu_start);
    fprintf(out, "],\"rss_growth_kib\":%ld,", rss_growth_kib(RSS_AFTER));
    if (C.o->n_node_pids && F.joined)
        fprintf(out,
                "\"rss_per_connection_kib\":%.3f,\"rss_per_connection_connected_kib\":%.3f,"
                "\"node_idle_cpu_pct\":%.2f,",
                per_conn, (double)rss_growth_kib(RSS_CONNECTED) / F.joined, idle_cpu_pct());
    else
        fprintf(out, "\"rss_per_connection_kib\":null,\"rss_per_connection_connected_kib\":null,"
                     "\"node_idle_cpu_pct\":null,");
    fprintf(out,
            "\"check\":{\"rooms\":%u,\"sent\":%u,\"expected\":%llu,\"received\":%llu,"
            "\"lost\":%llu,\"duplicated\":%llu,\"latency\":",
            C.check_rooms, C.check_sent, (unsigned long long)C.check_expected,
            (unsigned long long)C.check_received, (unsigned long long)lost,
            (unsigned long long)C.check_dup);
    hist_write_json(&C.check_latency, out);
    fprintf(out, "}}}\n");
}

static int cap_report(FILE *table, FILE *json)
{
    uint64_t lost = C.check_expected > C.check_received ? C.check_expected - C.check_received : 0;
    double per_conn = F.joined ? (double)rss_growth_kib(RSS_AFTER) / F.joined : 0;
    double ramp = ramp_s();
    report_table_header(table);
    report_row(table, "connections", "%u joined of %u (asked %d) in %u rooms of %d..%d", F.joined,
               C.connections, C.o->connections, F.n_rooms, C.o->min_room, C.o->max_room);
    report_row(table, "ramp", "%.2f s = %.0f joins/s", ramp, ramp > 0 ? F.joined / ramp : 0.0);
    report_latency_row(table, "connect to `connected`", &C.to_connected);
    for (int i = 0; i < C.o->n_node_pids; i++)
        report_row(table, "node pid",
                   "%d: RSS %.1f -> %.1f (connected) -> %.1f MiB (after hold), idle CPU %.2f s, "
                   "fd limit %ld",
                   (int)C.o->node_pids[i], C.nodes[i].rss_before / 1024.0,
                   C.nodes[i].rss_connected / 1024.0, C.nodes[i].rss_after / 1024.0,
                   C.nodes[i].cpu_end - C.nodes[i].cpu_start, C.nodes[i].fd_limit);
    if (C.o->n_node_pids && F.joined) {
        report_row(table, "node RSS per connection",
                   "%.2f KiB after the hold (%.2f KiB once connected), over %u connections",
                   per_conn, (double)rss_growth_kib(RSS_CONNECTED) / F.joined, F.joined);
        report_row(table, "node CPU while idle", "%.2f%% of one core over %.1f s", idle_cpu_pct(),
                   (double)(C.t_hold_end - C.t_hold_start) / 1e6);
    }
    report_row(table, "relay check", "%u rooms, %u sent, %llu/%llu delivered, %llu lost, %llu dup",
               C.check_rooms, C.check_sent, (unsigned long long)C.check_received,
               (unsigned long long)C.check_expected, (unsigned long long)lost,
               (unsigned long long)C.check_dup);
    report_latency_row(table, "relay check latency", &C.check_latency);
    report_table_footer(table);
    if (json)
        cap_json(json, lost, per_conn);
    bool clean = lost == 0 && C.check_dup == 0 && C.check_rooms > 0 && bench_errors.total == 0
                 && !RUN.timed_out && F.joined == C.connections;
    return report_exit_code(clean);
}

static void cap_cleanup(void)
{
    free(C.sampled);
    free(C.seen_from);
    C.sampled = NULL;
    C.seen_from = NULL;
}

const bench_mode_ops mode_capacity = {
    .prepare = cap_prepare,
    .start = cap_start,
    .progress = cap_progress,
    .report = cap_report,
    .cleanup = cap_cleanup,
};
