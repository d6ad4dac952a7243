/*
 * test_refusals.c - everything the server refuses on a WebSocket
 * (README "Refusals", docs/design.md#limits): unknown and full rooms (error, then close
 * 4404 / 4409), bad messages (error, connection stays open and keeps
 * working), binary frames, oversized messages (close 1009, also when
 * fragmented) and the per-connection rate limit (error and drop, then
 * close 1008 on sustained abuse). Error texts come from protocol.h.
 */
#include "harness.h"
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

static ws_client *connect_raw(int port, const char *room_id)
{
    char path[160], err[512];
    snprintf(path, sizeof path, "/ws/%s", room_id);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "the WebSocket handshake for %s must succeed (the refusal comes as a message): %s",
              path, err);
    return c;
}

static void expect_refused_join(int port, const char *room_id, const char *text, int code)
{
    ws_client *c = connect_raw(port, room_id);
    h_expect_error(c, text);
    int got = ws_wait_close(c, H_MSG_TIMEOUT_MS);
    cr_assert_eq(got, code, "joining %s: closed with %d, want %d", room_id, got, code);
    ws_drop(c);
}

/* ---- joins ---- */

IT_TEST(refusals, unknown_room_is_4404, h_setup_one)
{
    int port = h_node_port(0);
    char unknown[37];
    h_random_uuid4(unknown);
    expect_refused_join(port, unknown, SB_ERR_ROOM_NOT_FOUND, SB_CLOSE_ROOM_NOT_FOUND);
    cr_assert_null(h_get_room(port, unknown), "a refused join created the room");
    http_resp r = h_http(port, "GET", "/rooms", NULL, NULL);
    cr_assert_str_eq(r.body, "[]", "a refused join shows up in the listing: %s", r.body);
    http_resp_free(&r);
}

IT_TEST(refusals, malformed_room_id_is_4404, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], upper[37];
    h_create_room_into(port, NULL, room);
    for (int i = 0; i < 37; i++)
        upper[i] = (char)((room[i] >= 'a' && room[i] <= 'f') ? room[i] - 32 : room[i]);
    const char *ids[] = { "not-a-uuid", "1234", upper };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        expect_refused_join(port, ids[i], SB_ERR_ROOM_NOT_FOUND, SB_CLOSE_ROOM_NOT_FOUND);
    cr_assert_eq(h_room_count(port, room), 0, "refused joins changed the real room");
}

IT_TEST(refusals, full_room_is_4409, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, "{\"max_participants\":2}", room);
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    expect_refused_join(port, room, SB_ERR_ROOM_FULL, SB_CLOSE_ROOM_FULL);
    expect_refused_join(port, room, SB_ERR_ROOM_FULL, SB_CLOSE_ROOM_FULL);
    /* The members heard nothing of the refused joiners. */
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    cr_assert_eq(h_room_count(port, room), 2);
    /* A seat frees up when someone leaves. */
    char bid[64];
    snprintf(bid, sizeof bid, "%s", b->user_id);
    ws_close(b);
    h_expect_user_event(a, "user-left", bid, room);
    ws_client *d = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", d->user_id, room);
}

IT_TEST(refusals, node_wide_max_participants, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--max-participants", "1", NULL));
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    expect_refused_join(port, room, SB_ERR_ROOM_FULL, SB_CLOSE_ROOM_FULL);
    h_expect_silence(a, H_SILENCE_MS);
    /* A room's own limit wins over the node default. */
    char big[37];
    h_create_room_into(port, "{\"max_participants\":3}", big);
    ws_client *x = h_join(port, big, NULL);
    ws_client *y = h_join(port, big, NULL);
    h_expect_user_event(x, "user-joined", y->user_id, big);
}

/* Without --max-participants a room takes 100 members (a full mesh call),
 * and the 101st is refused like any full room. */
#define DEFAULT_CAPACITY 100

IT_TEST(refusals, default_capacity_refuses_the_101st, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *first = h_join(port, room, NULL);
    for (int i = 1; i < DEFAULT_CAPACITY; i++)
        h_join(port, room, NULL);
    cr_assert_eq(h_room_count(port, room), DEFAULT_CAPACITY);
    expect_refused_join(port, room, SB_ERR_ROOM_FULL, SB_CLOSE_ROOM_FULL);
    cr_assert_eq(h_room_count(port, room), DEFAULT_CAPACITY);
    /* The first member heard every other join and nothing of the refused one. */
    for (int i = 1; i < DEFAULT_CAPACITY; i++) {
        json_t *j = h_recv(first, "user-joined");
        cr_assert(h_type_is(j, "user-joined"), "member %d: %s", i, h_jdump(j));
        json_decref(j);
    }
    h_expect_silence(first, H_SILENCE_MS);
}

/* ---- bad messages keep the connection open ---- */

typedef struct {
    int port;
    char room[37];
    ws_client *a, *b;
} pair;

static void pair_open(pair *p, int port)
{
    p->port = port;
    h_create_room_into(port, NULL, p->room);
    p->a = h_join(port, p->room, NULL);
    p->b = h_join(port, p->room, NULL);
    h_expect_user_event(p->a, "user-joined", p->b->user_id, p->room);
}

/* A is still fine: it answers pings and its messages are relayed; B got
 * nothing from the refused messages. */
static void pair_still_works(pair *p)
{
    h_expect_silence(p->b, H_SILENCE_MS);
    h_ping_pong(p->a);
    h_sendf(p->a, "{\"type\":\"offer\",\"data\":{\"after\":\"refusals\"}}");
    h_expect_relay(p->b, "offer", p->a, "{\"after\":\"refusals\"}", NULL);
    h_sendf(p->b, "{\"type\":\"answer\",\"data\":{}}");
    h_expect_relay(p->a, "answer", p->b, "{}", NULL);
    cr_assert_eq(h_room_count(p->port, p->room), 2, "a refusal dropped a member");
}

static void refuse_all(pair *p, const char *const *msgs, size_t n, const char *text)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ws_send_text(p->a, msgs[i]), 0, "could not send %s", msgs[i]);
        const char *why = NULL;
        json_t *j = ws_recv_json(p->a, H_MSG_TIMEOUT_MS, &why);
        cr_assert(j, "sent %s, expected error '%s', got %s (close code %d)", msgs[i], text,
                  why ? why : "?", p->a->close_code);
        cr_assert(h_is_error(j, text),
                  "sent %s, expected {\"type\":\"error\",\"message\":\"%s\"}, got %s", msgs[i],
                  text, h_jdump(j));
        json_decref(j);
    }
}

IT_TEST(refusals, invalid_json_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    const char *msgs[] = { "{", "{\"type\":\"offer\"",  "hello", "{'type':'offer'}",
                           "",  "{\"type\":\"offer\",}" };
    refuse_all(&p, msgs, sizeof msgs / sizeof msgs[0], SB_ERR_INVALID_JSON);
    pair_still_works(&p);
}

IT_TEST(refusals, non_object_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    const char *msgs[] = { "[1]", "\"x\"", "5", "null", "true", "[]", "[{\"type\":\"offer\"}]" };
    refuse_all(&p, msgs, sizeof msgs / sizeof msgs[0], SB_ERR_NOT_OBJECT);
    pair_still_works(&p);
}

IT_TEST(refusals, missing_or_non_string_type_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    const char *msgs[] = { "{}",
                           "{\"data\":{\"sdp\":\"x\"}}",
                           "{\"type\":5}",
                           "{\"type\":null}",
                           "{\"type\":[\"offer\"]}",
                           "{\"type\":{\"t\":\"offer\"}}",
                           "{\"type\":true}" };
    refuse_all(&p, msgs, sizeof msgs / sizeof msgs[0], SB_ERR_BAD_TYPE);
    pair_still_works(&p);
}

IT_TEST(refusals, reserved_types_stay_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    enum { N = 7 };
    char msgs[N][256];
    const char *reserved[N] = { "connected",   "user-joined", "user-left", "error",
                                "room-closed", "reconnect",   "pong" };
    const char *ptrs[N];
    for (int i = 0; i < N; i++) {
        snprintf(msgs[i], sizeof msgs[i], "{\"type\":\"%s\",\"user_id\":\"%s\",\"room_id\":\"%s\"}",
                 reserved[i], p.b->user_id, p.room);
        ptrs[i] = msgs[i];
    }
    refuse_all(&p, ptrs, N, SB_ERR_RESERVED_TYPE);
    pair_still_works(&p);
}

IT_TEST(refusals, room_id_mismatch_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    char other[37], unknown[37], m1[160], m2[160];
    h_create_room_into(p.port, NULL, other);
    ws_client *o = h_join(p.port, other, NULL);
    h_random_uuid4(unknown);
    snprintf(m1, sizeof m1, "{\"type\":\"offer\",\"room_id\":\"%s\",\"data\":{}}", other);
    snprintf(m2, sizeof m2, "{\"type\":\"offer\",\"room_id\":\"%s\",\"data\":{}}", unknown);
    const char *msgs[] = { m1, m2 };
    refuse_all(&p, msgs, 2, SB_ERR_ROOM_MISMATCH);
    h_expect_silence(o, 50); /* nothing leaked into the other room */
    pair_still_works(&p);
    h_expect_silence(o, 50);
}

IT_TEST(refusals, bad_to_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    const char *msgs[] = { "{\"type\":\"offer\",\"to\":5,\"data\":{}}",
                           "{\"type\":\"offer\",\"to\":{\"id\":\"x\"},\"data\":{}}",
                           "{\"type\":\"offer\",\"to\":[\"x\"],\"data\":{}}",
                           "{\"type\":\"offer\",\"to\":true,\"data\":{}}" };
    refuse_all(&p, msgs, sizeof msgs / sizeof msgs[0], SB_ERR_BAD_TO);
    pair_still_works(&p);
}

IT_TEST(refusals, unknown_target_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    char other[37], unknown[37], m1[200], m2[200], m3[200], m4[200];
    /* Someone in another room is not a valid target from this one. */
    h_create_room_into(p.port, NULL, other);
    ws_client *o = h_join(p.port, other, NULL);
    /* Neither is someone who left. */
    ws_client *gone = h_join(p.port, p.room, NULL);
    h_expect_user_event(p.a, "user-joined", gone->user_id, p.room);
    h_expect_user_event(p.b, "user-joined", gone->user_id, p.room);
    char gone_id[64];
    snprintf(gone_id, sizeof gone_id, "%s", gone->user_id);
    ws_close(gone);
    h_expect_user_event(p.a, "user-left", gone_id, p.room);
    h_expect_user_event(p.b, "user-left", gone_id, p.room);
    cr_assert_eq(h_wait_room_count(p.port, p.room, 2, 3000), 2);

    h_random_uuid4(unknown);
    snprintf(m1, sizeof m1, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{}}", unknown);
    snprintf(m2, sizeof m2, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{}}", o->user_id);
    snprintf(m3, sizeof m3, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{}}", gone_id);
    snprintf(m4, sizeof m4, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{}}", "nobody");
    const char *msgs[] = { m1, m2, m3, m4 };
    refuse_all(&p, msgs, 4, SB_ERR_UNKNOWN_TARGET);
    h_expect_silence(o, 50);
    pair_still_works(&p);
}

IT_TEST(refusals, binary_frame_stays_open, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    const char bin[] = "{\"type\":\"offer\",\"data\":{}}";
    cr_assert_eq(ws_send_binary(p.a, bin, sizeof bin - 1), 0);
    h_expect_error(p.a, SB_ERR_BINARY);
    unsigned char raw[] = { 0x00, 0xff, 0x10, 0x80 };
    cr_assert_eq(ws_send_binary(p.a, raw, sizeof raw), 0);
    h_expect_error(p.a, SB_ERR_BINARY);
    pair_still_works(&p);
}

/* ---- size limit ---- */

/* A valid offer message of exactly `size` bytes. */
static char *offer_of_size(size_t size)
{
    static const char pre[] = "{\"type\":\"offer\",\"data\":{\"pad\":\"";
    static const char post[] = "\"}}";
    size_t npre = sizeof pre - 1, npost = sizeof post - 1;
    cr_assert(size > npre + npost);
    char *m = malloc(size + 1);
    if (!m)
        abort();
    memcpy(m, pre, npre);
    for (size_t i = npre; i < size - npost; i++)
        m[i] = 'z';
    memcpy(m + size - npost, post, npost + 1);
    return m;
}

IT_TEST(refusals, message_at_the_limit_is_relayed, h_setup_redis)
{
    pair p;
    pair_open(&p, h_node_port(h_node_start("node-a", "--max-message-bytes", "1024", NULL)));
    char *m = offer_of_size(1024);
    cr_assert_eq(ws_send_text(p.a, m), 0);
    const char *data = strstr(m, "{\"pad\"");
    char *d = strndup(data, strlen(data) - 1);
    h_expect_relay(p.b, "offer", p.a, d, NULL);
    free(d);
    free(m);
    pair_still_works(&p);
}

static void expect_too_large(pair *p)
{
    h_expect_error(p->a, SB_ERR_TOO_LARGE);
    int code = ws_wait_close(p->a, H_MSG_TIMEOUT_MS);
    cr_assert_eq(code, SB_CLOSE_TOO_BIG, "closed with %d, want %d", code, SB_CLOSE_TOO_BIG);
    /* B never sees the oversized message; it sees A leave. */
    json_t *j = h_recv(p->b, "user-left for the closed sender");
    cr_assert(h_type_is(j, "user-left") && h_streq(h_jstr(j, "user_id"), p->a->user_id),
              "expected user-left for %s, got %s", p->a->user_id, h_jdump(j));
    json_decref(j);
    h_expect_silence(p->b, H_SILENCE_MS);
    cr_assert_eq(h_wait_room_count(p->port, p->room, 1, 3000), 1);
}

IT_TEST(refusals, oversized_message_closes_1009, h_setup_redis)
{
    pair p;
    pair_open(&p, h_node_port(h_node_start("node-a", "--max-message-bytes", "1024", NULL)));
    char *m = offer_of_size(1500);
    cr_assert_eq(ws_send_text(p.a, m), 0);
    free(m);
    expect_too_large(&p);
}

IT_TEST(refusals, oversized_fragmented_message_closes_1009, h_setup_redis)
{
    pair p;
    pair_open(&p, h_node_port(h_node_start("node-a", "--max-message-bytes", "1024", NULL)));
    char *m = offer_of_size(2000);
    /* Every fragment is under the limit; the message is not. */
    cr_assert_eq(ws_send_fragmented(p.a, m, 2000, 500), 0);
    free(m);
    expect_too_large(&p);
}

IT_TEST(refusals, oversized_message_default_limit, h_setup_one)
{
    pair p;
    pair_open(&p, h_node_port(0));
    char *m = offer_of_size(65536 + 100);
    cr_assert_eq(ws_send_text(p.a, m), 0);
    free(m);
    expect_too_large(&p);
}

/* ---- rate limit ---- */

IT_TEST(refusals, rate_limit_drops_then_closes_1008, h_setup_redis)
{
    pair p;
    pair_open(&p, h_node_port(h_node_start("node-a", "--rate-limit", "5:5", NULL)));
    enum { N = 30 };
    int sent = 0;
    for (int i = 0; i < N; i++) {
        char m[96];
        snprintf(m, sizeof m, "{\"type\":\"offer\",\"data\":{\"seq\":%d}}", i);
        if (ws_send_text(p.a, m) != 0)
            break; /* the server may already have closed us */
        sent++;
    }
    cr_assert(sent >= 12, "could only send %d messages", sent);

    /* A: rate-limit errors, then a close with 1008. */
    int errors = 0, code = -1;
    long long deadline = h_now_ms() + 10000;
    while (h_now_ms() < deadline) {
        char *data = NULL;
        size_t len;
        ws_event ev = ws_recv(p.a, 2000, &data, &len);
        if (ev == WS_TEXT) {
            json_t *j = h_json_parse(data, len);
            cr_assert(h_is_error(j, SB_ERR_RATE_LIMITED),
                      "sender expected only rate-limit errors, got %s", data);
            errors++;
            json_decref(j);
            free(data);
            continue;
        }
        free(data);
        if (ev == WS_CLOSED || ev == WS_EOF || ev == WS_ERROR)
            code = p.a->close_code >= 0 ? p.a->close_code : 1006;
        break;
    }
    cr_assert(errors >= 5, "expected at least 5 (burst) rate-limit errors before the close, got %d",
              errors);
    cr_assert_eq(code, SB_CLOSE_POLICY, "sustained abuse should close with 1008, got %d", code);

    /* B: exactly the first five, in order, then A leaving. */
    int relayed = 0;
    for (;;) {
        json_t *j = h_recv(p.b, "relayed offers, then user-left");
        if (h_type_is(j, "user-left")) {
            cr_assert(h_streq(h_jstr(j, "user_id"), p.a->user_id), "wrong user-left: %s",
                      h_jdump(j));
            json_decref(j);
            break;
        }
        cr_assert(h_type_is(j, "offer"), "unexpected %s", h_jdump(j));
        int seq = (int)json_integer_value(json_object_get(json_object_get(j, "data"), "seq"));
        if (relayed < 5)
            cr_assert_eq(seq, relayed,
                         "the first 5 messages should be relayed in order: got seq %d as #%d", seq,
                         relayed);
        relayed++;
        json_decref(j);
    }
    /* A token may trickle back in while the burst is processed, no more. */
    cr_assert(relayed >= 5 && relayed <= 7, "relayed %d of %d messages under --rate-limit 5:5",
              relayed, sent);
    h_expect_silence(p.b, H_SILENCE_MS);
}

IT_TEST(refusals, rate_limit_short_burst_recovers, h_setup_redis)
{
    pair p;
    pair_open(&p, h_node_port(h_node_start("node-a", "--rate-limit", "5:5", NULL)));
    for (int i = 0; i < 8; i++)
        h_sendf(p.a, "{\"type\":\"offer\",\"data\":{\"seq\":%d}}", i);
    int errors = 0;
    for (;;) {
        json_t *j = ws_recv_json(p.a, H_SILENCE_MS * 2, NULL);
        if (!j)
            break;
        cr_assert(h_is_error(j, SB_ERR_RATE_LIMITED), "expected rate-limit errors, got %s",
                  h_jdump(j));
        errors++;
        json_decref(j);
    }
    cr_assert(!p.a->closed, "3 refusals (not more than the burst) must not close the connection");
    int relayed = 0;
    for (;;) {
        json_t *j = ws_recv_json(p.b, H_SILENCE_MS, NULL);
        if (!j)
            break;
        cr_assert(h_type_is(j, "offer"), "unexpected %s", h_jdump(j));
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "data"), "seq")),
                     relayed, "out of order: %s", h_jdump(j));
        relayed++;
        json_decref(j);
    }
    cr_assert(relayed >= 5 && relayed <= 6, "relayed %d of 8", relayed);
    cr_assert_eq(relayed + errors, 8, "%d relayed + %d refused != 8 sent", relayed, errors);
    /* The bucket refills at 5/s. */
    h_sleep_ms(1300);
    for (int i = 0; i < 3; i++)
        h_sendf(p.a, "{\"type\":\"answer\",\"data\":{\"n\":%d}}", i);
    for (int i = 0; i < 3; i++) {
        char d[32];
        snprintf(d, sizeof d, "{\"n\":%d}", i);
        h_expect_relay(p.b, "answer", p.a, d, NULL);
    }
    h_expect_silence(p.a, 50);
    h_ping_pong(p.a);
}
