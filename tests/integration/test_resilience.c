/*
 * test_resilience.c - Redis going away and coming back (docs/design.md#redis-outages),
 * with two nodes: while Redis is down /readyz turns 503 on every node
 * and REST that needs Redis answers 503, while WebSockets stay open and
 * keep relaying between members of the same node; when Redis returns
 * (always empty: the test's redis-server keeps no data) every node becomes
 * ready again and re-writes the membership of its live connections, rooms
 * show the right participant_count again and cross-node relaying resumes.
 */
#include "harness.h"

#include <string.h>

/* Bound for a node to notice Redis is back and heal (docs/design.md#redis-outages:
 * "within one reconnect"). */
#define HEAL_MS 10000

/* Read and discard whatever `c` receives until it has been quiet for
 * quiet_ms (bounded by max_ms). Fails if the connection closes. */
static void drain(ws_client *c, int quiet_ms, int max_ms)
{
    long long deadline = h_now_ms() + max_ms;
    for (int k = 0; k < 200 && h_now_ms() < deadline; k++)
        if (ws_expect_silence(c, quiet_ms, NULL))
            break;
    cr_assert(!c->closed, "user %s's connection was closed (code %d)", c->user_id, c->close_code);
}

/* Send broadcast probes from `from` until one reaches `to` (cross-node
 * relay works again), bounded by HEAL_MS. Then drain late probes from
 * every client in `others` (NULL-terminated) and from `to`. */
static void wait_relay_resumes(ws_client *from, ws_client *to, ws_client **others, const char *what)
{
    long long deadline = h_now_ms() + HEAL_MS;
    bool through = false;
    for (int i = 0; i < 100 && !through && h_now_ms() < deadline; i++) {
        h_sendf(from, "{\"type\":\"ice-candidate\",\"data\":{\"probe\":%d}}", i);
        json_t *j = ws_recv_json(to, 300, NULL);
        if (j) {
            cr_assert(h_type_is(j, "ice-candidate")
                          && h_streq(h_jstr(j, "sender_id"), from->user_id),
                      "%s: unexpected %s", what, h_jdump(j));
            through = true;
            json_decref(j);
        }
    }
    cr_assert(through, "%s: no message crossed the nodes within %d ms after Redis returned", what,
              HEAL_MS);
    drain(to, 500, 5000);
    for (int i = 0; others && others[i]; i++)
        drain(others[i], 100, 5000);
}

IT_TEST(resilience, redis_outage_is_reported_and_local_relay_continues, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    int ports[2] = { n1, n2 };
    char room[37];
    h_create_room_into(n1, NULL, room);
    ws_client *a1 = h_join(n1, room, NULL);
    ws_client *a2 = h_join(n1, room, NULL);
    h_expect_user_event(a1, "user-joined", a2->user_id, room);
    ws_client *b = h_join(n2, room, NULL);
    h_expect_user_event(a1, "user-joined", b->user_id, room);
    h_expect_user_event(a2, "user-joined", b->user_id, room);

    h_redis_stop();
    for (int k = 0; k < 2; k++) {
        int st = h_wait_http_status(ports[k], "/readyz", 503, 10000);
        cr_assert_eq(st, 503, "GET /readyz on %s answered %d, not 503, with Redis down",
                     h_node_id(k), st);
        http_resp r = h_http(ports[k], "GET", "/healthz", NULL, NULL);
        cr_assert_eq(r.status, 200, "GET /healthz must stay 200 without Redis, got %d", r.status);
        http_resp_free(&r);
        r = h_http(ports[k], "POST", "/create-room", NULL, NULL);
        h_expect_detail(&r, 503, NULL, "POST /create-room with Redis down");
        http_resp_free(&r);
        r = h_http(ports[k], "GET", "/rooms", NULL, NULL);
        h_expect_detail(&r, 503, NULL, "GET /rooms with Redis down");
        http_resp_free(&r);
    }

    /* The open WebSockets keep working between members of one node. */
    h_sendf(a1, "{\"type\":\"offer\",\"data\":{\"during\":\"outage\"}}");
    h_expect_relay(a2, "offer", a1, "{\"during\":\"outage\"}", NULL);
    h_sendf(a2, "{\"type\":\"answer\",\"to\":\"%s\",\"data\":{\"during\":\"outage\"}}",
            a1->user_id);
    h_expect_relay(a1, "answer", a2, "{\"during\":\"outage\"}", a1->user_id);
    h_ping_pong(a1);
    h_ping_pong(b);
    cr_assert(!b->closed, "node-b closed B's connection during the outage (code %d)",
              b->close_code);

    h_redis_restart();
    for (int k = 0; k < 2; k++) {
        int st = h_wait_http_status(ports[k], "/readyz", 200, 15000);
        cr_assert_eq(st, 200, "GET /readyz on %s answered %d, not 200, after Redis came back",
                     h_node_id(k), st);
        char fresh[37];
        h_create_room_into(ports[k], NULL, fresh);
        json_t *r = h_get_room(ports[1 - k], fresh);
        cr_assert(r, "room created on %s after the outage is unknown to the other node",
                  h_node_id(k));
        json_decref(r);
    }

    /* Cross-node relay resumes, both ways. Messages sent during the outage
     * were local only: whatever B receives now must be a probe. */
    ws_client *others_a[] = { a2, NULL };
    wait_relay_resumes(a1, b, others_a, "node-a -> node-b");
    ws_client *others_b[] = { a2, NULL };
    wait_relay_resumes(b, a1, others_b, "node-b -> node-a");
    h_sendf(a1, "{\"type\":\"offer\",\"data\":{\"after\":\"outage\"}}");
    h_expect_relay(a2, "offer", a1, "{\"after\":\"outage\"}", NULL);
    h_expect_relay(b, "offer", a1, "{\"after\":\"outage\"}", NULL);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"after\":\"outage\"}}");
    h_expect_relay(a1, "answer", b, "{\"after\":\"outage\"}", NULL);
    h_expect_relay(a2, "answer", b, "{\"after\":\"outage\"}", NULL);
    h_expect_silence(a1, H_SILENCE_MS);
    h_expect_silence(a2, 50);
    h_expect_silence(b, 50);
}

/* Poll GET /rooms/{id} (tolerating 503 and 404 while the node reconnects
 * and heals) until it answers 200 with participant_count `want` or the
 * deadline passes. Returns true on success; *last holds the last answer. */
static bool wait_room_healed(int port, const char *room, int want, long long deadline, char *last,
                             size_t lastlen)
{
    char path[128];
    snprintf(path, sizeof path, "/rooms/%s", room);
    snprintf(last, lastlen, "no answer");
    for (int i = 0; i < 1000; i++) {
        http_resp r;
        char err[128];
        if (http_request(port, "GET", path, NULL, NULL, 0, 2000, &r, err, sizeof err) == 0) {
            snprintf(last, lastlen, "%d %.300s", r.status, r.body);
            json_t *j = r.status == 200 ? http_json(&r) : NULL;
            bool ok = j && json_integer_value(json_object_get(j, "participant_count")) == want;
            json_decref(j);
            http_resp_free(&r);
            if (ok)
                return true;
        } else {
            snprintf(last, lastlen, "%s", err);
        }
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(100);
    }
    return false;
}

IT_TEST(resilience, membership_heals_after_empty_redis_restart, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, NULL, room);
    ws_client *a = h_join(n1, room, NULL);
    ws_client *b1 = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", b1->user_id, room);
    ws_client *b2 = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", b2->user_id, room);
    h_expect_user_event(b1, "user-joined", b2->user_id, room);
    cr_assert_eq(h_wait_room_count(n1, room, 3, 3000), 3);

    h_redis_stop();
    cr_assert_eq(h_wait_http_status(n1, "/readyz", 503, 10000), 503);
    h_redis_restart(); /* empty: no rooms, no members, no nodes */
    long long back = h_now_ms();

    /* Within seconds both nodes serve the room again with all three
     * members: the room and the membership were re-written. */
    int ports[2] = { n1, n2 };
    for (int k = 0; k < 2; k++) {
        char last[400];
        bool healed = wait_room_healed(ports[k], room, 3, back + HEAL_MS, last, sizeof last);
        cr_assert(healed,
                  "GET /rooms/{id} on %s does not show participant_count 3 %lld ms after "
                  "Redis restarted empty; last answer: %s",
                  h_node_id(k), h_now_ms() - back, last);
    }
    json_t *r = h_get_room(n2, room);
    cr_assert(r);
    cr_assert_eq(json_array_size(json_object_get(r, "participants")), 3,
                 "participants after the heal: %s", h_jdump(r));
    json_decref(r);

    /* Cross-node relay resumes (re-subscribed), both ways. */
    ws_client *others_a[] = { b2, NULL };
    wait_relay_resumes(a, b1, others_a, "node-a -> node-b");
    ws_client *others_b[] = { b2, NULL };
    wait_relay_resumes(b1, a, others_b, "node-b -> node-a");
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"final\":1}}");
    h_expect_relay(b1, "offer", a, "{\"final\":1}", NULL);
    h_expect_relay(b2, "offer", a, "{\"final\":1}", NULL);
    h_sendf(b2, "{\"type\":\"answer\",\"to\":\"%s\",\"data\":{\"final\":2}}", a->user_id);
    h_expect_relay(a, "answer", b2, "{\"final\":2}", a->user_id);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b1, 50);
    h_expect_silence(b2, 50);

    /* And a newcomer can join the healed room and is announced everywhere. */
    ws_client *c = h_join(n1, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b1, "user-joined", c->user_id, room);
    h_expect_user_event(b2, "user-joined", c->user_id, room);
    cr_assert_eq(h_wait_room_count(n2, room, 4, 3000), 4);
}

/* Only the subscriber link is lost (killed by Redis; its reconnects are
 * refused while the default user is off), the command link stays: a
 * member of the node who leaves in that time is announced to the others
 * on the node at once, since its envelope comes back on no channel; once
 * the link is back, nobody hears of it twice and relay works. */
IT_TEST(resilience, leave_while_only_the_subscriber_is_down, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    ws_client *c = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    cr_assert_eq(h_redis_subscribers_cut(), 0);
    cr_assert_eq(h_wait_http_status(port, "/readyz", 503, 5000), 503,
                 "the node did not notice its subscriber link was gone");

    char left[64];
    snprintf(left, sizeof left, "%s", b->user_id);
    ws_close(b);
    h_expect_user_event(a, "user-left", left, room);
    h_expect_user_event(c, "user-left", left, room);

    cr_assert_eq(h_redis_links_restore(), 0);
    cr_assert_eq(h_wait_http_status(port, "/readyz", 200, 10000), 200);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(c, 50);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"after\":\"resubscribe\"}}");
    h_expect_relay(c, "offer", a, "{\"after\":\"resubscribe\"}", NULL);
}
