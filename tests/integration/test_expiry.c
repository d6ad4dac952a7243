/*
 * test_expiry.c - rooms expire through Redis TTLs (docs/design.md#expiry): after
 * the last member leaves (departure timeout), when nobody ever joins
 * (empty timeout), per-room timeouts from the create body, TTLs kept
 * fresh while members are present (renewed every heartbeat period), and the Redis data model itself
 * (key names, hash tags, the listing index, node heartbeats, key prefix).
 */
#include "harness.h"
#include "harness_keys.h"
#include "protocol.h"

#include <string.h>

#define EXPIRY_WAIT_MS 5000

/* Poll until GET /rooms/{id} is 404; returns true when it happened. */
static bool wait_room_gone(int port, const char *room, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    for (;;) {
        json_t *r = h_get_room(port, room);
        if (!r)
            return true;
        json_decref(r);
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(100);
    }
}

static bool listed(int port, const char *room)
{
    http_resp r = h_http(port, "GET", "/rooms", NULL, NULL);
    cr_assert_eq(r.status, 200);
    json_t *l = http_json(&r);
    cr_assert(json_is_array(l), "%s", r.body);
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(l, i, it) found |= h_streq(h_jstr(it, "room_id"), room);
    json_decref(l);
    http_resp_free(&r);
    return found;
}

static void expect_join_refused(int port, const char *room)
{
    char path[64], err[256];
    snprintf(path, sizeof path, "/ws/%s", room);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "%s", err);
    h_expect_error(c, SB_ERR_ROOM_NOT_FOUND);
    cr_assert_eq(ws_wait_close(c, H_MSG_TIMEOUT_MS), SB_CLOSE_ROOM_NOT_FOUND);
    ws_drop(c);
}

static long long pttl(const char *fmt, const char *room)
{
    char key[160];
    snprintf(key, sizeof key, fmt, room);
    return h_redis_int("PTTL", key, NULL);
}

IT_TEST(expiry, departure_timeout_removes_room, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--departure-timeout", "1", NULL));
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1);
    ws_close(a);
    cr_assert(wait_room_gone(port, room, EXPIRY_WAIT_MS),
              "room still there %d ms after its last member left (--departure-timeout 1)",
              EXPIRY_WAIT_MS);
    cr_assert(!listed(port, room), "expired room still listed by GET /rooms");
    expect_join_refused(port, room);
}

IT_TEST(expiry, empty_timeout_removes_unjoined_room, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--empty-timeout", "1", NULL));
    char room[37];
    h_create_room_into(port, NULL, room);
    json_t *r = h_get_room(port, room);
    cr_assert(r, "room gone right after creation");
    json_decref(r);
    cr_assert(wait_room_gone(port, room, EXPIRY_WAIT_MS),
              "unjoined room still there after %d ms (--empty-timeout 1)", EXPIRY_WAIT_MS);
    cr_assert(!listed(port, room), "expired room still listed by GET /rooms");
    expect_join_refused(port, room);
}

IT_TEST(expiry, per_room_timeouts_from_create_body, h_setup_one)
{
    int port = h_node_port(0); /* node defaults: 300 s empty, 20 s departure */
    char quick_empty[37], quick_departure[37], normal[37];
    h_create_room_into(port, "{\"empty_timeout\":1}", quick_empty);
    h_create_room_into(port, "{\"departure_timeout\":1}", quick_departure);
    h_create_room_into(port, NULL, normal);
    ws_client *a = h_join(port, quick_departure, NULL);
    cr_assert_eq(h_wait_room_count(port, quick_departure, 1, 3000), 1);
    ws_close(a);
    cr_assert(wait_room_gone(port, quick_empty, EXPIRY_WAIT_MS),
              "room with empty_timeout 1 did not expire");
    cr_assert(wait_room_gone(port, quick_departure, EXPIRY_WAIT_MS),
              "room with departure_timeout 1 did not expire after its member left");
    json_t *r = h_get_room(port, normal);
    cr_assert(r, "a room with default timeouts expired too early");
    json_decref(r);
}

IT_TEST(expiry, members_keep_room_alive, h_setup_redis)
{
    int port = h_node_port(
        h_node_start("node-a", "--empty-timeout", "1", "--departure-timeout", "1", NULL));
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1);
    long long t1 = pttl("sb:room:{%s}", room), t2 = pttl("sb:room:{%s}:members", room);
    cr_assert(t1 > 0, "sb:room:{<id>} has no TTL while a member is present (PTTL %lld)", t1);
    cr_assert(t2 > 0, "sb:room:{<id>}:members has no TTL while a member is present (PTTL %lld)",
              t2);
    /* Well past both timeouts the room is still alive and still expiring. */
    h_sleep_ms(3000);
    cr_assert_eq(h_room_count(port, room), 1, "room with a member expired");
    t1 = pttl("sb:room:{%s}", room);
    t2 = pttl("sb:room:{%s}:members", room);
    cr_assert(t1 > 0 && t2 > 0, "TTLs not kept while a member is present (PTTL %lld / %lld)", t1,
              t2);
    h_ping_pong(a);
    ws_close(a);
    cr_assert(wait_room_gone(port, room, EXPIRY_WAIT_MS),
              "room did not expire after its member left");
}

/* The keys of an occupied room are renewed every heartbeat period (a
 * third of --heartbeat-ttl): their PTTL goes up again, which it never does
 * on its own. */
IT_TEST(expiry, occupied_room_ttl_renewed_each_heartbeat, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--heartbeat-ttl", "3", NULL));
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    const char *keys[] = { "sb:room:{%s}", "sb:room:{%s}:members" };
    const char *names[] = { "the room hash", "the members hash" };
    for (size_t k = 0; k < 2; k++) {
        long long last = pttl(keys[k], room), deadline = h_now_ms() + 3000;
        bool renewed = false;
        while (!renewed && h_now_ms() < deadline) {
            h_sleep_ms(100);
            long long now = pttl(keys[k], room);
            cr_assert(now > 0, "%s expired or lost its TTL (PTTL %lld)", names[k], now);
            renewed = now > last;
            last = now;
        }
        cr_assert(renewed, "%s: PTTL not renewed within 3 heartbeat periods", names[k]);
    }
    ws_close(a);
}

IT_TEST(expiry, redis_data_model, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], key[160];
    h_create_room_into(port, "{\"max_participants\":5}", room);
    ws_client *a = h_join(port, room, NULL);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1);

    snprintf(key, sizeof key, "sb:room:{%s}", room);
    cr_assert_eq(h_redis_int("EXISTS", key, NULL), 1, "no hash %s", key);
    cr_assert_eq(h_redis_int("HEXISTS", key, "created_at", NULL), 1, "%s lacks created_at", key);
    snprintf(key, sizeof key, "sb:room:{%s}:members", room);
    cr_assert_eq(h_redis_int("HEXISTS", key, a->user_id, NULL), 1, "%s lacks the member %s", key,
                 a->user_id);
    h_redis_reply r;
    cr_assert_eq(h_redis_cmd(&r, "HGET", key, a->user_id, NULL), 0);
    cr_assert(r.type == '$' && r.str && strstr(r.str, "node-a"),
              "member entry should name its node: %s", r.str ? r.str : "(nil)");
    h_redis_reply_free(&r);
    char index[64];
    h_index_key(index, room);
    cr_assert_eq(h_redis_cmd(&r, "ZSCORE", index, room, NULL), 0);
    cr_assert(r.type == '$' && r.str, "room not in its index partition %s", index);
    h_redis_reply_free(&r);
    long long hb = h_redis_int("PTTL", "sb:node:{node-a}", NULL);
    cr_assert(hb > 0, "node heartbeat key sb:node:{node-a} missing or without TTL (PTTL %lld)", hb);
    cr_assert_eq(h_redis_int("SISMEMBER", "sb:nodes", "node-a", NULL), 1, "node-a not in sb:nodes");
    cr_assert_eq(h_redis_int("SISMEMBER", "sb:node:{node-a}:rooms", room, NULL), 1,
                 "room not in sb:node:{node-a}:rooms while node-a has a member there");
    ws_close(a);
}

IT_TEST(expiry, key_prefix_is_used, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--key-prefix", "it7:", NULL));
    char room[37], key[160];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1);
    snprintf(key, sizeof key, "it7:room:{%s}", room);
    cr_assert_eq(h_redis_int("EXISTS", key, NULL), 1, "no %s with --key-prefix it7:", key);
    snprintf(key, sizeof key, "sb:room:{%s}", room);
    cr_assert_eq(h_redis_int("EXISTS", key, NULL), 0, "%s written despite --key-prefix it7:", key);
    ws_close(a);
}
