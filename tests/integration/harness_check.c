/*
 * harness_check.c - the assertions and shortcuts the test files share:
 * format checks (uuid4, ISO 8601 UTC), JSON accessors, REST calls that fail
 * the test on transport errors, and WebSocket helpers that join a room and
 * expect exact messages (joins, leaves, relays, errors, silence).
 */
#include "harness_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Format checks and JSON                                              */
/* ------------------------------------------------------------------ */

static bool is_lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool h_is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_lhex(s[i])) {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

long long h_parse_iso8601_utc(const char *s)
{
    if (!s || strlen(s) < 20)
        return -1;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    int Y = digits(s, 4), M = digits(s + 5, 2), D = digits(s + 8, 2);
    int h = digits(s + 11, 2), m = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0
        || sec > 60)
        return -1;
    const char *p = s + 19;
    long long ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        long long frac = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (int i = nd; i < 3; i++)
            frac *= 10;
        ms = frac;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    struct tm tm = { 0 };
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    return (long long)t * 1000 + ms;
}

const char *h_jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool h_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool h_is_error(const json_t *obj, const char *text)
{
    return h_streq(h_jstr(obj, "type"), "error") && h_streq(h_jstr(obj, "message"), text);
}

bool h_type_is(const json_t *obj, const char *type)
{
    const char *t = h_jstr(obj, "type");
    return t && strcmp(t, type) == 0;
}

json_t *h_json_parse(const char *text, size_t len)
{
    json_error_t e;
    return json_loadb(text, len, JSON_DECODE_ANY, &e);
}

const char *h_jdump(const json_t *j)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    if (!j) {
        snprintf(b, 1024, "(null)");
        return b;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(b, 1024, "%s", s ? s : "(unprintable)");
    if (s && strlen(s) >= 1024)
        memcpy(b + 1019, "...", 4);
    free(s);
    return b;
}

/* ------------------------------------------------------------------ */
/* REST shortcuts                                                      */
/* ------------------------------------------------------------------ */

http_resp h_http(int port, const char *method, const char *path, const char *const *headers,
                 const char *body)
{
    http_resp r;
    char err[256];
    int rc = http_request(port, method, path, headers, body, body ? strlen(body) : 0,
                          HTTP_TIMEOUT_MS, &r, err, sizeof err);
    cr_assert(rc == 0, "%s %s: %s", method, path, err);
    return r;
}

void h_expect_detail(const http_resp *r, int status, const char *detail, const char *what)
{
    cr_assert(r->status == status, "%s: expected status %d, got %d: %s", what, status, r->status,
              r->body);
    json_t *j = http_json(r);
    cr_assert(json_is_object(j), "%s: body is not a JSON object: %s", what, r->body);
    const char *d = h_jstr(j, "detail");
    cr_assert(d && *d, "%s: no non-empty string \"detail\": %s", what, r->body);
    if (detail)
        cr_assert(strcmp(d, detail) == 0, "%s: detail is \"%s\", expected \"%s\"", what, d, detail);
    json_decref(j);
}

void h_random_uuid4(char out[37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    cr_assert(read(fd, b, sizeof b) == (ssize_t)sizeof b);
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void h_create_room_into(int port, const char *body, char out[37])
{
    http_resp r;
    char err[256];
    int rc = http_request(port, "POST", "/create-room", NULL, body, body ? strlen(body) : 0,
                          HTTP_TIMEOUT_MS, &r, err, sizeof err);
    cr_assert(rc == 0, "POST /create-room: %s", err);
    cr_assert(r.status == 200, "POST /create-room (body %s) answered %d: %s", body ? body : "none",
              r.status, r.body);
    json_t *j = http_json(&r);
    const char *id = h_jstr(j, "room_id");
    cr_assert(id && h_is_uuid4(id), "create-room gave no uuid4 room_id: %s", r.body);
    snprintf(out, 37, "%s", id);
    json_decref(j);
    http_resp_free(&r);
}

const char *h_create_room(int port, const char *body)
{
    static char id[37];
    h_create_room_into(port, body, id);
    return id;
}

json_t *h_get_room(int port, const char *room_id)
{
    char path[256];
    snprintf(path, sizeof path, "/rooms/%s", room_id);
    http_resp r;
    char err[256];
    int rc = http_request(port, "GET", path, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r, err, sizeof err);
    cr_assert(rc == 0, "GET %s: %s", path, err);
    if (r.status == 404) {
        http_resp_free(&r);
        return NULL;
    }
    cr_assert(r.status == 200, "GET %s answered %d: %s", path, r.status, r.body);
    json_t *j = http_json(&r);
    cr_assert(json_is_object(j), "GET %s: body is not an object: %s", path, r.body);
    http_resp_free(&r);
    return j;
}

int h_room_count(int port, const char *room_id)
{
    json_t *j = h_get_room(port, room_id);
    if (!j)
        return -1;
    json_t *c = json_object_get(j, "participant_count");
    cr_assert(json_is_integer(c), "participant_count missing or not an integer: %s", h_jdump(j));
    int n = (int)json_integer_value(c);
    json_decref(j);
    return n;
}

int h_wait_room_count(int port, const char *room_id, int want, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int n;
    for (;;) {
        n = h_room_count(port, room_id);
        if (n == want || h_now_ms() >= deadline)
            return n;
        h_sleep_ms(50);
    }
}

int h_wait_http_status(int port, const char *path, int want, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int last = 0;
    for (int i = 0; i < 100000; i++) {
        http_resp r;
        if (http_request(port, "GET", path, NULL, NULL, 0, 2000, &r, NULL, 0) == 0) {
            last = r.status;
            http_resp_free(&r);
            if (last == want)
                return last;
        }
        if (h_now_ms() >= deadline)
            return last;
        h_sleep_ms(100);
    }
    return last;
}

/* ------------------------------------------------------------------ */
/* WebSocket shortcuts                                                 */
/* ------------------------------------------------------------------ */

/* Assert `j` is a well-formed "connected" for room_id and record the user
 * and node in c. */
static void check_connected(ws_client *c, json_t *j, const char *room_id, json_t **participants)
{
    cr_assert_str_eq(h_jstr(j, "type") ? h_jstr(j, "type") : "(none)", "connected",
                     "first message is not 'connected': %s", h_jdump(j));
    cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), room_id) == 0,
              "connected.room_id wrong: %s", h_jdump(j));
    const char *uid = h_jstr(j, "user_id");
    cr_assert(uid && h_is_uuid4(uid), "connected.user_id is not a uuid4: %s", h_jdump(j));
    cr_assert(h_jstr(j, "message")
                  && strcmp(h_jstr(j, "message"), "Successfully connected to room") == 0,
              "connected.message wrong: %s", h_jdump(j));
    cr_assert(h_jstr(j, "node_id") && *h_jstr(j, "node_id"), "connected.node_id missing: %s",
              h_jdump(j));
    json_t *parts = json_object_get(j, "participants");
    cr_assert(json_is_array(parts), "connected.participants is not an array: %s", h_jdump(j));
    size_t i;
    json_t *v;
    json_array_foreach(parts, i, v)
    {
        cr_assert(json_is_string(v), "participants holds a non-string: %s", h_jdump(j));
        cr_assert(strcmp(json_string_value(v), uid) != 0,
                  "participants lists the joining user itself: %s", h_jdump(j));
    }
    snprintf(c->user_id, sizeof c->user_id, "%s", uid);
    snprintf(c->room_id, sizeof c->room_id, "%s", room_id);
    snprintf(c->node_id, sizeof c->node_id, "%s", h_jstr(j, "node_id"));
    if (participants)
        *participants = json_incref(parts);
}

ws_client *h_join(int port, const char *room_id, json_t **participants)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "/ws/%s", room_id);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c != NULL, "WebSocket to %s on port %d: %s", path, port, err);
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "no first message after joining %s: %s (close code %d)", room_id,
              why ? why : "?", c->close_code);
    check_connected(c, j, room_id, participants);
    json_decref(j);
    return c;
}

long long h_metric(int port, const char *name)
{
    http_resp r = h_http(port, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /metrics answered %d", r.status);
    char line[256];
    snprintf(line, sizeof line, "\n%s", name);
    const char *at = r.body ? strstr(r.body, line) : NULL;
    long long v = at ? atoll(at + strlen(line)) : -1;
    http_resp_free(&r);
    return v;
}

void h_room_of_two(int port_a, int port_b, char room[37], ws_client **a, ws_client **b)
{
    h_create_room_into(port_a, NULL, room);
    *a = h_join(port_a, room, NULL);
    *b = h_join(port_b, room, NULL);
    h_expect_user_event(*a, "user-joined", (*b)->user_id, room);
}

ws_client *h_join_try(int port, const char *room_id, char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof path, "/ws/%s", room_id);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, errlen);
    if (!c)
        return NULL;
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    if (!j) {
        snprintf(err, errlen, "no first message: %s (close code %d)", why ? why : "?",
                 c->close_code);
        ws_drop(c);
        return NULL;
    }
    check_connected(c, j, room_id, NULL);
    json_decref(j);
    return c;
}

void h_expect_error(ws_client *c, const char *text)
{
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "expected error '%s', got %s (close code %d)", text, why ? why : "?",
              c->close_code);
    const char *t = h_jstr(j, "type");
    const char *m = h_jstr(j, "message");
    cr_assert(t && strcmp(t, "error") == 0 && m && strcmp(m, text) == 0,
              "expected {\"type\":\"error\",\"message\":\"%s\"}, got %s", text, h_jdump(j));
    json_decref(j);
}

void h_expect_user_event(ws_client *c, const char *type, const char *user_id, const char *room_id)
{
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "expected %s for %s, got %s", type, user_id, why ? why : "?");
    cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), type) == 0,
              "expected %s for %s, got %s", type, user_id, h_jdump(j));
    cr_assert(h_jstr(j, "user_id") && strcmp(h_jstr(j, "user_id"), user_id) == 0,
              "%s names the wrong user (want %s): %s", type, user_id, h_jdump(j));
    cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), room_id) == 0,
              "%s names the wrong room (want %s): %s", type, room_id, h_jdump(j));
    json_decref(j);
}

void h_expect_silence(ws_client *c, int ms)
{
    char *got = NULL;
    bool quiet = ws_expect_silence(c, ms, &got);
    char shown[600];
    snprintf(shown, sizeof shown, "%.590s", got ? got : "");
    free(got);
    cr_assert(quiet, "user %s expected no message within %d ms, got: %s", c->user_id, ms, shown);
}

void h_ping_pong(ws_client *c)
{
    cr_assert(ws_send_text(c, "{\"type\":\"ping\"}") == 0, "sending ping failed");
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "no pong: %s (close code %d)", why ? why : "?", c->close_code);
    cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), "pong") == 0, "expected pong, got %s",
              h_jdump(j));
    json_decref(j);
}

void h_sendf(ws_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0);
    int rc = ws_send_textn(c, text, (size_t)n);
    cr_assert(rc == 0, "user %s could not send %.200s (connection closed? code %d)", c->user_id,
              text, c->close_code);
    free(text);
}

json_t *h_recv(ws_client *c, const char *what)
{
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "user %s waited for %s, got %s (close code %d)", c->user_id, what,
              why ? why : "?", c->close_code);
    return j;
}

void h_expect_relay(ws_client *c, const char *type, const ws_client *from, const char *data,
                    const char *to)
{
    char what[128];
    snprintf(what, sizeof what, "a relayed '%s' from %s", type, from->user_id);
    json_t *j = h_recv(c, what);
    cr_assert(json_is_object(j), "%s: not an object: %s", what, h_jdump(j));
    cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), type) == 0, "%s: got %s", what,
              h_jdump(j));
    cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), from->room_id) == 0,
              "%s: room_id wrong: %s", what, h_jdump(j));
    cr_assert(h_jstr(j, "sender_id") && strcmp(h_jstr(j, "sender_id"), from->user_id) == 0,
              "%s: sender_id is not the sender's user id: %s", what, h_jdump(j));
    if (data) {
        json_t *want = h_json_parse(data, strlen(data));
        cr_assert(want, "bad expected data in test: %s", data);
        cr_assert(json_equal(json_object_get(j, "data"), want), "%s: data changed, want %s: %s",
                  what, data, h_jdump(j));
        json_decref(want);
    }
    if (to)
        cr_assert(h_jstr(j, "to") && strcmp(h_jstr(j, "to"), to) == 0, "%s: 'to' should be %s: %s",
                  what, to, h_jdump(j));
    else
        cr_assert_null(json_object_get(j, "to"), "%s: unexpected 'to': %s", what, h_jdump(j));
    json_decref(j);
}

long h_tcp_wmem_max(void)
{
    long wmem_max = 4194304;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (f) {
        if (fscanf(f, "%*d %*d %ld", &wmem_max) != 1)
            wmem_max = 4194304;
        fclose(f);
    }
    return wmem_max;
}

void h_expect_chat(ws_client *c, const char *sender, const char *text)
{
    json_t *m = h_recv(c, text);
    cr_assert(h_type_is(m, "chat") && h_streq(h_jstr(m, "sender_id"), sender)
                  && h_streq(h_jstr(m, "text"), text),
              "want chat \"%s\" from %s, got %s", text, sender, h_jdump(m));
    json_decref(m);
}
