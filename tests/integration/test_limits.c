/*
 * test_limits.c - connection-level limits: the descriptor limit, the
 * connection cap, and the header deadline against slow senders.
 *
 * The node keeps 32 descriptors of RLIMIT_NOFILE in reserve and caps TCP
 * connections at the rest (or --max-connections); past the cap it answers
 * 503 and closes; should accept() still run out of descriptors, it stops
 * accepting until one is free. A connection must finish its request
 * headers within 5 s.
 */
#include "harness.h"
#include "netutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_RESERVE 32 /* the node's, README "Configuration" */
#define HEADER_DEADLINE_MS 5000
#define CONNECT_TRIES 100 /* more than the cap of the limited node */
#define SLOW_CONNS 300

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Whatever the server sent on fd within wait_ms (NUL-terminated in buf);
 * returns bytes read, 0 on EOF, -2 when nothing came. */
static ssize_t read_answer(int fd, char *buf, size_t size, int wait_ms)
{
    ssize_t n = net_read_some(fd, buf, size - 1, net_now_ms() + wait_ms);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* Open `tries` connections that send nothing. Those answered within a
 * moment were refused (and must say 503); the rest are held in held[]. */
static int open_until_refused(int port, int tries, int *held, int *n_held)
{
    int fds[CONNECT_TRIES];
    for (int i = 0; i < tries; i++) {
        fds[i] = net_connect(port, 0);
        cr_assert(fds[i] >= 0, "connect %d failed", i);
    }
    h_sleep_ms(500);
    int refused = 0;
    *n_held = 0;
    for (int i = 0; i < tries; i++) {
        char buf[512];
        ssize_t n = read_answer(fds[i], buf, sizeof buf, 0);
        if (n == -2) {
            held[(*n_held)++] = fds[i];
            continue;
        }
        cr_assert(n > 0 && strstr(buf, "HTTP/1.1 503") && strstr(buf, "Too many connections"),
                  "connection %d: expected a 503 refusal, got %zd bytes '%s'", i, n, buf);
        refused++;
        close(fds[i]);
    }
    return refused;
}

IT_TEST(limits, descriptor_limit_refuses_without_spinning, h_setup_redis)
{
    const int fd_limit = 96;
    const int cap = fd_limit - FD_RESERVE;
    h_node_next_fd_limit(fd_limit);
    int idx = h_node_start("node-a", NULL);
    int port = h_node_port(idx);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *ws = h_join(port, room, NULL);

    int held[CONNECT_TRIES], n_held;
    int refused = open_until_refused(port, CONNECT_TRIES, held, &n_held);

    /* At the limit for 2 s: no busy loop, no flood of log lines, and the
     * existing connection is served. (The held connections are closed by
     * the header deadline 5 s after their accept: this ends before.) */
    pid_t pid = h_node_pid(idx);
    long long cpu0 = h_cpu_ms(pid), t0 = h_now_ms();
    h_sleep_ms(2000);
    long long ping0 = h_now_ms();
    h_ping_pong(ws);
    long long ping_ms = h_now_ms() - ping0;
    long long cpu = h_cpu_ms(pid) - cpu0, elapsed = h_now_ms() - t0;
    long long log_bytes = file_size(h_node_log(idx));
    cr_assert_lt(cpu, elapsed / 4, "node used %lld ms CPU in %lld ms at the limit", cpu, elapsed);
    cr_assert_lt(log_bytes, 16384, "node log grew to %lld bytes at the limit", log_bytes);
    cr_assert_lt(ping_ms, 1000, "ping took %lld ms at the limit", ping_ms);

    /* The WebSocket holds one place; a readiness probe may not be closed
     * yet on the node's side. Past the cap: a prompt 503. */
    cr_assert(n_held <= cap - 1 && n_held >= cap - 4, "held %d connections, cap %d", n_held, cap);
    cr_assert_eq(refused, CONNECT_TRIES - n_held);
    for (int i = 0; i < 4; i++) {
        int fd = net_connect(port, 0);
        cr_assert(fd >= 0);
        char buf[512];
        cr_assert(read_answer(fd, buf, sizeof buf, 1000) > 0 && strstr(buf, "503"),
                  "refusal %d at the limit: '%s'", i, buf);
        close(fd);
    }

    /* Freed: new connections are served again. */
    for (int i = 0; i < n_held; i++)
        close(held[i]);
    cr_assert_eq(h_wait_http_status(port, "/healthz", 200, 2000), 200);
    ws_client *again = h_join(port, room, NULL);
    h_ping_pong(again);

    /* One line per kind of refusal, not one per connection. */
    log_bytes = file_size(h_node_log(idx));
    cr_assert_lt(log_bytes, 16384, "node log grew to %lld bytes", log_bytes);
}

/* The node's descriptor limit, soft part, set from outside (prlimit(2)). */
static void set_node_fd_limit(pid_t pid, rlim_t soft)
{
    struct rlimit old, want;
    cr_assert_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &old), 0, "prlimit: %s", strerror(errno));
    want = (struct rlimit){ .rlim_cur = soft, .rlim_max = old.rlim_max };
    cr_assert_eq(prlimit(pid, RLIMIT_NOFILE, &want, NULL), 0, "prlimit: %s", strerror(errno));
}

/* Should accept() fail for lack of descriptors below the cap (something
 * else took the reserve), the node stops accepting rather than retrying
 * at once: new connections wait in the kernel's queue, the node is idle
 * and keeps serving what it has, and takes them once descriptors are
 * free again. Here the node's own limit is lowered under it to 3, so
 * every accept fails with EMFILE. */
IT_TEST(limits, out_of_descriptors_pauses_accepting, h_setup_redis)
{
    int idx = h_node_start("node-a", NULL);
    int port = h_node_port(idx);
    pid_t pid = h_node_pid(idx);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *ws = h_join(port, room, NULL);
    struct rlimit before;
    cr_assert_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &before), 0);
    long long log0 = file_size(h_node_log(idx));

    set_node_fd_limit(pid, 3);
    enum { WAITING = 4 };
    int fds[WAITING];
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < WAITING; i++) {
        fds[i] = net_connect(port, 0);
        cr_assert(fds[i] >= 0, "connect %d", i);
        cr_assert_eq(net_write_all(fds[i], req, sizeof req - 1, net_now_ms() + 2000), 0);
    }
    long long cpu0 = h_cpu_ms(pid), t0 = h_now_ms();
    h_sleep_ms(2000);
    long long cpu = h_cpu_ms(pid) - cpu0, elapsed = h_now_ms() - t0;
    cr_assert_lt(cpu, elapsed / 4, "node used %lld ms CPU in %lld ms without descriptors", cpu,
                 elapsed);
    long long grew = file_size(h_node_log(idx)) - log0;
    cr_assert_lt(grew, 4096, "node log grew by %lld bytes without descriptors", grew);
    h_ping_pong(ws); /* what the node holds is served meanwhile */
    char buf[512];
    cr_assert_eq(read_answer(fds[0], buf, sizeof buf, 0), -2,
                 "a connection was answered without a descriptor: '%s'", buf);

    set_node_fd_limit(pid, before.rlim_cur);
    for (int i = 0; i < WAITING; i++) {
        cr_assert_gt(read_answer(fds[i], buf, sizeof buf, 3000), 0,
                     "waiting connection %d not served once descriptors were free", i);
        cr_assert(strstr(buf, "HTTP/1.1 200"), "waiting connection %d: '%s'", i, buf);
        close(fds[i]);
    }
    ws_close(ws);
}

IT_TEST(limits, max_connections_counts_every_tcp_connection, h_setup_redis)
{
    int idx = h_node_start("node-a", "--max-connections", "4", NULL);
    int port = h_node_port(idx);
    int held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = net_connect(port, 0);
        cr_assert(held[i] >= 0);
    }
    h_sleep_ms(300);
    http_resp r = h_http(port, "GET", "/healthz", NULL, NULL);
    h_expect_detail(&r, 503, "Too many connections", "GET /healthz past the cap");
    http_resp_free(&r);
    close(held[0]);
    cr_assert_eq(h_wait_http_status(port, "/healthz", 200, 2000), 200);
    for (int i = 1; i < 4; i++)
        close(held[i]);
}

/* Each of n sockets sends the next byte of its header, if still open. */
static void trickle(int *fds, int n, size_t *sent)
{
    static const char head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0 || sent[i] >= sizeof head - 1)
            continue;
        if (send(fds[i], head + sent[i], 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
            sent[i]++;
    }
}

/* Sockets the server has closed (EOF or reset after any answer) are closed
 * here and their time recorded. Returns how many are still open. */
static int reap_closed(int *fds, int n, long long *closed_at, int *answered_408)
{
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char buf[512];
        ssize_t got = read_answer(fds[i], buf, sizeof buf, 0);
        if (got > 0 && strstr(buf, "HTTP/1.1 408"))
            (*answered_408)++;
        if (got > 0)
            got = read_answer(fds[i], buf, sizeof buf, 200);
        if (got == -2) {
            open++;
            continue;
        }
        closed_at[i] = h_now_ms();
        close(fds[i]);
        fds[i] = -1;
    }
    return open;
}

IT_TEST(limits, slow_headers_do_not_delay_others, h_setup_one)
{
    int port = h_node_port(0);
    int fds[SLOW_CONNS];
    size_t sent[SLOW_CONNS] = { 0 };
    long long closed_at[SLOW_CONNS] = { 0 };
    long long t0 = h_now_ms();
    for (int i = 0; i < SLOW_CONNS; i++) {
        fds[i] = net_connect(port, 0);
        cr_assert(fds[i] >= 0, "connect %d", i);
    }
    for (int round = 0; round < 4; round++) {
        trickle(fds, SLOW_CONNS, sent);
        h_sleep_ms(200);
    }

    /* A normal request on a new connection is answered at once. */
    long long start = h_now_ms();
    http_resp r;
    char err[128] = "";
    int rc = http_request(port, "GET", "/healthz", NULL, NULL, 0, 8000, &r, err, sizeof err);
    long long took = h_now_ms() - start;
    cr_assert_eq(rc, 0, "GET /healthz: %s", err);
    cr_assert_eq(r.status, 200);
    http_resp_free(&r);
    cr_assert_lt(took, 1500, "GET /healthz waited %lld ms behind slow senders", took);

    /* Trickling on does not keep them open past the deadline. */
    int answered_408 = 0, open = SLOW_CONNS;
    while (open > 0 && h_now_ms() - t0 < HEADER_DEADLINE_MS + 4000) {
        trickle(fds, SLOW_CONNS, sent);
        h_sleep_ms(250);
        open = reap_closed(fds, SLOW_CONNS, closed_at, &answered_408);
    }
    cr_assert_eq(open, 0, "%d slow connections still open after %lld ms", open, h_now_ms() - t0);
    for (int i = 0; i < SLOW_CONNS; i++)
        cr_assert_geq(closed_at[i] - t0, HEADER_DEADLINE_MS - 500,
                      "slow connection %d closed after only %lld ms", i, closed_at[i] - t0);
    cr_assert_eq(answered_408, SLOW_CONNS, "%d of %d were told 408", answered_408, SLOW_CONNS);
    cr_assert_eq(h_wait_http_status(port, "/healthz", 200, 2000), 200);
}

/* The deadline starts again after each response on a keep-alive
 * connection: a next request trickled in is not waited for either. */
IT_TEST(limits, keepalive_next_request_has_deadline, h_setup_one)
{
    int port = h_node_port(0);
    int fd = net_connect(port, 0);
    cr_assert(fd >= 0);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(net_write_all(fd, req, sizeof req - 1, net_now_ms() + 2000), 0);
    char buf[1024], answer[2048] = "";
    long long until = h_now_ms() + 2000;
    while (!strchr(answer, '}') && h_now_ms() < until) /* to the end of the JSON body */
        if (read_answer(fd, buf, sizeof buf, 200) > 0)
            strncat(answer, buf, sizeof answer - strlen(answer) - 1);
    cr_assert(strstr(answer, "HTTP/1.1 200") && strchr(answer, '}'), "first answer: '%s'", answer);
    long long t0 = h_now_ms();
    ssize_t got = -2;
    for (size_t i = 0; got == -2 && h_now_ms() - t0 < HEADER_DEADLINE_MS + 3000; i++) {
        if (i < sizeof req - 3)
            (void)send(fd, req + i, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        got = read_answer(fd, buf, sizeof buf, 250);
    }
    long long after = h_now_ms() - t0;
    cr_assert(got == 0 || got == -1, "still open after %lld ms (got %zd: '%s')", after, got, buf);
    cr_assert_geq(after, HEADER_DEADLINE_MS - 1000, "closed after only %lld ms", after);
    close(fd);
}

/* A request body is held to a deadline too, counted from the end of its
 * headers: a body trickled a byte at a time gets 408 and the close, and
 * one sent at once on the same kind of connection is answered. */
IT_TEST(limits, slow_body_gets_408, h_setup_one)
{
    int port = h_node_port(0);
    static const char body[] = "{\"max_participants\": 4}";
    char head[256];
    int head_len = snprintf(head, sizeof head,
                            "POST /create-room HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                            sizeof body - 1);
    int fd = net_connect(port, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(net_write_all(fd, head, (size_t)head_len, net_now_ms() + 2000), 0);
    long long t0 = h_now_ms();
    char buf[1024];
    ssize_t got = -2;
    for (size_t i = 0; got == -2 && h_now_ms() - t0 < HEADER_DEADLINE_MS + 3000; i++) {
        if (i < sizeof body - 2) /* never the last byte */
            (void)send(fd, body + i, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        got = read_answer(fd, buf, sizeof buf, 250);
    }
    long long after = h_now_ms() - t0;
    cr_assert(got > 0 && strstr(buf, "HTTP/1.1 408"), "after %lld ms: got %zd '%s'", after, got,
              buf);
    cr_assert_geq(after, HEADER_DEADLINE_MS - 1000, "answered after only %lld ms", after);
    close(fd);

    fd = net_connect(port, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(net_write_all(fd, head, (size_t)head_len, net_now_ms() + 2000), 0);
    cr_assert_eq(net_write_all(fd, body, sizeof body - 1, net_now_ms() + 2000), 0);
    got = read_answer(fd, buf, sizeof buf, 3000);
    cr_assert(got > 0 && strstr(buf, "HTTP/1.1 200"), "got %zd '%s'", got, buf);
    close(fd);
}
