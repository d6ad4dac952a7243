/*
 * test_http.c - HTTP/1.1 on the wire, against one real node and Redis:
 * pipelined requests in every form (each answer complete and in order,
 * the node responsive meanwhile and stopping cleanly after, idle while a
 * request waits for Redis with more bytes behind it), refusals of
 * ambiguous body framing (400 and the connection closed, so the bytes
 * never become a next request), oversized headers and URLs (431/414), and
 * the single spelling of a room in /rooms/{id} and /ws/{id}.
 *
 * Requests go over raw loopback sockets so the test controls exactly
 * which bytes are sent in which packet.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "netutil.h"

/* ---- a raw keep-alive connection ---- */

typedef struct {
    int fd;
    char buf[65536];
    size_t len; /* bytes received and not yet taken as an answer */
} conn;

typedef struct {
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
} answer;

static conn *conn_open(int port)
{
    conn *c = calloc(1, sizeof(*c));
    cr_assert(c);
    c->fd = net_connect(port, 0);
    cr_assert(c->fd >= 0, "connect to the node failed");
    return c;
}

static void conn_close(conn *c)
{
    close(c->fd);
    free(c);
}

static void conn_send(conn *c, const char *bytes)
{
    cr_assert_eq(net_write_all(c->fd, bytes, strlen(bytes), net_now_ms() + H_MSG_TIMEOUT_MS), 0,
                 "sending failed: %.80s", bytes);
}

/* Read more into the buffer; false on EOF, fails the test on timeout. */
static bool conn_fill(conn *c, long long deadline, const char *what)
{
    cr_assert(c->len < sizeof(c->buf), "%s: answer too long", what);
    ssize_t n = net_read_some(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, deadline);
    cr_assert_neq(n, -2, "%s: no answer within %d ms (got %zu bytes: %.*s)", what, H_MSG_TIMEOUT_MS,
                  c->len, (int)c->len, c->buf);
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    return true;
}

/* The next whole answer on the connection (framed by Content-Length, or
 * only its head for an answer to HEAD). */
static answer conn_answer_to(conn *c, bool head_request, const char *what)
{
    long long deadline = net_now_ms() + H_MSG_TIMEOUT_MS;
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        cr_assert(conn_fill(c, deadline, what), "%s: connection closed before an answer (%.*s)",
                  what, (int)c->len, c->buf);
    answer a = { 0 };
    size_t hlen = (size_t)(end - c->buf) + 4;
    cr_assert_lt(hlen, sizeof(a.head), "%s: header too long", what);
    memcpy(a.head, c->buf, hlen);
    cr_assert_eq(sscanf(a.head, "HTTP/1.%*d %d", &a.status), 1, "%s: bad status line: %s", what,
                 a.head);
    size_t blen = 0;
    const char *cl = strcasestr(a.head, "\r\ncontent-length:");
    if (cl && !head_request)
        blen = strtoul(cl + 17, NULL, 10);
    cr_assert_lt(blen, sizeof(a.body), "%s: body too long", what);
    while (c->len < hlen + blen)
        cr_assert(conn_fill(c, deadline, what), "%s: connection closed inside the body", what);
    memcpy(a.body, c->buf + hlen, blen);
    a.body_len = blen;
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    return a;
}

static answer conn_answer(conn *c, const char *what)
{
    return conn_answer_to(c, false, what);
}

/* The node closes the connection and sends nothing more. */
static void conn_expect_eof(conn *c, const char *what)
{
    long long deadline = net_now_ms() + H_MSG_TIMEOUT_MS;
    while (conn_fill(c, deadline, what))
        ;
    cr_assert_eq(c->len, 0, "%s: bytes after the answer: %.*s", what, (int)c->len, c->buf);
}

static json_t *answer_json(const answer *a, int status, const char *what)
{
    cr_assert_eq(a->status, status, "%s: status %d, want %d: %s", what, a->status, status, a->body);
    json_t *j = h_json_parse(a->body, a->body_len);
    cr_assert(j, "%s: body is not JSON: %s", what, a->body);
    return j;
}

static void expect_detail(const answer *a, int status, const char *detail, const char *what)
{
    json_t *j = answer_json(a, status, what);
    cr_assert(h_streq(h_jstr(j, "detail"), detail), "%s: detail %s, want \"%s\"", what, h_jdump(j),
              detail);
    json_decref(j);
}

/* A created room's id from the answer (copied to out). */
static void expect_created(const answer *a, char out[37], const char *what)
{
    json_t *j = answer_json(a, 200, what);
    const char *id = h_jstr(j, "room_id");
    cr_assert(id && h_is_uuid4(id), "%s: no room id: %s", what, a->body);
    memcpy(out, id, 37);
    json_decref(j);
}

static void expect_healthz(const answer *a, const char *what)
{
    json_t *j = answer_json(a, 200, what);
    cr_assert(h_streq(h_jstr(j, "status"), "ok"), "%s: not the /healthz answer: %s", what, a->body);
    json_decref(j);
}

static long long room_max(int port, const char *room)
{
    json_t *r = h_get_room(port, room);
    cr_assert(r, "room %s not found", room);
    long long max = json_integer_value(json_object_get(r, "max_participants"));
    json_decref(r);
    return max;
}

/* Another connection is answered at once: the node is not stuck. */
static void expect_responsive(int port)
{
    long long t0 = h_now_ms();
    http_resp r = h_http(port, "GET", "/healthz", NULL, NULL);
    cr_assert_eq(r.status, 200, "/healthz on a new connection answered %d", r.status);
    http_resp_free(&r);
    cr_assert_lt(h_now_ms() - t0, 2000, "/healthz took %lld ms", h_now_ms() - t0);
}

#define HEALTHZ "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
#define CREATE(body) \
    "POST /create-room HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" \
    "Content-Length: %zu\r\n\r\n" body

static void send_create(conn *c, const char *body)
{
    char req[512];
    snprintf(req, sizeof req, CREATE("%s"), strlen(body), body);
    conn_send(c, req);
}

/* ---- pipelining ---- */

IT_TEST(http, pipelined_get_get, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], req[512];
    h_create_room_into(port, NULL, room);
    /* The second waits for Redis, the first does not; then the reverse. */
    conn *c = conn_open(port);
    snprintf(req, sizeof req, HEALTHZ "GET /rooms/%s HTTP/1.1\r\nHost: t\r\n\r\n" HEALTHZ, room);
    conn_send(c, req);
    answer a = conn_answer(c, "first GET");
    expect_healthz(&a, "first GET");
    a = conn_answer(c, "second GET");
    json_t *j = answer_json(&a, 200, "GET /rooms/{id}");
    cr_assert(h_streq(h_jstr(j, "room_id"), room), "second answer is not the room: %s", a.body);
    json_decref(j);
    a = conn_answer(c, "third GET");
    expect_healthz(&a, "third GET");
    expect_responsive(port);
    /* The connection is still good for a request sent later. */
    conn_send(c, HEALTHZ);
    a = conn_answer(c, "later GET");
    expect_healthz(&a, "later GET");
    conn_close(c);
}

IT_TEST(http, pipelined_get_post, h_setup_one)
{
    int port = h_node_port(0);
    conn *c = conn_open(port);
    /* The exact sequence that once hung a node: a 2-byte body. */
    conn_send(c, HEALTHZ "POST /create-room HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
    answer a = conn_answer(c, "GET");
    expect_healthz(&a, "GET");
    char room[37];
    a = conn_answer(c, "POST after GET");
    expect_created(&a, room, "POST after GET");
    cr_assert_eq(h_room_count(port, room), 0, "the created room is not readable");
    expect_responsive(port);
    conn_close(c);
}

IT_TEST(http, pipelined_post_post, h_setup_one)
{
    int port = h_node_port(0);
    conn *c = conn_open(port);
    char req[1024];
    const char *b1 = "{\"max_participants\":3}", *b2 = "{\"max_participants\":4}";
    snprintf(req, sizeof req, CREATE("%s") CREATE("%s") HEALTHZ, strlen(b1), b1, strlen(b2), b2);
    conn_send(c, req);
    char r1[37], r2[37];
    answer a = conn_answer(c, "first POST");
    expect_created(&a, r1, "first POST");
    a = conn_answer(c, "second POST");
    expect_created(&a, r2, "second POST");
    a = conn_answer(c, "GET after the POSTs");
    expect_healthz(&a, "GET after the POSTs");
    cr_assert_str_neq(r1, r2);
    /* Each body went to its own request, in order. */
    cr_assert_eq(room_max(port, r1), 3, "first room got the wrong body");
    cr_assert_eq(room_max(port, r2), 4, "second room got the wrong body");
    expect_responsive(port);
    conn_close(c);
}

IT_TEST(http, pipelined_many_in_one_packet, h_setup_one)
{
    int port = h_node_port(0);
    enum { N = 24 };
    static char req[N * 160];
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"max_participants\":%d}", 10 + i);
        off += (size_t)snprintf(req + off, sizeof req - off, i % 2 ? CREATE("%s") : HEALTHZ,
                                strlen(body), body);
    }
    conn *c = conn_open(port);
    conn_send(c, req);
    for (int i = 0; i < N; i++) {
        char what[32], room[37];
        snprintf(what, sizeof what, "answer %d", i);
        answer a = conn_answer(c, what);
        if (i % 2 == 0) {
            expect_healthz(&a, what);
            continue;
        }
        expect_created(&a, room, what);
        cr_assert_eq(room_max(port, room), 10 + i, "%s: answered out of order", what);
    }
    expect_responsive(port);
    conn_close(c);
}

IT_TEST(http, body_split_across_packets, h_setup_one)
{
    int port = h_node_port(0);
    const char *body = "{\"max_participants\":7,\"metadata\":{\"topic\":\"split\"}}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /create-room HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", strlen(body));
    conn *c = conn_open(port);
    /* Headers with the body's first bytes, pauses, and the last piece of
     * the body in the same packet as a pipelined request. */
    char piece[512];
    snprintf(piece, sizeof piece, "%s%.5s", head, body);
    conn_send(c, piece);
    h_sleep_ms(150);
    snprintf(piece, sizeof piece, "%.10s", body + 5);
    conn_send(c, piece);
    h_sleep_ms(150);
    expect_responsive(port);
    snprintf(piece, sizeof piece, "%s" HEALTHZ, body + 15);
    conn_send(c, piece);
    char room[37];
    answer a = conn_answer(c, "split POST");
    expect_created(&a, room, "split POST");
    a = conn_answer(c, "GET after the split POST");
    expect_healthz(&a, "GET after the split POST");
    json_t *r = h_get_room(port, room);
    cr_assert(r);
    cr_assert_eq(json_integer_value(json_object_get(r, "max_participants")), 7);
    cr_assert(h_streq(h_jstr(json_object_get(r, "metadata"), "topic"), "split"),
              "the body was not read whole: %s", h_jdump(r));
    json_decref(r);
    /* A pipelined POST whose body is split: the second request's body
     * arrives after the first one's answer. */
    send_create(c, "{\"max_participants\":8}");
    conn_send(c, "POST /create-room HTTP/1.1\r\nHost: t\r\nContent-Length: 22\r\n\r\n{\"max_part");
    a = conn_answer(c, "POST before the split one");
    expect_created(&a, room, "POST before the split one");
    cr_assert_eq(room_max(port, room), 8);
    h_sleep_ms(150);
    conn_send(c, "icipants\":9}");
    a = conn_answer(c, "split pipelined POST");
    expect_created(&a, room, "split pipelined POST");
    cr_assert_eq(room_max(port, room), 9);
    conn_close(c);
}

/* Bytes that arrive while a request waits for Redis wait their turn: the
 * node reads nothing more from the connection meanwhile (lws would wake
 * the loop for the pending bytes over and over), then answers the parked
 * request once and the next ones in order. */
IT_TEST(http, bytes_while_parked_wait_their_turn, h_setup_one)
{
    int port = h_node_port(0);
    conn *c = conn_open(port);
    h_redis_reply r;
    cr_assert_eq(h_redis_cmd(&r, "CLIENT", "PAUSE", "1500", "ALL", NULL), 0);
    h_redis_reply_free(&r);
    send_create(c, "{\"max_participants\":5}");
    long long cpu0 = h_cpu_ms(h_node_pid(0));
    h_sleep_ms(300);
    conn_send(c, HEALTHZ);
    h_sleep_ms(300);
    send_create(c, "{\"max_participants\":6}");
    h_sleep_ms(400);
    long long cpu = h_cpu_ms(h_node_pid(0)) - cpu0;
    cr_assert_lt(cpu, 100, "the node used %lld ms CPU in 1 s while a request was parked", cpu);
    char r1[37], r2[37];
    answer a = conn_answer(c, "the parked POST");
    expect_created(&a, r1, "the parked POST");
    a = conn_answer(c, "GET sent while it was parked");
    expect_healthz(&a, "GET sent while it was parked");
    a = conn_answer(c, "POST sent while it was parked");
    expect_created(&a, r2, "POST sent while it was parked");
    cr_assert_eq(room_max(port, r1), 5);
    cr_assert_eq(room_max(port, r2), 6);
    http_resp l = h_http(port, "GET", "/rooms", NULL, NULL);
    json_t *rooms = h_json_parse(l.body, l.body_len);
    cr_assert(json_is_array(rooms) && json_array_size(rooms) == 2, "rooms: %s", l.body);
    json_decref(rooms);
    http_resp_free(&l);
    conn_send(c, HEALTHZ);
    a = conn_answer(c, "a later GET");
    expect_healthz(&a, "a later GET");
    conn_close(c);
}

/* ---- framing ---- */

/* Send a request with a body framed by `headers`, followed by bytes that
 * would be a valid request: the answer must be the refusal, then EOF. */
static void expect_framing_refused(int port, const char *headers, int status, const char *detail)
{
    char req[1024];
    snprintf(req, sizeof req,
             "POST /create-room HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n{}" HEALTHZ "GET /healthz",
             headers);
    conn *c = conn_open(port);
    conn_send(c, req);
    answer a = conn_answer(c, headers);
    expect_detail(&a, status, detail, headers);
    cr_assert(strcasestr(a.head, "\r\nconnection: close"), "%s: no Connection: close:\n%s", headers,
              a.head);
    conn_expect_eof(c, headers);
    conn_close(c);
}

IT_TEST(http, bad_content_length_is_400_and_closes, h_setup_one)
{
    int port = h_node_port(0);
    const char *bad[] = { "Content-Length: -1",   "Content-Length: abc",
                          "Content-Length: 2abc", "Content-Length:",
                          "Content-Length: 1 2",  "Content-Length: 99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_framing_refused(port, bad[i], 400, "Invalid Content-Length");
    expect_framing_refused(port, "Content-Length: 2\r\nContent-Length: 5", 400,
                           "Conflicting Content-Length headers");
    expect_framing_refused(port, "Content-Length: 2, 3", 400, "Conflicting Content-Length headers");
    expect_framing_refused(port, "Content-Length: 2\r\nTransfer-Encoding: chunked", 400,
                           "Content-Length with Transfer-Encoding");
    expect_framing_refused(port, "Transfer-Encoding: chunked\r\nContent-Length: 2", 400,
                           "Content-Length with Transfer-Encoding");
    expect_framing_refused(port, "Transfer-Encoding: chunked", 411, "Content-Length required");
    expect_framing_refused(port, "Content-Length: 100000000", 413, "Request body too large");
    /* Nothing was created by any of them. */
    http_resp r = h_http(port, "GET", "/rooms", NULL, NULL);
    cr_assert_str_eq(r.body, "[]", "a refused request created a room: %s", r.body);
    http_resp_free(&r);
    expect_responsive(port);
}

/* lws reads a body without Content-Length up to the end of the connection
 * for POST, PUT and PATCH alike: each is answered, then closed at once,
 * instead of lingering until lws's own timeout. */
IT_TEST(http, body_method_without_length_is_answered_and_closed, h_setup_one)
{
    int port = h_node_port(0);
    const char *methods[][2] = { { "PUT", "405" }, { "PATCH", "405" }, { "POST", "200" } };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        char req[256];
        snprintf(req, sizeof req, "%s /create-room HTTP/1.1\r\nHost: t\r\n\r\n", methods[i][0]);
        conn *c = conn_open(port);
        conn_send(c, req);
        answer a = conn_answer(c, methods[i][0]);
        cr_assert_eq(a.status, atoi(methods[i][1]), "%s: status %d", methods[i][0], a.status);
        conn_expect_eof(c, methods[i][0]);
        conn_close(c);
    }
}

/* HEAD is answered as GET without the body, so the next answer on a
 * keep-alive connection starts where the client expects it. */
IT_TEST(http, head_is_get_without_a_body, h_setup_one)
{
    int port = h_node_port(0);
    conn *c = conn_open(port);
    conn_send(c, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n" HEALTHZ
                 "HEAD /no-such-page HTTP/1.1\r\nHost: t\r\n\r\n" HEALTHZ);
    answer a = conn_answer_to(c, true, "HEAD /healthz");
    cr_assert_eq(a.status, 200, "HEAD /healthz: %s", a.head);
    cr_assert(strcasestr(a.head, "\r\ncontent-length: "), "no Content-Length: %s", a.head);
    cr_assert(!strcasestr(a.head, "\r\ncontent-length: 0\r\n"), "Content-Length 0: %s", a.head);
    a = conn_answer(c, "GET after HEAD");
    expect_healthz(&a, "GET after HEAD");
    a = conn_answer_to(c, true, "HEAD of a missing page");
    cr_assert_eq(a.status, 404, "HEAD of a missing page: %s", a.head);
    a = conn_answer(c, "GET after the 404");
    expect_healthz(&a, "GET after the 404");
    conn_close(c);
}

IT_TEST(http, equal_repeated_content_length_is_one, h_setup_one)
{
    int port = h_node_port(0);
    conn *c = conn_open(port);
    conn_send(c, "POST /create-room HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                 "Content-Length: 2\r\n\r\n{}" HEALTHZ);
    char room[37];
    answer a = conn_answer(c, "repeated equal length");
    expect_created(&a, room, "repeated equal length");
    a = conn_answer(c, "GET after it");
    expect_healthz(&a, "GET after it");
    conn_close(c);
}

/* The raw answer up to EOF to a request of `len` bytes built by `fill`. */
static void expect_status_then_close(int port, const char *req, int status, const char *what)
{
    conn *c = conn_open(port);
    conn_send(c, req);
    answer a = conn_answer(c, what);
    cr_assert_eq(a.status, status, "%s: status %d, want %d:\n%s", what, a.status, status, a.head);
    conn_expect_eof(c, what);
    conn_close(c);
}

IT_TEST(http, oversized_headers_and_urls, h_setup_one)
{
    int port = h_node_port(0);
    static char req[16384];
    char big[8000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: %s\r\n\r\n", big);
    expect_status_then_close(port, req, 431, "a header block over the limit");
    snprintf(req, sizeof req,
             "GET /healthz HTTP/1.1\r\nHost: t\r\nCookie: %.3000s\r\n"
             "X-Other: %.3000s\r\n\r\n",
             big, big);
    expect_status_then_close(port, req, 431, "headers over the limit together");
    snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", big);
    expect_status_then_close(port, req, 414, "a URL over the header table");
    snprintf(req, sizeof req, "GET /rooms?limit=1&x=%s HTTP/1.1\r\nHost: t\r\n\r\n", big);
    expect_status_then_close(port, req, 414, "a query over the header table");
    /* A path no route could have, still inside the table: JSON 414. */
    snprintf(req, sizeof req, "GET /%.300s HTTP/1.1\r\nHost: t\r\n\r\n" HEALTHZ, big);
    conn *c = conn_open(port);
    conn_send(c, req);
    answer a = conn_answer(c, "a 300-byte path");
    expect_detail(&a, 414, "URI too long", "a 300-byte path");
    conn_close(c);
    /* Just under the limits is served. */
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: %.3000s\r\n\r\n", big);
    c = conn_open(port);
    conn_send(c, req);
    a = conn_answer(c, "3000-byte header");
    expect_healthz(&a, "3000-byte header");
    conn_close(c);
    expect_responsive(port);
}

/* ---- one spelling of a room ---- */

/* Other spellings of /<prefix>/<room>: encoded, doubled or dotted. */
static int room_spellings(const char *prefix, const char *room, char out[][160])
{
    int n = 0;
    snprintf(out[n++], 160, "/%s/%%%02X%s", prefix, room[0], room + 1);
    snprintf(out[n++], 160, "/%s/%.35s%%%02X", prefix, room, room[35]);
    snprintf(out[n++], 160, "/%s//%s", prefix, room);
    snprintf(out[n++], 160, "//%s/%s", prefix, room);
    snprintf(out[n++], 160, "/x/../%s/%s", prefix, room);
    snprintf(out[n++], 160, "/%s/./%s", prefix, room);
    snprintf(out[n++], 160, "/%s/x/../%s", prefix, room);
    snprintf(out[n++], 160, "/%s/%s/", prefix, room);
    snprintf(out[n++], 160, "/%s%%2F%s", prefix, room);
    char upper[37];
    for (int i = 0; i < 37; i++)
        upper[i] = (char)((room[i] >= 'a' && room[i] <= 'f') ? room[i] - 32 : room[i]);
    snprintf(out[n++], 160, "/%s/%s", prefix, upper);
    return n;
}

IT_TEST(http, rest_room_has_one_spelling, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], paths[16][160];
    h_create_room_into(port, NULL, room);
    int n = room_spellings("rooms", room, paths);
    for (int i = 0; i < n; i++) {
        http_resp r = h_http(port, "GET", paths[i], NULL, NULL);
        h_expect_detail(&r, 404, NULL, paths[i]);
        http_resp_free(&r);
        r = h_http(port, "DELETE", paths[i], NULL, NULL);
        h_expect_detail(&r, 404, NULL, paths[i]);
        http_resp_free(&r);
    }
    /* The canonical spelling still reaches it: no DELETE above did. */
    cr_assert_eq(h_room_count(port, room), 0, "the room is gone after the other spellings");
    /* Same for the other routes: /healthz has one spelling too. */
    const char *others[] = { "//healthz", "/%68ealthz", "/./healthz", "/x/../healthz", "/HEALTHZ" };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        http_resp r = h_http(port, "GET", others[i], NULL, NULL);
        h_expect_detail(&r, 404, "Not Found", others[i]);
        http_resp_free(&r);
    }
}

IT_TEST(http, websocket_room_has_one_spelling, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], paths[16][160], err[512];
    h_create_room_into(port, NULL, room);
    int n = room_spellings("ws", room, paths);
    /* All but the last (uppercase): the upgrade is refused with 404. */
    for (int i = 0; i < n - 1; i++) {
        ws_client *c = ws_connect(port, paths[i], 0, HTTP_TIMEOUT_MS, err, sizeof err);
        cr_assert_null(c, "%s was upgraded", paths[i]);
        cr_assert(strstr(err, " 404 Not Found"), "%s: %s", paths[i], err);
    }
    /* An uppercase id is a plain segment but no room id: it opens and is
     * refused like any malformed id, never joining. */
    ws_client *c = ws_connect(port, paths[n - 1], 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "%s: %s", paths[n - 1], err);
    h_expect_error(c, "Room not found");
    cr_assert_eq(ws_wait_close(c, H_MSG_TIMEOUT_MS), 4404);
    ws_drop(c);
    cr_assert_eq(h_room_count(port, room), 0, "another spelling joined the room");
    /* The canonical path joins. */
    ws_client *a = h_join(port, room, NULL);
    cr_assert_eq(h_wait_room_count(port, room, 1, H_MSG_TIMEOUT_MS), 1);
    ws_close(a);
}
