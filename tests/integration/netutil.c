/*
 * netutil.c - loopback socket helpers shared by the test clients: connect,
 * and reads/writes bounded by a deadline. See netutil.h.
 */
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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

static void tls_forget(int fd);
static int tls_handshake(int fd);
static SSL *tls_session(int fd);
static ssize_t tls_io(SSL *s, void *buf, size_t len, bool writing, short *want);
static SSL_CTX *tls_ctx;
static int tls_port;      /* connections to it speak TLS */
static char tls_err[256]; /* why the last handshake failed */

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
    tls_forget(fd); /* a session of an earlier fd with this number */
    return fd;
}

int net_connect_http(int port, int rcvbuf)
{
    tls_err[0] = '\0';
    int fd = net_connect(port, rcvbuf);
    if (fd < 0 || !tls_ctx || (tls_port != 0 && port != tls_port))
        return fd;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || tls_handshake(fd) != 0) {
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
    SSL *s = tls_session(fd);
    while (len > 0 && s) {
        short want = POLLOUT;
        ssize_t n = tls_io(s, (void *)p, len, true, &want);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            if (wait_fd(fd, want, deadline_ms) != 0)
                return -1;
        } else {
            return -1;
        }
    }
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
    SSL *s = tls_session(fd);
    while (s) {
        short want = POLLIN;
        ssize_t n = tls_io(s, buf, len, false, &want);
        if (n >= 0 || errno != EAGAIN)
            return n;
        int w = wait_fd(fd, want, deadline_ms);
        if (w != 0)
            return w;
    }
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

/* ---- TLS ----
 * One session per descriptor, in a table indexed by fd: net_connect
 * resets the slot of the fd it returns, so a number the kernel reuses
 * never inherits an old session. */

#define TLS_MAX_FD 4096

static SSL_CTX *tls_ctx;
static SSL *tls_of_fd[TLS_MAX_FD];

static SSL *tls_session(int fd)
{
    return fd >= 0 && fd < TLS_MAX_FD ? tls_of_fd[fd] : NULL;
}

static void tls_forget(int fd)
{
    SSL *s = tls_session(fd);
    if (s) {
        SSL_free(s);
        tls_of_fd[fd] = NULL;
    }
}

int net_set_tls(int port, const char *ca_file)
{
    if (tls_ctx)
        SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
    tls_port = port;
    if (!ca_file)
        return 0;
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx)
        return -1;
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(tls_ctx, ca_file, NULL) != 1) {
        SSL_CTX_free(tls_ctx);
        tls_ctx = NULL;
        return -1;
    }
    return 0;
}

const char *net_tls_error(void)
{
    return tls_err;
}

static void tls_note_error(SSL *s, const char *what)
{
    long v = SSL_get_verify_result(s);
    unsigned long e = ERR_get_error();
    char detail[160] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof detail);
    snprintf(tls_err, sizeof tls_err, "%s: %s%s%s", what,
             v != X509_V_OK ? X509_verify_cert_error_string(v) : "", v != X509_V_OK ? "; " : "",
             detail);
    ERR_clear_error();
}

/* Handshake on the non-blocking fd, verifying 127.0.0.1 against the CA,
 * bounded by NET_TLS_HANDSHAKE_MS. 0 or -1 (errno EPROTO or ETIMEDOUT). */
#define NET_TLS_HANDSHAKE_MS 5000
static int tls_handshake(int fd)
{
    tls_err[0] = '\0';
    SSL *s = SSL_new(tls_ctx);
    if (!s || SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        errno = ENOMEM;
        return -1;
    }
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), "127.0.0.1");
    long long deadline = net_now_ms() + NET_TLS_HANDSHAKE_MS;
    for (;;) {
        int r = SSL_connect(s);
        if (r == 1)
            break;
        int e = SSL_get_error(s, r);
        short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (want == 0 || wait_fd(fd, want, deadline) != 0) {
            tls_note_error(s, want ? "TLS handshake timed out" : "TLS handshake failed");
            SSL_free(s);
            errno = want ? ETIMEDOUT : EPROTO;
            return -1;
        }
    }
    tls_of_fd[fd] = s;
    return 0;
}

void net_close(int fd)
{
    SSL *s = tls_session(fd);
    if (s)
        SSL_shutdown(s); /* one close_notify, no wait for the answer */
    tls_forget(fd);
    close(fd);
}

/* One SSL_write or SSL_read step: bytes, or -1 with errno EAGAIN when the
 * socket must be waited for in *want, or -1 (or 0 for a read at EOF). */
static ssize_t tls_io(SSL *s, void *buf, size_t len, bool writing, short *want)
{
    int n = writing ? SSL_write(s, buf, (int)len) : SSL_read(s, buf, (int)len);
    if (n > 0)
        return n;
    int e = SSL_get_error(s, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        errno = EAGAIN;
        return -1;
    }
    ERR_clear_error();
    if (!writing && e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (!writing && e == SSL_ERROR_SYSCALL && errno == 0)
        return 0; /* the peer closed without close_notify: EOF all the same */
    return -1;
}
