/*
 * httpclient.c - a minimal blocking HTTP/1.1 client over raw sockets for
 * the integration tests: one request per connection, answers read by
 * Content-Length, chunked coding or EOF, all bounded by a deadline. See
 * httpclient.h.
 */
#include "httpclient.h"
#include "netutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static int sbuf_add(sbuf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sbuf_addf(sbuf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    return sbuf_add(b, tmp, (size_t)n);
}

const char *http_header(const http_resp *r, const char *name, char *buf, size_t buflen)
{
    if (!r || !r->head)
        return NULL;
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (!end)
            end = line + strlen(line);
        if (end == line)
            break;
        if ((size_t)(end - line) > nlen && line[nlen] == ':'
            && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t n = (size_t)(ve - v);
            if (n >= buflen)
                n = buflen - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        line = *end ? end : NULL;
    }
    return NULL;
}

json_t *http_json(const http_resp *r)
{
    if (!r || !r->body)
        return NULL;
    json_error_t e;
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &e);
}

void http_resp_free(http_resp *r)
{
    if (!r)
        return;
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Decode a chunked body in place; returns 1 when complete (body set),
 * 0 when more bytes are needed, -1 when malformed. */
static int dechunk(const char *p, size_t len, sbuf *out)
{
    size_t i = 0;
    out->len = 0;
    for (;;) {
        const char *eol = memmem(p + i, len - i, "\r\n", 2);
        if (!eol)
            return 0;
        char *endp;
        unsigned long sz = strtoul(p + i, &endp, 16);
        if (endp == p + i)
            return -1;
        i = (size_t)(eol - p) + 2;
        if (sz == 0) {
            /* trailers end with an empty line */
            return memmem(p + i, len - i, "\r\n", 2) ? 1 : 0;
        }
        if (len - i < sz + 2)
            return 0;
        if (sbuf_add(out, p + i, sz) < 0)
            return -1;
        i += sz + 2;
    }
}

int http_request(int port, const char *method, const char *path, const char *const *headers,
                 const char *body, size_t body_len, int timeout_ms, http_resp *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    long long deadline = net_now_ms() + timeout_ms;
    int fd = net_connect_http(port, 0);
    if (fd < 0) {
        set_err(err, errlen, "connect to port %d: %s %s", port, strerror(errno), net_tls_error());
        return -1;
    }

    sbuf req = { 0 };
    bool has_ctype = false;
    sbuf_addf(&req,
              "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
              "User-Agent: switchboard-it\r\nAccept: */*\r\n",
              method, path, port);
    for (size_t i = 0; headers && headers[i]; i++) {
        if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
            has_ctype = true;
        sbuf_addf(&req, "%s\r\n", headers[i]);
    }
    if (body) {
        if (!has_ctype)
            sbuf_addf(&req, "Content-Type: application/json\r\n");
        sbuf_addf(&req, "Content-Length: %zu\r\n", body_len);
    }
    sbuf_add(&req, "\r\n", 2);
    if (body && body_len)
        sbuf_add(&req, body, body_len);

    int rc = net_write_all(fd, req.p, req.len, deadline);
    free(req.p);
    if (rc < 0) {
        /* The server may answer (e.g. 413) and close before reading all;
         * still try to read its answer. */
    }

    sbuf in = { 0 };
    sbuf dec = { 0 };
    size_t head_len = 0;
    long content_length = -1;
    bool chunked = false;
    int result = -1;
    char tmp[16384];

    for (;;) {
        if (head_len) {
            size_t have = in.len - head_len;
            if (chunked) {
                int d = dechunk(in.p + head_len, have, &dec);
                if (d < 0) {
                    set_err(err, errlen, "malformed chunked body");
                    break;
                }
                if (d == 1) {
                    result = 0;
                    break;
                }
            } else if (content_length >= 0 && have >= (size_t)content_length) {
                result = 0;
                break;
            }
        }
        ssize_t n = net_read_some(fd, tmp, sizeof tmp, deadline);
        if (n == -2) {
            set_err(err, errlen,
                    "timeout after %d ms waiting for the answer to %s %s (got %zu bytes)",
                    timeout_ms, method, path, in.len);
            break;
        }
        if (n < 0) {
            if (in.len == 0 || !head_len) {
                set_err(err, errlen, "read error: %s", strerror(errno));
                break;
            }
            n = 0; /* treat a reset after a complete head like EOF */
        }
        if (n == 0) {
            if (head_len && !chunked && content_length < 0) {
                result = 0;
            } else if (head_len && !chunked && (long)(in.len - head_len) >= content_length) {
                result = 0;
            } else {
                set_err(err, errlen, "connection closed early (%zu bytes read)", in.len);
            }
            break;
        }
        sbuf_add(&in, tmp, (size_t)n);
        if (!head_len) {
            char *e = memmem(in.p, in.len, "\r\n\r\n", 4);
            if (e) {
                head_len = (size_t)(e - in.p) + 4;
                out->head = strndup(in.p, head_len - 2);
                if (sscanf(out->head, "HTTP/1.%*d %d", &out->status) != 1) {
                    set_err(err, errlen, "bad status line");
                    break;
                }
                char v[128];
                if (http_header(out, "Content-Length", v, sizeof v))
                    content_length = strtol(v, NULL, 10);
                if (http_header(out, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked"))
                    chunked = true;
                if (out->status == 204 || out->status == 304 || strcmp(method, "HEAD") == 0)
                    content_length = 0, chunked = false;
            }
        }
    }
    net_close(fd);

    if (result == 0) {
        if (chunked) {
            out->body = dec.p ? dec.p : strdup("");
            out->body_len = dec.len;
            dec.p = NULL;
        } else {
            size_t blen = in.len - head_len;
            if (content_length >= 0 && blen > (size_t)content_length)
                blen = (size_t)content_length;
            out->body = malloc(blen + 1);
            memcpy(out->body, in.p + head_len, blen);
            out->body[blen] = '\0';
            out->body_len = blen;
        }
    } else {
        http_resp_free(out);
    }
    free(in.p);
    free(dec.p);
    return result;
}
