/*
 * netutil.c - loopback socket helpers shared by the test clients: connect,
 * and reads/writes bounded by a deadline. See netutil.h.
 */
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct in_addr source;
static bool source_set;

void net_set_source(const char *ipv4)
{
    source_set = ipv4 && inet_pton(AF_INET, ipv4, &source) == 1;
}

int net_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (source_set) {
        struct sockaddr_in from;
        memset(&from, 0, sizeof from);
        from.sin_family = AF_INET;
        from.sin_addr = source;
        if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
    }
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int wait_fd(int fd, short events, long long deadline_ms)
{
    for (;;) {
        long long left = deadline_ms - net_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -2;
        if (errno != EINTR)
            return -1;
    }
}

int net_write_all(int fd, const void *buf, size_t len, long long deadline_ms)
{
    const char *p = buf;
    while (len > 0) {
        int w = wait_fd(fd, POLLOUT, deadline_ms);
        if (w < 0)
            return -1;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t net_read_some(int fd, void *buf, size_t len, long long deadline_ms)
{
    for (;;) {
        int w = wait_fd(fd, POLLIN, deadline_ms);
        if (w == -2)
            return -2;
        if (w < 0)
            return -1;
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        return -1;
    }
}
