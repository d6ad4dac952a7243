/*
 * test_sentinel.c - Redis behind Sentinel (docs/design.md#sentinel): a
 * master, a replica and three sentinels, two nodes given only the
 * sentinels. SIGKILL of the master: within RECOVER_MS both nodes are
 * ready again, relay across them works, joins work, and the membership of
 * the live rooms is right, also where the promoted replica had lost the
 * last writes (a join, a leave). A replica is not used, whether the
 * sentinels name it (ROLE) or the master was demoted under the node
 * (READONLY).
 * And a node whose sentinels are all unreachable keeps trying, answers 503
 * meanwhile, and gets ready once they are there.
 */
#include "harness_sentinel.h"

#include <stdio.h>
#include <string.h>

/* Relay, joins and /readyz are back this long after the master died. */
#define RECOVER_MS 15000

static int sentinel_node(const char *id)
{
    return h_node_start(id, "--redis-sentinels", h_sentinel_list(), "--redis-master-name",
                        H_MASTER_NAME, NULL);
}

static bool is_event_of(const json_t *j, const char *user_id)
{
    return user_id && (h_type_is(j, "user-joined") || h_type_is(j, "user-left"))
           && h_streq(h_jstr(j, "user_id"), user_id);
}

/* Broadcast probes from `from` until one reaches `to`, up to deadline;
 * returns when one did (h_now_ms), or -1. Anything else `to` receives,
 * but events about `skip` (NULL: none), fails the test: messages sent
 * while Redis was away are dropped, not delivered late. */
static long long wait_relay(ws_client *from, ws_client *to, const char *skip, long long deadline)
{
    for (int i = 0; i < 200 && h_now_ms() < deadline; i++) {
        h_sendf(from, "{\"type\":\"ice-candidate\",\"data\":{\"probe\":%d}}", i);
        json_t *j = ws_recv_json(to, 150, NULL);
        if (!j || is_event_of(j, skip)) {
            json_decref(j);
            continue;
        }
        cr_assert(h_type_is(j, "ice-candidate") && h_streq(h_jstr(j, "sender_id"), from->user_id),
                  "unexpected %s", h_jdump(j));
        json_decref(j);
        long long at = h_now_ms();
        /* Late probes of this round, then quiet. */
        for (int k = 0; k < 50 && !ws_expect_silence(to, 300, NULL); k++)
            ;
        return at;
    }
    return -1;
}

/* Skip events about `user_id` (a member Redis kept by mistake may be
 * announced as joined, then as left); the next other message, if any,
 * fails the test, as does a quiet shorter than quiet_ms. */
static void skip_events_of(ws_client *c, const char *user_id, int quiet_ms)
{
    for (int i = 0; i < 10; i++) {
        json_t *j = ws_recv_json(c, quiet_ms, NULL);
        if (!j)
            return;
        cr_assert(is_event_of(j, user_id), "unexpected %s", h_jdump(j));
        json_decref(j);
    }
    cr_assert_fail("more than 10 events about %s", user_id);
}

static bool has_member(const json_t *participants, const char *user_id)
{
    size_t i;
    json_t *v;
    json_array_foreach(participants, i, v)
    {
        if (h_streq(json_string_value(v), user_id))
            return true;
    }
    return false;
}

SENTINEL_TEST(sentinel, master_killed_both_links_move_and_membership_heals, h_setup_sentinel)
{
    int na = h_node_port(sentinel_node("node-a"));
    int nb = h_node_port(sentinel_node("node-b"));
    char room1[37], room2[37];
    ws_client *a, *b, *c, *d;
    h_room_of_two(na, nb, room1, &a, &b);
    h_room_of_two(nb, na, room2, &c, &d);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"before\":1}}");
    h_expect_relay(b, "offer", a, "{\"before\":1}", NULL);
    cr_assert_eq(h_wait_room_count(na, room1, 2, 3000), 2);
    /* Everything so far is on the replica. */
    cr_assert_eq(h_redis_int("WAIT", "1", "2000", NULL), 1, "the replica did not catch up");

    long long killed = h_sentinel_kill_master();
    long long deadline = killed + RECOVER_MS;
    /* Asynchronous replication loses what the master had not sent yet.
     * Make that loss certain: the replica, cut off from its dead master,
     * forgets room1's members before it is promoted (a writable replica
     * keeps its own writes; none comes from the master any more). */
    char key[128];
    snprintf(key, sizeof key, "sb:room:{%s}:members", room1);
    h_redis_reply r;
    cr_assert_eq(h_replica_cmd(&r, "CONFIG", "SET", "replica-read-only", "no", NULL), 0);
    h_redis_reply_free(&r);
    cr_assert_eq(h_replica_cmd(&r, "DEL", key, NULL), 0);
    cr_assert(r.type == ':' && r.integer == 1, "the replica had no %s", key);
    h_redis_reply_free(&r);
    /* And a leave: room2 keeps a member of node-a that has gone. */
    char ghost[37], key2[128];
    h_random_uuid4(ghost);
    snprintf(key2, sizeof key2, "sb:room:{%s}:members", room2);
    cr_assert_eq(
        h_replica_cmd(&r, "HSET", key2, ghost, "{\"node\":\"node-a\",\"joined_at\":1}", NULL), 0);
    cr_assert(r.type == ':' && r.integer == 1, "HSET %s on the replica: %c", key2, r.type);
    h_redis_reply_free(&r);
    cr_assert_eq(h_replica_cmd(&r, "CONFIG", "SET", "replica-read-only", "yes", NULL), 0);
    h_redis_reply_free(&r);

    long long back = wait_relay(a, b, NULL, deadline);
    cr_assert(back > 0, "no message crossed node-a -> node-b within %d ms of the master's SIGKILL",
              RECOVER_MS);
    fprintf(stderr, "[sentinel] relay across nodes back %lld ms after the master's SIGKILL\n",
            back - killed);
    cr_assert(wait_relay(d, c, ghost, deadline) > 0,
              "room2: no relay node-a -> node-b after failover");
    cr_assert(wait_relay(b, a, NULL, deadline) > 0,
              "room1: no relay node-b -> node-a after failover");
    int ports[2] = { na, nb };
    for (int k = 0; k < 2; k++) {
        long long left = deadline - h_now_ms();
        cr_assert_eq(h_wait_http_status(ports[k], "/readyz", 200, left > 0 ? (int)left : 0), 200,
                     "%s not ready within %d ms of the master's SIGKILL", h_node_id(k), RECOVER_MS);
    }
    cr_assert(h_sentinel_wait_promoted(5000), "the sentinels do not name the replica as master");

    /* Each node wrote its members back to the new master: room1 has both
     * again, though the replica had lost them. */
    long long left = deadline - h_now_ms();
    cr_assert_eq(h_wait_room_count(nb, room1, 2, left > 0 ? (int)left : 0), 2,
                 "room1 lacks members on the new master %lld ms after the kill",
                 h_now_ms() - killed);
    cr_assert_eq(h_redis_int("HLEN", key, NULL), 2);
    /* node-a took out the member it no longer has. */
    left = deadline - h_now_ms();
    cr_assert_eq(h_wait_room_count(na, room2, 2, left > 0 ? (int)left : 0), 2,
                 "room2 keeps a member that left %lld ms after the kill", h_now_ms() - killed);
    cr_assert_eq(h_redis_int("HEXISTS", key2, ghost, NULL), 0);
    skip_events_of(c, ghost, H_SILENCE_MS);
    skip_events_of(d, ghost, 50);

    /* A join after the failover sees the right members, and is seen. */
    json_t *parts = NULL;
    ws_client *e = h_join(nb, room1, &parts);
    cr_assert(json_array_size(parts) == 2 && has_member(parts, a->user_id)
                  && has_member(parts, b->user_id),
              "participants after the failover: %s", h_jdump(parts));
    json_decref(parts);
    h_expect_user_event(a, "user-joined", e->user_id, room1);
    h_expect_user_event(b, "user-joined", e->user_id, room1);
    cr_assert(h_now_ms() - killed < RECOVER_MS + 5000);

    /* A leave reaches the other node and Redis. */
    char gone[sizeof b->user_id];
    snprintf(gone, sizeof gone, "%s", b->user_id);
    ws_close(b);
    h_expect_user_event(a, "user-left", gone, room1);
    h_expect_user_event(e, "user-left", gone, room1);
    cr_assert_eq(h_wait_room_count(na, room1, 2, 3000), 2);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(c, 50);
    h_expect_silence(d, 50);
}

SENTINEL_TEST(sentinel, unreachable_sentinels_mean_503_and_retries, h_setup_sentinel_later)
{
    int idx = h_sentinel_node_start_unready("node-a", NULL);
    int port = h_node_port(idx);
    /* Nobody answers at the sentinels' ports: the node lives and says it
     * is not ready, for as long as that lasts. */
    for (int i = 0; i < 15; i++) {
        http_resp r = h_http(port, "GET", "/readyz", NULL, NULL);
        cr_assert_eq(r.status, 503, "GET /readyz answered %d without a sentinel", r.status);
        http_resp_free(&r);
        r = h_http(port, "POST", "/create-room", NULL, NULL);
        h_expect_detail(&r, 503, NULL, "POST /create-room without a sentinel");
        http_resp_free(&r);
        h_sleep_ms(200);
    }
    h_sentinel_start();
    cr_assert_eq(h_wait_http_status(port, "/readyz", 200, 15000), 200,
                 "not ready within 15 s of the sentinels starting");
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    cr_assert_eq(h_redis_int("SISMEMBER", "sb:nodes", "node-a", NULL), 1);

    /* The wait was logged, not flooded: one line per round of asks. */
    char *log = h_read_file(h_node_log(idx));
    int lines = 0;
    for (const char *p = log; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    cr_assert_lt(lines, 40, "%d log lines while the sentinels were away:\n%s", lines, log);
    cr_assert_not_null(strstr(log, "none of 3 sentinels named the master " H_MASTER_NAME), "%s",
                       log);
    free(log);
}

/* The sentinels name the replica: the node connects, ROLE says "slave",
 * and the node drops the link and asks again rather than use it: it never
 * becomes ready. */
SENTINEL_TEST(sentinel, a_replica_named_as_master_is_not_used, h_setup_sentinel_later)
{
    h_sentinel_start_naming_replica();
    int idx = h_sentinel_node_start_unready("node-a", NULL);
    int port = h_node_port(idx);
    for (int i = 0; i < 20; i++) {
        http_resp r = h_http(port, "GET", "/readyz", NULL, NULL);
        cr_assert_eq(r.status, 503, "GET /readyz answered %d with a replica for master", r.status);
        http_resp_free(&r);
        h_sleep_ms(200);
    }
    char *log = h_read_file(h_node_log(idx));
    char want[128];
    snprintf(want, sizeof want, "127.0.0.1:%d is not the master (ROLE)", h_sentinel_replica_port());
    cr_assert_not_null(strstr(log, want), "the node did not check ROLE:\n%s", log);
    free(log);
}

/* The master is demoted behind the sentinels' back while the node is on
 * it: Redis keeps the connection, and the first write answers READONLY.
 * The node must leave that replica and ask again, not stay "ready" with
 * every write refused. */
SENTINEL_TEST(sentinel, readonly_answer_means_ask_again, h_setup_sentinel)
{
    int idx = sentinel_node("node-a");
    int port = h_node_port(idx);
    char replica[16];
    snprintf(replica, sizeof replica, "%d", h_sentinel_replica_port());
    h_redis_reply r;
    cr_assert_eq(h_replica_cmd(&r, "REPLICAOF", "NO", "ONE", NULL), 0);
    h_redis_reply_free(&r);
    cr_assert_eq(h_redis_cmd(&r, "REPLICAOF", "127.0.0.1", replica, NULL), 0);
    cr_assert(r.type == '+', "REPLICAOF on the master: %s", r.str ? r.str : "?");
    h_redis_reply_free(&r);
    /* A write: the room script runs on what is now a replica. */
    http_resp cr = h_http(port, "POST", "/create-room", NULL, NULL);
    cr_assert_neq(cr.status, 200, "a room was created on a replica");
    http_resp_free(&cr);
    cr_assert_eq(h_wait_http_status(port, "/readyz", 503, 3000), 503,
                 "still ready on a replica after READONLY");
    char *log = h_read_file(h_node_log(idx));
    cr_assert_not_null(strstr(log, "is read-only; asking the sentinels again"), "%s", log);
    free(log);
}
