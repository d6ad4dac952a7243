/*
 * mode_relay.c - R rooms x P participants exchanging signaling at a set
 * rate; delivery rate, latency, loss, duplicates and reordering.
 *
 * Sending is open loop: every participant is due a message every
 * 1/rate seconds (random phase), whatever the server does. A sender that
 * cannot write (its socket is full) accumulates what is due up to
 * MAX_PENDING and then skips, and the skips are reported: a run whose
 * senders skip did not sustain its rate. The stamp carries the time the
 * message was written; the time it waited in the generator before that is
 * reported separately as "send lag", so a saturated generator shows.
 *
 * Accounting per (sender, receiver) pair, all in this one process:
 *   - the sender counts, when it writes, the messages each peer should get
 *     (a broadcast: every peer still connected; a directed one: its target);
 *   - the receiver keeps the highest sequence number seen from that sender
 *     and a 64-bit window of the ones below it, so a repeated number is a
 *     duplicate and a lower new one is reordered (the relay promises
 *     per-sender order: one socket in, one Redis channel across nodes);
 *   - after the drain, lost = what should have arrived - what did.
 * A pair is cross-node when the two `connected` messages named different
 * node ids; latency goes into a histogram for each kind.
 *
 * With --resume (nodes drained or killed during the run), a participant
 * whose socket ends reconnects with its resume token (fleet.c) and sends
 * nothing while away; messages to it still count as expected, since the
 * node keeps them for it. What did not arrive between two participants of
 * which one was told "missed" on resuming is counted as missed, not lost.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fleet.h"
#include "hist.h"
#include "modes.h"
#include "msg.h"
#include "report.h"
#include "sched.h"
#include "util.h"

#define MAX_PENDING 64
#define WRITES_PER_CALLBACK 8
#define SEND_SLACK_US 100
#define SETTLE_BASE_S 20.0
#define SETTLE_AFTER_ALL_S 2.0

typedef struct {
    uint32_t last_seq, received, dup, reorder;
    uint64_t window; /* bit d: last_seq - d was seen */
} pair_stat;

typedef enum { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE } relay_phase;

static struct {
    const bench_opts *o;
    uint16_t P;
    pair_stat *pairs;  /* [receiver * P + sender slot] */
    uint32_t *sent_to; /* [sender * P + receiver slot] */
    uint8_t *room_ready;
    uint32_t rooms_ready, next_launch, senders;
    relay_phase phase;
    uint64_t interval_us;
    uint64_t t_send_start, t_measure_start, t_measure_end;
    struct event *send_timer;
    bool settle_armed;
    hist lat_same, lat_cross, send_lag;
    uint64_t sent, sent_window, sent_sdp, sent_directed, published_window, skipped;
    uint64_t expected, received, dup, reorder, window_same, window_cross;
    uint64_t progress_last_received, progress_last_us;
    double progress_rate;
} R;

static unsigned char txbuf[WSCONN_PRE + MSG_MAX];

static void begin_sending(void *arg);

/* ---- connecting ----------------------------------------------------------- */

static participant *next_to_launch(void)
{
    return R.next_launch < F.n_parts ? &F.parts[R.next_launch++] : NULL;
}

static bool room_complete(const room *r)
{
    for (uint16_t s = 0; s < r->size; s++) {
        const participant *p = fleet_peer(r, s);
        if (!p->joined || p->gone || p->peers_known != r->size - 1)
            return false;
    }
    return true;
}

static void check_room(uint32_t ri)
{
    if (R.phase != PH_CONNECT || R.room_ready[ri] || !room_complete(&F.rooms[ri]))
        return;
    R.room_ready[ri] = 1;
    if (++R.rooms_ready == F.n_rooms)
        begin_sending(NULL);
}

/* Every attempt has ended one way or the other: give the last events a
 * moment, then go with the rooms that are complete. */
static void check_all_resolved(void)
{
    if (R.phase == PH_CONNECT && !R.settle_armed && F.joined + F.gone >= F.n_parts) {
        R.settle_armed = true;
        runner_after(SETTLE_AFTER_ALL_S, begin_sending, NULL);
    }
}

static void relay_connected(participant *p, const ctl_msg *m)
{
    (void)m;
    launcher_done();
    launcher_pump();
    check_room(p->room);
    check_all_resolved();
}

static void relay_user_joined(participant *p, const char *user_id)
{
    (void)user_id;
    check_room(p->room);
}

static void relay_user_left(participant *p, const char *user_id)
{
    (void)user_id;
    if (R.phase != PH_CONNECT && R.phase != PH_DONE)
        bench_error("a peer left during the run (user-left)");
    (void)p;
}

static void relay_closed(participant *p, bool was_open, const char *why)
{
    (void)why;
    if (!p->joined) {
        launcher_done();
        launcher_pump();
    }
    (void)was_open;
    check_all_resolved();
}

/* ---- sending ------------------------------------------------------------------ */

static void arm_send_timer(uint64_t now)
{
    participant *next = sched_peek();
    if (!next || R.phase >= PH_DRAIN)
        return;
    uint64_t wait = next->next_send_us > now ? next->next_send_us - now : 0;
    struct timeval tv = { (time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u) };
    evtimer_add(R.send_timer, &tv);
}

static void on_send_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = now_us();
    participant *p;
    while ((p = sched_peek()) && p->next_send_us <= now + SEND_SLACK_US) {
        sched_pop();
        if (p->gone)
            continue;
        if (p->away || p->draining) { /* reconnecting: keeps its turn, sends nothing */
            p->next_send_us += R.interval_us;
            sched_push(p);
            continue;
        }
        if (p->pending < MAX_PENDING)
            p->pending++;
        else
            R.skipped++;
        p->next_send_us += R.interval_us;
        sched_push(p);
        wsconn_want_write(&p->conn);
    }
    arm_send_timer(now);
}

static participant *pick_target(participant *p)
{
    room *r = &F.rooms[p->room];
    for (uint16_t tries = 0; tries < r->size - 1; tries++) {
        uint16_t slot = (uint16_t)(p->next_peer++ % (r->size - 1));
        if (slot >= p->slot)
            slot++;
        participant *t = fleet_peer(r, slot);
        if (!t->gone)
            return t;
    }
    return NULL;
}

/* Count, for each receiver, that this message should reach it; true when
 * it has to cross nodes (the node publishes it once on Redis). */
static bool account_recipients(participant *p, participant *to)
{
    if (to) {
        R.sent_to[(size_t)p->index * R.P + to->slot]++;
        R.expected++;
        return to->node != p->node;
    }
    room *r = &F.rooms[p->room];
    bool crosses = false;
    for (uint16_t s = 0; s < r->size; s++) {
        participant *q = fleet_peer(r, s);
        if (q == p || q->gone)
            continue;
        R.sent_to[(size_t)p->index * R.P + s]++;
        R.expected++;
        crosses |= q->node != p->node;
    }
    return crosses;
}

static void send_one(participant *p)
{
    uint64_t now = now_us();
    uint64_t due = p->next_send_us - (uint64_t)p->pending * R.interval_us;
    msg_stamp st = { p->index, ++p->seq, now };
    bool sdp = (int)(rng_next() % 100) < R.o->sdp_pct;
    sig_kind kind = !sdp ? SIG_ICE : (p->seq & 1) ? SIG_OFFER : SIG_ANSWER;
    participant *to = (int)(rng_next() % 100) < R.o->directed_pct ? pick_target(p) : NULL;
    size_t len = msg_build((char *)txbuf + WSCONN_PRE, kind, to ? to->user_id : NULL, &st);
    if (wsconn_write(&p->conn, txbuf + WSCONN_PRE, len) != 0)
        return;
    bool crosses = account_recipients(p, to);
    R.sent++;
    R.sent_sdp += sdp;
    R.sent_directed += to != NULL;
    if (now >= R.t_measure_start && now < R.t_measure_end) {
        R.sent_window++;
        R.published_window += crosses;
        hist_record(&R.send_lag, now > due ? now - due : 0);
    }
}

static void relay_writeable(participant *p)
{
    if (R.phase != PH_WARMUP && R.phase != PH_MEASURE) {
        p->pending = 0;
        return;
    }
    for (int n = 0; p->pending && n < WRITES_PER_CALLBACK; n++) {
        send_one(p);
        p->pending--;
        if (p->gone || wsconn_choked(&p->conn))
            break;
    }
    if (p->pending && !p->gone)
        wsconn_want_write(&p->conn);
}

/* ---- phases ---------------------------------------------------------------------- */

static void finish_relay(void *arg)
{
    (void)arg;
    if (R.phase == PH_DONE)
        return;
    R.phase = PH_DONE;
    runner_phase("done");
    runner_finish();
}

static void begin_drain(void *arg)
{
    (void)arg;
    R.phase = PH_DRAIN;
    runner_phase("drain");
    cpu_window_end();
    evtimer_del(R.send_timer);
    if (R.received >= R.expected)
        finish_relay(NULL);
    else
        runner_after(R.o->drain, finish_relay, NULL);
}

static void begin_measure(void *arg)
{
    (void)arg;
    R.phase = PH_MEASURE;
    runner_phase("measure");
    cpu_window_begin();
}

static void begin_sending(void *arg)
{
    (void)arg;
    if (R.phase != PH_CONNECT)
        return;
    uint64_t now = now_us();
    if (R.rooms_ready < F.n_rooms)
        bench_error("rooms not complete when sending began (left out)");
    R.phase = PH_WARMUP;
    runner_phase("warmup");
    R.t_send_start = now;
    R.t_measure_start = now + (uint64_t)(R.o->warmup * 1e6);
    R.t_measure_end = R.t_measure_start + (uint64_t)(R.o->duration * 1e6);
    for (uint32_t ri = 0; ri < F.n_rooms; ri++) {
        if (!R.room_ready[ri])
            continue;
        for (uint16_t s = 0; s < F.rooms[ri].size; s++) {
            participant *p = fleet_peer(&F.rooms[ri], s);
            p->next_send_us = now + rng_next() % R.interval_us;
            sched_push(p);
            R.senders++;
        }
    }
    arm_send_timer(now);
    if (R.o->warmup > 0)
        runner_after(R.o->warmup, begin_measure, NULL);
    else
        begin_measure(NULL);
    runner_after(R.o->warmup + R.o->duration, begin_drain, NULL);
}

/* ---- receiving --------------------------------------------------------------------- */

/* Returns true when the message is new for this pair. */
static bool pair_receive(pair_stat *ps, uint32_t seq)
{
    if (seq > ps->last_seq) {
        uint32_t shift = seq - ps->last_seq;
        ps->window = shift >= 64 ? 0 : ps->window << shift;
        ps->window |= 1;
        ps->last_seq = seq;
        return true;
    }
    uint32_t d = ps->last_seq - seq;
    if (d < 64 && (ps->window & (1ull << d))) {
        ps->dup++;
        return false;
    }
    if (d < 64)
        ps->window |= 1ull << d;
    ps->reorder++;
    return true;
}

static void relay_stamp(participant *p, const msg_stamp *st, const char *buf, size_t len)
{
    uint64_t now = now_us();
    participant *s = &F.parts[st->sender];
    if (s->room != p->room || s == p) {
        bench_error(s == p ? "own message came back" : "message from another room");
        return;
    }
    if (!msg_has_sender(buf, len, s->user_id))
        bench_error("sender_id does not match the stamp");
    pair_stat *ps = &R.pairs[(size_t)p->index * R.P + s->slot];
    uint32_t dup_before = ps->dup, reorder_before = ps->reorder;
    if (pair_receive(ps, st->seq)) {
        ps->received++;
        R.received++;
    }
    R.dup += ps->dup - dup_before;
    R.reorder += ps->reorder - reorder_before;
    if (st->sent_us >= R.t_measure_start && st->sent_us < R.t_measure_end) {
        uint64_t lat = now > st->sent_us ? now - st->sent_us : 0;
        if (p->node == s->node) {
            hist_record(&R.lat_same, lat);
            R.window_same++;
        } else {
            hist_record(&R.lat_cross, lat);
            R.window_cross++;
        }
    }
    if (R.phase == PH_DRAIN && R.received >= R.expected)
        finish_relay(NULL);
}

/* ---- mode interface ------------------------------------------------------------------ */

static int relay_prepare(const bench_opts *o)
{
    static const fleet_hooks hooks = {
        .on_connected = relay_connected,
        .on_user_joined = relay_user_joined,
        .on_user_left = relay_user_left,
        .on_stamp = relay_stamp,
        .on_writeable = relay_writeable,
        .on_closed = relay_closed,
    };
    memset(&R, 0, sizeof(R));
    R.o = o;
    R.P = (uint16_t)o->participants;
    R.interval_us = (uint64_t)(1e6 / o->rate);
    if (R.interval_us < 1)
        R.interval_us = 1;
    long want = (long)o->rooms * o->participants;
    long fit = runner_fit_fds(want, 64);
    uint32_t rooms = (uint32_t)(fit / o->participants);
    if (rooms == 0)
        return 2;
    if (fleet_alloc(o, rooms, NULL, R.P, &hooks) != 0 || sched_init(F.n_parts) != 0)
        return 1;
    R.pairs = calloc((size_t)F.n_parts * R.P, sizeof(pair_stat));
    R.sent_to = calloc((size_t)F.n_parts * R.P, sizeof(uint32_t));
    R.room_ready = calloc(F.n_rooms, 1);
    if (!R.pairs || !R.sent_to || !R.room_ready)
        return 1;
    hist_reset(&R.lat_same);
    hist_reset(&R.lat_cross);
    hist_reset(&R.send_lag);
    runner_phase("creating rooms");
    return fleet_create_rooms() == 0 ? 0 : 1;
}

static void relay_start(void)
{
    R.send_timer = evtimer_new(runner_base(), on_send_timer, NULL);
    runner_phase("connecting");
    launcher_init(R.o->concurrency, next_to_launch);
    launcher_pump();
    double settle = SETTLE_BASE_S + (double)F.n_parts / 1000.0;
    runner_after(settle, begin_sending, NULL);
}

static void relay_progress(char *buf, size_t cap)
{
    uint64_t now = now_us();
    if (now - R.progress_last_us >= 1000000) {
        if (R.progress_last_us)
            R.progress_rate = (double)(R.received - R.progress_last_received) * 1e6
                              / (double)(now - R.progress_last_us);
        R.progress_last_us = now;
        R.progress_last_received = R.received;
    }
    if (R.phase == PH_CONNECT)
        snprintf(buf, cap, "connecting: %u/%u joined, %u rooms complete, %u failed", F.joined,
                 F.n_parts, R.rooms_ready, F.gone);
    else
        snprintf(buf, cap,
                 "%s: sent %llu, delivered %llu (%.0f/s), p99 cross %.2f ms, "
                 "skipped %llu, errors %llu",
                 runner_phase_name(), (unsigned long long)R.sent, (unsigned long long)R.received,
                 R.progress_rate, (double)hist_percentile(&R.lat_cross, 99) / 1000.0,
                 (unsigned long long)R.skipped, (unsigned long long)bench_errors.total);
}

/* Lost messages; those between participants of which one was told
 * "missed" (a resume that took over from a killed node: what it was sent,
 * and what it had sent, in flight to the dead node) go to *missed. */
static uint64_t count_lost(uint64_t *missed)
{
    uint64_t lost = 0;
    *missed = 0;
    for (uint32_t i = 0; i < F.n_parts; i++) {
        participant *rcv = &F.parts[i];
        room *r = &F.rooms[rcv->room];
        for (uint16_t s = 0; s < r->size; s++) {
            participant *snd = fleet_peer(r, s);
            if (snd == rcv)
                continue;
            uint32_t want = R.sent_to[(size_t)snd->index * R.P + rcv->slot];
            uint32_t got = R.pairs[(size_t)rcv->index * R.P + s].received;
            uint32_t short_by = want > got ? want - got : 0;
            if (rcv->missed || snd->missed)
                *missed += short_by;
            else
                lost += short_by;
        }
    }
    return lost;
}

static void write_cdf_file(const char *suffix, const hist *h)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s.%s", R.o->cdf_out, suffix);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "switchboard-bench: cannot write %s\n", path);
        return;
    }
    fprintf(f, "# %s latency: ms, fraction of messages delivered within\n", suffix);
    hist_write_cdf(h, f);
    fclose(f);
}

/* <cdf-out>.same and <cdf-out>.cross, for those that have samples. */
static void write_cdf(void)
{
    if (R.lat_same.count)
        write_cdf_file("same", &R.lat_same);
    if (R.lat_cross.count)
        write_cdf_file("cross", &R.lat_cross);
}

static void resume_json(FILE *out, uint64_t missed)
{
    fprintf(out,
            ",\"resume\":{\"resumed\":%u,\"refused\":%u,\"gave_up\":%u,"
            "\"receivers_told_missed\":%u,\"messages_missed\":%llu,\"resume_time\":",
            F.resumed, F.refused, F.gave_up, F.missed, (unsigned long long)missed);
    hist_write_json(&F.resume_time, out);
    fprintf(out, ",\"reconnect_time\":");
    hist_write_json(&F.reconnect_time, out);
    fputc('}', out);
}

static void relay_json(FILE *out, uint64_t lost, uint64_t missed, const hist *all)
{
    double d = R.o->duration;
    fputc('{', out);
    report_json_common(out);
    fprintf(out,
            ",\"relay\":{\"rooms\":%u,\"participants_per_room\":%u,\"connected\":%u,"
            "\"senders\":%u,\"placement\":\"%s\",\"rate_per_participant\":%.3f,"
            "\"offered_per_s\":%.1f,\"directed_pct\":%d,\"sdp_pct\":%d,\"duration_s\":%.3f,",
            F.n_rooms, R.P, F.joined, R.senders, R.o->placement == PLACE_ROOM ? "room" : "split",
            R.o->rate, R.o->rate * R.senders, R.o->directed_pct, R.o->sdp_pct, d);
    fprintf(out,
            "\"sent\":%llu,\"sent_in_window\":%llu,\"sent_per_s\":%.1f,"
            "\"delivered_per_s\":%.1f,\"same_node_delivered_per_s\":%.1f,"
            "\"cross_node_delivered_per_s\":%.1f,\"cross_node_publishes_per_s\":%.1f,",
            (unsigned long long)R.sent, (unsigned long long)R.sent_window, R.sent_window / d,
            (R.window_same + R.window_cross) / d, R.window_same / d, R.window_cross / d,
            R.published_window / d);
    fprintf(out,
            "\"expected\":%llu,\"received\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
            "\"reordered\":%llu,\"skipped_backlog\":%llu,\"nodes\":[",
            (unsigned long long)R.expected, (unsigned long long)R.received,
            (unsigned long long)lost, (unsigned long long)R.dup, (unsigned long long)R.reorder,
            (unsigned long long)R.skipped);
    for (int i = 0; i < F.n_nodes; i++) {
        fprintf(out, "%s{\"node_id\":", i ? "," : "");
        report_json_string(out, F.node_names[i]);
        fprintf(out, ",\"participants\":%u}", F.per_node[i]);
    }
    fprintf(out, "],\"latency_same_node\":");
    hist_write_json(&R.lat_same, out);
    fprintf(out, ",\"latency_cross_node\":");
    hist_write_json(&R.lat_cross, out);
    fprintf(out, ",\"latency_all\":");
    hist_write_json(all, out);
    fprintf(out, ",\"send_lag\":");
    hist_write_json(&R.send_lag, out);
    if (R.o->resume)
        resume_json(out, missed);
    fprintf(out, "}}\n");
}

static int relay_report(FILE *table, FILE *json)
{
    uint64_t missed;
    uint64_t lost = count_lost(&missed);
    double d = R.o->duration;
    hist all = R.lat_same;
    hist_merge(&all, &R.lat_cross);
    report_table_header(table);
    report_row(table, "rooms x participants", "%u x %u (%u joined, %u sending)", F.n_rooms, R.P,
               F.joined, R.senders);
    char nodes[256] = "";
    size_t at = 0;
    for (int i = 0; i < F.n_nodes && at < sizeof(nodes) - 80; i++)
        at += (size_t)snprintf(nodes + at, sizeof(nodes) - at, "%s%s (%u)", i ? ", " : "",
                               F.node_names[i], F.per_node[i]);
    report_row(table, "nodes (participants)", "%s", nodes);
    report_row(table, "offered",
               "%.2f msg/s per participant = %.0f msg/s (%d%% SDP, %d%% directed)", R.o->rate,
               R.o->rate * R.senders, R.o->sdp_pct, R.o->directed_pct);
    report_row(table, "sent in window", "%llu in %.1f s = %.0f msg/s",
               (unsigned long long)R.sent_window, d, R.sent_window / d);
    report_row(table, "delivered", "%.0f msg/s: %.0f same-node, %.0f cross-node",
               (R.window_same + R.window_cross) / d, R.window_same / d, R.window_cross / d);
    report_row(table, "cross-node publishes", "%.0f msg/s (messages a node had to publish)",
               R.published_window / d);
    report_latency_row(table, "latency same-node", &R.lat_same);
    report_latency_row(table, "latency cross-node", &R.lat_cross);
    report_latency_row(table, "send lag (generator)", &R.send_lag);
    report_row(table, "lost / dup / reordered", "%llu / %llu / %llu of %llu expected",
               (unsigned long long)lost, (unsigned long long)R.dup, (unsigned long long)R.reorder,
               (unsigned long long)R.expected);
    report_row(table, "skipped (sender backlog)", "%llu", (unsigned long long)R.skipped);
    if (R.o->resume) {
        report_row(table, "resumes", "%u resumed, %u refused, %u gave up", F.resumed, F.refused,
                   F.gave_up);
        report_latency_row(table, "socket lost -> resumed", &F.resume_time);
        report_latency_row(table, "new socket -> resumed", &F.reconnect_time);
        report_row(table, "missed (told)", "%llu messages, %u receivers told \"missed\"",
                   (unsigned long long)missed, F.missed);
    }
    report_table_footer(table);
    if (json)
        relay_json(json, lost, missed, &all);
    if (R.o->cdf_out)
        write_cdf();
    bool clean = lost == 0 && R.dup == 0 && R.reorder == 0 && bench_errors.total == 0
                 && !RUN.timed_out && R.senders > 0;
    return report_exit_code(clean);
}

static void relay_cleanup(void)
{
    if (R.send_timer)
        event_free(R.send_timer);
    R.send_timer = NULL;
    sched_free();
    free(R.pairs);
    free(R.sent_to);
    free(R.room_ready);
    R.pairs = NULL;
    R.sent_to = NULL;
    R.room_ready = NULL;
}

const bench_mode_ops mode_relay = {
    .prepare = relay_prepare,
    .start = relay_start,
    .progress = relay_progress,
    .on_abort = NULL,
    .report = relay_report,
    .cleanup = relay_cleanup,
};
