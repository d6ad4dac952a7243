/*
 * harness_cluster.c - a Redis Cluster of six servers for a test (see
 * harness_cluster.h).
 *
 * Each server gets two ports of the test's own: its client port and its
 * cluster bus port (--cluster-port), so the bus never lands on a port
 * another test holds. The servers die with the test process like every
 * other child (PR_SET_PDEATHSIG), and teardown stops them by pid.
 */
#include "harness_cluster.h"
#include "harness_internal.h"

#include <signal.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_slots.h"

#define CLUSTER_NODE_TIMEOUT "2000"
#define CLUSTER_CREATE_TIMEOUT_MS 30000

static h_proc servers[H_CLUSTER_SIZE];

int h_cluster_port(int i)
{
    cr_assert(i >= 0 && i < H_CLUSTER_SIZE);
    return servers[i].port;
}

int h_cluster_cmd(int port, h_redis_reply *out, const char *arg0, ...)
{
    const char *a[9] = { arg0 };
    va_list ap;
    va_start(ap, arg0);
    for (int i = 1; i < 9 && a[i - 1]; i++)
        a[i] = va_arg(ap, const char *);
    va_end(ap);
    /* The raw client talks to g_redis.port: point it at this server. */
    int saved = g_redis.port;
    g_redis.port = port;
    int rc = h_redis_cmd(out, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], NULL);
    g_redis.port = saved;
    return rc;
}

static bool server_running(int i)
{
    return servers[i].pid > 0 && !proc_poll(&servers[i]);
}

static void start_server(int i)
{
    h_proc *p = &servers[i];
    memset(p, 0, sizeof *p);
    p->port = h_free_port();
    char port[16], bus[16], dir[PATH_MAX], conf[PATH_MAX + 16];
    snprintf(port, sizeof port, "%d", p->port);
    snprintf(bus, sizeof bus, "%d", h_free_port());
    snprintf(dir, sizeof dir, "%s/cluster-%d", g_dir, i);
    snprintf(conf, sizeof conf, "%s/nodes.conf", dir);
    snprintf(p->id, sizeof p->id, "redis-cluster-%d", i);
    snprintf(p->log, sizeof p->log, "%s/redis-cluster-%d.log", g_dir, i);
    char mkdir_cmd[PATH_MAX + 16];
    snprintf(mkdir_cmd, sizeof mkdir_cmd, "mkdir -p '%s'", dir);
    cr_assert_eq(system(mkdir_cmd), 0);
    char *argv[] = { REDIS_BIN,
                     "--port",
                     port,
                     "--bind",
                     "127.0.0.1",
                     "--cluster-enabled",
                     "yes",
                     "--cluster-port",
                     bus,
                     "--cluster-config-file",
                     conf,
                     "--cluster-node-timeout",
                     CLUSTER_NODE_TIMEOUT,
                     "--save",
                     "",
                     "--appendonly",
                     "no",
                     "--dir",
                     dir,
                     "--loglevel",
                     "warning",
                     NULL };
    p->pid = spawn(argv, p->log);
}

/* True once the server answers CLUSTER INFO with cluster_state:ok, knows
 * all six, sees three of them as replicas, and, if it is one, has synced
 * with its master. */
static bool server_sees_cluster(int port)
{
    h_redis_reply r;
    if (h_cluster_cmd(port, &r, "CLUSTER", "INFO", NULL) != 0)
        return false;
    bool ok = r.type == '$' && r.str && strstr(r.str, "cluster_state:ok")
              && strstr(r.str, "cluster_known_nodes:6");
    h_redis_reply_free(&r);
    if (!ok || h_cluster_cmd(port, &r, "CLUSTER", "NODES", NULL) != 0)
        return false;
    int replicas = 0;
    for (const char *p = r.type == '$' && r.str ? r.str : ""; (p = strstr(p, "slave ")); p++)
        replicas++;
    h_redis_reply_free(&r);
    if (replicas != 3 || h_cluster_cmd(port, &r, "INFO", "replication", NULL) != 0)
        return false;
    /* A replica that has not synced yet would not take over its master. */
    ok = r.type == '$' && r.str
         && (strstr(r.str, "role:master") || strstr(r.str, "master_link_status:up"));
    h_redis_reply_free(&r);
    return ok;
}

void h_setup_cluster(void)
{
    h_setup_none();
    for (int i = 0; i < H_CLUSTER_SIZE; i++)
        start_server(i);
    long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
    for (int i = 0; i < H_CLUSTER_SIZE; i++) {
        h_redis_reply r;
        bool up = false;
        while (!up && h_now_ms() < deadline) {
            up = h_port_listener_is(servers[i].port, servers[i].pid)
                 && h_cluster_cmd(servers[i].port, &r, "PING", NULL) == 0;
            if (up)
                h_redis_reply_free(&r);
            else
                h_sleep_ms(20);
        }
        cr_assert(up, "cluster server %d did not answer PING within %d ms", i, H_READY_TIMEOUT_MS);
    }
    char addrs[H_CLUSTER_SIZE][32];
    const char *argv[H_CLUSTER_SIZE + 8] = { "redis-cli", "--cluster", "create" };
    int a = 3;
    for (int i = 0; i < H_CLUSTER_SIZE; i++) {
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", servers[i].port);
        argv[a++] = addrs[i];
    }
    argv[a++] = "--cluster-replicas";
    argv[a++] = "1";
    argv[a++] = "--cluster-yes";
    argv[a] = NULL;
    int st = h_run(argv, NULL, NULL, "redis-cli-cluster-create.log", CLUSTER_CREATE_TIMEOUT_MS);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-cli --cluster create failed");
    deadline = h_now_ms() + H_READY_TIMEOUT_MS;
    for (int i = 0; i < H_CLUSTER_SIZE; i++) {
        while (!server_sees_cluster(servers[i].port) && h_now_ms() < deadline)
            h_sleep_ms(50);
        cr_assert(server_sees_cluster(servers[i].port),
                  "cluster server %d not in a complete cluster within %d ms", i,
                  H_READY_TIMEOUT_MS);
    }
    /* Nodes take their credentials from --redis-url; the raw client's
     * default server is the first one. */
    g_redis.port = servers[0].port;
    g_redis.pid = -1;
}

void h_teardown_cluster(void)
{
    g_redis.pid = -1; /* a failed h_cluster_node_start may have left one */
    h_teardown();
    h_proc *procs[H_CLUSTER_SIZE];
    int n = 0;
    for (int i = 0; i < H_CLUSTER_SIZE; i++)
        if (servers[i].pid > 0)
            procs[n++] = &servers[i];
    proc_kill_all(procs, n, H_STOP_TIMEOUT_MS);
    g_redis.port = 0;
}

int h_cluster_node_start(const char *node_id, ...)
{
    static char seeds[H_CLUSTER_SIZE * 24];
    seeds[0] = '\0';
    for (int i = 0; i < H_CLUSTER_SIZE; i++)
        snprintf(seeds + strlen(seeds), sizeof seeds - strlen(seeds), "%s127.0.0.1:%d",
                 i ? "," : "", servers[i].port);
    const char *e[16] = { 0 };
    va_list ap;
    va_start(ap, node_id);
    for (int i = 0; i < 15; i++)
        if (!(e[i] = va_arg(ap, const char *)))
            break;
    va_end(ap);
    /* h_node_start wants the single Redis running; the cluster stands in
     * for it (teardown stops the cluster by its own pids). */
    int running = -1;
    for (int i = 0; i < H_CLUSTER_SIZE && running < 0; i++)
        if (server_running(i))
            running = i;
    cr_assert(running >= 0, "no cluster server is running");
    g_redis.pid = servers[running].pid;
    int idx = h_node_start(node_id, "--redis-cluster", seeds, e[0], e[1], e[2], e[3], e[4], e[5],
                           e[6], e[7], e[8], e[9], e[10], e[11], e[12], e[13], e[14], NULL);
    g_redis.pid = -1;
    return idx;
}

/* CLUSTER NODES of a running server: one line per node, "id ip:port@bus
 * flags master ping pong epoch link slot-ranges...". */
static char *cluster_nodes_text(void)
{
    for (int i = 0; i < H_CLUSTER_SIZE; i++) {
        if (!server_running(i))
            continue;
        h_redis_reply r;
        if (h_cluster_cmd(servers[i].port, &r, "CLUSTER", "NODES", NULL) != 0)
            continue;
        char *text = r.type == '$' && r.str ? strdup(r.str) : NULL;
        h_redis_reply_free(&r);
        if (text)
            return text;
    }
    return NULL;
}

/* For each healthy master line: its port and whether it holds `slot`
 * (slot < 0: any). */
static int masters_from(const char *text, int slot, int ports[H_CLUSTER_SIZE])
{
    int n = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && n < H_CLUSTER_SIZE;
         line = strtok_r(NULL, "\n", &save)) {
        char id[64], addr[64], flags[128];
        int used = 0;
        if (sscanf(line, "%63s %63s %127s %*s %*s %*s %*s %*s%n", id, addr, flags, &used) != 3
            || !strstr(flags, "master") || strstr(flags, "fail"))
            continue;
        const char *colon = strchr(addr, ':');
        int port = colon ? atoi(colon + 1) : 0;
        /* A master holds slots: a replica just joined may still be
         * flagged master, without any. */
        bool holds = false;
        for (const char *p = line + used; *p && !holds;) {
            int lo, hi, k = 0;
            if (sscanf(p, " %d-%d%n", &lo, &hi, &k) == 2)
                holds = slot < 0 || (slot >= lo && slot <= hi);
            else if (sscanf(p, " %d%n", &lo, &k) == 1)
                holds = slot < 0 || slot == lo;
            if (!k)
                break;
            p += k;
        }
        if (holds && port > 0)
            ports[n++] = port;
    }
    free(copy);
    return n;
}

int h_cluster_masters(int ports[H_CLUSTER_SIZE])
{
    char *text = cluster_nodes_text();
    cr_assert(text, "no cluster server answers CLUSTER NODES");
    int n = masters_from(text, -1, ports);
    free(text);
    return n;
}

int h_cluster_owner(const char *key)
{
    char *text = cluster_nodes_text();
    if (!text)
        return -1;
    int ports[H_CLUSTER_SIZE];
    int n = masters_from(text, (int)sb_key_slot_str(key), ports);
    free(text);
    return n == 1 ? ports[0] : -1;
}

void h_cluster_kill(int port)
{
    for (int i = 0; i < H_CLUSTER_SIZE; i++)
        if (servers[i].port == port && server_running(i)) {
            kill(servers[i].pid, SIGKILL);
            proc_wait(&servers[i], 5000);
            return;
        }
    cr_assert_fail("no running cluster server on port %d", port);
}
