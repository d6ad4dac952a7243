/*
 * test_slow.c - a slow reader cannot hurt anyone else (docs/design.md#limits,
 * slow readers): a client that never reads is dropped once
 * its queue passes --max-queued-bytes, while the other members keep
 * receiving everything in order and the node stays healthy.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

IT_TEST(slow, slow_reader_is_dropped_others_unaffected, h_setup_redis)
{
    int port = h_node_port(
        h_node_start("node-a", "--rate-limit", "0", "--max-queued-bytes", "65536", NULL));
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);

    /* S: a tiny receive buffer, reads its greeting and then nothing. */
    char path[64], err[256];
    snprintf(path, sizeof path, "/ws/%s", room);
    ws_client *s = ws_connect(port, path, 4096, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(s, "%s", err);
    json_t *hello = h_recv(s, "connected");
    cr_assert(h_type_is(hello, "connected"), "%s", h_jdump(hello));
    char sid[64];
    snprintf(sid, sizeof sid, "%s", h_jstr(hello, "user_id"));
    json_decref(hello);
    h_expect_user_event(a, "user-joined", sid, room);
    h_expect_user_event(b, "user-joined", sid, room);

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
