/*
 * httpc.c - blocking HTTP/1.1 requests with keep-alive (see httpc.h).
 *
 * Answers are read by Content-Length (the node always sends one); an
 * answer without it is read until the peer closes. Every request sends a
 * Content-Length, even 0, so the server never has to guess where a body
 * ends on a kept-alive connection.
 */
#include <netdb.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "httpc.h"

#define IO_TIMEOUT_S 10
#define HEAD_MAX 8192

void httpc_init(httpc *c, const char *host, int port)
{
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->fd = -1;
}

void httpc_close(httpc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int open_connection(httpc *c, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->port);
    int rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "%s: %s", c->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    struct timeval tv = { IO_TIMEOUT_S, 0 };
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) {
        snprintf(err, errlen, "connect %s:%d: %s", c->host, c->port, strerror(errno));
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read until the end of the headers; leftover body bytes stay in head
 * after the blank line. Returns the header length, or -1. */
static int read_head(int fd, char *head, size_t cap, size_t *got)
{
    *got = 0;
    while (*got < cap - 1) {
        ssize_t n = recv(fd, head + *got, cap - 1 - *got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        *got += (size_t)n;
        head[*got] = '\0';
        char *end = strstr(head, "\r\n\r\n");
        if (end)
            return (int)(end + 4 - head);
    }
    return -1;
}

static long header_content_length(const char *head)
{
    for (const char *p = head; (p = strchr(p, '\n')) != NULL; p++)
        if (strncasecmp(p + 1, "content-length:", 15) == 0)
            return strtol(p + 16, NULL, 10);
    return -1;
}

/* Copy the body into out (truncated to cap - 1); returns 0 when all of it
 * (length, or until close when length < 0) was read. */
static int read_body(int fd, const char *have, size_t have_len, long length, char *out, size_t cap)
{
    size_t stored = 0, total = 0;
    char buf[4096];
    const char *src = have;
    size_t n = have_len;
    for (;;) {
        size_t keep = n < cap - 1 - stored ? n : cap - 1 - stored;
        memcpy(out + stored, src, keep);
        stored += keep;
        total += n;
        if (length >= 0 && total >= (size_t)length)
            break;
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (r <= 0) {
            out[stored] = '\0';
            return length < 0 ? 0 : -1;
        }
        src = buf;
        n = (size_t)r;
    }
    out[stored] = '\0';
    return 0;
}

static int request_once(httpc *c, const char *req, size_t req_len, char *body_out, size_t cap,
                        char *err, size_t errlen)
{
    char head[HEAD_MAX];
    size_t got;
    if (c->fd < 0 && open_connection(c, err, errlen) != 0)
        return -1;
    if (write_all(c->fd, req, req_len) != 0) {
        snprintf(err, errlen, "send to %s:%d: %s", c->host, c->port, strerror(errno));
        return -2;
    }
    int head_len = read_head(c->fd, head, sizeof(head), &got);
    if (head_len < 0) {
        snprintf(err, errlen, "no answer from %s:%d", c->host, c->port);
        return -2;
    }
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        snprintf(err, errlen, "malformed answer from %s:%d", c->host, c->port);
        return -1;
    }
    long length = header_content_length(head);
    if (read_body(c->fd, head + head_len, got - (size_t)head_len, length, body_out, cap) != 0) {
        snprintf(err, errlen, "short body from %s:%d", c->host, c->port);
        return -1;
    }
    if (length < 0)
        httpc_close(c);
    return status;
}

int httpc_request(httpc *c, const char *method, const char *path, const char *body, char *body_out,
                  size_t cap, char *err, size_t errlen)
{
    char req[4096];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, c->host, c->port, blen, body ? body : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(err, errlen, "request too long");
        return -1;
    }
    /* A kept-alive connection the server has closed meanwhile fails on
     * send or on the first read: then try once more on a new one. */
    for (int attempt = 0;; attempt++) {
        bool reused = c->fd >= 0;
        int status = request_once(c, req, (size_t)n, body_out, cap, err, errlen);
        if (status >= 0)
            return status;
        httpc_close(c);
        if (status != -2 || !reused || attempt > 0)
            return -1;
    }
}

int httpc_create_room(httpc *c, char room_id[37], char *err, size_t errlen)
{
    char body[1024];
    int status = httpc_request(c, "POST", "/create-room", NULL, body, sizeof(body), err, errlen);
    if (status < 0)
        return -1;
    if (status != 200) {
        snprintf(err, errlen, "POST /create-room on %s:%d answered %d: %.200s", c->host, c->port,
                 status, body);
        return -1;
    }
    json_t *root = json_loads(body, 0, NULL);
    const char *id = root ? json_string_value(json_object_get(root, "room_id")) : NULL;
    int rc = -1;
    if (id && strlen(id) == 36) {
        memcpy(room_id, id, 37);
        rc = 0;
    } else {
        snprintf(err, errlen, "POST /create-room answered no room_id: %.200s", body);
    }
    json_decref(root);
    return rc;
}
