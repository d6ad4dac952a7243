/*
 * wsclient.c - a minimal blocking WebSocket client (RFC 6455) over raw
 * sockets for the integration tests: handshake and its checks, masked
 * frames of every kind a test needs, message reassembly, automatic pong,
 * close codes, and bounded waits. See wsclient.h.
 */
#include "wsclient.h"
#include "netutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_WRITE_TIMEOUT_MS 15000

static ws_client *open_clients;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *ws_event_name(ws_event e)
{
    switch (e) {
    case WS_TEXT:
        return "text message";
    case WS_BINARY:
        return "binary message";
    case WS_CLOSED:
        return "close frame";
    case WS_EOF:
        return "EOF without close frame";
    case WS_TIMEOUT:
        return "timeout";
    case WS_ERROR:
        return "error";
    }
    return "?";
}

static void registry_add(ws_client *c)
{
    c->next_open = open_clients;
    open_clients = c;
}

static void registry_remove(ws_client *c)
{
    for (ws_client **pp = &open_clients; *pp; pp = &(*pp)->next_open) {
        if (*pp == c) {
            *pp = c->next_open;
            return;
        }
    }
}

static void ws_free(ws_client *c)
{
    if (!c)
        return;
    registry_remove(c);
    if (c->fd >= 0)
        net_close(c->fd);
    free(c->buf);
    free(c->msg);
    free(c);
}

static int buf_reserve(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 8192;
    while (n < need)
        n *= 2;
    unsigned char *q = realloc(*p, n);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

ws_client *ws_connect(int port, const char *path, int rcvbuf, int timeout_ms, char *err,
                      size_t errlen)
{
    long long deadline = net_now_ms() + timeout_ms;
    int fd = net_connect_http(port, rcvbuf);
    if (fd < 0) {
        set_err(err, errlen, "connect to port %d: %s %s", port, strerror(errno), net_tls_error());
        return NULL;
    }
    unsigned char keyraw[16];
    RAND_bytes(keyraw, sizeof keyraw);
    char key[32];
    b64(keyraw, sizeof keyraw, key);

    char req[4096]; /* a path may carry an access token */
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: 127.0.0.1:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Origin: http://127.0.0.1\r\n"
                     "\r\n",
                     path, port, key);
    if (net_write_all(fd, req, (size_t)n, deadline) < 0) {
        set_err(err, errlen, "sending the handshake: %s", strerror(errno));
        net_close(fd);
        return NULL;
    }

    ws_client *c = calloc(1, sizeof *c);
    c->fd = fd;
    c->msg_op = -1;
    c->close_code = -1;

    /* Read the answer head byte-exactly; keep anything after it. */
    size_t head_len = 0;
    for (;;) {
        if (buf_reserve(&c->buf, &c->cap, c->len + 4096) < 0)
            break;
        ssize_t r = net_read_some(fd, c->buf + c->len, c->cap - c->len - 1, deadline);
        if (r == -2) {
            set_err(err, errlen, "timeout waiting for the handshake answer");
            goto fail;
        }
        if (r <= 0) {
            set_err(err, errlen, "connection closed during the handshake (%zu bytes: %.*s)", c->len,
                    (int)(c->len > 200 ? 200 : c->len), (char *)c->buf);
            goto fail;
        }
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        unsigned char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e) {
            head_len = (size_t)(e - c->buf) + 4;
            break;
        }
        if (c->len > 65536) {
            set_err(err, errlen, "handshake answer too long");
            goto fail;
        }
    }

    char *head = strndup((char *)c->buf, head_len);
    int status = 0;
    sscanf(head, "HTTP/1.1 %d", &status);
    if (status != 101) {
        set_err(err, errlen, "handshake answered %d, not 101: %.300s", status, head);
        free(head);
        goto fail;
    }
    /* Check headers. */
    char want[64];
    {
        char cat[128];
        snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
        unsigned char sha[SHA_DIGEST_LENGTH];
        SHA1((unsigned char *)cat, strlen(cat), sha);
        b64(sha, sizeof sha, want);
    }
    bool accept_ok = false, upgrade_ok = false;
    char *save = NULL;
    for (char *line = strtok_r(head, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = '\0';
        if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
            accept_ok = strcmp(v, want) == 0;
        else if (strcasecmp(line, "Upgrade") == 0)
            upgrade_ok = strcasecmp(v, "websocket") == 0;
        else if (strcasecmp(line, "Sec-WebSocket-Protocol") == 0) {
            /* A browser fails the connection when the server picks a
             * subprotocol it did not offer. */
            set_err(err, errlen, "server chose subprotocol '%s' that was not requested", v);
            free(head);
            goto fail;
        }
    }
    free(head);
    if (!accept_ok || !upgrade_ok) {
        set_err(err, errlen, "bad handshake answer (accept %s, upgrade %s)",
                accept_ok ? "ok" : "wrong/missing", upgrade_ok ? "ok" : "wrong/missing");
        goto fail;
    }
    memmove(c->buf, c->buf + head_len, c->len - head_len);
    c->len -= head_len;
    registry_add(c);
    return c;

fail:
    ws_free(c);
    return NULL;
}

size_t ws_frame_encode(unsigned char *out, size_t cap, const ws_frame_opts *o, const void *data,
                       size_t len)
{
    if (cap < len + WS_FRAME_MAX_HEADER)
        return 0;
    size_t h = 0;
    unsigned char mask_bit = o->unmasked ? 0 : 0x80;
    out[h++] = (unsigned char)((o->fin ? 0x80 : 0) | ((o->rsv & 7) << 4) | (o->opcode & 0x0f));
    if (len < 126) {
        out[h++] = (unsigned char)(mask_bit | len);
    } else if (len <= 0xffff) {
        out[h++] = mask_bit | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = mask_bit | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    unsigned char mask[4] = { 0 };
    if (!o->unmasked) {
        RAND_bytes(mask, sizeof mask);
        memcpy(out + h, mask, 4);
        h += 4;
    }
    const unsigned char *src = data;
    for (size_t i = 0; i < len; i++)
        out[h + i] = src[i] ^ mask[i & 3];
    return h + len;
}

int ws_send_raw(ws_client *c, const void *bytes, size_t len)
{
    if (!c || c->fd < 0)
        return -1;
    return net_write_all(c->fd, bytes, len, net_now_ms() + WS_WRITE_TIMEOUT_MS);
}

int ws_send_frame_opts(ws_client *c, const ws_frame_opts *o, const void *data, size_t len)
{
    unsigned char *frame = malloc(len + WS_FRAME_MAX_HEADER);
    if (!frame)
        return -1;
    size_t n = ws_frame_encode(frame, len + WS_FRAME_MAX_HEADER, o, data, len);
    int rc = n ? ws_send_raw(c, frame, n) : -1;
    free(frame);
    return rc;
}

int ws_raw_handshake(int port, const char *request, int timeout_ms, char *head, size_t cap)
{
    if (cap == 0)
        return -1;
    head[0] = '\0';
    long long deadline = net_now_ms() + timeout_ms;
    int fd = net_connect_http(port, 0);
    if (fd < 0)
        return -1;
    if (net_write_all(fd, request, strlen(request), deadline) < 0) {
        net_close(fd);
        return -1;
    }
    size_t len = 0;
    int status = -1;
    for (;;) {
        ssize_t r = net_read_some(fd, head + len, cap - 1 - len, deadline);
        if (r == -2 || r < 0)
            break;
        if (r == 0) { /* closed: an answer so far, or none at all */
            status = len ? status : 0;
            break;
        }
        len += (size_t)r;
        head[len] = '\0';
        if (strstr(head, "\r\n\r\n") || len + 1 == cap)
            break;
    }
    net_close(fd);
    if (len && sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
    return status;
}

int ws_send_frame(ws_client *c, bool fin, int opcode, const void *data, size_t len)
{
    ws_frame_opts o = { .fin = fin, .opcode = opcode };
    return ws_send_frame_opts(c, &o, data, len);
}

int ws_send_textn(ws_client *c, const char *text, size_t len)
{
    return ws_send_frame(c, true, WS_OP_TEXT, text, len);
}

int ws_send_text(ws_client *c, const char *text)
{
    return ws_send_textn(c, text, strlen(text));
}

int ws_send_json(ws_client *c, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        return -1;
    int rc = ws_send_text(c, s);
    free(s);
    return rc;
}

int ws_send_binary(ws_client *c, const void *data, size_t len)
{
    return ws_send_frame(c, true, WS_OP_BINARY, data, len);
}

int ws_send_fragmented(ws_client *c, const char *text, size_t len, size_t chunk)
{
    if (chunk == 0)
        chunk = 1;
    size_t off = 0;
    bool first = true;
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        bool fin = off + n >= len;
        if (ws_send_frame(c, fin, first ? WS_OP_TEXT : WS_OP_CONT, text + off, n) < 0)
            return -1;
        first = false;
        off += n;
    } while (off < len);
    return 0;
}

void ws_close(ws_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0 && !c->closed) {
        unsigned char code[2] = { 1000 >> 8, 1000 & 0xff };
        ws_send_frame(c, true, WS_OP_CLOSE, code, 2);
        shutdown(c->fd, SHUT_WR);
        /* Give the server a moment to answer the close, bounded. */
        char tmp[4096];
        long long deadline = net_now_ms() + 300;
        while (net_read_some(c->fd, tmp, sizeof tmp, deadline) > 0)
            ;
    }
    ws_free(c);
}

void ws_drop(ws_client *c)
{
    ws_free(c);
}

void ws_drop_all(void)
{
    while (open_clients)
        ws_free(open_clients);
}

/* Try to take one frame from the buffer. Returns 1 when a frame was
 * consumed (and maybe produced an event in *ev), 0 when more bytes are
 * needed, -1 on a protocol error. */
static int take_frame(ws_client *c, ws_event *ev, char **data, size_t *dlen)
{
    if (c->len < 2)
        return 0;
    const unsigned char *b = c->buf;
    bool fin = b[0] & 0x80;
    int op = b[0] & 0x0f;
    bool masked = b[1] & 0x80;
    uint64_t plen = b[1] & 0x7f;
    size_t h = 2;
    if (plen == 126) {
        if (c->len < 4)
            return 0;
        plen = ((uint64_t)b[2] << 8) | b[3];
        h = 4;
    } else if (plen == 127) {
        if (c->len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | b[2 + i];
        h = 10;
    }
    unsigned char mask[4] = { 0 };
    if (masked) {
        if (c->len < h + 4)
            return 0;
        memcpy(mask, b + h, 4);
        h += 4;
    }
    if (plen > (uint64_t)1 << 31)
        return -1;
    if (c->len < h + plen)
        return 0;
    unsigned char *payload = c->buf + h;
    if (masked)
        for (uint64_t i = 0; i < plen; i++)
            payload[i] ^= mask[i & 3];

    *ev = WS_TIMEOUT; /* "no event" */
    int rc = 1;
    switch (op) {
    case WS_OP_PING:
        ws_send_frame(c, true, WS_OP_PONG, payload, (size_t)plen);
        c->pings_answered++;
        break;
    case WS_OP_PONG:
        break;
    case WS_OP_CLOSE:
        c->close_code = plen >= 2 ? (payload[0] << 8 | payload[1]) : 1005;
        c->closed = true;
        /* Echo the close (RFC 6455 §5.5.1); the server may be gone already. */
        ws_send_frame(c, true, WS_OP_CLOSE, payload, plen >= 2 ? 2 : 0);
        *ev = WS_CLOSED;
        break;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CONT:
        if (op == WS_OP_CONT) {
            if (c->msg_op < 0) {
                rc = -1;
                break;
            }
        } else {
            if (c->msg_op >= 0) {
                rc = -1;
                break;
            }
            c->msg_op = op;
            c->msg_len = 0;
        }
        if (buf_reserve(&c->msg, &c->msg_cap, c->msg_len + plen + 1) < 0) {
            rc = -1;
            break;
        }
        memcpy(c->msg + c->msg_len, payload, (size_t)plen);
        c->msg_len += (size_t)plen;
        if (fin) {
            char *out = malloc(c->msg_len + 1);
            memcpy(out, c->msg, c->msg_len);
            out[c->msg_len] = '\0';
            if (data)
                *data = out;
            else
                free(out);
            if (dlen)
                *dlen = c->msg_len;
            *ev = c->msg_op == WS_OP_TEXT ? WS_TEXT : WS_BINARY;
            c->msg_op = -1;
            c->msg_len = 0;
        }
        break;
    default:
        rc = -1;
    }
    size_t used = h + (size_t)plen;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    return rc;
}

ws_event ws_recv(ws_client *c, int timeout_ms, char **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!c)
        return WS_ERROR;
    long long deadline = net_now_ms() + timeout_ms;
    for (;;) {
        for (;;) {
            ws_event ev;
            int r = take_frame(c, &ev, data, len);
            if (r < 0)
                return WS_ERROR;
            if (r == 0)
                break;
            if (ev != WS_TIMEOUT)
                return ev;
        }
        if (c->fd < 0)
            return WS_EOF;
        if (buf_reserve(&c->buf, &c->cap, c->len + 65536) < 0)
            return WS_ERROR;
        ssize_t n = net_read_some(c->fd, c->buf + c->len, c->cap - c->len, deadline);
        if (n == -2)
            return WS_TIMEOUT;
        if (n <= 0) {
            c->closed = true;
            net_close(c->fd);
            c->fd = -1;
            return n == 0 ? WS_EOF : (errno == ECONNRESET ? WS_EOF : WS_ERROR);
        }
        c->len += (size_t)n;
    }
}

json_t *ws_recv_json(ws_client *c, int timeout_ms, const char **why)
{
    char *data = NULL;
    size_t len = 0;
    ws_event ev = ws_recv(c, timeout_ms, &data, &len);
    if (ev != WS_TEXT) {
        if (why)
            *why = ws_event_name(ev);
        free(data);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(data, len, 0, &e);
    free(data);
    if (!j && why)
        *why = "text message that is not a JSON object/array";
    return j;
}

json_t *ws_expect_type(ws_client *c, const char *type, int timeout_ms)
{
    long long deadline = net_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - net_now_ms();
        if (left < 0)
            return NULL;
        json_t *j = ws_recv_json(c, (int)left, NULL);
        if (!j) {
            if (c->closed)
                return NULL;
            if (net_now_ms() >= deadline)
                return NULL;
            continue;
        }
        const char *t = json_string_value(json_object_get(j, "type"));
        if (t && strcmp(t, type) == 0)
            return j;
        json_decref(j);
    }
}

bool ws_expect_silence(ws_client *c, int ms, char **got)
{
    if (got)
        *got = NULL;
    char *data = NULL;
    size_t len;
    ws_event ev = ws_recv(c, ms, &data, &len);
    if (ev == WS_TIMEOUT)
        return true;
    if (ev == WS_TEXT || ev == WS_BINARY) {
        if (got)
            *got = data;
        else
            free(data);
        return false;
    }
    /* A close or EOF is not a message; report it as not silent too, so a
     * test does not mistake a dropped connection for good behaviour. */
    if (got) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "<%s code %d>", ws_event_name(ev), c->close_code);
        *got = strdup(tmp);
    }
    return false;
}

int ws_wait_close(ws_client *c, int timeout_ms)
{
    if (c->closed && c->close_code >= 0)
        return c->close_code;
    long long deadline = net_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - net_now_ms();
        if (left < 0)
            left = 0;
        char *data = NULL;
        size_t len;
        ws_event ev = ws_recv(c, (int)left, &data, &len);
        free(data);
        if (ev == WS_CLOSED)
            return c->close_code;
        if (ev == WS_EOF || ev == WS_ERROR)
            return c->close_code >= 0 ? c->close_code : 1006;
        if (ev == WS_TIMEOUT)
            return -1;
    }
}
