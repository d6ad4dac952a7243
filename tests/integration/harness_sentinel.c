/*
 * harness_sentinel.c - a master, a replica and three sentinels for the
 * Sentinel tests (see harness_sentinel.h).
 *
 * The master is the harness's own redis-server (harness_redis.c), so the
 * nodes and h_redis_cmd find it as in every other test. The replica and
 * the sentinels are this file's: started with PR_SET_PDEATHSIG like every
 * server, stopped by pid in h_teardown_sentinel. Each sentinel writes its
 * own config file in the test directory (Sentinel rewrites it as it
 * learns). Every wait is bounded.
 */
#include "harness_sentinel.h"
#include "harness_internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGREE_TIMEOUT_MS 20000

static h_proc replica = { .pid = -1 };
static h_proc sentinels[H_SENTINELS];
static int sentinel_ports[H_SENTINELS];
static char sentinel_list[H_SENTINELS * 24];
static bool replica_promoted;

/* h_redis_cmd speaks to g_redis.port: point it at another server for one
 * command. */
static int cmd_at(int port, h_redis_reply *out, const char *const *args)
{
    int saved = g_redis.port;
    g_redis.port = port;
    int rc = h_redis_cmd(out, args[0], args[1], args[2], args[3], args[4], args[5], NULL);
    g_redis.port = saved;
    return rc;
}

/* A field of a flattened reply of field/value pairs ("SENTINEL master"),
 * or of "field:value" lines (INFO); NULL when absent. */
static const char *reply_field(const h_redis_reply *r, const char *name, char *buf, size_t n)
{
    if (r->type == '*') {
        for (size_t i = 0; i + 1 < r->n; i += 2)
            if (r->elems[i] && r->elems[i + 1] && strcmp(r->elems[i], name) == 0)
                return r->elems[i + 1];
        return NULL;
    }
    if (r->type != '$' || !r->str)
        return NULL;
    char key[64];
    snprintf(key, sizeof key, "%s:", name);
    const char *at = strstr(r->str, key);
    if (!at)
        return NULL;
    at += strlen(key);
    size_t len = strcspn(at, "\r\n");
    snprintf(buf, n, "%.*s", (int)len, at);
    return buf;
}

static bool field_is(int port, const char *const *args, const char *name, const char *want)
{
    h_redis_reply r;
    char buf[64];
    if (cmd_at(port, &r, args) != 0)
        return false;
    const char *v = reply_field(&r, name, buf, sizeof buf);
    bool ok = v && strcmp(v, want) == 0;
    h_redis_reply_free(&r);
    return ok;
}

static void wait_for(int port, const char *const *args, const char *name, const char *want,
                     const char *what)
{
    long long deadline = h_now_ms() + AGREE_TIMEOUT_MS;
    while (!field_is(port, args, name, want)) {
        cr_assert(h_now_ms() < deadline, "%s: %s is not %s after %d ms", what, name, want,
                  AGREE_TIMEOUT_MS);
        h_sleep_ms(100);
    }
}

static void start_replica(void)
{
    memset(&replica, 0, sizeof replica);
    replica.port = h_free_port();
    snprintf(replica.id, sizeof replica.id, "redis-replica");
    snprintf(replica.log, sizeof replica.log, "%s/redis-replica.log", g_dir);
    char port[16], master[16];
    snprintf(port, sizeof port, "%d", replica.port);
    snprintf(master, sizeof master, "%d", g_redis.port);
    char *argv[] = { REDIS_BIN,   "--port",       port, "--bind", "127.0.0.1", "--save",
                     "",          "--appendonly", "no", "--dir",  g_dir,       "--replicaof",
                     "127.0.0.1", master,         NULL };
    replica.pid = spawn(argv, replica.log);
    const char *info[] = { "INFO", "replication", NULL, NULL, NULL, NULL };
    wait_for(replica.port, info, "master_link_status", "up", "the replica");
    /* The sentinels learn the replica from the master's INFO at once. */
    wait_for(g_redis.port, info, "connected_slaves", "1", "the master");
}

static void start_one_sentinel(int i, int monitored)
{
    h_proc *s = &sentinels[i];
    memset(s, 0, sizeof *s);
    s->port = sentinel_ports[i];
    snprintf(s->id, sizeof s->id, "sentinel-%d", i + 1);
    snprintf(s->log, sizeof s->log, "%s/sentinel-%d.log", g_dir, i + 1);
    char conf[PATH_MAX];
    snprintf(conf, sizeof conf, "%s/sentinel-%d.conf", g_dir, i + 1);
    FILE *f = fopen(conf, "w");
    cr_assert(f, "cannot write %s", conf);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor %s 127.0.0.1 %d 2\n"
            "sentinel down-after-milliseconds %s 1000\n"
            "sentinel failover-timeout %s 5000\n"
            "sentinel parallel-syncs %s 1\n",
            s->port, g_dir, H_MASTER_NAME, monitored, H_MASTER_NAME, H_MASTER_NAME, H_MASTER_NAME);
    fclose(f);
    char *argv[] = { REDIS_BIN, conf, "--sentinel", NULL };
    s->pid = spawn(argv, s->log);
}

/* The sentinels, told that the master is at 127.0.0.1:monitored, until
 * each knows the other two (and, with want_replica, the replica). */
static void start_sentinels(int monitored, bool want_replica)
{
    for (int i = 0; i < H_SENTINELS; i++)
        start_one_sentinel(i, monitored);
    const char *master[] = { "SENTINEL", "master", H_MASTER_NAME, NULL, NULL, NULL };
    char others[8];
    snprintf(others, sizeof others, "%d", H_SENTINELS - 1);
    for (int i = 0; i < H_SENTINELS; i++) {
        if (want_replica)
            wait_for(sentinels[i].port, master, "num-slaves", "1", sentinels[i].id);
        wait_for(sentinels[i].port, master, "num-other-sentinels", others, sentinels[i].id);
    }
}

void h_sentinel_start(void)
{
    start_sentinels(g_redis.port, true);
}

void h_sentinel_start_naming_replica(void)
{
    start_sentinels(replica.port, false);
}

static void setup_common(void)
{
    h_setup_redis();
    replica_promoted = false;
    start_replica();
    sentinel_list[0] = '\0';
    for (int i = 0; i < H_SENTINELS; i++) {
        sentinels[i].pid = -1;
        sentinel_ports[i] = h_free_port();
        snprintf(sentinel_list + strlen(sentinel_list),
                 sizeof sentinel_list - strlen(sentinel_list), "%s127.0.0.1:%d", i ? "," : "",
                 sentinel_ports[i]);
    }
}

void h_setup_sentinel(void)
{
    setup_common();
    h_sentinel_start();
}

void h_setup_sentinel_later(void)
{
    setup_common();
}

void h_teardown_sentinel(void)
{
    h_teardown(); /* the nodes first, while Redis still answers; then the master */
    h_proc *procs[H_SENTINELS + 1];
    int n = 0;
    for (int i = 0; i < H_SENTINELS; i++)
        if (sentinels[i].pid > 0)
            procs[n++] = &sentinels[i];
    if (!replica_promoted && replica.pid > 0)
        procs[n++] = &replica;
    proc_kill_all(procs, n, H_STOP_TIMEOUT_MS);
}

const char *h_sentinel_list(void)
{
    return sentinel_list;
}

int h_sentinel_replica_port(void)
{
    return replica.port;
}

int h_sentinel_node_start_unready(const char *node_id, ...)
{
    cr_assert(g_n_nodes < H_MAX_NODES, "too many nodes");
    const char *extra[16];
    int n_extra = 0;
    va_list ap;
    va_start(ap, node_id);
    for (const char *a = va_arg(ap, const char *); a && n_extra < 16; a = va_arg(ap, const char *))
        extra[n_extra++] = a;
    va_end(ap);
    int idx = g_n_nodes++;
    h_proc *p = &g_nodes[idx];
    memset(p, 0, sizeof *p);
    p->port = h_free_port();
    snprintf(p->id, sizeof p->id, "%s", node_id);
    snprintf(p->log, sizeof p->log, "%s/%s.log", g_dir, node_id);
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    char *argv[32] = { SB_NODE_BIN,
                       "--host",
                       "127.0.0.1",
                       "--port",
                       port,
                       "--node-id",
                       (char *)node_id,
                       "--log-level",
                       "info",
                       "--redis-sentinels",
                       sentinel_list,
                       "--redis-master-name",
                       H_MASTER_NAME,
                       "--http-rate-limit",
                       "0" };
    int a = 15;
    for (int i = 0; i < n_extra; i++)
        argv[a++] = (char *)extra[i];
    argv[a] = NULL;
    p->pid = spawn(argv, p->log);
    long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
    while (!h_port_listener_is(p->port, p->pid)) {
        cr_assert(!proc_poll(p), "node %s exited at start", node_id);
        cr_assert(h_now_ms() < deadline, "node %s does not listen after %d ms", node_id,
                  H_READY_TIMEOUT_MS);
        h_sleep_ms(30);
    }
    return idx;
}

long long h_sentinel_kill_master(void)
{
    long long t = h_now_ms();
    kill(g_redis.pid, SIGKILL);
    cr_assert(proc_wait(&g_redis, 5000), "the master outlived SIGKILL");
    return t;
}

int h_replica_cmd(h_redis_reply *out, const char *arg0, ...)
{
    const char *args[6] = { arg0 };
    va_list ap;
    va_start(ap, arg0);
    for (int i = 1; i < 6 && args[i - 1]; i++)
        args[i] = va_arg(ap, const char *);
    va_end(ap);
    return cmd_at(replica.port, out, args);
}

bool h_sentinel_wait_promoted(int timeout_ms)
{
    char want[16];
    snprintf(want, sizeof want, "%d", replica.port);
    long long deadline = h_now_ms() + timeout_ms;
    for (int k = 0; k < 1000 && h_now_ms() < deadline; k++) {
        for (int i = 0; i < H_SENTINELS; i++) {
            const char *ask[] = { "SENTINEL", "get-master-addr-by-name", H_MASTER_NAME, NULL, NULL,
                                  NULL };
            h_redis_reply r;
            if (cmd_at(sentinels[i].port, &r, ask) != 0)
                continue;
            bool promoted =
                r.type == '*' && r.n == 2 && r.elems[1] && strcmp(r.elems[1], want) == 0;
            h_redis_reply_free(&r);
            if (promoted) {
                g_redis = replica;
                replica_promoted = true;
                return true;
            }
        }
        h_sleep_ms(100);
    }
    return false;
}
