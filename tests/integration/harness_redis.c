/*
 * harness_redis.c - the test's own redis-server and a raw RESP client.
 *
 * Each test gets one redis-server on a free loopback port, without
 * persistence, so stopping it and starting it again on the same port
 * (h_redis_stop, h_redis_restart) gives an empty Redis. The RESP client
 * opens one connection per command and is for checks the REST API cannot
 * make (keys, TTLs, the data model); arrays are flattened. A batch sends
 * many commands on one connection before reading their replies, to fill
 * Redis with thousands of keys in a few milliseconds.
 */
#include "harness_internal.h"
#include "netutil.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

h_proc g_redis = { .pid = -1 };

/* ------------------------------------------------------------------ */
/* Redis                                                               */
/* ------------------------------------------------------------------ */

static bool redis_ping(int port)
{
    int fd = net_connect(port, 0);
    if (fd < 0)
        return false;
    long long deadline = h_now_ms() + 1000;
    bool ok = false;
    if (net_write_all(fd, "PING\r\n", 6, deadline) == 0) {
        char buf[64];
        size_t got = 0;
        while (got < 7) {
            ssize_t n = net_read_some(fd, buf + got, sizeof buf - 1 - got, deadline);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        buf[got] = '\0';
        ok = strncmp(buf, "+PONG", 5) == 0;
    }
    close(fd);
    return ok;
}

void redis_start_on(int fixed_port)
{
    char last_log[PATH_MAX] = "";
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        int port = fixed_port > 0 ? fixed_port : h_free_port();
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        memset(&g_redis, 0, sizeof g_redis);
        g_redis.port = port;
        snprintf(g_redis.id, sizeof g_redis.id, "redis-server");
        snprintf(g_redis.log, sizeof g_redis.log, "%s/redis.log", g_dir);
        snprintf(last_log, sizeof last_log, "%s", g_redis.log);
        char *argv[] = { REDIS_BIN, "--port",       ports,     "--bind",      "127.0.0.1", "--save",
                         "",        "--appendonly", "no",      "--daemonize", "no",        "--dir",
                         g_dir,     "--loglevel",   "warning", NULL };
        g_redis.pid = spawn(argv, g_redis.log);
        long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
        while (h_now_ms() < deadline) {
            if (h_port_listener_is(port, g_redis.pid) && redis_ping(port))
                return;
            if (proc_poll(&g_redis))
                break;
            h_sleep_ms(20);
        }
        if (!proc_poll(&g_redis)) {
            kill(g_redis.pid, SIGKILL);
            proc_wait(&g_redis, 5000);
        }
        if (fixed_port > 0)
            h_sleep_ms(200); /* the port may still be in use: retry the same */
    }
    char *log = read_file_text(last_log, 4000);
    cr_assert_fail("redis-server did not answer PING within %d ms (%d attempts); log:\n%s",
                   H_READY_TIMEOUT_MS, START_ATTEMPTS, log);
    free(log);
}

int h_redis_port(void)
{
    return g_redis.port;
}

void h_redis_stop(void)
{
    h_proc *p = &g_redis;
    proc_kill_all(&p, 1, H_STOP_TIMEOUT_MS);
    g_redis.pid = -1;
}

void h_redis_restart(void)
{
    cr_assert(g_redis.port > 0);
    redis_start_on(g_redis.port);
}

static void append_resp_arg(char **buf, size_t *len, size_t *cap, const char *a)
{
    size_t al = strlen(a);
    size_t need = *len + al + 32;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc(*buf, *cap);
    }
    *len += (size_t)sprintf(*buf + *len, "$%zu\r\n", al);
    memcpy(*buf + *len, a, al);
    *len += al;
    memcpy(*buf + *len, "\r\n", 2);
    *len += 2;
}

/* Append one flattened element to out->elems (grown by doubling). */
static int push_elem(h_redis_reply *out, size_t *cap, char *s)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        char **e = realloc(out->elems, ncap * sizeof(char *));
        if (!e) {
            free(s);
            return -1;
        }
        out->elems = e;
        *cap = ncap;
    }
    out->elems[out->n++] = s;
    return 1;
}

/* Parse one RESP value at *pos. 1 complete, 0 need more, -1 error. The
 * elements of an array, and of arrays nested in it (SLOWLOG GET), are
 * flattened into out->elems, integers as their decimal text; *cap is the
 * room in out->elems. */
/* A copy of n bytes plus a NUL: the reply buffer has no terminator, so
 * nothing reads it as a C string (strndup and strtol may look past n). */
static char *copy_bytes(const char *b, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = '\0';
    }
    return s;
}

/* The decimal count of a '$' or '*' line. */
static long resp_count(const char *line, size_t llen)
{
    char num[24];
    if (llen >= sizeof num)
        return -1;
    memcpy(num, line, llen);
    num[llen] = '\0';
    return strtol(num, NULL, 10);
}

static int resp_parse(const char *b, size_t len, size_t *pos, h_redis_reply *out, bool element,
                      size_t *cap)
{
    const char *eol = memmem(b + *pos, len - *pos, "\r\n", 2);
    if (!eol)
        return 0;
    char t = b[*pos];
    const char *line = b + *pos + 1;
    size_t llen = (size_t)(eol - line);
    size_t after = (size_t)(eol - b) + 2;
    char *s = NULL;
    switch (t) {
    case '+':
    case '-':
    case ':':
        s = copy_bytes(line, llen);
        *pos = after;
        if (element)
            return push_elem(out, cap, s);
        out->type = t;
        if (t == ':') {
            out->integer = strtoll(s, NULL, 10);
            free(s);
        } else {
            out->str = s;
            out->len = llen;
        }
        return 1;
    case '$': {
        long n = resp_count(line, llen);
        if (n < 0) {
            *pos = after;
            if (element)
                return push_elem(out, cap, NULL);
            out->type = '$';
            return 1;
        }
        if (len - after < (size_t)n + 2)
            return 0;
        s = copy_bytes(b + after, (size_t)n);
        *pos = after + (size_t)n + 2;
        if (element)
            return push_elem(out, cap, s);
        out->type = '$';
        out->str = s;
        out->len = (size_t)n;
        return 1;
    }
    case '*': {
        long n = resp_count(line, llen);
        if (!element) {
            out->type = '*';
            out->n = 0;
        }
        size_t p = after;
        for (long i = 0; i < n; i++) {
            int r = resp_parse(b, len, &p, out, true, cap);
            if (r <= 0)
                return r; /* the caller frees what was parsed */
        }
        *pos = p;
        return 1;
    }
    default:
        return -1;
    }
}

static int redis_cmd_v(h_redis_reply *out, const char *arg0, va_list ap)
{
    memset(out, 0, sizeof *out);
    const char *args[64];
    int argc = 0;
    for (const char *a = arg0; a && argc < 64; a = va_arg(ap, const char *))
        args[argc++] = a;
    char *req = NULL;
    size_t len = 0, cap = 0;
    req = malloc(64);
    cap = 64;
    len = (size_t)sprintf(req, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        append_resp_arg(&req, &len, &cap, args[i]);

    int fd = net_connect(g_redis.port, 0);
    if (fd < 0) {
        free(req);
        return -1;
    }
    long long deadline = h_now_ms() + 5000;
    int rc = net_write_all(fd, req, len, deadline);
    free(req);
    char *in = NULL;
    size_t ilen = 0, icap = 0;
    int result = -1;
    while (rc == 0) {
        if (ilen + 4096 > icap) {
            icap = (ilen + 4096) * 2;
            in = realloc(in, icap);
        }
        /* Keep a NUL after the bytes: resp_parse reads numbers with
         * strtol, which must not run past them. */
        ssize_t n = net_read_some(fd, in + ilen, icap - ilen - 1, deadline);
        if (n <= 0)
            break;
        ilen += (size_t)n;
        in[ilen] = '\0';
        size_t pos = 0, cap = 0;
        h_redis_reply tmp;
        memset(&tmp, 0, sizeof tmp);
        int r = resp_parse(in, ilen, &pos, &tmp, false, &cap);
        if (r == 1) {
            *out = tmp;
            result = 0;
            break;
        }
        h_redis_reply_free(&tmp);
        if (r < 0)
            break;
    }
    free(in);
    close(fd);
    return result;
}

int h_redis_cmd(h_redis_reply *out, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int rc = redis_cmd_v(out, arg0, ap);
    va_end(ap);
    return rc;
}

void h_redis_reply_free(h_redis_reply *r)
{
    if (!r)
        return;
    free(r->str);
    for (size_t i = 0; i < r->n; i++)
        free(r->elems[i]);
    free(r->elems);
    memset(r, 0, sizeof *r);
}

long long h_redis_int(const char *arg0, ...)
{
    h_redis_reply r;
    va_list ap;
    va_start(ap, arg0);
    int rc = redis_cmd_v(&r, arg0, ap);
    va_end(ap);
    long long v = (rc == 0 && r.type == ':') ? r.integer : LLONG_MIN;
    h_redis_reply_free(&r);
    return v;
}

void h_redis_batch_add(h_redis_batch *b, const char *arg0, ...)
{
    const char *args[64];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 64; a = va_arg(ap, const char *))
        args[argc++] = a;
    va_end(ap);
    if (b->cap < b->len + 32) {
        b->cap = (b->len + 32) * 2;
        b->buf = realloc(b->buf, b->cap);
        cr_assert(b->buf, "out of memory for a Redis batch");
    }
    b->len += (size_t)sprintf(b->buf + b->len, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        append_resp_arg(&b->buf, &b->len, &b->cap, args[i]);
    b->n++;
}

int h_redis_batch_run(h_redis_batch *b, int timeout_ms)
{
    int fd = net_connect(g_redis.port, 0);
    int errors = -1;
    char *in = NULL;
    size_t ilen = 0, icap = 0, pos = 0, replies = 0;
    long long deadline = h_now_ms() + timeout_ms;
    /* Redis keeps reading while its replies wait for us (a normal client
     * has no output limit), so the whole batch can be written first. */
    if (fd < 0 || net_write_all(fd, b->buf, b->len, deadline) != 0)
        goto out;
    errors = 0;
    while (replies < b->n) {
        if (ilen + 65536 > icap) {
            icap = (ilen + 65536) * 2;
            in = realloc(in, icap);
        }
        ssize_t got = net_read_some(fd, in + ilen, icap - ilen - 1, deadline);
        if (got <= 0) {
            errors = -1;
            break;
        }
        ilen += (size_t)got;
        in[ilen] = '\0'; /* as in redis_cmd_v */
        for (;;) {
            h_redis_reply r;
            size_t cap = 0, p = pos;
            memset(&r, 0, sizeof r);
            int rc = resp_parse(in, ilen, &p, &r, false, &cap);
            if (rc == 1) {
                errors += r.type == '-';
                replies++;
                pos = p;
            }
            h_redis_reply_free(&r);
            if (rc != 1 || replies == b->n)
                break;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(in);
    free(b->buf);
    memset(b, 0, sizeof *b);
    return errors;
}

int h_redis_subscribers_cut(void)
{
    h_redis_batch off = { 0 };
    h_redis_batch_add(&off, "ACL", "SETUSER", "harness", "on", ">harness-pw", "~*", "&*", "+@all",
                      NULL);
    h_redis_batch_add(&off, "ACL", "SETUSER", "default", "off", NULL);
    h_redis_batch_add(&off, "CLIENT", "KILL", "TYPE", "pubsub", NULL);
    return h_redis_batch_run(&off, 5000);
}

int h_redis_batch_run_as_harness(h_redis_batch *b, int timeout_ms)
{
    /* The AUTH goes first: rebuild the batch with it in front. */
    h_redis_batch with = { 0 };
    h_redis_batch_add(&with, "AUTH", "harness", "harness-pw", NULL);
    char *buf = realloc(with.buf, with.len + b->len);
    if (!buf) {
        free(with.buf);
        free(b->buf);
        return -1;
    }
    memcpy(buf + with.len, b->buf, b->len);
    with.buf = buf;
    with.len += b->len;
    with.cap = with.len;
    with.n += b->n;
    free(b->buf);
    memset(b, 0, sizeof(*b));
    return h_redis_batch_run(&with, timeout_ms);
}

int h_redis_links_restore(void)
{
    h_redis_batch on = { 0 };
    h_redis_batch_add(&on, "ACL", "SETUSER", "default", "on", NULL);
    return h_redis_batch_run_as_harness(&on, 5000);
}
