/*
 * netutil.h - loopback socket helpers shared by the test clients.
 *
 * Blocking TCP connect to 127.0.0.1, and writes/reads that never wait past
 * a deadline (poll() before every step, MSG_NOSIGNAL so a peer that closed
 * turns into an error instead of SIGPIPE).
 */
#ifndef SB_IT_NETUTIL_H
#define SB_IT_NETUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Monotonic clock in milliseconds. */
long long net_now_ms(void);

/* Connect to 127.0.0.1:port; rcvbuf > 0 sets SO_RCVBUF first. Returns the
 * fd or -1 (errno set). */
int net_connect(int port, int rcvbuf);
/* The source address of every net_connect from now on: an IPv4 loopback
 * address ("127.0.0.2"), or NULL for the kernel's choice (127.0.0.1).
 * One test process can so be several clients. */
void net_set_source(const char *ipv4);

/* Write all of buf before the deadline (net_now_ms() value). 0 or -1. */
int net_write_all(int fd, const void *buf, size_t len, long long deadline_ms);

/* Wait for readability until the deadline, then read once.
 * Returns bytes read, 0 on EOF, -1 on error, -2 on timeout. */
ssize_t net_read_some(int fd, void *buf, size_t len, long long deadline_ms);

#endif
