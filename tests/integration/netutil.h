/*
 * netutil.h - loopback socket helpers shared by the test clients.
 *
 * Blocking TCP connect to 127.0.0.1, and writes/reads that never wait past
 * a deadline (poll() before every step, MSG_NOSIGNAL so a peer that closed
 * turns into an error instead of SIGPIPE).
 *
 * TLS: after net_set_tls(port, ca), every net_connect_http to that port
 * also does a TLS handshake that verifies the server's certificate against
 * the PEM file ca and the name 127.0.0.1 (as a browser would for
 * https://127.0.0.1), and reads and writes go through it; so the HTTP and
 * WebSocket clients speak https:// and wss:// unchanged. A certificate that does not verify fails the
 * connect (errno EPROTO, the reason in net_tls_error()).
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
/* net_connect, then the TLS handshake when net_set_tls named the port:
 * the connection of the HTTP and WebSocket clients. */
int net_connect_http(int port, int rcvbuf);
/* The source address of every net_connect from now on: an IPv4 loopback
 * address ("127.0.0.2"), or NULL for the kernel's choice (127.0.0.1).
 * One test process can so be several clients. */
void net_set_source(const char *ipv4);

/* Speak TLS to port (0: to every port) from now on, verifying the server
 * against the PEM file ca_file (other ports stay plain TCP); NULL: no TLS. 0, or -1
 * when ca_file cannot be loaded. */
int net_set_tls(int port, const char *ca_file);
/* Why the last TLS handshake failed ("" when none did). */
const char *net_tls_error(void);
/* Close fd and, if it carries TLS, its session. */
void net_close(int fd);

/* Write all of buf before the deadline (net_now_ms() value). 0 or -1. */
int net_write_all(int fd, const void *buf, size_t len, long long deadline_ms);

/* Wait for readability until the deadline, then read once.
 * Returns bytes read, 0 on EOF, -1 on error, -2 on timeout. */
ssize_t net_read_some(int fd, void *buf, size_t len, long long deadline_ms);

#endif
