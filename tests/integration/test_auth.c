/*
 * test_auth.c - access control, with two real nodes (auth on) and a real
 * redis-server: WebSocket refusals (4401, 4403), REST refusals (401 with
 * WWW-Authenticate: Bearer, 403), identities shown to the others, a newer
 * connection of the same identity replacing the older (4001) across nodes
 * and on one node, key rotation, tokens minted by `switchboard token`,
 * secrets too short to start, the open-mode warning, and no token or
 * secret in a node's log.
 *
 * Tokens are signed here with common/token.c's signer (its HMAC is checked
 * against RFC 7515 by the unit tests), except where the CLI is the point.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "token.h"

#define SECRET "auth-test-secret-0123456789abcdef"
#define OLD_SECRET "auth-test-old-secret-0123456789abcd"
#define OTHER_SECRET "not-the-nodes-secret-0123456789abcdef"
#define TOKEN_CAP 4096

/* ---- tokens -------------------------------------------------------------------------------- */

/* Wall time, as the nodes read it (h_now_ms is monotonic). */
static long long now_s(void)
{
    return (long long)time(NULL);
}

/* Sign the printf-formatted claims with `secret` into out[TOKEN_CAP]. */
static const char *mint(char *out, const char *secret, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_error_t err;
    json_t *claims = json_loads(text, 0, &err);
    cr_assert(claims, "bad claims in the test: %s", text);
    sb_token_key key = { secret, strlen(secret) };
    char *t = sb_token_sign(claims, &key);
    json_decref(claims);
    cr_assert(t && strlen(t) < TOKEN_CAP);
    snprintf(out, TOKEN_CAP, "%s", t);
    free(t);
    return out;
}

/* A token of `sub` for `room` ("*", an id, or NULL for none) with grants
 * (a JSON array's text), valid for ten minutes, signed with SECRET. */
static const char *tok(char *out, const char *sub, const char *room, const char *grants)
{
    char room_claim[64] = "";
    if (room)
        snprintf(room_claim, sizeof room_claim, "\"room\":\"%s\",", room);
    return mint(out, SECRET, "{\"sub\":\"%s\",%s\"grants\":%s,\"exp\":%lld}", sub, room_claim,
                grants, now_s() + 600);
}

static void start_nodes(int n, const char *secret)
{
    h_node_start("node-a", "--auth-secret", secret, NULL);
    if (n > 1)
        h_node_start("node-b", "--auth-secret", secret, NULL);
}

/* ---- REST ---------------------------------------------------------------------------------- */

static http_resp rest(int port, const char *method, const char *path, const char *token,
                      const char *body)
{
    char auth[TOKEN_CAP + 32];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = { auth, NULL };
    return h_http(port, method, path, token ? headers : NULL, body);
}

static void expect_401(http_resp *r, const char *what)
{
    char buf[64];
    h_expect_detail(r, 401, "Not authenticated", what);
    cr_assert(http_header(r, "WWW-Authenticate", buf, sizeof buf) && strcmp(buf, "Bearer") == 0,
              "%s: no WWW-Authenticate: Bearer in\n%s", what, r->head);
    http_resp_free(r);
}

static void expect_status(http_resp *r, int status, const char *what)
{
    cr_assert_eq(r->status, status, "%s: got %d %s", what, r->status, r->body);
    if (status == 403)
        h_expect_detail(r, 403, "Forbidden", what);
    http_resp_free(r);
}

/* POST /create-room with an admin token; the id into out. */
static void create_room(int port, char out[37])
{
    char t[TOKEN_CAP];
    http_resp r = rest(port, "POST", "/create-room", tok(t, "ops", "*", "[\"admin\"]"), NULL);
    cr_assert_eq(r.status, 200, "create-room: %d %s", r.status, r.body);
    json_t *j = http_json(&r);
    snprintf(out, 37, "%s", h_jstr(j, "room_id"));
    json_decref(j);
    http_resp_free(&r);
}

/* ---- WebSocket ---------------------------------------------------------------------------------- */

static ws_client *ws_open(int port, const char *room, const char *token)
{
    char path[TOKEN_CAP + 128], err[256];
    if (token)
        snprintf(path, sizeof path, "/ws/%s?access_token=%s", room, token);
    else
        snprintf(path, sizeof path, "/ws/%s", room);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "WebSocket to /ws/%s: %s", room, err);
    return c;
}

/* The socket opens (a browser sees the code), then error `message` and
 * close `code`. */
static void expect_refused(int port, const char *room, const char *token, const char *message,
                           int code, const char *what)
{
    ws_client *c = ws_open(port, room, token);
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j && h_is_error(j, message), "%s: wanted error '%s', got %s (%s)", what, message,
              j ? h_jdump(j) : "nothing", why ? why : "");
    json_decref(j);
    int got = ws_wait_close(c, H_MSG_TIMEOUT_MS);
    cr_assert_eq(got, code, "%s: close code %d, wanted %d", what, got, code);
    ws_drop(c);
}

/* Join with a token; the first message must be `connected` for the room,
 * whose participants (a new reference into *participants if not NULL) are
 * objects with a user id and an identity. */
static ws_client *join_as(int port, const char *room, const char *token, json_t **participants)
{
    ws_client *c = ws_open(port, room, token);
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j && h_type_is(j, "connected") && h_streq(h_jstr(j, "room_id"), room),
              "wanted connected, got %s (%s, close %d)", j ? h_jdump(j) : "nothing", why ? why : "",
              c->close_code);
    const char *uid = h_jstr(j, "user_id");
    cr_assert(uid && h_is_uuid4(uid));
    snprintf(c->user_id, sizeof c->user_id, "%s", uid);
    snprintf(c->room_id, sizeof c->room_id, "%s", room);
    json_t *parts = json_object_get(j, "participants"), *p;
    size_t i;
    cr_assert(json_is_array(parts));
    json_array_foreach(parts, i, p)
    {
        cr_assert(json_is_object(p) && h_is_uuid4(h_jstr(p, "user_id")) && h_jstr(p, "identity"),
                  "participant is not {user_id, identity, ...}: %s", h_jdump(j));
    }
    if (participants)
        *participants = json_incref(parts);
    json_decref(j);
    return c;
}

/* The next message is user-joined of `who` showing identity and name (NULL:
 * must be absent). */
static void expect_joined(ws_client *c, const ws_client *who, const char *identity,
                          const char *name)
{
    json_t *j = h_recv(c, "user-joined");
    cr_assert(h_type_is(j, "user-joined") && h_streq(h_jstr(j, "user_id"), who->user_id)
                  && h_streq(h_jstr(j, "identity"), identity)
                  && (name ? h_streq(h_jstr(j, "name"), name) : !json_object_get(j, "name")),
              "wanted user-joined of %s (%s), got %s", who->user_id, identity, h_jdump(j));
    json_decref(j);
}

/* ---- WebSocket codes ---------------------------------------------------------------------------- */

IT_TEST(auth, websocket_refusals_4401_and_4403, h_setup_redis)
{
    start_nodes(2, SECRET);
    int a = h_node_port(0), b = h_node_port(1);
    char room[37], other[37], t[TOKEN_CAP];
    create_room(a, room);
    create_room(b, other);
    long long now = now_s();

    expect_refused(b, room, NULL, "Unauthorized", 4401, "no token");
    expect_refused(b, room, "", "Unauthorized", 4401, "empty token");
    expect_refused(a, room, "not.a.token", "Unauthorized", 4401, "malformed");
    mint(t, OTHER_SECRET, "{\"sub\":\"x\",\"room\":\"*\",\"grants\":[\"join\"],\"exp\":%lld}",
         now + 600);
    expect_refused(a, room, t, "Unauthorized", 4401, "signed with another secret");
    mint(t, SECRET, "{\"sub\":\"x\",\"room\":\"*\",\"grants\":[\"join\"],\"exp\":%lld}", now - 120);
    expect_refused(b, room, t, "Unauthorized", 4401, "expired");
    mint(t, SECRET,
         "{\"sub\":\"x\",\"room\":\"*\",\"grants\":[\"join\"],\"exp\":%lld,\"nbf\":%lld}",
         now + 7200, now + 3600);
    expect_refused(a, room, t, "Unauthorized", 4401, "not valid yet");
    /* alg none: the claims of a good token, no signature */
    tok(t, "x", "*", "[\"join\"]");
    char none[TOKEN_CAP];
    snprintf(none, sizeof none, "eyJhbGciOiJub25lIn0%s", strchr(t, '.'));
    *(strrchr(none, '.') + 1) = '\0';
    expect_refused(b, room, none, "Unauthorized", 4401, "alg none");

    expect_refused(a, room, tok(t, "x", other, "[\"join\"]"), "Forbidden", 4403,
                   "token for another room");
    expect_refused(b, room, tok(t, "x", room, "[\"list\",\"create\"]"), "Forbidden", 4403,
                   "token without join");
    expect_refused(a, room, tok(t, "x", NULL, "[\"join\"]"), "Forbidden", 4403, "no room claim");
    /* A valid token for any room still meets the room's own refusals. */
    char unknown[37];
    h_random_uuid4(unknown);
    expect_refused(a, unknown, tok(t, "x", "*", "[\"join\"]"), "Room not found", 4404,
                   "unknown room");

    ws_client *ok = join_as(b, room, tok(t, "x", room, "[\"join\"]"), NULL);
    h_ping_pong(ok);
    ws_client *adm = join_as(a, room, tok(t, "root", NULL, "[\"admin\"]"), NULL);
    expect_joined(ok, adm, "root", NULL);
}

/* ---- REST codes --------------------------------------------------------------------------------- */

IT_TEST(auth, rest_401_403_and_open_routes, h_setup_redis)
{
    start_nodes(2, SECRET);
    int a = h_node_port(0), b = h_node_port(1);
    char room[37], other[37], path[96], t[TOKEN_CAP];
    create_room(a, room);
    create_room(b, other);
    snprintf(path, sizeof path, "/rooms/%s", room);

    /* missing, invalid, expired, another scheme: 401 with the challenge */
    const char *const routes[][2] = {
        { "POST", "/create-room" }, { "GET", "/rooms" },       { "GET", path },
        { "DELETE", path },         { "GET", "/ice-servers" },
    };
    mint(t, SECRET, "{\"sub\":\"x\",\"grants\":[\"admin\"],\"exp\":%lld}", now_s() - 120);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int port = i % 2 ? b : a;
        http_resp r = rest(port, routes[i][0], routes[i][1], NULL, NULL);
        expect_401(&r, routes[i][1]);
        r = rest(port, routes[i][0], routes[i][1], "garbage", NULL);
        expect_401(&r, routes[i][1]);
        r = rest(port, routes[i][0], routes[i][1], t, NULL);
        expect_401(&r, routes[i][1]);
        const char *basic[] = { "Authorization: Basic dXNlcjpwYXNz", NULL };
        r = h_http(port, routes[i][0], routes[i][1], basic, NULL);
        expect_401(&r, routes[i][1]);
    }

    /* insufficient: 403 */
    http_resp r = rest(b, "POST", "/create-room", tok(t, "x", "*", "[\"join\",\"list\"]"), NULL);
    expect_status(&r, 403, "create without create");
    r = rest(a, "GET", "/rooms", tok(t, "x", "*", "[\"join\",\"create\"]"), NULL);
    expect_status(&r, 403, "list without list");
    r = rest(b, "GET", path, tok(t, "x", other, "[\"join\"]"), NULL);
    expect_status(&r, 403, "room of another room's join");
    r = rest(a, "DELETE", path, tok(t, "x", "*", "[\"join\",\"create\",\"list\"]"), NULL);
    expect_status(&r, 403, "delete without admin");

    /* enough: 200 */
    r = rest(a, "POST", "/create-room", tok(t, "x", NULL, "[\"create\"]"), "{}");
    expect_status(&r, 200, "create with create");
    r = rest(b, "GET", "/rooms", tok(t, "x", NULL, "[\"list\"]"), NULL);
    expect_status(&r, 200, "list with list");
    r = rest(a, "GET", path, tok(t, "x", room, "[\"join\"]"), NULL);
    expect_status(&r, 200, "room with join for it");
    r = rest(b, "GET", path, tok(t, "x", NULL, "[\"list\"]"), NULL);
    expect_status(&r, 200, "room with list");
    r = rest(b, "DELETE", path, tok(t, "x", NULL, "[\"admin\"]"), NULL);
    expect_status(&r, 200, "delete with admin");
    r = rest(a, "GET", "/ice-servers", tok(t, "x", NULL, "[]"), NULL);
    expect_status(&r, 200, "ice-servers with a token of no grant");

    /* open routes, and the CORS preflight that lets a browser send the header */
    const char *open_paths[] = { "/", "/healthz", "/readyz", "/metrics" };
    for (size_t i = 0; i < sizeof open_paths / sizeof open_paths[0]; i++) {
        r = h_http(i % 2 ? a : b, "GET", open_paths[i], NULL, NULL);
        expect_status(&r, 200, open_paths[i]);
    }
    const char *pre[] = { "Origin: http://app.example", "Access-Control-Request-Method: GET",
                          "Access-Control-Request-Headers: authorization", NULL };
    r = h_http(a, "OPTIONS", "/rooms", pre, NULL);
    char allowed[256];
    cr_assert_eq(r.status, 204);
    cr_assert(http_header(&r, "Access-Control-Allow-Headers", allowed, sizeof allowed)
                  && strstr(allowed, "Authorization"),
              "preflight does not allow Authorization:\n%s", r.head);
    http_resp_free(&r);
}

/* TURN credentials carry the token's identity, made safe for the
 * username's expiry:user form. */
IT_TEST(auth, ice_servers_username_carries_the_identity, h_setup_redis)
{
    h_node_start("node-a", "--auth-secret", SECRET, "--turn-urls", "turn:turn.example:3478",
                 "--turn-secret", "turn-shared", NULL);
    char t[TOKEN_CAP];
    http_resp r = rest(h_node_port(0), "GET", "/ice-servers?user_id=spoofed",
                       tok(t, "ann:smith@example.com", NULL, "[]"), NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = http_json(&r);
    json_t *servers = json_object_get(j, "iceServers");
    const char *username =
        h_jstr(json_array_get(servers, json_array_size(servers) - 1), "username");
    cr_assert(username, "no TURN username in %s", r.body);
    const char *colon = strchr(username, ':');
    cr_assert(colon && atoll(username) > now_s(), "username %s", username);
    cr_assert_str_eq(colon + 1, "ann_smith@example.com");
    json_decref(j);
    http_resp_free(&r);
}

/* ---- identities ---------------------------------------------------------------------------------- */

IT_TEST(auth, identity_name_and_metadata_visible_across_nodes, h_setup_redis)
{
    start_nodes(2, SECRET);
    int a = h_node_port(0), b = h_node_port(1);
    char room[37], t[TOKEN_CAP];
    create_room(a, room);
    mint(t, SECRET,
         "{\"sub\":\"alice\",\"room\":\"%s\",\"grants\":[\"join\"],\"exp\":%lld,"
         "\"name\":\"Alice\",\"metadata\":{\"role\":\"host\",\"n\":[1,2]}}",
         room, now_s() + 600);
    ws_client *alice = join_as(a, room, t, NULL);
    mint(t, SECRET,
         "{\"sub\":\"bob\",\"room\":\"*\",\"grants\":[\"join\"],\"exp\":%lld,"
         "\"name\":\"Bob\"}",
         now_s() + 600);
    json_t *parts = NULL;
    ws_client *bob = join_as(b, room, t, &parts);

    /* bob, on the other node, sees alice as she is in her token */
    cr_assert_eq(json_array_size(parts), 1, "%s", h_jdump(parts));
    json_t *p = json_array_get(parts, 0);
    cr_assert(h_streq(h_jstr(p, "user_id"), alice->user_id)
                  && h_streq(h_jstr(p, "identity"), "alice") && h_streq(h_jstr(p, "name"), "Alice"),
              "%s", h_jdump(p));
    json_t *want = json_pack("{s:s,s:[i,i]}", "role", "host", "n", 1, 2);
    cr_assert(json_equal(json_object_get(p, "metadata"), want), "%s", h_jdump(p));
    json_decref(want);
    json_decref(parts);
    /* alice sees bob join; he has no metadata */
    json_t *j = h_recv(alice, "user-joined");
    cr_assert(h_type_is(j, "user-joined") && h_streq(h_jstr(j, "user_id"), bob->user_id)
                  && h_streq(h_jstr(j, "identity"), "bob") && h_streq(h_jstr(j, "name"), "Bob")
                  && !json_object_get(j, "metadata") && h_streq(h_jstr(j, "room_id"), room),
              "%s", h_jdump(j));
    json_decref(j);
    /* user_id stays the connection's id: messages are relayed as before */
    h_sendf(bob, "{\"type\":\"offer\",\"data\":{\"sdp\":\"x\"}}");
    h_expect_relay(alice, "offer", bob, "{\"sdp\":\"x\"}", NULL);
    /* and the room's REST view shows identities too */
    char path[96];
    snprintf(path, sizeof path, "/rooms/%s", room);
    http_resp r = rest(b, "GET", path, tok(t, "x", NULL, "[\"list\"]"), NULL);
    cr_assert(r.status == 200 && strstr(r.body, "\"identity\":\"alice\"")
                  && strstr(r.body, "\"identity\":\"bob\""),
              "%s", r.body);
    http_resp_free(&r);
}

/* ---- replacement --------------------------------------------------------------------------------- */

/* alice's first connection on old_port, bob on bob_port, alice again on
 * new_port: the first gets the error and 4001, bob sees it leave and the
 * new one join, and the new one's list holds bob only. */
static void replacement(int old_port, int bob_port, int new_port)
{
    char room[37], t[TOKEN_CAP];
    create_room(old_port, room);
    tok(t, "alice", room, "[\"join\"]");
    ws_client *first = join_as(old_port, room, t, NULL);
    char bob_token[TOKEN_CAP];
    ws_client *bob = join_as(bob_port, room, tok(bob_token, "bob", room, "[\"join\"]"), NULL);
    expect_joined(first, bob, "bob", NULL);

    json_t *parts = NULL;
    ws_client *second = join_as(new_port, room, t, &parts);
    cr_assert(json_array_size(parts) == 1
                  && h_streq(h_jstr(json_array_get(parts, 0), "user_id"), bob->user_id),
              "the new connection should see bob only: %s", h_jdump(parts));
    json_decref(parts);

    h_expect_error(first, "Replaced by a newer connection");
    cr_assert_eq(ws_wait_close(first, H_MSG_TIMEOUT_MS), 4001);
    h_expect_user_event(bob, "user-left", first->user_id, room);
    expect_joined(bob, second, "alice", NULL);
    h_expect_silence(second, H_SILENCE_MS);
    char path[96], lister[TOKEN_CAP];
    snprintf(path, sizeof path, "/rooms/%s", room);
    http_resp r = rest(old_port, "GET", path, tok(lister, "ops", NULL, "[\"list\"]"), NULL);
    json_t *j = http_json(&r);
    cr_assert(r.status == 200 && json_integer_value(json_object_get(j, "participant_count")) == 2,
              "%s", r.body);
    json_decref(j);
    http_resp_free(&r);

    /* The old connection's own leave takes nobody else out. */
    h_expect_silence(bob, H_SILENCE_MS);
    h_sendf(bob, "{\"type\":\"hello\"}");
    h_expect_relay(second, "hello", bob, NULL, NULL);
}

IT_TEST(auth, same_identity_replaces_across_nodes, h_setup_redis)
{
    start_nodes(2, SECRET);
    replacement(h_node_port(0), h_node_port(1), h_node_port(1));
}

IT_TEST(auth, same_identity_replaces_on_one_node, h_setup_redis)
{
    start_nodes(2, SECRET);
    replacement(h_node_port(0), h_node_port(1), h_node_port(0));
}

/* ---- secrets ---------------------------------------------------------------------------------- */

/* Rotation without downtime: a node that lists the new secret first and
 * the old one second takes tokens of both; once the old is dropped, its
 * tokens stop working. */
IT_TEST(auth, rotation_with_two_secrets, h_setup_redis)
{
    h_node_start("node-a", "--auth-secret", SECRET "," OLD_SECRET, NULL);
    h_node_start("node-b", "--auth-secret", SECRET, NULL);
    int a = h_node_port(0), b = h_node_port(1);
    char room[37], old_t[TOKEN_CAP], new_t[TOKEN_CAP], other_t[TOKEN_CAP];
    create_room(a, room);
    const char *claims =
        "{\"sub\":\"%s\",\"room\":\"*\",\"grants\":[\"join\",\"list\"],\"exp\":%lld}";
    mint(old_t, OLD_SECRET, claims, "old", now_s() + 600);
    mint(new_t, SECRET, claims, "new", now_s() + 600);
    mint(other_t, OTHER_SECRET, claims, "other", now_s() + 600);

    ws_client *o = join_as(a, room, old_t, NULL);
    ws_client *n = join_as(a, room, new_t, NULL);
    expect_joined(o, n, "new", NULL);
    expect_refused(a, room, other_t, "Unauthorized", 4401, "a secret never listed");
    http_resp r = rest(a, "GET", "/rooms", old_t, NULL);
    expect_status(&r, 200, "old token on the rotating node");

    expect_refused(b, room, old_t, "Unauthorized", 4401, "old secret retired");
    r = rest(b, "GET", "/rooms", old_t, NULL);
    expect_401(&r, "old token on a node without the old secret");
    mint(new_t, SECRET, claims, "new2", now_s() + 600);
    ws_client *n2 = join_as(b, room, new_t, NULL);
    expect_joined(o, n2, "new2", NULL);
}

/* `switchboard token` with the secret in the environment or a flag mints
 * a token that joins; the first secret of a list signs. */
static void cli_token(char *out, const char *const args[], const char *env_secret)
{
    char out_path[PATH_MAX], env[128];
    snprintf(out_path, sizeof out_path, "%s/token.out", h_test_dir());
    snprintf(env, sizeof env, "SWITCHBOARD_AUTH_SECRET=%s", env_secret ? env_secret : "");
    const char *argv[24] = { SB_NODE_BIN, "token" };
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *const envp[] = { env, NULL };
    int st = h_run(argv, env_secret ? envp : NULL, out_path, "token-cli.log", 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "switchboard token failed; see token-cli.log");
    FILE *f = fopen(out_path, "r");
    cr_assert(f && fgets(out, TOKEN_CAP, f), "no token printed");
    fclose(f);
    size_t len = strlen(out);
    cr_assert(len > 1 && out[len - 1] == '\n', "the token does not end with a newline");
    out[len - 1] = '\0';
}

IT_TEST(auth, cli_minted_token_joins, h_setup_redis)
{
    start_nodes(2, SECRET);
    int a = h_node_port(0), b = h_node_port(1);
    char room[37], t[TOKEN_CAP], t2[TOKEN_CAP];
    create_room(a, room);
    const char *args[] = { "--sub",      "carol",        "--room", room,     "--grants",
                           "join,list",  "--ttl",        "1h",     "--name", "Carol",
                           "--metadata", "{\"seat\":3}", NULL };
    cli_token(t, args, SECRET);
    ws_client *carol = join_as(b, room, t, NULL);
    http_resp r = rest(a, "GET", "/rooms", t, NULL);
    expect_status(&r, 200, "CLI token lists");

    const char *args2[] = {
        "--sub", "dave", "--room=*", "--grants=join", "--auth-secret", SECRET "," OLD_SECRET, NULL
    };
    cli_token(t2, args2, NULL);
    ws_client *dave = join_as(a, room, t2, NULL);
    json_t *j = h_recv(carol, "user-joined");
    cr_assert(h_streq(h_jstr(j, "identity"), "dave")
                  && h_streq(h_jstr(j, "user_id"), dave->user_id),
              "%s", h_jdump(j));
    json_decref(j);

    /* A mistake is refused with a reason, and prints no secret. */
    const char *bad[] = { SB_NODE_BIN, "token",         "--sub", "x", "--grants",
                          "join,joni", "--auth-secret", SECRET,  NULL };
    int st = h_run(bad, NULL, NULL, "token-bad.log", 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

/* A short secret stops the node at start, naming the problem but not the
 * secret; so does one in the environment. */
IT_TEST(auth, short_secret_stops_the_node, h_setup_redis)
{
    char log[PATH_MAX];
    const char *argv[] = { SB_NODE_BIN, "--port", "1", "--auth-secret", SECRET ",hunter2-short",
                           NULL };
    int st = h_run(argv, NULL, NULL, "short.log", 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "the node started with a short secret");
    snprintf(log, sizeof log, "%s/short.log", h_test_dir());
    FILE *f = fopen(log, "r");
    char text[1024] = "";
    cr_assert(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert(strstr(text, "secret 2 of 2 has 13 characters; each must have at least 32"), "%s",
              text);
    cr_assert(!strstr(text, "hunter2") && !strstr(text, SECRET), "the error shows a secret: %s",
              text);

    const char *bare[] = { SB_NODE_BIN, "--port", "1", NULL };
    const char *env[] = { "SWITCHBOARD_AUTH_SECRET=hunter2-short", NULL };
    st = h_run(bare, env, NULL, "short-env.log", 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

/* ---- logs ---------------------------------------------------------------------------------- */

static char *read_log(int idx)
{
    FILE *f = fopen(h_node_log(idx), "r");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    size_t got = fread(text, 1, (size_t)n, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* At debug level (lws's own lines included), after valid and refused
 * tokens over WebSocket and REST, the log holds neither a token, nor a
 * piece of one, nor the secret. */
IT_TEST(auth, no_token_or_secret_in_the_log, h_setup_redis)
{
    h_node_start("node-a", "--auth-secret", SECRET, "--log-level", "debug", NULL);
    int a = h_node_port(0);
    char room[37], good[TOKEN_CAP], bad[TOKEN_CAP], expired[TOKEN_CAP];
    create_room(a, room);
    tok(good, "alice", room, "[\"join\",\"list\"]");
    mint(bad, OTHER_SECRET, "{\"sub\":\"x\",\"room\":\"*\",\"grants\":[\"join\"],\"exp\":%lld}",
         now_s() + 600);
    mint(expired, SECRET, "{\"sub\":\"x\",\"room\":\"*\",\"grants\":[\"join\"],\"exp\":%lld}",
         now_s() - 600);
    ws_client *c = join_as(a, room, good, NULL);
    expect_refused(a, room, bad, "Unauthorized", 4401, "bad");
    expect_refused(a, room, expired, "Unauthorized", 4401, "expired");
    http_resp r = rest(a, "GET", "/rooms", good, NULL);
    expect_status(&r, 200, "list");
    r = rest(a, "GET", "/rooms", bad, NULL);
    expect_401(&r, "bad");
    ws_close(c);
    h_sleep_ms(200);

    char *text = read_log(0);
    cr_assert(strstr(text, "refused a WebSocket"), "the refusals were not logged at all:\n%s",
              text);
    const char *tokens[] = { good, bad, expired };
    for (size_t i = 0; i < 3; i++) {
        /* the signature, and the claims segment, of each */
        const char *sig = strrchr(tokens[i], '.') + 1;
        char claims[TOKEN_CAP];
        snprintf(claims, sizeof claims, "%s", strchr(tokens[i], '.') + 1);
        *strchr(claims, '.') = '\0';
        cr_assert(!strstr(text, sig) && !strstr(text, claims), "token %zu in the log:\n%s", i,
                  text);
    }
    cr_assert(!strstr(text, SECRET), "the secret is in the log");
    cr_assert(!strstr(text, "access_token="), "a query string with a token is in the log");
    cr_assert_eq(count(text, "auth is off"), 0);
    free(text);
}

/* Open mode says so once at start; auth on does not. */
IT_TEST(auth, open_mode_warns_once, h_setup_redis)
{
    h_node_start("node-a", NULL);
    h_node_start("node-b", "--auth-secret", SECRET, NULL);
    char room[37];
    h_create_room_into(h_node_port(0), NULL, room);
    ws_client *c = h_join(h_node_port(0), room, NULL);
    h_ping_pong(c);
    char *open_log = read_log(0), *auth_log = read_log(1);
    cr_assert_eq(count(open_log, "auth is off"), 1, "%s", open_log);
    cr_assert_eq(count(auth_log, "auth is off"), 0, "%s", auth_log);
    free(open_log);
    free(auth_log);
}
