/*
 * test_slow.c - a slow reader cannot hurt anyone else (docs/design.md#limits,
 * slow readers): a client that never reads is dropped once
 * its queue passes --max-queued-bytes, while the other members keep
 * receiving everything in order and the node stays healthy.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* A third member with a 4 KiB receive buffer joins a and b's room; its
 * user id goes into sid[64]. */
static ws_client *join_small_reader(int port, const char *room, ws_client *a, ws_client *b,
                                    char *sid)
{
    char path[64], err[256];
    snprintf(path, sizeof path, "/ws/%s", room);
    ws_client *s = ws_connect(port, path, 4096, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(s, "%s", err);
    json_t *hello = h_recv(s, "connected");
    cr_assert(h_type_is(hello, "connected"), "%s", h_jdump(hello));
    snprintf(sid, 64, "%s", h_jstr(hello, "user_id"));
    json_decref(hello);
    h_expect_user_event(a, "user-joined", sid, room);
    h_expect_user_event(b, "user-joined", sid, room);
    return s;
}

IT_TEST(slow, slow_reader_is_dropped_others_unaffected, h_setup_redis)
{
    int port = h_node_port(
        h_node_start("node-a", "--rate-limit", "0", "--max-queued-bytes", "65536", NULL));
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);

    /* S: a tiny receive buffer, reads its greeting and then nothing. */
    char sid[64];
    ws_client *s = join_small_reader(port, room, a, b, sid);

    enum { N = 300, PAD = 60 * 1024 };
    char *pad = malloc(PAD + 1);
    memset(pad, 'q', PAD);
    pad[PAD] = '\0';
    size_t cap = PAD + 128;
    char *msg = malloc(cap);

    bool b_saw_s_leave = false;
    long long deadline = h_now_ms() + 60000;
    int delivered = 0;
    for (int i = 0; i < N && h_now_ms() < deadline; i++) {
        int n =
            snprintf(msg, cap, "{\"type\":\"offer\",\"data\":{\"seq\":%d,\"pad\":\"%s\"}}", i, pad);
        cr_assert_eq(ws_send_textn(a, msg, (size_t)n), 0,
                     "A could not send message %d (close code %d)", i, a->close_code);
        for (;;) {
            json_t *j = h_recv(b, "the next large broadcast");
            if (h_type_is(j, "user-left")) {
                cr_assert(h_streq(h_jstr(j, "user_id"), sid), "B saw someone else leave: %s",
                          h_jdump(j));
                b_saw_s_leave = true;
                json_decref(j);
                continue;
            }
            cr_assert(h_type_is(j, "offer"), "B got %s", h_jdump(j));
            json_t *data = json_object_get(j, "data");
            cr_assert_eq(json_integer_value(json_object_get(data, "seq")), i,
                         "B lost or reordered a message: want seq %d, got %s", i,
                         h_jdump(json_object_get(data, "seq")));
            cr_assert_eq(strlen(h_jstr(data, "pad") ? h_jstr(data, "pad") : ""), (size_t)PAD,
                         "message %d truncated", i);
            json_decref(j);
            break;
        }
        delivered++;
    }
    free(msg);
    free(pad);
    cr_assert_eq(delivered, N, "only %d of %d broadcasts went through within 60 s", delivered, N);

    /* The server dropped S and told the others. */
    if (!b_saw_s_leave) {
        json_t *j = ws_expect_type(b, "user-left", 10000);
        cr_assert(j, "B never got user-left for the slow reader");
        cr_assert(h_streq(h_jstr(j, "user_id"), sid), "%s", h_jdump(j));
        json_decref(j);
    }
    json_t *j = ws_expect_type(a, "user-left", 10000);
    cr_assert(j, "A never got user-left for the slow reader");
    cr_assert(h_streq(h_jstr(j, "user_id"), sid), "%s", h_jdump(j));
    json_decref(j);
    int code = ws_wait_close(s, 15000);
    cr_assert(code != -1, "the slow reader's connection was not closed by the server");

    http_resp r = h_http(port, "GET", "/healthz", NULL, NULL);
    cr_assert_eq(r.status, 200, "node unhealthy after the slow reader: %d", r.status);
    http_resp_free(&r);
    cr_assert_eq(h_wait_room_count(port, room, 2, 3000), 2);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"ok\":true}}");
    h_expect_relay(a, "answer", b, "{\"ok\":true}", NULL);
}

/* Message i of the batched-writes test: sizes that mix in one batch
 * (many small, some of 4 and 20 KiB), a pad whose letter follows i, so a
 * frame cut short, spliced or out of order shows. */
static size_t batch_pad_len(int i)
{
    static const size_t sizes[] = { 40, 300, 4000, 20000, 120, 7 };
    return sizes[i % 6];
}

static void expect_every_frame(ws_client *c, const char *who, int n)
{
    for (int i = 0; i < n; i++) {
        json_t *j = h_recv(c, "the next queued message");
        cr_assert(h_type_is(j, "offer"), "%s got %s instead of message %d", who, h_jdump(j), i);
        json_t *data = json_object_get(j, "data");
        cr_assert_eq(json_integer_value(json_object_get(data, "seq")), i,
                     "%s lost or reordered a message: want seq %d, got %s", who, i,
                     h_jdump(json_object_get(data, "seq")));
        const char *pad = h_jstr(data, "pad");
        size_t len = pad ? strlen(pad) : 0;
        cr_assert_eq(len, batch_pad_len(i), "%s: message %d has a pad of %zu bytes, want %zu", who,
                     i, len, batch_pad_len(i));
        for (size_t k = 0; k < len; k++)
            cr_assert_eq(pad[k], 'a' + i % 26, "%s: message %d altered at byte %zu", who, i, k);
        json_decref(j);
    }
}

/* Frames queued while a client does not read go out several to a write,
 * and more than the node's socket takes: every batch write is cut by the
 * kernel somewhere, the rest held by lws and sent before anything else.
 * Both readers (one with a 4 KiB receive buffer) get every message whole
 * and in order, and the node's counters show frames did share writes. */
IT_TEST(slow, queued_frames_share_writes_intact_and_in_order, h_setup_redis)
{
    int port = h_node_port(
        h_node_start("node-a", "--rate-limit", "0", "--max-queued-bytes", "268435456", NULL));
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    char sid[64];
    ws_client *s = join_small_reader(port, room, a, b, sid);
    long long sent_before = h_metric(port, "switchboard_messages_sent_total ");
    long long writes_before = h_metric(port, "switchboard_ws_writes_total ");
    cr_assert(sent_before >= 0 && writes_before >= 0, "counters missing from /metrics");

    /* Twice what the node's socket can buffer (tcp_wmem's maximum) for
     * each reader, so writes are certain to be partial. */
    long wmem_max = h_tcp_wmem_max();
    size_t per_round = 0;
    for (int i = 0; i < 6; i++)
        per_round += batch_pad_len(i) + 60;
    int n = (int)(2 * (size_t)wmem_max / per_round + 1) * 6;
    n = n > 12000 ? 12000 : n;
    char *pad = malloc(20000 + 1);
    for (int i = 0; i < n; i++) {
        size_t len = batch_pad_len(i);
        memset(pad, 'a' + i % 26, len);
        pad[len] = '\0';
        h_sendf(a, "{\"type\":\"offer\",\"data\":{\"seq\":%d,\"pad\":\"%s\"}}", i, pad);
    }
    free(pad);
    h_ping_pong(a); /* every one went through the node */

    expect_every_frame(s, "the 4 KiB reader", n);
    expect_every_frame(b, "B", n);
    long long sent = h_metric(port, "switchboard_messages_sent_total ") - sent_before;
    long long writes = h_metric(port, "switchboard_ws_writes_total ") - writes_before;
    cr_assert_geq(sent, 2 * (long long)n, "frames written: %lld of %d", sent, 2 * n);
    cr_assert_lt(writes, sent / 2, "%lld writes for %lld frames: frames did not share writes",
                 writes, sent);
}
