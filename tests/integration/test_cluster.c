/*
 * test_cluster.c - two nodes sharing one Redis (docs/design.md#relay): relaying,
 * directed messages, joins and leaves, room details, limits and DELETE
 * across nodes; many rooms at once without cross-talk; draining on
 * SIGTERM; and a killed node's members being reaped (user-left within three
 * heartbeat TTLs, counts corrected, a room only it served expiring).
 */
#include "harness.h"
#include "protocol.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static bool array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* participant_count of `room` in GET /rooms, -1 when not listed. */
static int listed_count(int port, const char *room)
{
    http_resp r = h_http(port, "GET", "/rooms", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /rooms answered %d", r.status);
    json_t *l = http_json(&r);
    int n = -1;
    size_t i;
    json_t *it;
    json_array_foreach(l, i, it)
    {
        if (h_streq(h_jstr(it, "room_id"), room))
            n = (int)json_integer_value(json_object_get(it, "participant_count"));
    }
    json_decref(l);
    http_resp_free(&r);
    return n;
}

IT_TEST(cluster, rest_is_shared_by_nodes, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, "{\"max_participants\":4,\"metadata\":{\"by\":\"node-a\"}}", room);
    json_t *r = h_get_room(n2, room);
    cr_assert(r, "room created on node-a is unknown to node-b");
    cr_assert_eq(json_integer_value(json_object_get(r, "max_participants")), 4, "%s", h_jdump(r));
    cr_assert(h_streq(h_jstr(json_object_get(r, "metadata"), "by"), "node-a"), "%s", h_jdump(r));
    json_decref(r);
    http_resp lr = h_http(n2, "GET", "/rooms", NULL, NULL);
    json_t *l = http_json(&lr);
    cr_assert(json_array_size(l) == 1 && h_streq(h_jstr(json_array_get(l, 0), "room_id"), room),
              "node-b does not list the room: %s", lr.body);
    json_decref(l);
    http_resp_free(&lr);
    http_resp root = h_http(n2, "GET", "/", NULL, NULL);
    json_t *info = http_json(&root);
    cr_assert(h_streq(h_jstr(info, "node_id"), "node-b"), "%s", root.body);
    json_decref(info);
    http_resp_free(&root);
}

IT_TEST(cluster, joins_and_leaves_cross_nodes, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, NULL, room);
    ws_client *a = h_join(n1, room, NULL);
    json_t *parts = NULL;
    ws_client *b = h_join(n2, room, &parts);
    cr_assert(json_array_size(parts) == 1 && array_has(parts, a->user_id),
              "B on node-b should see A from node-a: %s", h_jdump(parts));
    json_decref(parts);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    ws_client *c = h_join(n1, room, &parts);
    cr_assert(json_array_size(parts) == 2 && array_has(parts, a->user_id)
                  && array_has(parts, b->user_id),
              "C should see A and B: %s", h_jdump(parts));
    json_decref(parts);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);
    cr_assert_eq(h_wait_room_count(n1, room, 3, 3000), 3);
    cr_assert_eq(h_wait_room_count(n2, room, 3, 3000), 3);
    cr_assert_eq(listed_count(n1, room), 3, "GET /rooms on node-a should count 3");
    cr_assert_eq(listed_count(n2, room), 3, "GET /rooms on node-b should count 3");

    char bid[64], cid[64];
    snprintf(bid, sizeof bid, "%s", b->user_id);
    snprintf(cid, sizeof cid, "%s", c->user_id);
    ws_close(b);
    h_expect_user_event(a, "user-left", bid, room);
    h_expect_user_event(c, "user-left", bid, room);
    cr_assert_eq(h_wait_room_count(n1, room, 2, 3000), 2);
    cr_assert_eq(h_wait_room_count(n2, room, 2, 3000), 2);
    cr_assert_eq(listed_count(n1, room), 2, "GET /rooms on node-a should count 2 after a leave");
    cr_assert_eq(listed_count(n2, room), 2, "GET /rooms on node-b should count 2 after a leave");

    /* C vanishes without a close frame; B rejoins on node-b and sees A. */
    ws_drop(c);
    h_expect_user_event(a, "user-left", cid, room);
    cr_assert_eq(h_wait_room_count(n2, room, 1, 3000), 1);
    ws_client *b2 = h_join(n2, room, &parts);
    cr_assert(json_array_size(parts) == 1 && array_has(parts, a->user_id), "%s", h_jdump(parts));
    json_decref(parts);
    h_expect_user_event(a, "user-joined", b2->user_id, room);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b2, 50);
}

IT_TEST(cluster, relay_across_nodes, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n2, NULL, room);
    ws_client *a = h_join(n1, room, NULL);
    ws_client *b = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    const char *offer = "{\"sdp\":\"v=0\\r\\ns=-\\r\\n\",\"type\":\"offer\"}";
    h_sendf(a, "{\"type\":\"offer\",\"data\":%s}", offer);
    h_expect_relay(b, "offer", a, offer, NULL);
    h_sendf(b, "{\"type\":\"answer\",\"sender_id\":\"%s\",\"data\":{\"sdp\":\"ans\"}}", a->user_id);
    h_expect_relay(a, "answer", b, "{\"sdp\":\"ans\"}", NULL);
    for (int i = 0; i < 50; i++)
        h_sendf(a, "{\"type\":\"ice-candidate\",\"data\":{\"seq\":%d}}", i);
    for (int i = 0; i < 50; i++) {
        char d[32];
        snprintf(d, sizeof d, "{\"seq\":%d}", i);
        h_expect_relay(b, "ice-candidate", a, d, NULL);
    }
    h_ping_pong(b);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
}

IT_TEST(cluster, directed_messages_across_nodes, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(n1, n2, room, &a, &b);
    ws_client *c = h_join(n1, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    /* node-a -> node-b */
    h_sendf(a, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{\"n\":1}}", b->user_id);
    h_expect_relay(b, "offer", a, "{\"n\":1}", b->user_id);
    /* node-b -> node-a */
    h_sendf(b, "{\"type\":\"answer\",\"to\":\"%s\",\"data\":{\"n\":2}}", c->user_id);
    h_expect_relay(c, "answer", b, "{\"n\":2}", c->user_id);
    /* node-a -> node-a */
    h_sendf(c, "{\"type\":\"ice-candidate\",\"to\":\"%s\",\"data\":{\"n\":3}}", a->user_id);
    h_expect_relay(a, "ice-candidate", c, "{\"n\":3}", a->user_id);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    h_expect_silence(c, 50);
    /* A broadcast still reaches both others exactly once. */
    h_sendf(b, "{\"type\":\"join\",\"data\":{\"n\":4}}");
    h_expect_relay(a, "join", b, "{\"n\":4}", NULL);
    h_expect_relay(c, "join", b, "{\"n\":4}", NULL);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    h_expect_silence(c, 50);
    /* An id nobody in the room has is unknown on every node. */
    char unknown[37];
    h_random_uuid4(unknown);
    h_sendf(b, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{}}", unknown);
    h_expect_error(b, SB_ERR_UNKNOWN_TARGET);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(c, 50);
}

IT_TEST(cluster, third_member_on_either_node, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(n1, n2, room, &a, &b);
    ws_client *c = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);
    /* Two members on node-b: each gets node-a's message once. */
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"from\":\"a\"}}");
    h_expect_relay(b, "offer", a, "{\"from\":\"a\"}", NULL);
    h_expect_relay(c, "offer", a, "{\"from\":\"a\"}", NULL);
    h_sendf(c, "{\"type\":\"offer\",\"data\":{\"from\":\"c\"}}");
    h_expect_relay(a, "offer", c, "{\"from\":\"c\"}", NULL);
    h_expect_relay(b, "offer", c, "{\"from\":\"c\"}", NULL);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    h_expect_silence(c, 50);
    /* A fourth on node-a. */
    ws_client *d = h_join(n1, room, NULL);
    h_expect_user_event(a, "user-joined", d->user_id, room);
    h_expect_user_event(b, "user-joined", d->user_id, room);
    h_expect_user_event(c, "user-joined", d->user_id, room);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"from\":\"b\"}}");
    h_expect_relay(a, "answer", b, "{\"from\":\"b\"}", NULL);
    h_expect_relay(c, "answer", b, "{\"from\":\"b\"}", NULL);
    h_expect_relay(d, "answer", b, "{\"from\":\"b\"}", NULL);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    h_expect_silence(c, 50);
    h_expect_silence(d, 50);
}

IT_TEST(cluster, twenty_rooms_without_cross_talk, h_setup_two)
{
    int ports[2] = { h_node_port(0), h_node_port(1) };
    enum { R = 20 };
    char rooms[R][37];
    ws_client *x[R], *y[R];
    for (int r = 0; r < R; r++) {
        h_create_room_into(ports[r % 2], NULL, rooms[r]);
        x[r] = h_join(ports[r % 2], rooms[r], NULL);
        y[r] = h_join(ports[(r + 1) % 2], rooms[r], NULL);
        h_expect_user_event(x[r], "user-joined", y[r]->user_id, rooms[r]);
    }
    for (int r = 0; r < R; r++) {
        h_sendf(x[r], "{\"type\":\"offer\",\"data\":{\"tag\":\"room-%d-x\"}}", r);
        h_sendf(y[r], "{\"type\":\"answer\",\"data\":{\"tag\":\"room-%d-y\"}}", r);
    }
    for (int r = 0; r < R; r++) {
        char d[64];
        snprintf(d, sizeof d, "{\"tag\":\"room-%d-x\"}", r);
        h_expect_relay(y[r], "offer", x[r], d, NULL);
        snprintf(d, sizeof d, "{\"tag\":\"room-%d-y\"}", r);
        h_expect_relay(x[r], "answer", y[r], d, NULL);
    }
    h_expect_silence(x[0], H_SILENCE_MS);
    for (int r = 0; r < R; r++) {
        h_expect_silence(x[r], 20);
        h_expect_silence(y[r], 20);
    }
    for (int r = 0; r < R; r++)
        cr_assert_eq(h_room_count(ports[r % 2], rooms[r]), 2, "room %d count", r);
}

IT_TEST(cluster, room_details_name_each_members_node, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(n1, n2, room, &a, &b);
    for (int k = 0; k < 2; k++) {
        json_t *r = h_get_room(k ? n2 : n1, room);
        cr_assert(r);
        cr_assert_eq(json_integer_value(json_object_get(r, "participant_count")), 2, "%s",
                     h_jdump(r));
        json_t *parts = json_object_get(r, "participants");
        cr_assert_eq(json_array_size(parts), 2, "%s", h_jdump(r));
        size_t i;
        json_t *p;
        int ok = 0;
        json_array_foreach(parts, i, p)
        {
            const char *uid = h_jstr(p, "user_id"), *node = h_jstr(p, "node_id");
            if (h_streq(uid, a->user_id)) {
                cr_assert(h_streq(node, "node-a"), "A is on node-a: %s", h_jdump(p));
                ok++;
            } else if (h_streq(uid, b->user_id)) {
                cr_assert(h_streq(node, "node-b"), "B is on node-b: %s", h_jdump(p));
                ok++;
            }
            cr_assert(h_parse_iso8601_utc(h_jstr(p, "joined_at")) > 0, "joined_at: %s", h_jdump(p));
        }
        cr_assert_eq(ok, 2, "participants should be A and B: %s", h_jdump(r));
        json_decref(r);
    }
}

IT_TEST(cluster, full_room_across_nodes, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, "{\"max_participants\":2}", room);
    ws_client *a = h_join(n1, room, NULL);
    ws_client *b = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    int ports[2] = { n1, n2 };
    for (int k = 0; k < 2; k++) {
        char path[64], err[256];
        snprintf(path, sizeof path, "/ws/%s", room);
        ws_client *c = ws_connect(ports[k], path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
        cr_assert(c, "%s", err);
        h_expect_error(c, SB_ERR_ROOM_FULL);
        cr_assert_eq(ws_wait_close(c, H_MSG_TIMEOUT_MS), SB_CLOSE_ROOM_FULL);
        ws_drop(c);
    }
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    cr_assert_eq(h_room_count(n2, room), 2);
}

IT_TEST(cluster, delete_room_closes_members_on_every_node, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37], path[64];
    ws_client *a, *b;
    h_room_of_two(n1, n2, room, &a, &b);
    ws_client *c = h_join(n1, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    snprintf(path, sizeof path, "/rooms/%s", room);
    http_resp r = h_http(n2, "DELETE", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "DELETE via node-b answered %d: %s", r.status, r.body);
    http_resp_free(&r);
    ws_client *all[] = { a, b, c };
    for (int i = 0; i < 3; i++) {
        json_t *j = h_recv(all[i], "room-closed");
        cr_assert(h_type_is(j, "room-closed") && h_streq(h_jstr(j, "room_id"), room),
                  "member %d expected room-closed, got %s", i, h_jdump(j));
        json_decref(j);
        int code = ws_wait_close(all[i], H_MSG_TIMEOUT_MS);
        cr_assert_eq(code, SB_CLOSE_NORMAL, "member %d closed with %d", i, code);
    }
    cr_assert_null(h_get_room(n1, room));
    cr_assert_null(h_get_room(n2, room));
}

IT_TEST(cluster, drain_on_sigterm, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n2, NULL, room);
    ws_client *a = h_join(n1, room, NULL);
    ws_client *b = h_join(n2, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    h_node_signal(0, SIGTERM);
    json_t *j = h_recv(a, "reconnect");
    cr_assert(h_type_is(j, "reconnect"),
              "draining node should send {\"type\":\"reconnect\"}, got %s", h_jdump(j));
    json_decref(j);
    int code = ws_wait_close(a, H_MSG_TIMEOUT_MS);
    cr_assert_eq(code, SB_CLOSE_RESTART, "draining node closed with %d, want 1012", code);
    h_expect_user_event(b, "user-left", a->user_id, room);
    int status = 0;
    cr_assert(h_node_wait_exit(0, 15000, &status), "node-a did not exit within 15 s of SIGTERM");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "node-a exit status 0x%x after SIGTERM", status);
    cr_assert_eq(h_wait_room_count(n2, room, 1, 3000), 1);
    /* The room lives on at node-b. */
    ws_client *c = h_join(n2, room, NULL);
    h_expect_user_event(b, "user-joined", c->user_id, room);
}

/* Room expiry polling: true once GET /rooms/{id} is 404. */
static bool wait_room_gone(int port, const char *room, long long deadline)
{
    for (int i = 0; i < 1000; i++) {
        json_t *r = h_get_room(port, room);
        if (!r)
            return true;
        json_decref(r);
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(100);
    }
    return false;
}

#define KILL_HEARTBEAT_TTL_S 3
/* A dead node's members must be gone within three heartbeat TTLs; the
 * margin covers the reaper's period and a slow (sanitized) survivor. */
#define KILL_REAP_BOUND_MS (3 * KILL_HEARTBEAT_TTL_S * 1000 + 3000)

IT_TEST(cluster, killed_node_members_are_reaped, h_setup_redis)
{
    int n1 = h_node_port(
        h_node_start("node-a", "--heartbeat-ttl", "3", "--departure-timeout", "1", NULL));
    int n2 = h_node_port(
        h_node_start("node-b", "--heartbeat-ttl", "3", "--departure-timeout", "1", NULL));
    /* Room R: two members on node-a, two on node-b. Room S: its only
     * members are on node-a. */
    char room[37], lonely[37];
    h_create_room_into(n2, NULL, room);
    h_create_room_into(n1, NULL, lonely);
    ws_client *a1 = h_join(n1, room, NULL);
    ws_client *a2 = h_join(n1, room, NULL);
    h_expect_user_event(a1, "user-joined", a2->user_id, room);
    ws_client *b1 = h_join(n2, room, NULL);
    h_expect_user_event(a1, "user-joined", b1->user_id, room);
    h_expect_user_event(a2, "user-joined", b1->user_id, room);
    ws_client *b2 = h_join(n2, room, NULL);
    h_expect_user_event(a1, "user-joined", b2->user_id, room);
    h_expect_user_event(a2, "user-joined", b2->user_id, room);
    h_expect_user_event(b1, "user-joined", b2->user_id, room);
    ws_client *s1 = h_join(n1, lonely, NULL);
    ws_client *s2 = h_join(n1, lonely, NULL);
    h_expect_user_event(s1, "user-joined", s2->user_id, lonely);
    cr_assert_eq(h_wait_room_count(n2, room, 4, 3000), 4);
    cr_assert_eq(h_wait_room_count(n2, lonely, 2, 3000), 2);
    char dead_ids[2][64];
    snprintf(dead_ids[0], sizeof dead_ids[0], "%s", a1->user_id);
    snprintf(dead_ids[1], sizeof dead_ids[1], "%s", a2->user_id);

    long long t0 = h_now_ms();
    h_node_signal(0, SIGKILL);
    cr_assert(h_node_wait_exit(0, 5000, NULL), "node-a did not die of SIGKILL");
    ws_drop(a1);
    ws_drop(a2);
    ws_drop(s1);
    ws_drop(s2);

    /* Each survivor gets exactly one user-left per member of node-a. */
    ws_client *survivors[2] = { b1, b2 };
    for (int s = 0; s < 2; s++) {
        bool seen[2] = { false, false };
        for (int k = 0; k < 2; k++) {
            long long left = t0 + KILL_REAP_BOUND_MS - h_now_ms();
            const char *why = NULL;
            json_t *j = ws_recv_json(survivors[s], left > 0 ? (int)left : 1, &why);
            cr_assert(j,
                      "survivor %d: %d of 2 user-left for node-a's members within %d ms of the "
                      "SIGKILL (heartbeat ttl %d s): %s",
                      s, k, KILL_REAP_BOUND_MS, KILL_HEARTBEAT_TTL_S, why ? why : "?");
            cr_assert(h_type_is(j, "user-left") && h_streq(h_jstr(j, "room_id"), room),
                      "survivor %d expected user-left, got %s", s, h_jdump(j));
            int who = h_streq(h_jstr(j, "user_id"), dead_ids[0])   ? 0
                      : h_streq(h_jstr(j, "user_id"), dead_ids[1]) ? 1
                                                                   : -1;
            cr_assert(who >= 0, "user-left for someone not on node-a: %s", h_jdump(j));
            cr_assert(!seen[who], "user-left twice for %s", dead_ids[who]);
            seen[who] = true;
            json_decref(j);
        }
    }
    h_expect_silence(b1, H_SILENCE_MS);
    h_expect_silence(b2, 50);

    /* The room lists only node-b's members now. */
    cr_assert_eq(h_wait_room_count(n2, room, 2, 3000), 2,
                 "the dead node's members are still counted");
    json_t *r = h_get_room(n2, room);
    cr_assert(r);
    json_t *parts = json_object_get(r, "participants");
    cr_assert_eq(json_array_size(parts), 2, "%s", h_jdump(r));
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        cr_assert(h_streq(h_jstr(p, "node_id"), "node-b"), "a participant not on node-b: %s",
                  h_jdump(r));
        cr_assert(h_streq(h_jstr(p, "user_id"), b1->user_id)
                      || h_streq(h_jstr(p, "user_id"), b2->user_id),
                  "unexpected participant: %s", h_jdump(r));
    }
    json_decref(r);

    /* S had members on node-a only: once they are reaped it is empty and
     * expires after its departure timeout (1 s). */
    long long gone_by = t0 + KILL_REAP_BOUND_MS + 1000 + 2000;
    cr_assert(wait_room_gone(n2, lonely, gone_by),
              "room whose members were all on the killed node still exists %lld ms after the "
              "SIGKILL (heartbeat ttl %d s, departure timeout 1 s)",
              h_now_ms() - t0, KILL_HEARTBEAT_TTL_S);
    /* R lives on, and a newcomer on node-b is announced to its members. */
    ws_client *c = h_join(n2, room, NULL);
    h_expect_user_event(b1, "user-joined", c->user_id, room);
    h_expect_user_event(b2, "user-joined", c->user_id, room);
}
