/*
 * test_guard.c - what one client may cost the cluster (README,
 * Configuration and the refusal tables): --max-rooms counted in Redis
 * across nodes, --http-rate-limit and --max-connections-per-ip per client
 * address, the client address behind trusted proxies (X-Forwarded-For,
 * --trusted-proxies) and a real HAProxy, and the Origin check of WebSocket
 * upgrades (--cors-origins), in open mode and with auth on.
 *
 * Every test here sets the limits it checks (the harness turns them off
 * for the other suites). Different clients are different loopback source
 * addresses (127.0.0.2, 127.0.0.3, ...): net_set_source binds before
 * connecting.
 */
#include "harness.h"
#include "harness_keys.h"
#include "netutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token.h"

#define CLIENT_A "127.0.0.2"
#define CLIENT_B "127.0.0.3"
#define RECOVER_MS 5000 /* a freed WebSocket slot is usable within this */

#define UPGRADE_FMT \
    "GET /ws/%s HTTP/1.1\r\n" \
    "Host: 127.0.0.1:%d\r\n" \
    "Upgrade: websocket\r\n" \
    "Connection: Upgrade\r\n" \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
    "Sec-WebSocket-Version: 13\r\n" \
    "%s\r\n"

/* One REST request from the client at `src` (NULL: 127.0.0.1). */
static http_resp from(const char *src, int port, const char *method, const char *path,
                      const char *const *headers, const char *body)
{
    net_set_source(src);
    http_resp r = h_http(port, method, path, headers, body);
    net_set_source(NULL);
    return r;
}

static int status_from(const char *src, int port, const char *path, const char *const *headers)
{
    http_resp r = from(src, port, "GET", path, headers, NULL);
    int status = r.status;
    http_resp_free(&r);
    return status;
}

/* The status of an upgrade to /ws/<room> from `src` with extra header
 * lines (each ending in \r\n, or ""). The socket is closed after it. */
static int upgrade_status(const char *src, int port, const char *room, const char *extra)
{
    char req[2048], head[4096];
    snprintf(req, sizeof req, UPGRADE_FMT, room, port, extra);
    net_set_source(src);
    int status = ws_raw_handshake(port, req, HTTP_TIMEOUT_MS, head, sizeof head);
    net_set_source(NULL);
    return status;
}

static ws_client *join_from(const char *src, int port, const char *room)
{
    net_set_source(src);
    ws_client *c = h_join(port, room, NULL);
    net_set_source(NULL);
    return c;
}

static ws_client *try_join_from(const char *src, int port, const char *room, char *err, size_t n)
{
    net_set_source(src);
    ws_client *c = h_join_try(port, room, err, n);
    net_set_source(NULL);
    return c;
}

static void expect_too_many_requests(const http_resp *r, int max_retry_s, const char *what)
{
    h_expect_detail(r, 429, "Too many requests", what);
    char v[32];
    cr_assert(http_header(r, "Retry-After", v, sizeof v), "%s: no Retry-After:\n%s", what, r->head);
    int s = atoi(v);
    cr_assert(s >= 1 && s <= max_retry_s, "%s: Retry-After %s, expected 1..%d", what, v,
              max_retry_s);
}

/* The value of a counter in /metrics, or -1. */
static long long metric(int port, const char *name)
{
    http_resp r = h_http(port, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200);
    long long v = -1;
    const char *at = strstr(r.body, name);
    if (at)
        v = atoll(at + strlen(name));
    http_resp_free(&r);
    return v;
}

/* ---- --http-rate-limit ---- */

IT_TEST(guard, rest_rate_limit_refuses_and_recovers, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--http-rate-limit", "2:3", NULL));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(status_from(CLIENT_A, port, "/rooms", NULL), 200, "request %d of the burst",
                     i + 1);
    http_resp r = from(CLIENT_A, port, "GET", "/rooms", NULL, NULL);
    expect_too_many_requests(&r, 1, "GET /rooms past the burst");
    char retry[32];
    http_header(&r, "Retry-After", retry, sizeof retry);
    http_resp_free(&r);

    /* A request with a body is refused before its body is read, and the
     * connection is not reused for those bytes. */
    r = from(CLIENT_A, port, "POST", "/create-room", NULL, "{\"max_participants\":2}");
    expect_too_many_requests(&r, 1, "POST /create-room past the burst");
    char conn[32];
    cr_assert(http_header(&r, "Connection", conn, sizeof conn) && strcmp(conn, "close") == 0,
              "a refused request with an unread body must close the connection:\n%s", r.head);
    http_resp_free(&r);

    /* Health checks and metrics are exempt; another client is unaffected. */
    cr_assert_eq(status_from(CLIENT_A, port, "/healthz", NULL), 200);
    cr_assert_eq(status_from(CLIENT_A, port, "/readyz", NULL), 200);
    cr_assert_eq(status_from(CLIENT_A, port, "/metrics", NULL), 200);
    cr_assert_eq(status_from(CLIENT_B, port, "/rooms", NULL), 200, "another address was limited");
    cr_assert_geq(metric(port, "switchboard_errors_total{kind=\"http_rate_limited\"} "), 2);

    /* Retry-After is honest: after it, the client is served again. */
    h_sleep_ms(atoi(retry) * 1000);
    cr_assert_eq(status_from(CLIENT_A, port, "/rooms", NULL), 200, "refused after Retry-After");
}

IT_TEST(guard, rest_rate_limit_default, h_setup_redis)
{
    /* The shipped default, 20 requests/s with a burst of 100. */
    int port = h_node_port(h_node_start("node-a", "--http-rate-limit", "20:100", NULL));
    int served = 0, refused = 0;
    long long start = h_now_ms();
    for (int i = 0; i < 160 && refused == 0; i++) {
        int s = status_from(CLIENT_A, port, "/", NULL);
        cr_assert(s == 200 || s == 429, "status %d", s);
        served += s == 200;
        refused += s == 429;
    }
    double elapsed_s = (double)(h_now_ms() - start) / 1000.0;
    cr_assert_eq(refused, 1, "160 quick requests were all served");
    cr_assert(served >= 100 && served <= 100 + 20 * elapsed_s + 1,
              "%d served in %.2f s; the default allows 100 + 20/s", served, elapsed_s);
    cr_assert_eq(status_from(CLIENT_B, port, "/", NULL), 200);
}

/* ---- the client address ---- */

IT_TEST(guard, forwarded_for_only_from_a_trusted_peer, h_setup_redis)
{
    /* One token per 10 s: nothing refills while the test runs. */
    int port = h_node_port(h_node_start("node-a", "--http-rate-limit", "0.1:2", "--trusted-proxies",
                                        "127.0.0.1/32", NULL));
    char xff[64];
    const char *hdr[] = { xff, NULL };

    /* From an untrusted peer the header is the client's own claim. */
    for (int i = 0; i < 3; i++) {
        snprintf(xff, sizeof xff, "X-Forwarded-For: 10.9.0.%d", i + 1);
        http_resp r = from(CLIENT_A, port, "GET", "/rooms", hdr, NULL);
        if (i < 2)
            cr_assert_eq(r.status, 200, "request %d", i + 1);
        else
            expect_too_many_requests(&r, 10, "a spoofed X-Forwarded-For from an untrusted peer");
        http_resp_free(&r);
    }

    /* From the trusted proxy (127.0.0.1) it names the client. */
    snprintf(xff, sizeof xff, "X-Forwarded-For: 10.0.0.1");
    cr_assert_eq(status_from(NULL, port, "/rooms", hdr), 200);
    cr_assert_eq(status_from(NULL, port, "/rooms", hdr), 200);
    cr_assert_eq(status_from(NULL, port, "/rooms", hdr), 429, "10.0.0.1 is past its burst");
    snprintf(xff, sizeof xff, "X-Forwarded-For: 10.0.0.2");
    cr_assert_eq(status_from(NULL, port, "/rooms", hdr), 200, "10.0.0.2 is another client");
    /* The right-most hop that is no trusted proxy; what is left of it is
     * the client's claim. */
    snprintf(xff, sizeof xff, "X-Forwarded-For: 10.0.0.9, 10.0.0.1");
    cr_assert_eq(status_from(NULL, port, "/rooms", hdr), 429, "a claim left of the hop counted");
    snprintf(xff, sizeof xff, "X-Forwarded-For: 10.0.0.3, 127.0.0.1");
    cr_assert_eq(status_from(NULL, port, "/rooms", hdr), 200, "a trusted hop was not skipped");
    /* Header lines are one list, in order. */
    const char *two[] = { "X-Forwarded-For: 10.0.0.4", "X-Forwarded-For: 10.0.0.1", NULL };
    cr_assert_eq(status_from(NULL, port, "/rooms", two), 429, "the last line is the nearest hop");
    /* Without the header the proxy is its own client. */
    cr_assert_eq(status_from(NULL, port, "/rooms", NULL), 200);
}

/* ---- --max-connections-per-ip ---- */

IT_TEST(guard, websockets_per_client_refused_and_freed, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--max-connections-per-ip", "2", NULL));
    char room[37], err[256];
    h_create_room_into(port, NULL, room);
    ws_client *a1 = join_from(CLIENT_A, port, room);
    ws_client *a2 = join_from(CLIENT_A, port, room);
    h_expect_user_event(a1, "user-joined", a2->user_id, room);
    cr_assert_eq(upgrade_status(CLIENT_A, port, room, ""), 429,
                 "a third WebSocket from one address");
    cr_assert_null(try_join_from(CLIENT_A, port, room, err, sizeof err));
    ws_client *b1 = join_from(CLIENT_B, port, room);
    h_expect_user_event(a1, "user-joined", b1->user_id, room);
    cr_assert_geq(metric(port, "switchboard_errors_total{kind=\"client_connections\"} "), 2);

    /* A closed WebSocket frees its place, and exactly one. */
    ws_close(a2);
    ws_client *again = NULL;
    for (long long end = h_now_ms() + RECOVER_MS; !again && h_now_ms() < end; h_sleep_ms(50))
        again = try_join_from(CLIENT_A, port, room, err, sizeof err);
    cr_assert(again, "no WebSocket from the address within %d ms of closing one: %s", RECOVER_MS,
              err);
    cr_assert_eq(upgrade_status(CLIENT_A, port, room, ""), 429, "the count drifted");
    ws_close(a1);
    ws_close(b1);
    ws_close(again);
}

/* ---- Origin ---- */

IT_TEST(guard, origin_checked_unless_any_is_allowed, h_setup_redis)
{
    int strict = h_node_port(
        h_node_start("node-a", "--cors-origins", "https://app.example, https://b.example", NULL));
    int open = h_node_port(h_node_start("node-b", NULL));
    char room[37];
    h_create_room_into(strict, NULL, room);

    cr_assert_eq(upgrade_status(NULL, strict, room, "Origin: https://evil.example\r\n"), 403,
                 "a foreign page opened a WebSocket");
    cr_assert_eq(upgrade_status(NULL, strict, room, "Origin: null\r\n"), 403);
    cr_assert_eq(upgrade_status(NULL, strict, room, "Origin: https://app.example.evil\r\n"), 403);
    cr_assert_eq(upgrade_status(NULL, strict, room, "Origin: \r\n"), 403, "an empty Origin");
    cr_assert_eq(upgrade_status(NULL, strict, room, "Origin: https://app.example\r\n"), 101);
    cr_assert_eq(upgrade_status(NULL, strict, room, "Origin: https://b.example\r\n"), 101);
    cr_assert_eq(upgrade_status(NULL, strict, room, ""), 101, "a client without Origin");
    cr_assert_geq(metric(strict, "switchboard_errors_total{kind=\"origin_refused\"} "), 4);
    /* --cors-origins * (the default) lets every page in. */
    cr_assert_eq(upgrade_status(NULL, open, room, "Origin: https://evil.example\r\n"), 101);
}

/* ---- --max-rooms ---- */

static int create_status(int port, const char *body, char out[37])
{
    http_resp r = h_http(port, "POST", "/create-room", NULL, body);
    int status = r.status;
    if (status == 429)
        h_expect_detail(&r, 429, "Too many rooms", "create-room past --max-rooms");
    if (status == 200 && out) {
        json_t *j = http_json(&r);
        snprintf(out, 37, "%s", h_jstr(j, "room_id") ? h_jstr(j, "room_id") : "");
        json_decref(j);
    }
    http_resp_free(&r);
    return status;
}

static void delete_room(int port, const char *room)
{
    char path[64];
    snprintf(path, sizeof path, "/rooms/%s", room);
    http_resp r = h_http(port, "DELETE", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "DELETE %s: %d", path, r.status);
    http_resp_free(&r);
}

IT_TEST(guard, max_rooms_across_nodes, h_setup_redis)
{
    /* A long heartbeat: the index sweep (every third of it) stays out of
     * the way, so only the create script can drop stale entries. */
    int a = h_node_port(h_node_start("node-a", "--max-rooms", "3", "--heartbeat-ttl", "60", NULL));
    int b = h_node_port(h_node_start("node-b", "--max-rooms", "3", "--heartbeat-ttl", "60", NULL));
    char rooms[3][37];
    cr_assert_eq(create_status(a, NULL, rooms[0]), 200);
    cr_assert_eq(create_status(b, NULL, rooms[1]), 200);
    cr_assert_eq(create_status(a, NULL, rooms[2]), 200);
    cr_assert_eq(create_status(b, NULL, NULL), 429, "a 4th room through the other node");
    cr_assert_eq(create_status(a, NULL, NULL), 429, "a 4th room");
    cr_assert_eq(h_index_count(), 3);
    cr_assert_geq(metric(a, "switchboard_errors_total{kind=\"too_many_rooms\"} "), 1);

    /* A deleted room makes room. */
    delete_room(b, rooms[1]);
    cr_assert_eq(create_status(b, NULL, rooms[1]), 200, "no room after a DELETE");
    cr_assert_eq(create_status(a, NULL, NULL), 429);

    /* Rooms that expired unused still have index entries until swept;
     * at the limit the create script drops them itself. */
    for (int i = 0; i < 3; i++)
        delete_room(a, rooms[i]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(create_status(i % 2 ? b : a, "{\"empty_timeout\":1}", rooms[i]), 200);
    char key[160];
    long long gone = 0;
    for (long long end = h_now_ms() + 5000; gone < 3 && h_now_ms() < end; h_sleep_ms(100)) {
        gone = 0;
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "sb:room:{%s}", rooms[i]);
            gone += h_redis_int("EXISTS", key, NULL) == 0;
        }
    }
    cr_assert_eq(gone, 3, "the rooms did not expire");
    cr_assert_eq(h_index_count(), 3, "the stale entries were swept early");
    cr_assert_eq(create_status(b, NULL, NULL), 200, "expired rooms still counted");
    cr_assert_eq(h_index_count(), 1, "stale entries left in the index");
}

/* ---- behind HAProxy ---- */

IT_TEST(guard, limits_count_the_client_behind_haproxy, h_setup_redis)
{
    /* HAProxy reaches the node from 127.0.0.1 and appends the client's
     * address to X-Forwarded-For (option forwardfor). */
    int node = h_node_port(h_node_start("node-a", "--trusted-proxies", "127.0.0.1/32",
                                        "--max-connections-per-ip", "2", "--http-rate-limit",
                                        "0.1:3", NULL));
    int lb = h_haproxy_start();
    char room[37];
    h_create_room_into(node, NULL, room);

    ws_client *a1 = join_from(CLIENT_A, lb, room);
    ws_client *a2 = join_from(CLIENT_A, lb, room);
    cr_assert_eq(upgrade_status(CLIENT_A, lb, room, ""), 429,
                 "a third WebSocket of one client through HAProxy");
    ws_client *b1 = join_from(CLIENT_B, lb, room);
    h_expect_user_event(a1, "user-joined", a2->user_id, room);
    h_expect_user_event(a1, "user-joined", b1->user_id, room);

    for (int i = 0; i < 3; i++)
        cr_assert_eq(status_from(CLIENT_A, lb, "/rooms", NULL), 200, "request %d", i + 1);
    http_resp r = from(CLIENT_A, lb, "GET", "/rooms", NULL, NULL);
    expect_too_many_requests(&r, 10, "GET /rooms through HAProxy past the burst");
    http_resp_free(&r);
    /* What the client itself puts in the header changes nothing. */
    const char *spoof[] = { "X-Forwarded-For: 10.1.1.1", NULL };
    cr_assert_eq(status_from(CLIENT_A, lb, "/rooms", spoof), 429, "a spoofed header passed");
    cr_assert_eq(status_from(CLIENT_B, lb, "/rooms", NULL), 200, "another client was limited");
    ws_close(a1);
    ws_close(a2);
    ws_close(b1);
}

/* ---- with auth on ---- */

#define GUARD_SECRET "guard-test-secret-0123456789abcdef"

/* A join token for `room`, signed with GUARD_SECRET, valid ten minutes;
 * the caller frees it. */
static char *join_token(const char *sub, const char *room)
{
    json_t *claims = json_pack("{s:s,s:s,s:[s],s:I}", "sub", sub, "room", room, "grants", "join",
                               "exp", (json_int_t)time(NULL) + 600);
    sb_token_key key = { GUARD_SECRET, strlen(GUARD_SECRET) };
    char *t = sb_token_sign(claims, &key);
    json_decref(claims);
    cr_assert(t);
    return t;
}

/* The limits come before the token is looked at: a flood of bad tokens is
 * rate-limited like any other request, a foreign page is refused even with
 * a valid token, and WebSockets with valid tokens count per address. */
IT_TEST(guard, limits_hold_with_auth_on, h_setup_redis)
{
    int port =
        h_node_port(h_node_start("node-a", "--auth-secret", GUARD_SECRET, "--http-rate-limit",
                                 "1:3", "--max-connections-per-ip", "1", "--cors-origins",
                                 "https://app.example,http://127.0.0.1", NULL));
    const char *bad[] = { "Authorization: Bearer not.a.token", NULL };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(status_from(CLIENT_A, port, "/rooms", bad), 401, "bad token %d", i);
    http_resp r = from(CLIENT_A, port, "GET", "/rooms", bad, NULL);
    expect_too_many_requests(&r, 2, "the fourth bad token within the burst");
    http_resp_free(&r);

    /* A room to join, created with a `create` token. */
    json_t *claims = json_pack("{s:s,s:[s],s:I}", "sub", "ops", "grants", "create", "exp",
                               (json_int_t)time(NULL) + 600);
    sb_token_key key = { GUARD_SECRET, strlen(GUARD_SECRET) };
    char *create = sb_token_sign(claims, &key);
    json_decref(claims);
    char auth[1200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", create);
    const char *hdrs[] = { auth, NULL };
    http_resp c = from(CLIENT_B, port, "POST", "/create-room", hdrs, NULL);
    cr_assert_eq(c.status, 200, "create-room with a create token: %d", c.status);
    json_t *j = http_json(&c);
    char room[37];
    snprintf(room, sizeof room, "%s", h_jstr(j, "room_id"));
    json_decref(j);
    http_resp_free(&c);
    free(create);

    char *alice = join_token("alice", room), *bob = join_token("bob", room);
    char path[1100], extra[64];
    snprintf(path, sizeof path, "%s?access_token=%s", room, alice);
    snprintf(extra, sizeof extra, "Origin: https://evil.example\r\n");
    cr_assert_eq(upgrade_status(CLIENT_B, port, path, extra), 403,
                 "a foreign page with a valid token");
    cr_assert_eq(upgrade_status(CLIENT_B, port, path, "Origin: https://app.example\r\n"), 101);

    /* One WebSocket per address: a second one, with another valid token,
     * is refused while the first is open. */
    char ws_path[1100], err[256];
    snprintf(ws_path, sizeof ws_path, "/ws/%s?access_token=%s", room, alice);
    net_set_source(CLIENT_A);
    ws_client *held = ws_connect(port, ws_path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    net_set_source(NULL);
    cr_assert(held, "the first WebSocket with a valid token: %s", err);
    snprintf(path, sizeof path, "%s?access_token=%s", room, bob);
    cr_assert_eq(upgrade_status(CLIENT_A, port, path, ""), 429,
                 "a second WebSocket from the address, valid token");
    ws_close(held);
    free(alice);
    free(bob);
}
