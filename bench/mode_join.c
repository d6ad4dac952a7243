/*
 * mode_join.c - C clients join rooms of P as fast as the concurrency
 * allows: joins/s, time to `connected`, time until the others see
 * `user-joined`.
 *
 * Rooms are created first (REST, not measured). Joins then run with up to
 * --concurrency in flight, but one at a time per room: a room gets its
 * next joiner only when the previous one has its `connected` and every
 * earlier member has seen its `user-joined`. That makes each user-joined
 * unambiguous (it is the joiner in flight), so its delay is measured from
 * that joiner's connect() — and with many rooms the per-room order costs
 * no throughput. Clients stay connected until the end, so the nodes hold C
 * connections when the run ends.
 */
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "hist.h"
#include "modes.h"
#include "report.h"
#include "util.h"

static struct {
    const bench_opts *o;
    uint32_t *queue; /* ring of rooms ready for their next joiner */
    uint32_t q_head, q_len;
    int32_t *cur;        /* per room: slot of the joiner in flight, -1 none */
    uint16_t *seen_left; /* per room: earlier members yet to see it */
    uint8_t *connected;  /* per room: the joiner has `connected` */
    uint32_t done, failed, clients;
    uint64_t t_first_start, t_last_join;
    hist to_connected, handshake, seen;
} J;

static void enqueue_room(uint32_t r)
{
    if (F.rooms[r].launched >= F.rooms[r].size)
        return;
    J.queue[(J.q_head + J.q_len++) % F.n_rooms] = r;
}

static participant *next_joiner(void)
{
    while (J.q_len) {
        uint32_t r = J.queue[J.q_head];
        J.q_head = (J.q_head + 1) % F.n_rooms;
        J.q_len--;
        room *rm = &F.rooms[r];
        if (rm->launched >= rm->size || J.cur[r] >= 0)
            continue;
        uint16_t slot = rm->launched;
        uint16_t earlier = 0;
        for (uint16_t s = 0; s < slot; s++) {
            participant *q = fleet_peer(rm, s);
            earlier += q->joined && !q->gone;
        }
        J.cur[r] = slot;
        J.seen_left[r] = earlier;
        J.connected[r] = 0;
        if (!J.t_first_start)
            J.t_first_start = now_us();
        return fleet_peer(rm, slot);
    }
    return NULL;
}

static void check_finished(void)
{
    if (J.done + J.failed >= J.clients) {
        cpu_window_end();
        runner_phase("done");
        runner_finish();
    }
}

static void end_join(uint32_t r, bool ok)
{
    J.cur[r] = -1;
    if (ok)
        J.done++;
    else
        J.failed++;
    launcher_done();
    enqueue_room(r);
    launcher_pump();
    check_finished();
}

static void check_join_complete(uint32_t r)
{
    if (J.cur[r] >= 0 && J.connected[r] && J.seen_left[r] == 0)
        end_join(r, true);
}

static void join_connected(participant *p, const ctl_msg *m)
{
    uint64_t now = p->t_connected_us;
    hist_record(&J.to_connected, now - p->conn.t_start_us);
    hist_record(&J.handshake, p->conn.t_open_us - p->conn.t_start_us);
    J.t_last_join = now;
    if (J.cur[p->room] != p->slot) {
        bench_error("`connected` for a client that was not joining");
        return;
    }
    size_t listed = json_array_size(m->participants);
    if (listed != p->slot)
        bench_error("`connected` listed a different number of participants than had joined");
    J.connected[p->room] = 1;
    check_join_complete(p->room);
}

static void join_user_joined(participant *p, const char *user_id)
{
    uint32_t r = p->room;
    int32_t cur = J.cur[r];
    if (cur < 0 || p->slot >= cur) {
        bench_error("user-joined while nobody was joining the room");
        return;
    }
    participant *joiner = fleet_peer(&F.rooms[r], (uint16_t)cur);
    hist_record(&J.seen, now_us() - joiner->conn.t_start_us);
    if (joiner->joined && strcmp(joiner->user_id, user_id) != 0)
        bench_error("user-joined named someone other than the joiner");
    if (J.seen_left[r])
        J.seen_left[r]--;
    check_join_complete(r);
}

static void join_closed(participant *p, bool was_open, const char *why)
{
    (void)was_open;
    (void)why;
    if (J.cur[p->room] == p->slot && !J.connected[p->room])
        end_join(p->room, false);
}

static int join_prepare(const bench_opts *o)
{
    static const fleet_hooks hooks = {
        .on_connected = join_connected,
        .on_user_joined = join_user_joined,
        .on_closed = join_closed,
    };
    memset(&J, 0, sizeof(J));
    J.o = o;
    J.clients = (uint32_t)runner_fit_fds(o->clients, 64);
    if (J.clients == 0)
        return 2;
    uint32_t size = (uint32_t)o->room_size;
    uint32_t n_rooms = (J.clients + size - 1) / size;
    uint16_t *sizes = malloc(n_rooms * sizeof(uint16_t));
    if (!sizes)
        return 1;
    for (uint32_t r = 0; r < n_rooms; r++)
        sizes[r] = (uint16_t)(r + 1 < n_rooms ? size : J.clients - size * (n_rooms - 1));
    int rc = fleet_alloc(o, n_rooms, sizes, 0, &hooks);
    free(sizes);
    if (rc != 0)
        return 1;
    J.queue = calloc(n_rooms, sizeof(uint32_t));
    J.cur = malloc(n_rooms * sizeof(int32_t));
    J.seen_left = calloc(n_rooms, sizeof(uint16_t));
    J.connected = calloc(n_rooms, 1);
    if (!J.queue || !J.cur || !J.seen_left || !J.connected)
        return 1;
    for (uint32_t r = 0; r < n_rooms; r++) {
        J.cur[r] = -1;
        J.queue[r] = r;
    }
    J.q_len = n_rooms;
    hist_reset(&J.to_connected);
    hist_reset(&J.handshake);
    hist_reset(&J.seen);
    runner_phase("creating rooms");
    return fleet_create_rooms() == 0 ? 0 : 1;
}

static void join_start(void)
{
    runner_phase("joining");
    cpu_window_begin();
    launcher_init(J.o->concurrency, next_joiner);
    launcher_pump();
}

static double join_span_s(void)
{
    return J.t_last_join > J.t_first_start ? (double)(J.t_last_join - J.t_first_start) / 1e6 : 0;
}

static void join_progress(char *buf, size_t cap)
{
    double span = (double)(now_us() - (J.t_first_start ? J.t_first_start : now_us())) / 1e6;
    snprintf(buf, cap, "joined %u/%u, failed %u, in flight %d, %.0f joins/s, p99 %.2f ms", J.done,
             J.clients, J.failed, launcher_in_flight(), span > 0 ? J.done / span : 0.0,
             (double)hist_percentile(&J.to_connected, 99) / 1000.0);
}

static void join_json(FILE *out, double span, int nodes)
{
    fputc('{', out);
    report_json_common(out);
    fprintf(out,
            ",\"join\":{\"clients\":%u,\"room_size\":%d,\"rooms\":%u,\"concurrency\":%d,"
            "\"joined\":%u,\"failed\":%u,\"span_s\":%.3f,\"joins_per_s\":%.1f,\"nodes\":%d,"
            "\"joins_per_s_per_node\":%.1f,\"rooms_created_per_s\":%.1f,\"time_to_connected\":",
            J.clients, J.o->room_size, F.n_rooms, J.o->concurrency, J.done, J.failed, span,
            span > 0 ? J.done / span : 0.0, nodes, span > 0 ? J.done / span / nodes : 0.0,
            F.create_s > 0 ? F.n_rooms / F.create_s : 0.0);
    hist_write_json(&J.to_connected, out);
    fprintf(out, ",\"handshake\":");
    hist_write_json(&J.handshake, out);
    fprintf(out, ",\"user_joined_seen\":");
    hist_write_json(&J.seen, out);
    fprintf(out, "}}\n");
}

static int join_report(FILE *table, FILE *json)
{
    double span = join_span_s();
    int nodes = F.n_nodes > 0 ? F.n_nodes : 1;
    report_table_header(table);
    report_row(table, "clients", "%u in %u rooms of %d, %d in flight at most", J.clients, F.n_rooms,
               J.o->room_size, J.o->concurrency);
    report_row(table, "rooms created (REST)", "%u in %.2f s = %.0f/s", F.n_rooms, F.create_s,
               F.create_s > 0 ? F.n_rooms / F.create_s : 0.0);
    report_row(table, "joined / failed", "%u / %u in %.2f s", J.done, J.failed, span);
    report_row(table, "joins/s", "%.0f total, %.0f per node (%d nodes)",
               span > 0 ? J.done / span : 0.0, span > 0 ? J.done / span / nodes : 0.0, nodes);
    report_latency_row(table, "connect to `connected`", &J.to_connected);
    report_latency_row(table, "connect to ws open", &J.handshake);
    report_latency_row(table, "connect to user-joined seen", &J.seen);
    report_table_footer(table);
    if (json)
        join_json(json, span, nodes);
    bool clean = J.failed == 0 && J.done == J.clients && bench_errors.total == 0 && !RUN.timed_out;
    return report_exit_code(clean);
}

static void join_cleanup(void)
{
    free(J.queue);
    free(J.cur);
    free(J.seen_left);
    free(J.connected);
    memset(&J, 0, sizeof(J));
}

const bench_mode_ops mode_join = {
    .prepare = join_prepare,
    .start = join_start,
    .progress = join_progress,
    .report = join_report,
    .cleanup = join_cleanup,
};
