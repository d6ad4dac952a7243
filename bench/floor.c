/*
 * floor.c - switchboard-floor: the least any relay of our shape can cost
 * per message on this machine, to set the node's cost beside.
 *
 * A node's CPU per message is mostly the kernel: one read per client
 * message, one send per recipient (on loopback a send also pays the
 * receiver's TCP processing), its Redis link's reads and writes, and
 * being woken. The floor relay makes exactly those system calls and does
 * nothing else: no WebSocket, no JSON, no rooms beyond an array, no
 * epoll_ctl per write. scripts/bench.sh --cost runs it right after the
 * nodes, under a load of the same shape from its own generator (below)
 * and on the same redis-server, so their ratios to redis-server's CPU per
 * PUBLISH compare directly (README, Performance).
 *
 *   switchboard-floor relay PORT REDIS_PORT
 *   switchboard-floor load PORT1,PORT2 ROOMS RATE split|room WARMUP_S SECONDS
 *                          REDIS_PID RELAY_PID...
 *
 * Wire format, client <-> relay: a hello of two u32 (room, member), then
 * frames of a u32 length and a payload whose head is a msg_head. A relay
 * subscribes to the channel of every room it has a member of, as a node
 * does, and answers a hello with an empty frame once it is subscribed. A
 * message goes straight to the other member when it is on the same relay,
 * else it is published. Rooms have two members. "split" puts member m on
 * relay m, so every message is one PUBLISH and one subscriber delivery;
 * "room" puts both members of room r on relay r % 2, so nothing goes
 * through Redis.
 * The load sends evenly spaced messages, 15 % of 4 KiB and the rest of
 * 200 B, as the cost run's offers and ICE candidates.
 *
 * With FLOOR_BATCH_US set, a relay lets each turn of its loop start at
 * least that many microseconds after the last one, so a turn handles
 * several messages. It spends less per message, and so does Redis, which
 * then reads more PUBLISHes per read: the ratio between them grows.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sysinfo.h"

#define MAX_ROOMS 4096
#define CLIENT_BUF (64 * 1024)
#define REDIS_BUF (8 * 1024 * 1024)

typedef struct {
    uint32_t member, room;
    uint64_t sent_ns;
} msg_head;

typedef struct {
    int fd;
    size_t cap, in_len, out_len, out_at;
    unsigned char *in, *out;
    int room, member; /* -1 until the hello */
    int pending;      /* in the list of connections with output */
    int ready;        /* told its room's channel is subscribed */
} conn;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static conn *conn_new(int fd, size_t cap)
{
    conn *c = calloc(1, sizeof(*c));
    if (!c || !(c->in = malloc(cap)) || !(c->out = malloc(cap)))
        die("malloc");
    c->cap = cap;
    c->fd = fd;
    c->room = c->member = -1;
    return c;
}

static void out_append(conn *c, const void *p, size_t n)
{
    if (c->out_len + n > c->cap) {
        fprintf(stderr, "switchboard-floor: output buffer full\n");
        exit(2);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* Write what is buffered; whatever the socket does not take waits for
 * EPOLLOUT. Returns -1 when the peer is gone. */
static int out_flush(int ep, conn *c)
{
    while (c->out_at < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_at, c->out_len - c->out_at,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EAGAIN) {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return 0;
        }
        if (w <= 0)
            return -1;
        c->out_at += (size_t)w;
    }
    c->out_at = c->out_len = 0;
    return 0;
}

/* The frame at c->in + *at: its payload and length, with *at moved past
 * it, or NULL when it has not all arrived. */
static const unsigned char *next_frame(const conn *c, size_t *at, uint32_t *len)
{
    if (c->in_len - *at < 4)
        return NULL;
    memcpy(len, c->in + *at, 4);
    if (c->in_len - *at - 4 < *len)
        return NULL;
    if (*len < sizeof(msg_head))
        die("short frame");
    const unsigned char *payload = c->in + *at + 4;
    *at += 4 + *len;
    return payload;
}

/* ---- relay -------------------------------------------------------------------- */

static struct {
    int ep;
    conn *members[MAX_ROOMS][2]; /* this relay's members */
    conn *pub, *sub;             /* the Redis links: commands, subscriptions */
    conn **pending;
    size_t n_pending;
} R;

static void mark_pending(conn *c)
{
    if (!c->pending) {
        c->pending = 1;
        R.pending[R.n_pending++] = c;
    }
}

static void deliver(int room, const unsigned char *payload, uint32_t len)
{
    uint32_t member; /* the sender: msg_head's first field */
    memcpy(&member, payload, sizeof(member));
    conn *to = R.members[room][(member & 1u) ^ 1u];
    if (!to)
        return;
    out_append(to, &len, 4);
    out_append(to, payload, len);
    mark_pending(to);
}

static void publish(int room, const unsigned char *payload, uint32_t len)
{
    char head[96];
    char channel[16];
    int cl = snprintf(channel, sizeof(channel), "r%d", room);
    int n = snprintf(head, sizeof(head), "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%u\r\n", cl, channel,
                     len);
    out_append(R.pub, head, (size_t)n);
    out_append(R.pub, payload, len);
    out_append(R.pub, "\r\n", 2);
    mark_pending(R.pub);
}

static void on_hello(conn *c, uint32_t room, uint32_t member)
{
    if (room >= MAX_ROOMS || member > 1)
        die("hello");
    c->room = (int)room;
    c->member = (int)member;
    R.members[room][member] = c;
    char cmd[96];
    int n = snprintf(cmd, sizeof(cmd), "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\nr%u\r\n",
                     snprintf(NULL, 0, "r%u", room), room);
    out_append(R.sub, cmd, (size_t)n);
    mark_pending(R.sub);
}

/* Frames from a client: a hello, then messages, each relayed. */
static size_t client_input(conn *c)
{
    size_t at = 0;
    if (c->room < 0) {
        if (c->in_len < 8)
            return 0;
        uint32_t v[2];
        memcpy(v, c->in, 8);
        on_hello(c, v[0], v[1]);
        at = 8;
    }
    uint32_t len;
    for (const unsigned char *p; (p = next_frame(c, &at, &len));) {
        /* to the other member: straight to it when it is here */
        if (R.members[c->room][c->member ^ 1])
            deliver(c->room, p, len);
        else
            publish(c->room, p, len);
    }
    return at;
}

/* One RESP integer or bulk string at *p; returns its start and length, or
 * NULL when incomplete. */
static const unsigned char *resp_item(const unsigned char **p, const unsigned char *end,
                                      size_t *len)
{
    const unsigned char *q = memchr(*p, '\n', (size_t)(end - *p));
    if (!q)
        return NULL;
    if (**p == ':') {
        *len = (size_t)(q - 1 - (*p + 1));
        const unsigned char *s = *p + 1;
        *p = q + 1;
        return s;
    }
    size_t n = strtoul((const char *)*p + 1, NULL, 10);
    if ((size_t)(end - (q + 1)) < n + 2)
        return NULL;
    *len = n;
    *p = q + 1 + n + 2;
    return q + 1;
}

/* Pushes on the subscriber link: a "message" is delivered, a "subscribe"
 * confirmation answers the hello it was for. */
static size_t sub_input(conn *c)
{
    const unsigned char *p = c->in, *end = c->in + c->in_len;
    while (p < end) {
        const unsigned char *q = p, *nl = memchr(q, '\n', (size_t)(end - q));
        if (!nl)
            break;
        q = nl + 1;
        size_t kl, cl, pl;
        const unsigned char *kind = resp_item(&q, end, &kl);
        const unsigned char *chan = kind ? resp_item(&q, end, &cl) : NULL;
        const unsigned char *pay = chan ? resp_item(&q, end, &pl) : NULL;
        if (!pay)
            break;
        int room = atoi((const char *)chan + 1);
        if (kl == 7 && memcmp(kind, "message", 7) == 0)
            deliver(room, pay, (uint32_t)pl);
        else if (kl == 9 && memcmp(kind, "subscribe", 9) == 0)
            for (int m = 0; m < 2; m++)
                if (R.members[room][m] && !R.members[room][m]->ready) {
                    R.members[room][m]->ready = 1;
                    uint32_t zero = 0;
                    out_append(R.members[room][m], &zero, 4);
                    mark_pending(R.members[room][m]);
                }
        p = q;
    }
    return (size_t)(p - c->in);
}

static void conn_read(conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->in_len, c->cap - c->in_len, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN)) {
        if (c == R.pub || c == R.sub)
            die("redis link");
        epoll_ctl(R.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        if (c->room >= 0)
            R.members[c->room][c->member] = NULL;
        c->fd = -1;
        return;
    }
    if (r < 0)
        return;
    c->in_len += (size_t)r;
    size_t used = c == R.pub ? c->in_len : c == R.sub ? sub_input(c) : client_input(c);
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
}

static void watch(conn *c)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(R.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
}

static _Noreturn void relay_main(int port, int redis_port)
{
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1024) != 0)
        die("listen");
    R.ep = epoll_create1(0);
    R.pending = calloc(2 * MAX_ROOMS + 2, sizeof(conn *));
    R.pub = conn_new(connect_port(redis_port), REDIS_BUF);
    R.sub = conn_new(connect_port(redis_port), REDIS_BUF);
    watch(R.pub);
    watch(R.sub);
    conn listener = { .fd = lfd };
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &listener };
    epoll_ctl(R.ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event evs[256];
    /* FLOOR_BATCH_US: sleep so that turns start at least that far apart,
     * so that each turn handles more messages (see the header). */
    long batch_us = getenv("FLOOR_BATCH_US") ? atol(getenv("FLOOR_BATCH_US")) : 0;
    uint64_t woke = 0;
    for (;;) {
        if (batch_us) {
            uint64_t t = now_ns();
            if (t < woke + (uint64_t)batch_us * 1000)
                usleep((useconds_t)((woke + (uint64_t)batch_us * 1000 - t) / 1000));
        }
        int n = epoll_wait(R.ep, evs, 256, -1);
        woke = now_ns();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == &listener) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (fd >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    watch(conn_new(fd, CLIENT_BUF));
                }
                continue;
            }
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT)) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(R.ep, EPOLL_CTL_MOD, c->fd, &ev);
                mark_pending(c);
            }
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                conn_read(c);
        }
        /* Every write of the turn, once, before sleeping. */
        for (size_t i = 0; i < R.n_pending; i++) {
            conn *c = R.pending[i];
            c->pending = 0;
            if (c->fd >= 0 && out_flush(R.ep, c) != 0 && (c == R.pub || c == R.sub))
                die("redis write");
        }
        R.n_pending = 0;
    }
}

/* ---- load --------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int load_main(int argc, char **argv)
{
    int ports[2];
    if (sscanf(argv[0], "%d,%d", &ports[0], &ports[1]) != 2)
        die("ports");
    int rooms = atoi(argv[1]), split = strcmp(argv[3], "split") == 0, n_pids = argc - 7;
    double rate = atof(argv[2]), warmup = atof(argv[4]), secs = atof(argv[5]);
    pid_t redis_pid = atoi(argv[6]), pids[8];
    for (int i = 0; i < n_pids && i < 8; i++)
        pids[i] = atoi(argv[7 + i]);
    if (rooms < 1 || rooms > MAX_ROOMS || rate <= 0 || n_pids < 1 || n_pids > 8)
        die("arguments");
    int n = 2 * rooms, ep = epoll_create1(0);
    conn **cs = calloc((size_t)n, sizeof(conn *));
    for (int i = 0; i < n; i++) {
        int room = i / 2, member = i % 2;
        cs[i] = conn_new(connect_port(ports[split ? member : room % 2]), CLIENT_BUF);
        uint32_t hello[2] = { (uint32_t)room, (uint32_t)member };
        if (send(cs[i]->fd, hello, 8, 0) != 8)
            die("hello");
    }
    for (int i = 0; i < n; i++) { /* each relay's go-ahead */
        uint32_t zero;
        if (recv(cs[i]->fd, &zero, 4, MSG_WAITALL) != 4)
            die("ready");
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = cs[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i]->fd, &ev);
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    uint64_t gap = (uint64_t)(1e9 / (rate * n)), t0 = now_ns(), next = t0;
    uint64_t t_measure = t0 + (uint64_t)(warmup * 1e9), t_end = t_measure + (uint64_t)(secs * 1e9);
    uint64_t t_drain = t_end + 2000000000u, sent = 0, got = 0, got_window = 0, k = 0;
    size_t lat_cap = (size_t)(rate * n * (secs + 1)) + 16, n_lat = 0;
    uint64_t *lat = malloc(lat_cap * sizeof(uint64_t));
    double cpu0[9] = { 0 }, cpu1[9] = { 0 };
    int measuring = 0;
    static unsigned char msg[4 + 4096];
    memset(msg, 'x', sizeof(msg));
    double load0 = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!measuring && now >= t_measure) {
            measuring = 1;
            for (int i = 0; i < n_pids; i++)
                cpu0[i] = proc_cpu_seconds(pids[i]);
            cpu0[8] = proc_cpu_seconds(redis_pid);
            load0 = self_cpu_seconds();
        }
        if (measuring == 1 && now >= t_end) {
            measuring = 2;
            for (int i = 0; i < n_pids; i++)
                cpu1[i] = proc_cpu_seconds(pids[i]);
            cpu1[8] = proc_cpu_seconds(redis_pid);
            load0 = self_cpu_seconds() - load0;
        }
        if (now >= t_drain || (now >= t_end && got == sent))
            break;
        while (now < t_end && next <= now) { /* what is due */
            uint32_t i = (uint32_t)(k % (uint64_t)n), len = k % 20 < 3 ? 4096 : 200;
            conn *c = cs[i];
            msg_head h = { .member = i % 2, .room = i / 2, .sent_ns = now };
            memcpy(msg, &len, 4);
            memcpy(msg + 4, &h, sizeof(h));
            if (send(c->fd, msg, 4 + len, MSG_NOSIGNAL) != (ssize_t)(4 + len))
                die("send");
            sent++;
            k++;
            next += gap;
        }
        /* the next send; none once sending is over */
        struct itimerspec its = { .it_value = { (time_t)(next / 1000000000u),
                                                (long)(next % 1000000000u) } };
        if (now >= t_end)
            memset(&its, 0, sizeof(its));
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        struct epoll_event evs[256];
        int m = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < m; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t x;
                if (read(tfd, &x, 8) < 0 && errno != EAGAIN)
                    die("timerfd");
                continue;
            }
            ssize_t r = recv(c->fd, c->in + c->in_len, c->cap - c->in_len, MSG_DONTWAIT);
            if (r <= 0)
                die("relay closed");
            c->in_len += (size_t)r;
            size_t at = 0;
            uint64_t t = now_ns();
            uint32_t len;
            for (const unsigned char *p; (p = next_frame(c, &at, &len));) {
                msg_head h;
                memcpy(&h, p, sizeof(h));
                got++;
                if (h.sent_ns >= t_measure && h.sent_ns < t_end) {
                    got_window++;
                    if (n_lat < lat_cap)
                        lat[n_lat++] = (t - h.sent_ns) / 1000u;
                }
            }
            memmove(c->in, c->in + at, c->in_len - at);
            c->in_len -= at;
        }
    }
    qsort(lat, n_lat, sizeof(uint64_t), cmp_u64);
    double relays = 0;
    for (int i = 0; i < n_pids; i++)
        relays += cpu1[i] - cpu0[i];
    double per_s = (double)got_window / secs, redis = cpu1[8] - cpu0[8];
    printf("{\"placement\":\"%s\",\"offered_per_s\":%.0f,\"delivered_per_s\":%.1f,"
           "\"lost\":%llu,\"p50_us\":%llu,\"p99_us\":%llu,\"relay_pct\":%.1f,"
           "\"redis_pct\":%.1f,\"load_pct\":%.1f,\"relay_us_per_msg\":%.2f,"
           "\"redis_us_per_publish\":%.2f}\n",
           argv[3], rate * n, per_s, (unsigned long long)(sent - got),
           (unsigned long long)(n_lat ? lat[n_lat / 2] : 0),
           (unsigned long long)(n_lat ? lat[n_lat * 99 / 100] : 0), relays / secs * 100,
           redis / secs * 100, load0 / secs * 100, per_s > 0 ? relays / secs / per_s * 1e6 : 0,
           per_s > 0 && split ? redis / secs / per_s * 1e6 : 0);
    for (int i = 0; i < n; i++) {
        close(cs[i]->fd);
        free(cs[i]->in);
        free(cs[i]->out);
        free(cs[i]);
    }
    free(cs);
    free(lat);
    close(tfd);
    close(ep);
    return sent == got ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "relay") == 0)
        relay_main(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 10 && strcmp(argv[1], "load") == 0)
        return load_main(argc - 2, argv + 2);
    fprintf(stderr, "usage: switchboard-floor relay PORT REDIS_PORT\n"
                    "       switchboard-floor load PORT1,PORT2 ROOMS RATE split|room WARMUP_S "
                    "SECONDS REDIS_PID RELAY_PID...\n");
    return 2;
}
