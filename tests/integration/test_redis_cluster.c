/*
 * test_redis_cluster.c - the node on Redis Cluster (--redis-cluster): 3
 * masters and 3 replicas (harness_cluster.h), two nodes.
 *
 *   - rooms relay across the nodes, and their keys are spread over every
 *     master; a room's channel is a shard channel on the master that owns
 *     its slot (PUBSUB SHARDCHANNELS there), never a global one (PUBSUB
 *     CHANNELS anywhere); GET /rooms lists every room from either node;
 *   - a SIGKILLed node's members are reaped;
 *   - a SIGKILLed master: its replica is promoted, and relay in a room of
 *     that shard works again within 15 s;
 *   - a room's slot moved to another master while in use (MOVED, the old
 *     master giving its channel up): relay and joins go on;
 *   - --max-rooms counts the index over the masters; with auth on, an
 *     identity's newer connection replaces the older across nodes;
 *   - resuming: a socket lost on one node resumes on the other with the
 *     gap in order, nobody told; a killed node's member is held by the
 *     reaper and resumes on the other node unannounced;
 *   - the compose override for a cluster is a valid compose file.
 */
#include "harness.h"
#include "harness_cluster.h"
#include "redis_slots.h"
#include "token.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define ROOMS 30
#define FAILOVER_BOUND_MS 15000

typedef struct {
    char id[37];
    ws_client *a, *b; /* a on node-a, b on node-b */
} pair;

static void relay_once(ws_client *from, ws_client *to, int n)
{
    h_sendf(from, "{\"type\":\"ice-candidate\",\"data\":{\"n\":%d}}", n);
    char data[32];
    snprintf(data, sizeof data, "{\"n\":%d}", n);
    h_expect_relay(to, "ice-candidate", from, data, NULL);
}

static void rooms_of_two(int pa, int pb, pair *p, int n)
{
    for (int i = 0; i < n; i++) {
        h_room_of_two(i % 2 ? pb : pa, i % 2 ? pa : pb, p[i].id, &p[i].a, &p[i].b);
        if (i % 2) { /* h_room_of_two joined the first through port_a */
            ws_client *t = p[i].a;
            p[i].a = p[i].b;
            p[i].b = t;
        }
    }
}

/* Keys matching pattern on one server. */
static size_t keys_on(int port, const char *pattern)
{
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(port, &r, "KEYS", pattern, NULL), 0);
    cr_assert_eq(r.type, '*');
    size_t n = r.n;
    h_redis_reply_free(&r);
    return n;
}

static bool reply_lists(int port, const char *sub, const char *channel)
{
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(port, &r, "PUBSUB", sub, channel, NULL), 0);
    cr_assert_eq(r.type, '*', "PUBSUB %s on %d: not an array", sub, port);
    bool found = false;
    for (size_t i = 0; i < r.n; i++)
        found |= h_streq(r.elems[i], channel);
    h_redis_reply_free(&r);
    return found;
}

IT_CLUSTER_TEST(redis_cluster, rooms_relay_across_nodes_on_every_shard)
{
    int pa = h_node_port(h_cluster_node_start("node-a", NULL));
    int pb = h_node_port(h_cluster_node_start("node-b", NULL));
    pair p[ROOMS];
    rooms_of_two(pa, pb, p, ROOMS);
    for (int i = 0; i < ROOMS; i++) {
        relay_once(p[i].a, p[i].b, i);
        relay_once(p[i].b, p[i].a, i);
    }

    /* The rooms' keys sit on every master, each on its slot's owner. */
    int masters[H_CLUSTER_SIZE];
    int n_masters = h_cluster_masters(masters);
    cr_assert_eq(n_masters, 3, "%d masters", n_masters);
    for (int m = 0; m < n_masters; m++)
        cr_assert_gt(keys_on(masters[m], "sb:room:*"), 0, "no room key on master %d", masters[m]);
    for (int i = 0; i < ROOMS; i++) {
        char key[64];
        snprintf(key, sizeof key, "sb:room:{%.36s}", p[i].id);
        int owner = h_cluster_owner(key);
        cr_assert_gt(owner, 0);
        for (int m = 0; m < n_masters; m++) {
            /* The channel is a shard channel on the owner only, and no
             * master has it as a global channel. */
            cr_assert_eq(reply_lists(masters[m], "SHARDCHANNELS", key), masters[m] == owner,
                         "room %d: PUBSUB SHARDCHANNELS on %d (owner %d)", i, masters[m], owner);
            cr_assert(!reply_lists(masters[m], "CHANNELS", key), "room %d: a global channel on %d",
                      i, masters[m]);
            cr_assert_eq(keys_on(masters[m], key), masters[m] == owner ? 1u : 0u);
        }
    }

    /* The listing, from either node, has every room with both members. */
    int ports[2] = { pa, pb };
    for (int k = 0; k < 2; k++) {
        http_resp r = h_http(ports[k], "GET", "/rooms?limit=100", NULL, NULL);
        cr_assert_eq(r.status, 200);
        json_t *rooms = http_json(&r);
        http_resp_free(&r);
        cr_assert_eq(json_array_size(rooms), ROOMS, "GET /rooms on %s: %zu rooms, want %d",
                     h_node_id(k), json_array_size(rooms), ROOMS);
        for (int i = 0; i < ROOMS; i++) {
            bool found = false;
            for (size_t j = 0; j < json_array_size(rooms); j++) {
                json_t *e = json_array_get(rooms, j);
                if (h_streq(h_jstr(e, "room_id"), p[i].id)) {
                    found = true;
                    cr_assert_eq(json_integer_value(json_object_get(e, "participant_count")), 2);
                }
            }
            cr_assert(found, "room %d missing from GET /rooms on %s", i, h_node_id(k));
        }
        json_decref(rooms);
    }
}

#define HEARTBEAT_TTL_S 3
#define REAP_BOUND_MS (3 * HEARTBEAT_TTL_S * 1000 + 3000)

IT_CLUSTER_TEST(redis_cluster, killed_node_members_are_reaped)
{
    int pa = h_node_port(h_cluster_node_start("node-a", "--heartbeat-ttl", "3", NULL));
    int pb = h_node_port(h_cluster_node_start("node-b", "--heartbeat-ttl", "3", NULL));
    enum { N = 6 };
    pair p[N];
    rooms_of_two(pa, pb, p, N);
    long long t0 = h_now_ms();
    h_node_signal(1, SIGKILL);
    cr_assert(h_node_wait_exit(1, 5000, NULL), "node-b did not die of SIGKILL");
    for (int i = 0; i < N; i++) {
        char gone[64];
        snprintf(gone, sizeof gone, "%s", p[i].b->user_id);
        ws_drop(p[i].b);
        long long left = t0 + REAP_BOUND_MS - h_now_ms();
        const char *why = NULL;
        json_t *j = ws_recv_json(p[i].a, left > 0 ? (int)left : 1, &why);
        cr_assert(j, "room %d: no user-left within %d ms of the SIGKILL: %s", i, REAP_BOUND_MS,
                  why ? why : "?");
        cr_assert(h_type_is(j, "user-left") && h_streq(h_jstr(j, "user_id"), gone),
                  "room %d: expected user-left of %s, got %s", i, gone, h_jdump(j));
        json_decref(j);
        cr_assert_eq(h_wait_room_count(pa, p[i].id, 1, 3000), 1);
    }
    /* node-b is forgotten: out of the registry, its rooms set gone. */
    int owner = h_cluster_owner("sb:nodes");
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(owner, &r, "SISMEMBER", "sb:nodes", "node-b", NULL), 0);
    cr_assert(r.type == ':' && r.integer == 0, "node-b is still registered");
    h_redis_reply_free(&r);
    int rooms_owner = h_cluster_owner("sb:node:{node-b}:rooms");
    cr_assert_eq(h_cluster_cmd(rooms_owner, &r, "EXISTS", "sb:node:{node-b}:rooms", NULL), 0);
    cr_assert(r.type == ':' && r.integer == 0, "node-b's rooms set is still there");
    h_redis_reply_free(&r);
}

/* Send probes until one crosses, within the bound from t0. */
static long long wait_relay(ws_client *from, ws_client *to, long long t0, const char *what)
{
    for (int i = 0; i < 200 && h_now_ms() < t0 + FAILOVER_BOUND_MS; i++) {
        h_sendf(from, "{\"type\":\"ice-candidate\",\"data\":{\"probe\":%d}}", i);
        json_t *j = ws_recv_json(to, 300, NULL);
        if (!j)
            continue;
        bool probe =
            h_type_is(j, "ice-candidate") && h_streq(h_jstr(j, "sender_id"), from->user_id);
        json_decref(j);
        if (probe)
            return h_now_ms() - t0;
    }
    int masters[H_CLUSTER_SIZE];
    int n = h_cluster_masters(masters);
    cr_assert_fail("%s: no message crossed the nodes within %d ms (%d masters serve slots now)",
                   what, FAILOVER_BOUND_MS, n);
    return -1;
}

IT_CLUSTER_TEST(redis_cluster, relay_recovers_after_a_master_dies)
{
    int pa = h_node_port(h_cluster_node_start("node-a", NULL));
    int pb = h_node_port(h_cluster_node_start("node-b", NULL));
    enum { N = 6 };
    pair p[N];
    rooms_of_two(pa, pb, p, N);
    char key[64];
    snprintf(key, sizeof key, "sb:room:{%.36s}", p[0].id);
    int owner = h_cluster_owner(key);
    cr_assert_gt(owner, 0);

    long long t0 = h_now_ms();
    h_cluster_kill(owner);
    long long ab = wait_relay(p[0].a, p[0].b, t0, "node-a -> node-b");
    long long ba = wait_relay(p[0].b, p[0].a, t0, "node-b -> node-a");
    cr_log_info("relay back %lld ms (a->b), %lld ms (b->a) after the master died", ab, ba);
    int now_owner = h_cluster_owner(key);
    cr_assert(now_owner > 0 && now_owner != owner, "no replica took over the room's slot");
    /* The nodes are ready again, and joins work on the promoted master. */
    cr_assert_eq(h_wait_http_status(pa, "/readyz", 200, FAILOVER_BOUND_MS), 200);
    cr_assert_eq(h_wait_http_status(pb, "/readyz", 200, FAILOVER_BOUND_MS), 200);
    ws_client *c = h_join(pb, p[0].id, NULL);
    cr_assert_eq(h_wait_room_count(pa, p[0].id, 3, 5000), 3);
    ws_close(c);
}

/* The compose override for Redis Cluster is a valid compose file on top
 * of docker-compose.yml, and gives the nodes the six servers as seeds.
 * (No Docker engine runs in CI: the file is checked, not run.) */
IT_TEST(redis_cluster, compose_override_is_valid, h_setup_none)
{
    char dc[PATH_MAX];
    if (!h_which("docker-compose", dc, sizeof dc))
        cr_skip_test("docker-compose is not installed (scripts/setup.sh installs it)");
    char base[PATH_MAX], over[PATH_MAX], out[PATH_MAX];
    snprintf(base, sizeof base, "%s/docker-compose.yml", h_repo_root());
    snprintf(over, sizeof over, "%s/docker-compose.redis-cluster.yml", h_repo_root());
    snprintf(out, sizeof out, "%s/compose-config.yml", h_test_dir());
    const char *argv[] = { dc, "-f", base, "-f", over, "config", NULL };
    int st = h_run(argv, NULL, out, "compose-config.log", 60000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "docker-compose config failed (see %s/%s)",
              h_test_dir(), "compose-config.log");
    char *text = h_read_file(out);
    char want[512] = "SWITCHBOARD_REDIS_CLUSTER: ";
    for (int i = 1; i <= H_CLUSTER_SIZE; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s172.31.250.1%d:6379",
                 i > 1 ? "," : "", i);
    cr_assert(strstr(text, want), "the nodes do not get the six seeds:\n%s", text);
    for (int i = 1; i <= H_CLUSTER_SIZE; i++) {
        char svc[32];
        snprintf(svc, sizeof svc, "  redis-c%d:\n", i);
        cr_assert(strstr(text, svc), "no service redis-c%d", i);
    }
    cr_assert(strstr(text, "--cluster-replicas"), "redis-init does not create the cluster");
    free(text);
}

/* The master id of the server on port. */
static void node_id_of(int port, char out[64])
{
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(port, &r, "CLUSTER", "MYID", NULL), 0);
    cr_assert(r.type == '$' && r.str, "CLUSTER MYID on %d", port);
    snprintf(out, 64, "%s", r.str);
    h_redis_reply_free(&r);
}

static void expect_ok(int port, const char *what, h_redis_reply *r)
{
    cr_assert(r->type == '+', "%s on %d: %s", what, port, r->str ? r->str : "(no status)");
    h_redis_reply_free(r);
}

/* Move one slot from master `from` to master `to`, its keys with it, the
 * way redis-cli --cluster reshard does, and tell every master. */
static void move_slot(const char *slot, int from, int to, const char *const *keys, int n_keys,
                      const int *masters, int n_masters)
{
    char from_id[64], to_id[64], port[16];
    node_id_of(from, from_id);
    node_id_of(to, to_id);
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(to, &r, "CLUSTER", "SETSLOT", slot, "IMPORTING", from_id, NULL), 0);
    expect_ok(to, "SETSLOT IMPORTING", &r);
    cr_assert_eq(h_cluster_cmd(from, &r, "CLUSTER", "SETSLOT", slot, "MIGRATING", to_id, NULL), 0);
    expect_ok(from, "SETSLOT MIGRATING", &r);
    snprintf(port, sizeof port, "%d", to);
    cr_assert(n_keys == 2);
    cr_assert_eq(h_cluster_cmd(from, &r, "MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS",
                               keys[0], keys[1], NULL),
                 0);
    expect_ok(from, "MIGRATE", &r);
    for (int m = 0; m < n_masters; m++) {
        cr_assert_eq(h_cluster_cmd(masters[m], &r, "CLUSTER", "SETSLOT", slot, "NODE", to_id, NULL),
                     0);
        expect_ok(masters[m], "SETSLOT NODE", &r);
    }
}

/* A room's slot moves to another master while the room is in use: the
 * nodes follow MOVED, read the map again, subscribe the room's channel
 * on its new master, and relay and joins go on. */
IT_CLUSTER_TEST(redis_cluster, a_room_follows_its_slot_to_another_master)
{
    int pa = h_node_port(h_cluster_node_start("node-a", "--heartbeat-ttl", "60", NULL));
    int pb = h_node_port(h_cluster_node_start("node-b", "--heartbeat-ttl", "60", NULL));
    pair p;
    rooms_of_two(pa, pb, &p, 1);
    relay_once(p.a, p.b, 1);
    char room[64], members[80], slot[16];
    snprintf(room, sizeof room, "sb:room:{%.36s}", p.id);
    snprintf(members, sizeof members, "%s:members", room);
    snprintf(slot, sizeof slot, "%u", sb_key_slot_str(room));
    int masters[H_CLUSTER_SIZE];
    int n_masters = h_cluster_masters(masters);
    int from = h_cluster_owner(room), to = -1;
    for (int m = 0; m < n_masters && to < 0; m++)
        if (masters[m] != from)
            to = masters[m];
    cr_assert(from > 0 && to > 0);

    /* A heartbeat of 60 s: the periodic map read is 20 s away, so what
     * the nodes do in the bound is their answer to MOVED and to the old
     * master giving the channel up. */
    long long t0 = h_now_ms();
    const char *keys[] = { room, members };
    move_slot(slot, from, to, keys, 2, masters, n_masters);
    cr_assert_eq(h_cluster_owner(room), to, "the slot did not move");
    wait_relay(p.a, p.b, t0, "node-a -> node-b after the move");
    wait_relay(p.b, p.a, t0, "node-b -> node-a after the move");
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(to, &r, "PUBSUB", "SHARDNUMSUB", room, NULL), 0);
    cr_assert(r.type == '*' && r.n == 2 && h_streq(r.elems[1], "2"),
              "the room's channel is not subscribed by both nodes on its new master");
    h_redis_reply_free(&r);
    ws_client *c = h_join(pa, p.id, NULL);
    cr_assert_eq(h_wait_room_count(pb, p.id, 3, 5000), 3);
    ws_close(c);
}

/* ---- --max-rooms and auth on a cluster ---- */

#define CLUSTER_SECRET "cluster-test-secret-0123456789abcdef"

/* A token of `sub` with one grant, for `room` (NULL: none), valid ten
 * minutes; the caller frees it. */
static char *token(const char *sub, const char *room, const char *grant)
{
    json_t *claims = json_pack("{s:s,s:[s],s:I}", "sub", sub, "grants", grant, "exp",
                               (json_int_t)time(NULL) + 600);
    if (room)
        json_object_set_new(claims, "room", json_string(room));
    sb_token_key key = { CLUSTER_SECRET, strlen(CLUSTER_SECRET) };
    char *t = sb_token_sign(claims, &key);
    json_decref(claims);
    cr_assert(t);
    return t;
}

static int admin_request(int port, const char *method, const char *path, char room_out[37])
{
    char *t = token("ops", "*", "admin"), auth[1200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t);
    free(t);
    const char *headers[] = { auth, NULL };
    http_resp r = h_http(port, method, path, headers, NULL);
    int status = r.status;
    if (status == 200 && room_out) {
        json_t *j = http_json(&r);
        snprintf(room_out, 37, "%s", h_jstr(j, "room_id") ? h_jstr(j, "room_id") : "");
        json_decref(j);
    }
    if (status == 429)
        h_expect_detail(&r, 429, "Too many rooms", "create-room past --max-rooms");
    http_resp_free(&r);
    return status;
}

/* Entries of the listing index, each partition asked of its master. */
static long long index_entries(void)
{
    long long n = 0;
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++) {
        char key[64];
        snprintf(key, sizeof key, "sb:rooms:{%s}", sb_index_partition_tag(p));
        h_redis_reply r;
        cr_assert_eq(h_cluster_cmd(h_cluster_owner(key), &r, "ZCARD", key, NULL), 0);
        cr_assert_eq(r.type, ':');
        n += r.integer;
        h_redis_reply_free(&r);
    }
    return n;
}

static ws_client *join_as(int port, const char *room, const char *sub)
{
    char *t = token(sub, room, "join"), path[1200], err[256];
    snprintf(path, sizeof path, "/ws/%s?access_token=%s", room, t);
    free(t);
    ws_client *c = ws_connect(port, path, 0, H_MSG_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "join as %s: %s", sub, err);
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, NULL);
    cr_assert(h_type_is(j, "connected"), "join as %s: %s", sub, h_jdump(j));
    snprintf(c->user_id, sizeof c->user_id, "%s", h_jstr(j, "user_id"));
    snprintf(c->room_id, sizeof c->room_id, "%s", room);
    json_decref(j);
    return c;
}

/* The room limit counts the 16 index partitions over the masters, and
 * with auth on, a newer connection of an identity replaces the older
 * across nodes (SCRIPT_JOIN_AUTH publishing on the shard channel). */
IT_CLUSTER_TEST(redis_cluster, room_limit_and_auth_hold)
{
    int pa = h_node_port(h_cluster_node_start("node-a", "--max-rooms", "3", "--auth-secret",
                                              CLUSTER_SECRET, "--heartbeat-ttl", "60", NULL));
    int pb = h_node_port(h_cluster_node_start("node-b", "--max-rooms", "3", "--auth-secret",
                                              CLUSTER_SECRET, "--heartbeat-ttl", "60", NULL));
    char rooms[3][37], path[64];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(admin_request(i % 2 ? pb : pa, "POST", "/create-room", rooms[i]), 200);
    cr_assert_eq(admin_request(pb, "POST", "/create-room", NULL), 429, "a 4th room");
    cr_assert_eq(index_entries(), 3);
    snprintf(path, sizeof path, "/rooms/%s", rooms[1]);
    cr_assert_eq(admin_request(pa, "DELETE", path, NULL), 200);
    cr_assert_eq(admin_request(pb, "POST", "/create-room", rooms[1]), 200, "after a DELETE");
    cr_assert_eq(admin_request(pa, "POST", "/create-room", NULL), 429);

    ws_client *first = join_as(pa, rooms[0], "alice");
    ws_client *bob = join_as(pb, rooms[0], "bob");
    json_t *j = ws_recv_json(first, H_MSG_TIMEOUT_MS, NULL);
    cr_assert(h_type_is(j, "user-joined") && h_streq(h_jstr(j, "user_id"), bob->user_id),
              "alice expected bob's user-joined: %s", h_jdump(j));
    json_decref(j);
    ws_client *second = join_as(pb, rooms[0], "alice");
    h_expect_error(first, "Replaced by a newer connection");
    cr_assert_eq(ws_wait_close(first, H_MSG_TIMEOUT_MS), 4001);
    h_expect_user_event(bob, "user-left", first->user_id, rooms[0]);
    j = ws_recv_json(bob, H_MSG_TIMEOUT_MS, NULL);
    cr_assert(h_type_is(j, "user-joined") && h_streq(h_jstr(j, "user_id"), second->user_id),
              "bob expected the new alice: %s", h_jdump(j));
    json_decref(j);
    h_sendf(bob, "{\"type\":\"hello\"}");
    h_expect_relay(second, "hello", bob, NULL, NULL);
}

/* ---- resuming on a cluster (docs/design.md#resume) ---------------------- */

/* A join that keeps its resume token (with `token`, a resume). */
static ws_client *join_token(int port, const char *room, const char *token, char out_token[80],
                             bool *resumed)
{
    char path[256], err[256];
    int n = snprintf(path, sizeof path, "/ws/%s", room);
    if (token)
        snprintf(path + n, sizeof path - (size_t)n, "?resume=%s", token);
    ws_client *c = ws_connect(port, path, 0, H_MSG_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "join %s: %s", room, err);
    json_t *j = h_recv(c, "connected");
    cr_assert(h_type_is(j, "connected") && h_jstr(j, "resume_token"), "connected: %s", h_jdump(j));
    snprintf(c->user_id, sizeof c->user_id, "%s", h_jstr(j, "user_id"));
    snprintf(c->room_id, sizeof c->room_id, "%s", room);
    snprintf(out_token, 80, "%s", h_jstr(j, "resume_token"));
    *resumed = json_is_true(json_object_get(j, "resumed"));
    json_decref(j);
    return c;
}

/* An integer answer of the master that owns key's slot. */
static long long owner_int(const char *cmd, const char *key, const char *arg)
{
    h_redis_reply r;
    cr_assert_eq(h_cluster_cmd(h_cluster_owner(key), &r, cmd, key, arg, NULL), 0);
    cr_assert_eq(r.type, ':', "%s %s: not an integer", cmd, key);
    long long v = r.integer;
    h_redis_reply_free(&r);
    return v;
}

static void wait_held_on_owner(const char *room, const char *uid, bool held, int ms)
{
    char away[96];
    snprintf(away, sizeof away, "sb:room:{%s}:away", room);
    long long deadline = h_now_ms() + ms;
    for (int i = 0; i < 1000 && h_now_ms() < deadline; i++) {
        if ((owner_int("HEXISTS", away, uid) == 1) == held)
            return;
        h_sleep_ms(20);
    }
    cr_assert_fail("%s was %sheld within %d ms", uid, held ? "not " : "still ", ms);
}

/* A socket lost on node-a is held (the away hash and the gap lists are
 * the room's keys, on its slot's master, and the scripts publish on the
 * shard channel); the participant resumes on node-b with the gap's
 * messages in order, and neither the other on node-b nor the one on
 * node-a is told anything. */
IT_CLUSTER_TEST(redis_cluster, lost_socket_resumes_on_the_other_node)
{
    int pa = h_node_port(h_cluster_node_start("node-a", "--resume-window", "10", NULL));
    int pb = h_node_port(h_cluster_node_start("node-b", "--resume-window", "10", NULL));
    char room[37], tok[80], tok2[80], ignore[80], uid[64];
    bool resumed;
    h_create_room_into(pa, NULL, room);
    ws_client *a = join_token(pa, room, NULL, tok, &resumed);
    ws_client *c = join_token(pa, room, NULL, ignore, &resumed);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    ws_client *b = join_token(pb, room, NULL, ignore, &resumed);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    h_expect_user_event(c, "user-joined", b->user_id, room);
    snprintf(uid, sizeof uid, "%s", a->user_id);

    ws_drop(a); /* no close frame: the socket is lost */
    wait_held_on_owner(room, uid, true, 10000);
    h_sendf(b, "{\"type\":\"chat\",\"text\":\"one\"}");
    h_sendf(b, "{\"type\":\"chat\",\"text\":\"two\",\"to\":\"%s\"}", uid);
    h_sendf(b, "{\"type\":\"chat\",\"text\":\"three\"}");
    h_expect_chat(c, b->user_id, "one"); /* "two" is for the held one only */
    h_expect_chat(c, b->user_id, "three");
    h_sendf(c, "{\"type\":\"chat\",\"text\":\"four\"}");
    h_expect_chat(b, c->user_id, "four");
    char gap[128];
    snprintf(gap, sizeof gap, "sb:room:{%s}:gap:%s", room, uid);
    cr_assert_eq(owner_int("LLEN", gap, NULL), 4, "the gap list on the room's master");

    ws_client *a2 = join_token(pb, room, tok, tok2, &resumed);
    cr_assert(resumed, "the resume on node-b was not resumed");
    cr_assert_str_eq(a2->user_id, uid, "a resumed participant keeps its user id");
    h_expect_chat(a2, b->user_id, "one");
    h_expect_chat(a2, b->user_id, "two");
    h_expect_chat(a2, b->user_id, "three");
    h_expect_chat(a2, c->user_id, "four");
    h_expect_silence(a2, H_SILENCE_MS);
    h_expect_silence(b, H_SILENCE_MS); /* no user-left, no user-joined */
    h_expect_silence(c, H_SILENCE_MS);
    cr_assert_eq(owner_int("EXISTS", gap, NULL), 0, "the gap list outlived the resume");
    wait_held_on_owner(room, uid, false, 1000);
    h_sendf(a2, "{\"type\":\"chat\",\"text\":\"back\"}");
    h_expect_chat(b, uid, "back");
    h_expect_chat(c, uid, "back");
    cr_assert_eq(h_room_count(pa, room), 3);
}

/* node-b is SIGKILLed: the reaper (REAP_ROOM, in the room's slot) holds
 * its member instead of announcing it left; it resumes on node-a and the
 * one on node-a is never told anything. */
IT_CLUSTER_TEST(redis_cluster, killed_node_member_is_held_and_resumes)
{
    int pa = h_node_port(
        h_cluster_node_start("node-a", "--resume-window", "30", "--heartbeat-ttl", "3", NULL));
    int pb = h_node_port(
        h_cluster_node_start("node-b", "--resume-window", "30", "--heartbeat-ttl", "3", NULL));
    char room[37], tok[80], ignore[80], uid[64];
    bool resumed;
    h_create_room_into(pa, NULL, room);
    ws_client *a = join_token(pa, room, NULL, ignore, &resumed);
    ws_client *b = join_token(pb, room, NULL, tok, &resumed);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    snprintf(uid, sizeof uid, "%s", b->user_id);
    h_node_signal(1, SIGKILL);
    cr_assert(h_node_wait_exit(1, 5000, NULL), "node-b did not die of SIGKILL");
    ws_drop(b);
    wait_held_on_owner(room, uid, true, REAP_BOUND_MS);
    h_sendf(a, "{\"type\":\"chat\",\"text\":\"while-away\"}");
    h_ping_pong(a);
    ws_client *b2 = join_token(pa, room, tok, ignore, &resumed);
    cr_assert(resumed && h_streq(b2->user_id, uid), "the held member did not resume on node-a");
    h_expect_chat(b2, a->user_id, "while-away");
    h_sendf(b2, "{\"type\":\"chat\",\"text\":\"back\"}");
    h_expect_chat(a, uid, "back");
    h_expect_silence(a, 2 * H_SILENCE_MS);
    cr_assert_eq(owner_int("SISMEMBER", "sb:nodes", "node-b"), 0, "node-b is still registered");
    cr_assert_eq(h_room_count(pa, room), 2);
}
