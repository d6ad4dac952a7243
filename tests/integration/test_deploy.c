/*
 * test_deploy.c - the ways the project is deployed (docs/design.md#node-and-cluster, README):
 * docker-compose.yml must be a valid compose file, and the loopback
 * cluster script scripts/cluster.sh must bring up Redis, two nodes and
 * HAProxy that serve the API, and take all of it down again; with --auth
 * the API wants a token, and the admin token it prints is one; with --tls
 * HAProxy also serves https:// and wss:// with the certificate the script
 * made, which the clients verify; with --sentinel the nodes reach Redis
 * through three sentinels and carry on after the master is SIGKILLed;
 * with --redis-cluster they run on a Redis Cluster of 3 masters and 3
 * replicas that down stops.
 *
 * The cluster runs on ports of its own (never the defaults a developer's
 * cluster uses) with its state in a directory of its own (SB_RUN_DIR). The
 * script daemonizes what it starts, so a guard runs `cluster.sh down`
 * however the test ends, even when criterion kills it on its timeout.
 */
#include "harness.h"
#include "netutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* `cluster.sh up` runs scripts/setup.sh --target switchboard first: quick
 * when <repo>/build is current, a rebuild of the node otherwise. Bounded
 * below IT_TIMEOUT so an overrun fails with the script's output. */
#define CLUSTER_UP_MS 90000

static void expect_exit_0(int status, const char *what, const char *log_name)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    char path[PATH_MAX], why[64];
    snprintf(path, sizeof path, "%s/%s", h_test_dir(), log_name);
    FILE *f = fopen(path, "r");
    char text[4096] = "";
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size > 4000 ? size - 4000 : 0, SEEK_SET);
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    if (WIFEXITED(status))
        snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(why, sizeof why, "status 0x%x", status);
    cr_assert_fail("%s %s; output:\n%s", what, why, text);
}

IT_TEST(deploy, docker_compose_config_is_valid, h_setup_none)
{
    char dc[PATH_MAX];
    if (!h_which("docker-compose", dc, sizeof dc))
        cr_skip_test("docker-compose is not installed (scripts/setup.sh installs it); "
                     "docker-compose.yml was not checked");
    char file[PATH_MAX], out[PATH_MAX];
    snprintf(file, sizeof file, "%s/docker-compose.yml", h_repo_root());
    snprintf(out, sizeof out, "%s/compose-config.yml", h_test_dir());
    const char *argv[] = { dc, "-f", file, "config", NULL };
    int st = h_run(argv, NULL, out, "compose-config.log", 60000);
    expect_exit_0(st, "docker-compose -f docker-compose.yml config", "compose-config.log");
    FILE *f = fopen(out, "r");
    cr_assert(f, "docker-compose config wrote nothing");
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert(strstr(text, "services:"), "docker-compose config printed no services:\n%s", text);
}

/* docker-compose.sentinel.yml over docker-compose.yml: a valid file with
 * the replica, three sentinels and nodes configured to ask them. */
IT_TEST(deploy, docker_compose_sentinel_override_is_valid, h_setup_none)
{
    char dc[PATH_MAX];
    if (!h_which("docker-compose", dc, sizeof dc))
        cr_skip_test("docker-compose is not installed (scripts/setup.sh installs it); "
                     "docker-compose.sentinel.yml was not checked");
    char base[PATH_MAX], over[PATH_MAX], out[PATH_MAX];
    snprintf(base, sizeof base, "%s/docker-compose.yml", h_repo_root());
    snprintf(over, sizeof over, "%s/docker-compose.sentinel.yml", h_repo_root());
    snprintf(out, sizeof out, "%s/compose-sentinel.yml", h_test_dir());
    const char *argv[] = { dc, "-f", base, "-f", over, "config", NULL };
    int st = h_run(argv, NULL, out, "compose-sentinel.log", 60000);
    expect_exit_0(st, "docker-compose with docker-compose.sentinel.yml config",
                  "compose-sentinel.log");
    char *text = h_read_file(out);
    const char *want[] = { "  redis-replica:",
                           "  sentinel-1:",
                           "  sentinel-2:",
                           "  sentinel-3:",
                           "--replicaof",
                           "sentinel monitor switchboard redis 6379 2",
                           ("SWITCHBOARD_REDIS_SENTINELS: sentinel-1:26379,sentinel-2:26379,"
                            "sentinel-3:26379"),
                           "SWITCHBOARD_REDIS_MASTER_NAME: switchboard" };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(text, want[i]), "the merged compose file lacks '%s':\n%s", want[i], text);
    free(text);
}

/* ---- scripts/cluster.sh ---- */

typedef struct {
    const char *file; /* pid file in the run directory */
    const char *comm; /* substring of its command line */
    pid_t pid;
} recorded_pid;

static pid_t read_pid(const char *dir, const char *file)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cluster.sh up recorded no %s in %s", file, dir);
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    cr_assert(got == 1 && pid > 1, "%s does not hold a pid", path);
    return (pid_t)pid;
}

/* True while pid is a live (not zombie) process whose command line holds
 * `comm` - the same test cluster.sh itself makes before signalling. */
static bool pid_running(pid_t pid, const char *comm)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    if (!close_paren || close_paren[1] != ' ' || close_paren[2] == 'Z' || close_paren[2] == 'X')
        return false;
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return strstr(buf, comm) != NULL;
}

/* What the guard runs when the test ends, however it ends: stop the
 * cluster, keep its logs next to the test's (the runner prints them when
 * the test failed) and remove the state directory. $0 is cluster.sh. */
static const char guard_sh[] =
    "\"$0\" down\n"
    "for f in \"$SB_RUN_DIR\"/logs/*.log; do\n"
    "  [ -f \"$f\" ] && cp \"$f\" \"$SB_IT_TEST_DIR/cluster-$(basename \"$f\")\" 2>/dev/null\n"
    "done\n"
    "case \"$SB_RUN_DIR\" in /tmp/sb-it-cluster.*) rm -rf -- \"$SB_RUN_DIR\" ;; esac\n";

/* The last line `up --auth` printed is a token that the API, behind
 * HAProxy, takes for an admin's; without it the API answers 401. */
static void check_admin_token(int api, const char *out_path)
{
    char line[4096] = "", last[4096] = "";
    FILE *f = fopen(out_path, "r");
    cr_assert(f, "no output of cluster.sh up --auth");
    while (fgets(line, sizeof line, f))
        snprintf(last, sizeof last, "%s", line);
    fclose(f);
    last[strcspn(last, "\n")] = '\0';
    cr_assert(strlen(last) > 40 && strchr(last, '.') && !strchr(last, ' '),
              "the last line of cluster.sh up --auth is no token: '%s'", last);
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", last);
    const char *headers[] = { auth, NULL };
    http_resp r = h_http(api, "GET", "/rooms", NULL, NULL);
    cr_assert_eq(r.status, 401, "GET /rooms without a token: %d", r.status);
    http_resp_free(&r);
    r = h_http(api, "POST", "/create-room", headers, NULL);
    json_t *j = http_json(&r);
    cr_assert(r.status == 200 && h_jstr(j, "room_id"), "create-room with the admin token: %d %s",
              r.status, r.body);
    char path[4200];
    snprintf(path, sizeof path, "/ws/%s?access_token=%s", h_jstr(j, "room_id"), last);
    json_decref(j);
    http_resp_free(&r);
    char err[256];
    ws_client *c = ws_connect(api, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "%s", err);
    json_t *first = ws_recv_json(c, H_MSG_TIMEOUT_MS, NULL);
    cr_assert(h_type_is(first, "connected"), "the admin token does not join: %s", h_jdump(first));
    json_decref(first);
    ws_close(c);
}

/* `up --sentinel`: a replica and three sentinels run beside the master,
 * and after SIGKILL of the master the API serves again within 15 s: a
 * room is created and relays through HAProxy. */
static void check_sentinel(const char *run, int api)
{
    const char *files[] = { "redis-replica.pid", "sentinel1.pid", "sentinel2.pid",
                            "sentinel3.pid" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        pid_t pid = read_pid(run, files[i]);
        cr_assert(pid_running(pid, "redis-server"), "%s names pid %d, which is not running",
                  files[i], (int)pid);
    }
    cr_assert_eq(h_wait_http_status(api, "/readyz", 200, 15000), 200);
    pid_t master = read_pid(run, "redis.pid");
    cr_assert(pid_running(master, "redis-server"));
    long long killed = h_now_ms();
    kill(master, SIGKILL);
    long long deadline = killed + 15000;
    h_sleep_ms(500); /* HAProxy checks every second: let it see the outage */
    char room[37] = "";
    for (int i = 0; i < 100 && !room[0] && h_now_ms() < deadline; i++) {
        http_resp r;
        if (http_request(api, "POST", "/create-room", NULL, NULL, 0, 2000, &r, NULL, 0) == 0) {
            json_t *j = r.status == 200 ? http_json(&r) : NULL;
            if (h_jstr(j, "room_id"))
                snprintf(room, sizeof room, "%s", h_jstr(j, "room_id"));
            json_decref(j);
            http_resp_free(&r);
        }
        if (!room[0])
            h_sleep_ms(200);
    }
    cr_assert(room[0], "no room could be created within 15 s of the master's SIGKILL");
    ws_client *a = h_join(api, room, NULL);
    ws_client *b = h_join(api, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"cluster\":\"failover\"}}");
    h_expect_relay(b, "offer", a, "{\"cluster\":\"failover\"}", NULL);
    cr_assert(h_now_ms() < deadline + H_MSG_TIMEOUT_MS, "relay after the failover took %lld ms",
              h_now_ms() - killed);
    ws_close(a);
    ws_close(b);
}

/* https REST and a wss relay through HAProxy's TLS port, the client
 * trusting only the certificate `up --tls` made. */
static void check_tls(const char *run, int api, int tls)
{
    char ca[PATH_MAX];
    snprintf(ca, sizeof ca, "%s/tls-cert.pem", run);
    cr_assert(net_set_tls(tls, ca) == 0, "cluster.sh up --tls made no certificate %s", ca);
    int ready = h_wait_http_status(tls, "/readyz", 200, 15000);
    cr_assert_eq(ready, 200, "GET /readyz over https through HAProxy answered %d", ready);
    char room[37];
    h_create_room_into(tls, NULL, room);
    json_t *info = h_get_room(api, room); /* plain HTTP still serves */
    cr_assert(info, "room created over https is not found over http");
    json_decref(info);
    ws_client *a = h_join(tls, room, NULL);
    ws_client *b = h_join(tls, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"cluster\":\"wss\"}}");
    h_expect_relay(b, "offer", a, "{\"cluster\":\"wss\"}", NULL);
    ws_close(a);
    ws_close(b);
    net_set_tls(0, NULL);
}

/* Again with --redis-cluster (two nodes): six redis-servers on ports of
 * our own (SB_REDIS_CLUSTER_PORT: 6 client ports, their bus ports 10
 * above), three of them masters, the API relaying through them; down
 * stops all six. */
static void check_redis_cluster(const char *script, const char *run, const char *const *env,
                                int api)
{
    int rc_base = h_free_port_range(16);
    char e_rc[48];
    snprintf(e_rc, sizeof e_rc, "SB_REDIS_CLUSTER_PORT=%d", rc_base);
    const char *env_rc[16];
    int k = 0;
    for (; env[k] && k < 14; k++)
        env_rc[k] = env[k];
    env_rc[k++] = e_rc;
    env_rc[k] = NULL;
    const char *up[] = { script, "up", "--nodes", "2", "--redis-cluster", NULL };
    int st = h_run(up, env_rc, NULL, "cluster-up-redis-cluster.log", CLUSTER_UP_MS);
    expect_exit_0(st, "scripts/cluster.sh up --nodes 2 --redis-cluster",
                  "cluster-up-redis-cluster.log");
    recorded_pid servers[6];
    char files[6][32];
    for (int i = 0; i < 6; i++) {
        snprintf(files[i], sizeof files[i], "redis-c%d.pid", i);
        servers[i] = (recorded_pid){ files[i], "redis-server", read_pid(run, files[i]) };
        cr_assert(pid_running(servers[i].pid, "redis-server"), "%s is not a running redis-server",
                  files[i]);
    }
    char nodes_out[PATH_MAX];
    snprintf(nodes_out, sizeof nodes_out, "%s/cluster-nodes.out", h_test_dir());
    char port[16];
    snprintf(port, sizeof port, "%d", rc_base);
    const char *cli[] = { "redis-cli", "-p", port, "cluster", "nodes", NULL };
    st = h_run(cli, NULL, nodes_out, "redis-cli-cluster-nodes.log", 10000);
    char *text = h_read_file(nodes_out);
    int masters = 0, replicas = 0;
    for (const char *p = text; (p = strstr(p, "master")); p++)
        masters += p[-1] == ' ' || p[-1] == ',';
    for (const char *p = text; (p = strstr(p, "slave ")); p++)
        replicas++;
    cr_assert(masters == 3 && replicas == 3, "not 3 masters and 3 replicas:\n%s", text);
    free(text);
    char room[37];
    h_create_room_into(api, NULL, room);
    ws_client *a = h_join(api, room, NULL);
    ws_client *b = h_join(api, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"cluster\":\"shards\"}}");
    h_expect_relay(b, "offer", a, "{\"cluster\":\"shards\"}", NULL);
    ws_close(a);
    ws_close(b);
    const char *down[] = { script, "down", NULL };
    st = h_run(down, env_rc, NULL, "cluster-down-redis-cluster.log", 60000);
    expect_exit_0(st, "scripts/cluster.sh down", "cluster-down-redis-cluster.log");
    for (int i = 0; i < 6; i++) {
        long long deadline = h_now_ms() + 5000;
        while (pid_running(servers[i].pid, "redis-server") && h_now_ms() < deadline)
            h_sleep_ms(50);
        cr_assert(!pid_running(servers[i].pid, "redis-server"),
                  "%s still runs after cluster.sh down", files[i]);
    }
}

IT_TEST(deploy, cluster_script_up_and_down, h_setup_none)
{
    char script[PATH_MAX], run[] = "/tmp/sb-it-cluster.XXXXXX";
    snprintf(script, sizeof script, "%s/scripts/cluster.sh", h_repo_root());
    /* Outside the run directory: the runner deletes that as soon as the
     * last test ends, and the guard may still need the pid files then. */
    cr_assert(mkdtemp(run), "mkdtemp: %s", strerror(errno));

    /* Ports of our own: API, Redis, HTTPS and two consecutive node ports,
     * all distinct. */
    int base = h_free_port_range(2), api = 0, redis = 0, tls = 0;
    for (int i = 0; i < 20 && (api == 0 || api == base || api == base + 1); i++)
        api = h_free_port();
    for (int i = 0; i < 20 && (redis == 0 || redis == api || redis == base || redis == base + 1);
         i++)
        redis = h_free_port();
    for (int i = 0;
         i < 20 && (tls == 0 || tls == redis || tls == api || tls == base || tls == base + 1); i++)
        tls = h_free_port();
    cr_assert(api != base && api != base + 1 && redis != api && redis != base && redis != base + 1);
    cr_assert(tls != api && tls != redis && tls != base && tls != base + 1);
    int sentinels = h_free_port_range(3), replica = h_free_port();
    char e_run[64], e_test[1100], e_api[32], e_base[32], e_redis[32], e_tls[32], e_replica[40],
        e_sentinels[40];
    snprintf(e_run, sizeof e_run, "SB_RUN_DIR=%s", run);
    snprintf(e_test, sizeof e_test, "SB_IT_TEST_DIR=%s", h_test_dir());
    snprintf(e_api, sizeof e_api, "SB_API_PORT=%d", api);
    snprintf(e_base, sizeof e_base, "SB_NODE_BASE_PORT=%d", base);
    snprintf(e_redis, sizeof e_redis, "SB_REDIS_PORT=%d", redis);
    snprintf(e_tls, sizeof e_tls, "SB_TLS_PORT=%d", tls);
    snprintf(e_replica, sizeof e_replica, "SB_REDIS_REPLICA_PORT=%d", replica);
    snprintf(e_sentinels, sizeof e_sentinels, "SB_SENTINEL_BASE_PORT=%d", sentinels);
    const char *env[] = {
        e_run, e_test, e_api, e_base, e_redis, e_tls, e_replica, e_sentinels, NULL
    };
    const char *down[] = { script, "down", NULL };
    const char *up[] = { script, "up", "--nodes", "2", NULL };
    const char *guard[] = { "/bin/sh", "-c", guard_sh, script, NULL };

    h_guard(guard, env, "cluster-guard.log"); /* before anything starts */
    int st = h_run(up, env, NULL, "cluster-up.log", CLUSTER_UP_MS);
    expect_exit_0(st, "scripts/cluster.sh up --nodes 2", "cluster-up.log");

    recorded_pid pids[] = {
        { "redis.pid", "redis-server", 0 },
        { "node1.pid", "switchboard", 0 },
        { "node2.pid", "switchboard", 0 },
        { "haproxy.pid", "haproxy", 0 },
    };
    enum { N_PIDS = sizeof pids / sizeof pids[0] };
    for (int i = 0; i < N_PIDS; i++) {
        pids[i].pid = read_pid(run, pids[i].file);
        cr_assert(pid_running(pids[i].pid, pids[i].comm),
                  "%s names pid %d, which is not a running %s", pids[i].file, (int)pids[i].pid,
                  pids[i].comm);
    }

    /* The API answers through HAProxy, backed by both nodes and Redis. */
    int ready = h_wait_http_status(api, "/readyz", 200, 15000);
    cr_assert_eq(ready, 200, "GET /readyz through the cluster's HAProxy answered %d", ready);
    for (int i = 0; i < 2; i++) {
        http_resp r = h_http(base + i, "GET", "/", NULL, NULL);
        json_t *j = http_json(&r);
        char want[16];
        snprintf(want, sizeof want, "node%d", i + 1);
        cr_assert(r.status == 200 && h_streq(h_jstr(j, "node_id"), want),
                  "GET / on node port %d: %d %s", base + i, r.status, r.body);
        json_decref(j);
        http_resp_free(&r);
    }
    char room[37];
    h_create_room_into(api, NULL, room);
    json_t *info = h_get_room(api, room);
    cr_assert(info, "room created through the cluster's HAProxy is not found through it");
    json_decref(info);
    ws_client *a = h_join(api, room, NULL);
    ws_client *b = h_join(api, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"cluster\":\"sh\"}}");
    h_expect_relay(b, "offer", a, "{\"cluster\":\"sh\"}", NULL);
    ws_close(a);
    ws_close(b);

    st = h_run(down, env, NULL, "cluster-down.log", 60000);
    expect_exit_0(st, "scripts/cluster.sh down", "cluster-down.log");
    for (int i = 0; i < N_PIDS; i++) {
        long long deadline = h_now_ms() + 5000;
        while (pid_running(pids[i].pid, pids[i].comm) && h_now_ms() < deadline)
            h_sleep_ms(50);
        cr_assert(!pid_running(pids[i].pid, pids[i].comm),
                  "%s (pid %d from %s) still runs after cluster.sh down", pids[i].comm,
                  (int)pids[i].pid, pids[i].file);
    }
    http_resp r;
    cr_assert(http_request(api, "GET", "/readyz", NULL, NULL, 0, 2000, &r, NULL, 0) < 0,
              "the API port %d still answers after cluster.sh down", api);

    /* Again with --auth (one node), in this test: two clusters starting at
     * once would build <repo>/build at once. */
    char token_out[PATH_MAX];
    snprintf(token_out, sizeof token_out, "%s/cluster-up-auth.out", h_test_dir());
    const char *up_auth[] = { script, "up", "--nodes", "1", "--auth", NULL };
    st = h_run(up_auth, env, token_out, "cluster-up-auth.log", CLUSTER_UP_MS);
    expect_exit_0(st, "scripts/cluster.sh up --nodes 1 --auth", "cluster-up-auth.log");
    check_admin_token(api, token_out);
    st = h_run(down, env, NULL, "cluster-down-auth.log", 60000);
    expect_exit_0(st, "scripts/cluster.sh down", "cluster-down-auth.log");

    /* Again with --tls (two nodes): the same API over https:// and wss://
     * on SB_TLS_PORT, verified against the certificate in the run
     * directory; plain HTTP keeps serving next to it. */
    const char *up_tls[] = { script, "up", "--nodes", "2", "--tls", NULL };
    st = h_run(up_tls, env, NULL, "cluster-up-tls.log", CLUSTER_UP_MS);
    expect_exit_0(st, "scripts/cluster.sh up --nodes 2 --tls", "cluster-up-tls.log");
    check_tls(run, api, tls);
    st = h_run(down, env, NULL, "cluster-down-tls.log", 60000);
    expect_exit_0(st, "scripts/cluster.sh down", "cluster-down-tls.log");

    /* Again with --sentinel (two nodes), through a failover. */
    const char *up_sentinel[] = { script, "up", "--nodes", "2", "--sentinel", NULL };
    st = h_run(up_sentinel, env, NULL, "cluster-up-sentinel.log", CLUSTER_UP_MS);
    expect_exit_0(st, "scripts/cluster.sh up --nodes 2 --sentinel", "cluster-up-sentinel.log");
    pid_t started[4];
    const char *files[] = { "redis-replica.pid", "sentinel1.pid", "sentinel2.pid",
                            "sentinel3.pid" };
    for (int i = 0; i < 4; i++)
        started[i] = read_pid(run, files[i]);
    check_sentinel(run, api);
    st = h_run(down, env, NULL, "cluster-down-sentinel.log", 60000);
    expect_exit_0(st, "scripts/cluster.sh down", "cluster-down-sentinel.log");
    for (int i = 0; i < 4; i++) {
        long long deadline = h_now_ms() + 5000;
        while (pid_running(started[i], "redis-server") && h_now_ms() < deadline)
            h_sleep_ms(50);
        cr_assert(!pid_running(started[i], "redis-server"),
                  "%s (pid %d) still runs after cluster.sh down", files[i], (int)started[i]);
    }

    check_redis_cluster(script, run, env, api);
}
