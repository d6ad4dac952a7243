/*
 * test_resilience.c - Redis going away and coming back (DESIGN.md §3 and
 * §6): /readyz turns 503 and REST that needs Redis answers 503 while
 * WebSockets stay open and keep relaying locally; when Redis returns
 * (even empty) the node becomes ready again and re-writes the membership
 * of its live connections, and cross-node relaying resumes.
 */
#include "harness.h"

#include <string.h>

static int wait_status(int port, const char *path, int want, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int last = 0;
    for (;;) {
        http_resp r;
        if (http_request(port, "GET", path, NULL, NULL, 0, 2000, &r, NULL, 0) == 0) {
            last = r.status;
            http_resp_free(&r);
            if (last == want)
                return last;
        }
        if (h_now_ms() >= deadline)
            return last;
        h_sleep_ms(100);
    }
}

IT_TEST(resilience, redis_outage_is_reported_and_local_relay_continues, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    h_redis_stop();
    int st = wait_status(port, "/readyz", 503, 10000);
    cr_assert_eq(st, 503, "GET /readyz answered %d, not 503, with Redis down", st);
    http_resp r = h_http(port, "GET", "/healthz", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /healthz must stay 200 without Redis, got %d", r.status);
    http_resp_free(&r);
    r = h_http(port, "POST", "/create-room", NULL, NULL);
    h_expect_detail(&r, 503, NULL, "POST /create-room with Redis down");
    http_resp_free(&r);
    r = h_http(port, "GET", "/rooms", NULL, NULL);
    h_expect_detail(&r, 503, NULL, "GET /rooms with Redis down");
    http_resp_free(&r);

    /* The open WebSockets keep working locally. */
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"during\":\"outage\"}}");
    h_expect_relay(b, "offer", a, "{\"during\":\"outage\"}", NULL);
    h_ping_pong(b);

    h_redis_restart();
    st = wait_status(port, "/readyz", 200, 15000);
    cr_assert_eq(st, 200, "GET /readyz answered %d, not 200, after Redis came back", st);
    char fresh[37];
    h_create_room_into(port, NULL, fresh);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"after\":\"outage\"}}");
    h_expect_relay(a, "answer", b, "{\"after\":\"outage\"}", NULL);
}

IT_TEST(resilience, membership_heals_after_empty_redis_restart, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, NULL, room);
    ws_client *a = h_join(n1, room, NULL);
    ws_client *b = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    h_redis_stop();
    cr_assert_eq(wait_status(n1, "/readyz", 503, 10000), 503);
    h_redis_restart(); /* empty: no rooms, no members */
    cr_assert_eq(wait_status(n1, "/readyz", 200, 15000), 200, "node-a not ready after Redis returned");
    cr_assert_eq(wait_status(n2, "/readyz", 200, 15000), 200, "node-b not ready after Redis returned");

    int count = h_wait_room_count(n1, room, 2, 15000);
    cr_assert_eq(count, 2, "the room's membership was not re-written after Redis restarted empty "
                           "(participant_count %d)", count);

    /* Cross-node relay resumes (re-subscribed). Retry until the first
     * message gets through, then check exact delivery. */
    long long deadline = h_now_ms() + 15000;
    bool through = false;
    for (int i = 0; !through && h_now_ms() < deadline; i++) {
        h_sendf(a, "{\"type\":\"ice-candidate\",\"data\":{\"probe\":%d}}", i);
        json_t *j = ws_recv_json(b, 300, NULL);
        if (j) {
            cr_assert(h_type_is(j, "ice-candidate"), "unexpected %s", h_jdump(j));
            through = true;
            json_decref(j);
        }
    }
    cr_assert(through, "no message from node-a reached node-b within 15 s after Redis returned");
    for (int k = 0; k < 60 && !b->closed && !ws_expect_silence(b, 500, NULL); k++)
        ; /* drain late probes */
    cr_assert(!b->closed, "B's connection was closed (code %d)", b->close_code);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"final\":1}}");
    h_expect_relay(b, "offer", a, "{\"final\":1}", NULL);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"final\":2}}");
    h_expect_relay(a, "answer", b, "{\"final\":2}", NULL);

    /* And a newcomer can join the healed room and is announced everywhere. */
    ws_client *c = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);
}
