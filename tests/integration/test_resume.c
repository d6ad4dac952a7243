/*
 * test_resume.c - participants that survive their socket and their node
 * (docs/design.md#resume), on a real redis-server and two or three nodes:
 * a socket lost and resumed on the other node with the same user id and
 * the gap's messages in order while the others see nothing; used tokens,
 * tokens of another room, close 1000, a window that ends (one user-left),
 * a drained and a killed node, an overflowing gap, auth, and Redis
 * restarted empty.
 */
#include "harness.h"
#include "protocol.h"
#include "token.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define TOKEN_LEN 68

typedef struct {
    ws_client *c;
    char uid[64]; /* kept after the client is dropped */
    char token[TOKEN_LEN + 1];
    bool resumed, missed;
    json_t *participants;
} joined;

/* Connect to /ws/<room>[?resume=<token>][&access_token=...], read
 * `connected` and keep what it says about resuming. */
static joined join_rcvbuf(int port, const char *room, const char *token, const char *access,
                          int rcvbuf);
/* The same on a path given whole, query and all. */
static joined join_path(int port, const char *room, const char *path, int rcvbuf);

static joined join_with(int port, const char *room, const char *token, const char *access)
{
    return join_rcvbuf(port, room, token, access, 0);
}

static joined join_rcvbuf(int port, const char *room, const char *token, const char *access,
                          int rcvbuf)
{
    char path[512];
    int n = snprintf(path, sizeof path, "/ws/%s", room);
    const char *sep = "?";
    if (token) {
        n += snprintf(path + n, sizeof path - (size_t)n, "%sresume=%s", sep, token);
        sep = "&";
    }
    if (access)
        snprintf(path + n, sizeof path - (size_t)n, "%saccess_token=%s", sep, access);
    return join_path(port, room, path, rcvbuf);
}

static joined join_path(int port, const char *room, const char *path, int rcvbuf)
{
    char err[256];
    joined j = { 0 };
    j.c = ws_connect(port, path, rcvbuf, 5000, err, sizeof err);
    cr_assert(j.c, "WebSocket to port %d: %s", port, err);
    json_t *m = h_recv(j.c, "connected");
    cr_assert(h_type_is(m, "connected"), "first message: %s", h_jdump(m));
    const char *uid = h_jstr(m, "user_id"), *tok = h_jstr(m, "resume_token");
    cr_assert(uid && h_is_uuid4(uid), "connected.user_id: %s", h_jdump(m));
    cr_assert(tok && strlen(tok) == TOKEN_LEN, "connected.resume_token: %s", h_jdump(m));
    cr_assert(json_is_boolean(json_object_get(m, "resumed")), "connected.resumed: %s", h_jdump(m));
    snprintf(j.c->user_id, sizeof j.c->user_id, "%s", uid);
    snprintf(j.c->room_id, sizeof j.c->room_id, "%s", room);
    snprintf(j.c->node_id, sizeof j.c->node_id, "%s", h_jstr(m, "node_id"));
    snprintf(j.token, sizeof j.token, "%s", tok);
    snprintf(j.uid, sizeof j.uid, "%s", uid);
    j.resumed = json_is_true(json_object_get(m, "resumed"));
    j.missed = json_is_true(json_object_get(m, "missed"));
    j.participants = json_incref(json_object_get(m, "participants"));
    json_decref(m);
    return j;
}

static joined join_plain(int port, const char *room)
{
    return join_with(port, room, NULL, NULL);
}

/* A new room, created through create_on, with a joined through port_a and
 * then b through port_b, once a has seen b join. */
static void pair_in_new_room(int create_on, int port_a, int port_b, char room[37], joined *a,
                             joined *b)
{
    h_create_room_into(create_on, NULL, room);
    *a = join_plain(port_a, room);
    *b = join_plain(port_b, room);
    h_expect_user_event(a->c, "user-joined", b->uid, room);
}

/* Wait until Redis holds user in room's away hash (or no longer does). */
static void wait_held(const char *room, const char *user, bool held)
{
    char key[128];
    snprintf(key, sizeof key, "sb:room:{%s}:away", room);
    long long deadline = h_now_ms() + 10000;
    for (int i = 0; i < 1000 && h_now_ms() < deadline; i++) {
        if ((h_redis_int("HEXISTS", key, user, NULL) == 1) == held)
            return;
        h_sleep_ms(20);
    }
    cr_assert_fail("%s was %sheld in Redis within 10 s", user, held ? "not " : "still ");
}

static void start_nodes(int n, const char *window, const char *ttl)
{
    static const char *ids[] = { "node-a", "node-b", "node-c" };
    for (int i = 0; i < n; i++)
        h_node_start(ids[i], "--resume-window", window, "--heartbeat-ttl", ttl,
                     "--departure-timeout", "5", NULL);
}

IT_TEST(resume, lost_socket_resumes_on_other_node_with_the_gap, h_setup_redis)
{
    start_nodes(2, "10", "15");
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, NULL, room);
    joined a = join_plain(n1, room);
    cr_assert(!a.resumed, "a fresh join says resumed");
    joined b = join_plain(n2, room);
    h_expect_user_event(a.c, "user-joined", b.uid, room);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", a.uid);

    ws_drop(a.c); /* no close frame: the socket is lost */
    wait_held(room, uid, true);
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"one\"}");
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"two\",\"to\":\"%s\"}", uid);
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"three\"}");
    h_ping_pong(b.c); /* the three went through node-b before the resume */

    joined a2 = join_with(n2, room, a.token, NULL);
    cr_assert(a2.resumed, "resume with a fresh token was not resumed");
    cr_assert(!a2.missed, "nothing overflowed, yet missed");
    cr_assert_str_eq(a2.uid, uid, "a resumed participant keeps its user id");
    cr_assert_str_neq(a2.token, a.token, "each connected gives a new token");
    cr_assert(json_array_size(a2.participants) == 1
                  && h_streq(json_string_value(json_array_get(a2.participants, 0)), b.uid),
              "participants after the resume: %s", h_jdump(a2.participants));
    h_expect_chat(a2.c, b.uid, "one");
    h_expect_chat(a2.c, b.uid, "two");
    h_expect_chat(a2.c, b.uid, "three");
    h_expect_silence(a2.c, H_SILENCE_MS);
    /* The others saw nothing of it, and it speaks as itself. */
    h_expect_silence(b.c, H_SILENCE_MS);
    h_sendf(a2.c, "{\"type\":\"chat\",\"text\":\"back\"}");
    h_expect_chat(b.c, uid, "back");
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"after\",\"to\":\"%s\"}", uid);
    h_expect_chat(a2.c, b.uid, "after");
    wait_held(room, uid, false);
    cr_assert_eq(h_room_count(n1, room), 2);
    /* The secret half of a token is nobody's to read. */
    char path[64];
    snprintf(path, sizeof path, "/rooms/%s", room);
    http_resp details = h_http(n1, "GET", path, NULL, NULL);
    cr_assert(details.status == 200 && !strstr(details.body, a2.token + 36)
                  && !strstr(details.body, a.token + 36),
              "room details show a resume secret: %s", details.body);
    http_resp_free(&details);
    http_resp m1 = h_http(n1, "GET", "/metrics", NULL, NULL),
              m2 = h_http(n2, "GET", "/metrics", NULL, NULL);
    cr_assert(strstr(m1.body, "\nswitchboard_members_held_total 1\n"), "node-a held one: %s",
              m1.body);
    cr_assert(strstr(m2.body, "\nswitchboard_resumes_total 1\n"), "node-b resumed one: %s",
              m2.body);
    http_resp_free(&m1);
    http_resp_free(&m2);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}

IT_TEST(resume, same_node_resume_and_used_token_is_dead, h_setup_redis)
{
    start_nodes(1, "10", "15");
    int n1 = h_node_port(0);
    char room[37];
    joined a, b;
    pair_in_new_room(n1, n1, n1, room, &a, &b);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", a.uid);
    ws_drop(a.c);
    wait_held(room, uid, true);
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"gap\"}");
    h_ping_pong(b.c);
    joined a2 = join_with(n1, room, a.token, NULL);
    cr_assert(a2.resumed && h_streq(a2.uid, uid), "same-node resume failed");
    h_expect_chat(a2.c, b.uid, "gap");
    h_expect_silence(b.c, H_SILENCE_MS);

    /* The first token was used: a fresh participant, which the others
     * see join. */
    joined x = join_with(n1, room, a.token, NULL);
    cr_assert(!x.resumed, "a used token resumed");
    cr_assert_str_neq(x.uid, uid, "a used token gave the old user id");
    h_expect_user_event(b.c, "user-joined", x.uid, room);
    h_expect_user_event(a2.c, "user-joined", x.uid, room);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
    json_decref(x.participants);
}

IT_TEST(resume, resume_replaces_a_connection_still_open, h_setup_redis)
{
    /* The node has not noticed the loss yet (a half-open socket): the
     * resume takes over and the old connection is closed with 4001. */
    start_nodes(2, "10", "15");
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    joined a, b;
    pair_in_new_room(n1, n1, n2, room, &a, &b);
    joined a2 = join_with(n2, room, a.token, NULL);
    cr_assert(a2.resumed && h_streq(a2.uid, a.uid), "takeover failed");
    cr_assert(a2.missed, "nobody kept what went to the old connection: missed must be said");
    h_expect_error(a.c, SB_ERR_REPLACED);
    cr_assert_eq(ws_wait_close(a.c, H_MSG_TIMEOUT_MS), SB_CLOSE_REPLACED);
    h_expect_silence(b.c, H_SILENCE_MS);
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"hi\",\"to\":\"%s\"}", a2.uid);
    h_expect_chat(a2.c, b.uid, "hi");
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}

IT_TEST(resume, token_of_another_room_or_malformed_joins_afresh, h_setup_redis)
{
    start_nodes(1, "10", "15");
    int n1 = h_node_port(0);
    char room1[37], room2[37];
    h_create_room_into(n1, NULL, room1);
    h_create_room_into(n1, NULL, room2);
    joined a = join_plain(n1, room1);
    joined w = join_plain(n1, room2);
    ws_drop(a.c);
    wait_held(room1, a.uid, true);
    joined x = join_with(n1, room2, a.token, NULL);
    cr_assert(!x.resumed && !h_streq(x.uid, a.uid), "a token of another room resumed there");
    h_expect_user_event(w.c, "user-joined", x.uid, room2);
    /* Not tokens at all: fresh joins, never an error. */
    static const char *const bad[] = { "x", "%41", "00000000-0000-4000-8000-00000000000000000000",
                                       "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        joined y = join_with(n1, room2, bad[i], NULL);
        cr_assert(!y.resumed, "'%s' resumed", bad[i]);
        h_expect_user_event(w.c, "user-joined", y.uid, room2);
        json_decref(y.participants);
    }
    char wrong[TOKEN_LEN + 1];
    snprintf(wrong, sizeof wrong, "%s", a.token);
    wrong[TOKEN_LEN - 1] = wrong[TOKEN_LEN - 1] == '0' ? '1' : '0';
    joined z = join_with(n1, room1, wrong, NULL);
    cr_assert(!z.resumed, "a token with a wrong secret resumed");
    json_decref(a.participants);
    json_decref(w.participants);
    json_decref(x.participants);
    json_decref(z.participants);
}

IT_TEST(resume, close_1000_leaves_at_once, h_setup_redis)
{
    start_nodes(2, "10", "15");
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    joined a, b;
    pair_in_new_room(n1, n1, n2, room, &a, &b);
    char uid[64], token[TOKEN_LEN + 1];
    snprintf(uid, sizeof uid, "%s", a.uid);
    snprintf(token, sizeof token, "%s", a.token);
    long long t0 = h_now_ms();
    ws_close(a.c);
    h_expect_user_event(b.c, "user-left", uid, room);
    cr_assert(h_now_ms() - t0 < 3000, "user-left after close 1000 took %lld ms", h_now_ms() - t0);
    joined x = join_with(n2, room, token, NULL);
    cr_assert(!x.resumed && !h_streq(x.uid, uid), "the token of a leave resumed");
    json_decref(a.participants);
    json_decref(b.participants);
    json_decref(x.participants);
}

IT_TEST(resume, unresumed_window_ends_in_one_user_left, h_setup_redis)
{
    start_nodes(3, "2", "15");
    int n1 = h_node_port(0), n2 = h_node_port(1), n3 = h_node_port(2);
    char room[37];
    h_create_room_into(n1, NULL, room);
    joined a = join_plain(n1, room);
    joined b = join_plain(n2, room);
    joined c = join_plain(n3, room);
    h_expect_user_event(a.c, "user-joined", b.uid, room);
    h_expect_user_event(a.c, "user-joined", c.uid, room);
    h_expect_user_event(b.c, "user-joined", c.uid, room);
    char uid[64], token[TOKEN_LEN + 1];
    snprintf(uid, sizeof uid, "%s", a.uid);
    snprintf(token, sizeof token, "%s", a.token);
    long long t0 = h_now_ms();
    ws_drop(a.c);
    h_expect_silence(b.c, 1200); /* held: nothing yet */
    h_expect_user_event(b.c, "user-left", uid, room);
    h_expect_user_event(c.c, "user-left", uid, room);
    long long took = h_now_ms() - t0;
    cr_assert(took >= 1900 && took < 5000, "user-left %lld ms after the loss, window 2 s", took);
    /* Once, although two nodes knew of the hold. */
    h_expect_silence(b.c, 1000);
    h_expect_silence(c.c, H_SILENCE_MS);
    cr_assert_eq(h_room_count(n1, room), 2);
    joined x = join_with(n2, room, token, NULL);
    cr_assert(!x.resumed, "a token resumed after its window");
    json_decref(a.participants);
    json_decref(b.participants);
    json_decref(c.participants);
    json_decref(x.participants);
}

IT_TEST(resume, drained_node_participants_resume_elsewhere, h_setup_redis)
{
    start_nodes(2, "10", "15");
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    joined a, b;
    pair_in_new_room(n2, n1, n2, room, &a, &b);
    h_node_signal(0, SIGTERM);
    json_t *m = h_recv(a.c, "reconnect");
    cr_assert(h_type_is(m, "reconnect"), "drain: %s", h_jdump(m));
    json_decref(m);
    cr_assert_eq(ws_wait_close(a.c, H_MSG_TIMEOUT_MS), SB_CLOSE_RESTART);
    int status = 0;
    cr_assert(h_node_wait_exit(0, 15000, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "node-a did not drain cleanly");
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"while away\"}");
    h_ping_pong(b.c);
    joined a2 = join_with(n2, room, a.token, NULL);
    cr_assert(a2.resumed && h_streq(a2.uid, a.uid), "no resume after a drain");
    h_expect_chat(a2.c, b.uid, "while away");
    h_expect_silence(b.c, H_SILENCE_MS);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}

IT_TEST(resume, killed_node_members_are_held_not_announced, h_setup_redis)
{
    /* Heartbeat TTL 3 s: node-a is reaped within about 4 s of its death.
     * One of its members resumes on node-b before that, the other never:
     * the first is never announced, the second leaves once when the
     * window the reaper started ends. */
    start_nodes(2, "4", "3");
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n2, NULL, room);
    joined a = join_plain(n1, room);
    joined c = join_plain(n1, room);
    joined b = join_plain(n2, room);
    h_expect_user_event(a.c, "user-joined", c.uid, room);
    h_expect_user_event(a.c, "user-joined", b.uid, room);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", c.uid);
    h_node_signal(0, SIGKILL);
    cr_assert(h_node_wait_exit(0, 5000, NULL), "node-a did not die of SIGKILL");
    ws_drop(a.c);
    ws_drop(c.c);
    joined a2 = join_with(n2, room, a.token, NULL);
    cr_assert(a2.resumed && h_streq(a2.uid, a.uid), "no resume after SIGKILL");
    cr_assert(a2.missed, "resumed before the reaper held it: what went to the dead node is missed");
    /* The reaper runs within TTL + TTL/3; then c's window (4 s) ends. */
    wait_held(room, cid, true);
    long long held_at = h_now_ms();
    h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"for c\",\"to\":\"%s\"}", cid);
    json_t *m = h_recv(b.c, "user-left of c");
    cr_assert(h_type_is(m, "user-left") && h_streq(h_jstr(m, "user_id"), cid),
              "b got %s instead of c's user-left", h_jdump(m));
    json_decref(m);
    cr_assert(h_now_ms() - held_at > 2000, "c left %lld ms after the reaper held it",
              h_now_ms() - held_at);
    h_expect_user_event(a2.c, "user-left", cid, room);
    h_expect_silence(b.c, 1000);
    cr_assert_eq(h_room_count(n2, room), 2);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
    json_decref(c.participants);
}

IT_TEST(resume, overflowing_gap_says_missed, h_setup_redis)
{
    h_node_start("node-a", "--resume-window", "10", "--resume-buffer", "3:100000", NULL);
    int n1 = h_node_port(0);
    char room[37];
    joined a, b;
    pair_in_new_room(n1, n1, n1, room, &a, &b);
    ws_drop(a.c);
    wait_held(room, a.uid, true);
    static const char *const texts[] = { "m1", "m2", "m3", "m4", "m5" };
    for (size_t i = 0; i < 5; i++)
        h_sendf(b.c, "{\"type\":\"chat\",\"text\":\"%s\"}", texts[i]);
    h_ping_pong(b.c);
    joined a2 = join_with(n1, room, a.token, NULL);
    cr_assert(a2.resumed && a2.missed, "an overflowed gap must say missed: true");
    for (size_t i = 0; i < 3; i++)
        h_expect_chat(a2.c, b.uid, texts[i]);
    h_expect_silence(a2.c, H_SILENCE_MS);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}

/* Redis restarted empty: the nodes write their connected members back,
 * with their secrets, so those still resume; a member held at the time is
 * lost with Redis, and the others are told it left, once; nothing is
 * announced twice. */
IT_TEST(resume, redis_restarted_empty, h_setup_redis)
{
    start_nodes(2, "10", "3");
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char room[37];
    h_create_room_into(n1, NULL, room);
    joined a = join_plain(n1, room);
    joined c = join_plain(n1, room);
    joined b = join_plain(n2, room);
    h_expect_user_event(a.c, "user-joined", c.uid, room);
    h_expect_user_event(a.c, "user-joined", b.uid, room);
    h_expect_user_event(c.c, "user-joined", b.uid, room);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", c.uid);
    ws_drop(c.c);
    wait_held(room, cid, true);
    h_redis_stop();
    h_redis_restart();
    cr_assert_eq(h_wait_http_status(n1, "/readyz", 200, 10000), 200);
    cr_assert_eq(h_wait_http_status(n2, "/readyz", 200, 10000), 200);
    cr_assert_eq(h_wait_room_count(n2, room, 2, 10000), 2, "a and b were not written back");
    /* c is gone with Redis: one user-left, within the late comparison. */
    json_t *m = h_recv(b.c, "user-left of the held member");
    for (int i = 0; i < 3 && m && h_type_is(m, "pong"); i++) {
        json_decref(m);
        m = h_recv(b.c, "user-left of the held member");
    }
    cr_assert(h_type_is(m, "user-left") && h_streq(h_jstr(m, "user_id"), cid), "b got %s",
              h_jdump(m));
    json_decref(m);
    h_expect_user_event(a.c, "user-left", cid, room);
    /* A connected member still resumes, and nobody sees it come or go. */
    joined a2 = join_with(n2, room, a.token, NULL);
    cr_assert(a2.resumed && h_streq(a2.uid, a.uid), "no resume after the restart");
    h_expect_error(a.c, SB_ERR_REPLACED);
    h_expect_silence(b.c, 1500);
    joined x = join_with(n2, room, c.token, NULL);
    cr_assert(!x.resumed, "resumed a member Redis lost");
    h_expect_user_event(b.c, "user-joined", x.uid, room);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
    json_decref(c.participants);
    json_decref(x.participants);
}

#define AUTH_SECRET "resume-test-secret-0123456789abcdef"

/* A token of `sub` signed with AUTH_SECRET, valid ten minutes: `join`
 * in any room, or `admin`. */
static char *auth_token(const char *sub, const char *grant)
{
    json_t *claims = json_pack("{s:s,s:s,s:[s],s:I}", "sub", sub, "room", "*", "grants", grant,
                               "exp", (json_int_t)time(NULL) + 600);
    sb_token_key key = { AUTH_SECRET, strlen(AUTH_SECRET) };
    char *t = sb_token_sign(claims, &key);
    json_decref(claims);
    cr_assert(t);
    return t;
}

/* With auth on, a token resumes only with an access token of the same
 * identity; another identity presenting it joins as itself. */
IT_TEST(resume, auth_needs_the_same_identity, h_setup_redis)
{
    h_node_start("node-a", "--auth-secret", AUTH_SECRET, "--resume-window", "10", NULL);
    h_node_start("node-b", "--auth-secret", AUTH_SECRET, "--resume-window", "10", NULL);
    int n1 = h_node_port(0), n2 = h_node_port(1);
    char *admin = auth_token("ops", "admin"), *alice = auth_token("alice", "join"),
         *bob = auth_token("bob", "join"), *mallory = auth_token("mallory", "join");
    char bearer[4200];
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", admin);
    const char *headers[] = { bearer, NULL };
    http_resp r = h_http(n1, "POST", "/create-room", headers, NULL);
    cr_assert_eq(r.status, 200, "create-room: %d %s", r.status, r.body);
    json_t *created = http_json(&r);
    char room[37];
    snprintf(room, sizeof room, "%s", h_jstr(created, "room_id"));
    json_decref(created);
    http_resp_free(&r);

    joined a = join_with(n1, room, NULL, alice);
    joined b = join_with(n2, room, NULL, bob);
    json_t *m = h_recv(a.c, "bob joins");
    cr_assert(h_type_is(m, "user-joined") && h_streq(h_jstr(m, "identity"), "bob"), "%s",
              h_jdump(m));
    json_decref(m);
    ws_drop(a.c);
    wait_held(room, a.uid, true);

    joined x = join_with(n2, room, a.token, mallory);
    cr_assert(!x.resumed && !h_streq(x.uid, a.uid), "another identity resumed alice");
    m = h_recv(b.c, "mallory joins");
    cr_assert(h_type_is(m, "user-joined") && h_streq(h_jstr(m, "identity"), "mallory"), "%s",
              h_jdump(m));
    json_decref(m);

    joined a2 = join_with(n2, room, a.token, alice);
    cr_assert(a2.resumed && h_streq(a2.uid, a.uid), "alice did not resume with her own token");
    json_t *p0 = json_array_get(a2.participants, 0);
    cr_assert(json_array_size(a2.participants) == 2 && json_is_object(p0) && h_jstr(p0, "identity"),
              "participants with auth on are objects: %s", h_jdump(a2.participants));
    h_expect_silence(b.c, H_SILENCE_MS);
    h_sendf(a2.c, "{\"type\":\"chat\",\"text\":\"it is me\"}");
    h_expect_chat(b.c, a.uid, "it is me");

    /* The access token first, as switchboard.js writes the query: the
     * resume token after an argument of some hundred bytes is found too. */
    ws_drop(a2.c);
    wait_held(room, a.uid, true);
    char path[1024];
    snprintf(path, sizeof path, "/ws/%s?access_token=%s&resume=%s", room, alice, a2.token);
    joined a3 = join_path(n1, room, path, 0);
    cr_assert(a3.resumed && h_streq(a3.uid, a.uid),
              "alice did not resume with the access token first in the query");
    h_expect_silence(b.c, H_SILENCE_MS);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(a3.participants);
    json_decref(b.participants);
    json_decref(x.participants);
    free(admin);
    free(alice);
    free(bob);
    free(mallory);
}

/* What the node had queued for a socket and never wrote is not lost with
 * it: those frames go in front of the gap. The reader stops reading, the
 * node's queue fills behind the kernel's buffers, then the socket drops;
 * what the resumed participant gets is an unbroken run of the messages up
 * to the last one sent (the first ones died in the kernel's buffers, which
 * is why more are sent than those can hold). The resume follows the hold
 * at once, so under load it can reach the node before the node has heard
 * its own "away" and put those frames in Redis: it must wait for them. */
IT_TEST(resume, unsent_queue_goes_in_front_of_the_gap, h_setup_redis)
{
    h_node_start("node-a", "--resume-window", "10", "--resume-buffer", "4000:64000000",
                 "--max-queued-bytes", "67108864", "--rate-limit", "0", NULL);
    /* (the gap holds up to 4000 messages, the queue 64 MiB: N_MAX fits) */
    int n1 = h_node_port(0);
    char room[37];
    h_create_room_into(n1, NULL, room);
    joined a = join_rcvbuf(n1, room, NULL, NULL, 4096);
    joined b = join_plain(n1, room);
    h_expect_user_event(a.c, "user-joined", b.uid, room);
    /* More than the node's socket can take into its send buffer (up to
     * tcp_wmem's maximum, 4 MiB by default) twice over, so that frames are
     * certain to wait in the node's own queue when the socket drops. */
    enum { PAD = 8192, N_MAX = 3000 };
    long wmem_max = h_tcp_wmem_max();
    int N = (int)(2 * wmem_max / PAD) + 100;
    N = N < 400 ? 400 : N > N_MAX ? N_MAX : N;
    static char pad[PAD + 1];
    memset(pad, 'x', PAD);
    for (int i = 0; i < N; i++)
        h_sendf(b.c, "{\"type\":\"chat\",\"seq\":%d,\"pad\":\"%s\"}", i, pad);
    h_ping_pong(b.c); /* every one went through the node */
    ws_drop(a.c);
    wait_held(room, a.uid, true);
    joined a2 = join_with(n1, room, a.token, NULL);
    cr_assert(a2.resumed && !a2.missed, "resume after a full queue: resumed %d missed %d",
              a2.resumed, a2.missed);
    int first = -1, last = -1;
    for (int i = 0; i < N; i++) {
        json_t *m = ws_recv_json(a2.c, 3000, NULL);
        if (!m)
            break;
        int seq = (int)json_integer_value(json_object_get(m, "seq"));
        json_decref(m);
        if (first < 0)
            first = seq;
        cr_assert(last < 0 || seq == last + 1, "after %d came %d", last, seq);
        last = seq;
    }
    cr_assert(first >= 0 && last == N - 1, "the resumed participant got %d..%d of 0..%d", first,
              last, N - 1);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}

/* A participant resumed on a node that had nobody else in the room is
 * that node's member: when that node dies, the reaper finds it, holds it,
 * and its window ends in one user-left. */
IT_TEST(resume, resumed_member_is_reaped_with_its_new_node, h_setup_redis)
{
    start_nodes(3, "2", "3");
    int n1 = h_node_port(0), n2 = h_node_port(1), n3 = h_node_port(2);
    char room[37];
    joined a, b;
    pair_in_new_room(n1, n1, n2, room, &a, &b);
    ws_drop(a.c);
    wait_held(room, a.uid, true);
    joined a2 = join_with(n3, room, a.token, NULL);
    cr_assert(a2.resumed, "no resume on node-c");
    h_node_signal(2, SIGKILL);
    cr_assert(h_node_wait_exit(2, 5000, NULL), "node-c did not die of SIGKILL");
    ws_drop(a2.c);
    /* Reaped within TTL + TTL/3, then held for the 2 s window. */
    json_t *m = ws_expect_type(b.c, "user-left", 15000);
    cr_assert(m && h_streq(h_jstr(m, "user_id"), a.uid), "b never saw a leave: %s", h_jdump(m));
    json_decref(m);
    h_expect_silence(b.c, 1000);
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}

/* When Redis no longer has the node's heartbeat (as after a failover to a
 * replica that lacked it), the node writes its members back and takes out
 * the members Redis keeps under it with no session here: a member held for
 * a resume is not one of those, and still resumes unseen. */
IT_TEST(resume, held_member_survives_the_write_back, h_setup_redis)
{
    start_nodes(1, "30", "3");
    int port = h_node_port(0);
    char room[37];
    joined a, b;
    pair_in_new_room(port, port, port, room, &a, &b);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", a.uid);
    ws_drop(a.c);
    wait_held(room, uid, true);

    char node_key[64];
    snprintf(node_key, sizeof node_key, "sb:node:{%s}", h_node_id(0));
    cr_assert_eq(h_redis_int("DEL", node_key, NULL), 1, "no heartbeat key %s", node_key);
    /* The next heartbeat (every TTL/3 = 1 s) finds it gone and writes back. */
    char members[128];
    snprintf(members, sizeof members, "sb:room:{%s}:members", room);
    long long deadline = h_now_ms() + 5000;
    while (h_redis_int("EXISTS", node_key, NULL) != 1 && h_now_ms() < deadline)
        h_sleep_ms(50);
    cr_assert_eq(h_redis_int("EXISTS", node_key, NULL), 1, "the heartbeat did not come back");
    h_expect_silence(b.c, 1500); /* the clean-up ran meanwhile; nothing to tell */
    cr_assert_eq(h_redis_int("HEXISTS", members, uid, NULL), 1, "the held member was removed");

    joined a2 = join_with(port, room, a.token, NULL);
    cr_assert(a2.resumed, "the held member could not resume after the write-back");
    cr_assert_str_eq(a2.uid, uid);
    h_expect_silence(b.c, H_SILENCE_MS);
    json_decref(a.participants);
    json_decref(b.participants);
    json_decref(a2.participants);
}

/* A socket lost while the node's subscriber link is down (killed by Redis,
 * its reconnects refused while the default user is off): the node never
 * hears its own "away", so what it kept for the held member goes to Redis
 * at once. Nothing stays behind for a capture that will never end: the
 * node drains as fast as ever afterwards (a capture left open would hold
 * the drain to its 5 s limit), and the member resumes, told it missed. */
IT_TEST(resume, hold_while_the_subscriber_is_down, h_setup_redis)
{
    start_nodes(1, "10", "15");
    int n1 = h_node_port(0);
    char room[37];
    joined a, b;
    pair_in_new_room(n1, n1, n1, room, &a, &b);

    cr_assert_eq(h_redis_subscribers_cut(), 0);
    cr_assert_eq(h_wait_http_status(n1, "/readyz", 503, 5000), 503,
                 "the node did not notice its subscriber link was gone");
    ws_drop(a.c);
    /* Held, as seen by the harness's own user (the default one is off). */
    char away[128];
    snprintf(away, sizeof away, "sb:room:{%s}:away", room);
    int errors = -1;
    for (int i = 0; i < 500 && errors != 0; i++) {
        h_redis_batch held = { 0 };
        h_redis_batch_add(&held, "EVAL",
                          "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end "
                          "return redis.error_reply('not held')",
                          "1", away, a.uid, NULL);
        if ((errors = h_redis_batch_run_as_harness(&held, 5000)) != 0)
            h_sleep_ms(20);
    }
    cr_assert_eq(errors, 0, "%s was not held in Redis within 10 s", a.uid);
    cr_assert_eq(h_redis_links_restore(), 0);
    cr_assert_eq(h_wait_http_status(n1, "/readyz", 200, 10000), 200);

    joined a2 = join_with(n1, room, a.token, NULL);
    cr_assert(a2.resumed && h_streq(a2.uid, a.uid), "no resume after the link came back");
    cr_assert(a2.missed, "the node kept no gap while unsubscribed, yet not missed");
    ws_drop(a2.c);
    wait_held(room, a.uid, true);

    h_node_signal(0, SIGTERM);
    int status = 0;
    cr_assert(h_node_wait_exit(0, 4000, &status) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the node's drain waited for a capture that cannot end");
    json_decref(a.participants);
    json_decref(a2.participants);
    json_decref(b.participants);
}
