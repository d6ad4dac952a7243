/*
 * test_overload.c - a node that cannot keep up slows its clients down
 * before Redis drops a subscriber (docs/design.md#limits, Overload).
 *
 * Node B is stopped (SIGSTOP), so its subscriber link reads nothing, and a
 * client of node A sends far more than Redis keeps for a subscriber
 * (client-output-buffer-limit pubsub, 4 MiB here) plus what the kernel's
 * socket buffers hold. Without the back-pressure Redis closes B's
 * subscriber link and the messages in it are lost. With it, node A sees
 * B's subscriber fall behind, stops reading from its client (whose sends
 * then wait), and reads again once B is back and has caught up: the same
 * subscriber link all along, every message delivered in order, and the
 * node relaying as before afterwards.
 */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

enum { N = 800, PAD = 48 * 1024, PACE_US = 2000, SEND_LIMIT_MS = 60000 };

typedef struct {
    ws_client *c;
    atomic_int sent;
    atomic_bool failed;
} sender;

/* X's messages, paced at 24 MB/s: each send blocks while node A does not
 * read. */
static void *send_all(void *arg)
{
    sender *s = arg;
    char *msg = malloc(PAD + 128);
    char *pad = malloc(PAD + 1);
    memset(pad, 'p', PAD);
    pad[PAD] = '\0';
    long long deadline = h_now_ms() + SEND_LIMIT_MS;
    for (int i = 0; i < N && h_now_ms() < deadline; i++) {
        int n = snprintf(msg, PAD + 128, "{\"type\":\"offer\",\"seq\":%d,\"pad\":\"%s\"}", i, pad);
        if (ws_send_textn(s->c, msg, (size_t)n) != 0) {
            atomic_store(&s->failed, true);
            break;
        }
        atomic_store(&s->sent, i + 1);
        usleep(PACE_US);
    }
    free(pad);
    free(msg);
    return NULL;
}

/* Redis's id of a node's subscriber link, or -1. */
static long long subscriber_id(const char *node_id)
{
    h_redis_reply r;
    cr_assert_eq(h_redis_cmd(&r, "CLIENT", "LIST", "TYPE", "pubsub", NULL), 0);
    char name[96];
    snprintf(name, sizeof name, " name=sbsub:%s ", node_id);
    long long id = -1;
    const char *at = r.str ? strstr(r.str, name) : NULL;
    if (at) {
        const char *line = at;
        while (line > r.str && line[-1] != '\n')
            line--;
        if (strncmp(line, "id=", 3) == 0)
            id = atoll(line + 3);
    }
    h_redis_reply_free(&r);
    return id;
}

/* A sample's value in /metrics (the line that starts with `name`), or -1. */
static long long metric(int port, const char *name)
{
    http_resp r = h_http(port, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200);
    char line[128];
    snprintf(line, sizeof line, "\n%s", name);
    long long v = -1;
    const char *at = strstr(r.body, line);
    if (at)
        v = atoll(at + strlen(line));
    http_resp_free(&r);
    return v;
}

IT_TEST(overload, backlog_pauses_clients_instead_of_losing_the_subscriber, h_setup_redis)
{
    h_redis_reply ok;
    cr_assert_eq(
        h_redis_cmd(&ok, "CONFIG", "SET", "client-output-buffer-limit", "pubsub 4mb 0 0", NULL), 0);
    cr_assert_eq(ok.type, '+', "CONFIG SET: %s", ok.str ? ok.str : "");
    h_redis_reply_free(&ok);
    /* B's queue to its client holds a whole burst: what is measured is
     * the subscriber, not a slow reader. */
    int a = h_node_start("node-a", "--rate-limit", "0", "--overload-backlog", "524288", NULL);
    int b = h_node_start("node-b", "--rate-limit", "0", "--overload-backlog", "524288",
                         "--max-queued-bytes", "268435456", NULL);
    char room[37];
    ws_client *x, *y;
    h_room_of_two(h_node_port(a), h_node_port(b), room, &x, &y);
    long long sub_before = subscriber_id("node-b");
    cr_assert_gt(sub_before, 0, "node-b's subscriber link is not named in Redis");

    h_node_signal(b, SIGSTOP);
    sender s = { .c = x };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_all, &s), 0);
    /* Until X is held back (no progress for 1.5 s) or has sent it all. */
    int last = -1;
    long long still_since = h_now_ms(), give_up = h_now_ms() + 30000;
    while (atomic_load(&s.sent) < N && h_now_ms() - still_since < 1500 && h_now_ms() < give_up) {
        h_sleep_ms(100);
        int now = atomic_load(&s.sent);
        if (now != last) {
            last = now;
            still_since = h_now_ms();
        }
    }
    long long paused = metric(h_node_port(a), "switchboard_input_paused ");
    h_node_signal(b, SIGCONT);

    for (int i = 0; i < N; i++) {
        json_t *j = h_recv(y, "the next message of the burst");
        cr_assert(h_type_is(j, "offer"), "Y got %s", h_jdump(j));
        cr_assert_eq(json_integer_value(json_object_get(j, "seq")), i,
                     "Y lost or reordered a message: want seq %d, got %s", i,
                     h_jdump(json_object_get(j, "seq")));
        json_decref(j);
    }
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert(!atomic_load(&s.failed) && atomic_load(&s.sent) == N, "X sent %d of %d",
              atomic_load(&s.sent), N);
    cr_assert_eq(paused, 1, "node A did not pause its client while B was behind");
    cr_assert_eq(subscriber_id("node-b"), sub_before, "Redis dropped node-b's subscriber link");
    cr_assert_geq(metric(h_node_port(a), "switchboard_overload_pauses_total "), 1);

    /* Recovered: input resumed, and a message goes straight through. */
    long long deadline = h_now_ms() + 5000;
    while (metric(h_node_port(a), "switchboard_input_paused ") != 0 && h_now_ms() < deadline)
        h_sleep_ms(50);
    cr_assert_eq(metric(h_node_port(a), "switchboard_input_paused "), 0, "input still paused");
    h_sendf(x, "{\"type\":\"chat\",\"data\":\"after\"}");
    h_expect_relay(y, "chat", x, "\"after\"", NULL);

    /* B was signalled by the test, so the test stops it too. */
    int status = 0;
    h_node_signal(b, SIGTERM);
    cr_assert(h_node_wait_exit(b, H_STOP_TIMEOUT_MS, &status), "node-b did not exit");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node-b exit status %d", status);
}
