/*
 * test_rfc6455.c - WebSocket framing rules a client can break (RFC 6455),
 * sent with a raw client: text that is not UTF-8 (close 1007, also when
 * the bad or the good sequence is split across fragments), unmasked
 * frames and RSV bits without an extension (close 1002), an upgrade
 * without a valid Sec-WebSocket-Key (HTTP 400, no upgrade), and data
 * frames after the client's close frame (never relayed).
 *
 * Each breaking client joins a room where an observer waits: the payloads
 * are valid signaling messages, so a frame that slipped through would be
 * relayed and the observer would see it before the breaker's user-left.
 */
#include "harness.h"
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

#define CLOSE_PROTOCOL_ERROR 1002
#define CLOSE_INVALID_PAYLOAD 1007

typedef struct {
    int port;
    char room[37];
    ws_client *observer;
} room_watch;

static void watch_open(room_watch *w)
{
    w->port = h_node_port(0);
    h_create_room_into(w->port, NULL, w->room);
    w->observer = h_join(w->port, w->room, NULL);
}

/* A new member the observer has seen join. */
static ws_client *watch_join(room_watch *w)
{
    ws_client *c = h_join(w->port, w->room, NULL);
    h_expect_user_event(w->observer, "user-joined", c->user_id, w->room);
    return c;
}

/* `c` is closed with `code`; the observer got nothing from it but its
 * departure, and still works. The client answers the close and hangs up,
 * as RFC 6455 §7.1.1 lets it: where lws itself refuses a frame (RSV2,
 * RSV3), its parser is left inside that frame, would not recognise the
 * answer, and would hold the socket until its own 5 s close timeout. */
static void expect_failed(room_watch *w, ws_client *c, int code, const char *what)
{
    int got = ws_wait_close(c, H_MSG_TIMEOUT_MS);
    cr_assert_eq(got, code, "%s: closed with %d, want %d", what, got, code);
    char user_id[64];
    snprintf(user_id, sizeof user_id, "%s", c->user_id);
    ws_drop(c);
    json_t *j = h_recv(w->observer, "user-left of the closed client");
    cr_assert(h_type_is(j, "user-left") && h_streq(h_jstr(j, "user_id"), user_id),
              "%s: the observer expected user-left, got %s", what, h_jdump(j));
    json_decref(j);
    h_ping_pong(w->observer);
}

static void send_frames(ws_client *c, const ws_frame_opts *o, const char *const *parts, size_t n)
{
    unsigned char buf[4096];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(parts[i]);
        size_t k = ws_frame_encode(buf + len, sizeof buf - len, &o[i], parts[i], plen);
        cr_assert(k > 0, "frame %zu does not fit", i);
        len += k;
    }
    cr_assert_eq(ws_send_raw(c, buf, len), 0, "could not send the frames");
}

#define OFFER "{\"type\":\"offer\",\"data\":{\"sdp\":\"v=0\"}}"

/* ---- UTF-8 ---- */

IT_TEST(rfc6455, invalid_utf8_closes_1007, h_setup_one)
{
    room_watch w;
    watch_open(&w);
    const char *bad[] = {
        "\xff",             /* never in UTF-8 */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* a UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
        "\xc3\x28",         /* a lead byte without its continuation */
        "\xe2\x82",         /* cut short before the closing quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_client *c = watch_join(&w);
        char msg[128];
        snprintf(msg, sizeof msg, "{\"type\":\"offer\",\"data\":\"%s\"}", bad[i]);
        cr_assert_eq(ws_send_text(c, msg), 0);
        expect_failed(&w, c, CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in one frame");
    }
    /* A message that ends inside a character, in one frame. */
    ws_client *c = watch_join(&w);
    cr_assert_eq(ws_send_text(c, OFFER "\xc3"), 0);
    expect_failed(&w, c, CLOSE_INVALID_PAYLOAD, "text ending inside a character");
}

/* Multi-byte characters cut at every possible place between fragments. */
IT_TEST(rfc6455, utf8_split_across_fragments_is_relayed, h_setup_one)
{
    room_watch w;
    watch_open(&w);
    ws_client *a = watch_join(&w);
    const char *data = "{\"t\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}";
    char msg[128];
    int n = snprintf(msg, sizeof msg, "{\"type\":\"offer\",\"data\":%s}", data);
    for (size_t chunk = 1; chunk <= 5; chunk++) {
        cr_assert_eq(ws_send_fragmented(a, msg, (size_t)n, chunk), 0);
        h_expect_relay(w.observer, "offer", a, data, NULL);
    }
}

IT_TEST(rfc6455, invalid_utf8_across_fragments_closes_1007, h_setup_one)
{
    room_watch w;
    watch_open(&w);
    const ws_frame_opts first = { .opcode = WS_OP_TEXT }, last = { .fin = true };
    const ws_frame_opts o[] = { first, last };
    /* A lead byte at the end of one fragment, no continuation byte at the
     * start of the next. */
    ws_client *c = watch_join(&w);
    const char *split[] = { "{\"type\":\"offer\",\"data\":\"\xe2\x82", "(\"}" };
    send_frames(c, o, split, 2);
    expect_failed(&w, c, CLOSE_INVALID_PAYLOAD, "a character broken between fragments");
    /* The last fragment ends inside a character. */
    c = watch_join(&w);
    const char *cut[] = { OFFER, "\xf0\x9f\x98" };
    send_frames(c, o, cut, 2);
    expect_failed(&w, c, CLOSE_INVALID_PAYLOAD, "a message ending inside a character");
    /* A broken character in a later fragment. */
    c = watch_join(&w);
    const ws_frame_opts o3[] = { first, { .opcode = WS_OP_CONT }, last };
    const char *late[] = { "{\"type\":\"offer\",", "\"data\":\"\xed\xbf\xbf", "\"}" };
    send_frames(c, o3, late, 3);
    expect_failed(&w, c, CLOSE_INVALID_PAYLOAD, "a surrogate in a middle fragment");
}

/* ---- masking and RSV bits ---- */

IT_TEST(rfc6455, unmasked_frames_close_1002, h_setup_one)
{
    room_watch w;
    watch_open(&w);
    ws_client *c = watch_join(&w);
    const ws_frame_opts text = { .fin = true, .opcode = WS_OP_TEXT, .unmasked = true };
    cr_assert_eq(ws_send_frame_opts(c, &text, OFFER, strlen(OFFER)), 0);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "an unmasked text frame");

    /* Masked start, unmasked end of one message. */
    c = watch_join(&w);
    const ws_frame_opts o[] = { { .opcode = WS_OP_TEXT },
                                { .fin = true, .opcode = WS_OP_CONT, .unmasked = true } };
    const char *parts[] = { "{\"type\":\"offer\",", "\"data\":{}}" };
    send_frames(c, o, parts, 2);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "an unmasked continuation frame");

    /* An unmasked control frame the node sees: a pong. */
    c = watch_join(&w);
    const ws_frame_opts pong = { .fin = true, .opcode = WS_OP_PONG, .unmasked = true };
    cr_assert_eq(ws_send_frame_opts(c, &pong, "sb", 2), 0);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "an unmasked pong");

    /* A ping is answered by libwebsockets itself, but its header is
     * checked first: unmasked, it fails the connection too. */
    c = watch_join(&w);
    const ws_frame_opts ping = { .fin = true, .opcode = WS_OP_PING, .unmasked = true };
    cr_assert_eq(ws_send_frame_opts(c, &ping, "sb", 2), 0);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "an unmasked ping");

    /* Empty frames carry no payload to unmask, but must be masked too. */
    c = watch_join(&w);
    cr_assert_eq(ws_send_frame_opts(c, &text, "", 0), 0);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "an empty unmasked text frame");
}

IT_TEST(rfc6455, rsv_bits_close_1002, h_setup_one)
{
    room_watch w;
    watch_open(&w);
    for (unsigned rsv = 1; rsv <= 7; rsv++) {
        ws_client *c = watch_join(&w);
        const ws_frame_opts o = { .fin = true, .opcode = WS_OP_TEXT, .rsv = rsv };
        cr_assert_eq(ws_send_frame_opts(c, &o, OFFER, strlen(OFFER)), 0);
        char what[64];
        snprintf(what, sizeof what, "RSV bits %u on a text frame", rsv);
        expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, what);
    }
    /* RSV1 (permessage-deflate's bit) on a continuation and on a pong. */
    ws_client *c = watch_join(&w);
    const ws_frame_opts o[] = { { .opcode = WS_OP_TEXT },
                                { .fin = true, .opcode = WS_OP_CONT, .rsv = 4 } };
    const char *parts[] = { "{\"type\":\"offer\",", "\"data\":{}}" };
    send_frames(c, o, parts, 2);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "RSV1 on a continuation frame");
    c = watch_join(&w);
    const ws_frame_opts pong = { .fin = true, .opcode = WS_OP_PONG, .rsv = 4 };
    cr_assert_eq(ws_send_frame_opts(c, &pong, "sb", 2), 0);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "RSV1 on a pong");
    c = watch_join(&w);
    const ws_frame_opts ping = { .fin = true, .opcode = WS_OP_PING, .rsv = 4 };
    cr_assert_eq(ws_send_frame_opts(c, &ping, "sb", 2), 0);
    expect_failed(&w, c, CLOSE_PROTOCOL_ERROR, "RSV1 on a ping");
}

/* ---- handshake ---- */

/* RFC 6455 §4.2.2: a version other than 13 gets 426 naming 13, a request
 * without the header 400; neither is upgraded, and the answer is the REST
 * API's JSON error, not a page. */
IT_TEST(rfc6455, upgrade_with_other_version_is_426, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    const char *versions[] = { "8", "14", "13, 8", "", NULL };
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        char version_line[64] = "";
        if (versions[i])
            snprintf(version_line, sizeof version_line, "Sec-WebSocket-Version: %s\r\n",
                     versions[i]);
        char req[512];
        snprintf(req, sizeof req,
                 "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n",
                 room, port, version_line);
        char head[2048];
        int status = ws_raw_handshake(port, req, HTTP_TIMEOUT_MS, head, sizeof head);
        bool present = versions[i] && versions[i][0];
        cr_assert_eq(status, present ? 426 : 400, "version '%s': got %d: %s",
                     versions[i] ? versions[i] : "(none)", status, head);
        if (present)
            cr_assert(strcasestr(head, "\r\nsec-websocket-version: 13\r\n"), "%s", head);
        cr_assert(strcasestr(head, "\r\ncontent-type: application/json\r\n"), "%s", head);
    }
    cr_assert_eq(h_room_count(port, room), 0);
    ws_client *a = h_join(port, room, NULL);
    h_ping_pong(a);
}

IT_TEST(rfc6455, upgrade_without_valid_key_is_400, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    const char *keys[] = {
        NULL,                               /* no Sec-WebSocket-Key at all */
        "",                                 /* empty */
        "not a base64 key",                 /* not base64 */
        "AAAAAAAAAAA=",                     /* base64 of 8 bytes, not 16 */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* 23 bytes */
        "AAAAAAAAAAAAAAAAAAAAA===",         /* bad padding */
        "AAAAAAAAAAAAAAAAAAAAAA=A",         /* padding in the middle */
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char key_line[128] = "";
        if (keys[i])
            snprintf(key_line, sizeof key_line, "Sec-WebSocket-Key: %s\r\n", keys[i]);
        char req[512];
        snprintf(req, sizeof req,
                 "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n%sSec-WebSocket-Version: 13\r\n\r\n",
                 room, port, key_line);
        char head[2048];
        int status = ws_raw_handshake(port, req, HTTP_TIMEOUT_MS, head, sizeof head);
        cr_assert_eq(status, 400, "key '%s': want HTTP 400, got %d: %s",
                     keys[i] ? keys[i] : "(none)", status, head);
    }
    /* Without Host, or with a Connection header that does not ask for
     * the upgrade, lws would hang up without an answer. */
    const char *lines[][2] = {
        { "Connection: Upgrade\r\n", "" },
        { "", "Host: 127.0.0.1\r\nConnection: keep-alive\r\n" },
        { "", "Host: 127.0.0.1\r\n" },
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char req[512];
        snprintf(req, sizeof req,
                 "GET /ws/%s HTTP/1.1\r\n%s%sUpgrade: websocket\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 room, lines[i][0], lines[i][1]);
        char head[2048];
        int status = ws_raw_handshake(port, req, HTTP_TIMEOUT_MS, head, sizeof head);
        cr_assert_eq(status, 400, "%s: want HTTP 400, got %d: %s", req, status, head);
    }
    /* Nobody joined, and a well-formed upgrade still works. */
    cr_assert_eq(h_room_count(port, room), 0);
    ws_client *a = h_join(port, room, NULL);
    h_ping_pong(a);
}

/* ---- after the client's close frame ---- */

IT_TEST(rfc6455, nothing_after_close_is_relayed, h_setup_one)
{
    room_watch w;
    watch_open(&w);
    const char code[] = { 1000 >> 8, (char)(1000 & 0xff), '\0' };
    const ws_frame_opts start = { .opcode = WS_OP_TEXT },
                        end = { .fin = true, .opcode = WS_OP_CONT },
                        close = { .fin = true, .opcode = WS_OP_CLOSE },
                        ping = { .fin = true, .opcode = WS_OP_PING },
                        whole = { .fin = true, .opcode = WS_OP_TEXT };
    /* A message begun before the close and completed after it. */
    ws_client *c = watch_join(&w);
    const ws_frame_opts o1[] = { start, close, end };
    const char *p1[] = { "{\"type\":\"offer\",", code, "\"data\":{}}" };
    send_frames(c, o1, p1, 3);
    expect_failed(&w, c, 1000, "a fragment completed after the close");
    /* The same with a ping in between. */
    c = watch_join(&w);
    const ws_frame_opts o2[] = { start, ping, close, end };
    const char *p2[] = { "{\"type\":\"offer\",", "p", code, "\"data\":{}}" };
    send_frames(c, o2, p2, 4);
    expect_failed(&w, c, 1000, "a fragment completed after a ping and the close");
    /* A whole message after the close. */
    c = watch_join(&w);
    const ws_frame_opts o3[] = { close, whole };
    const char *p3[] = { code, OFFER };
    send_frames(c, o3, p3, 2);
    expect_failed(&w, c, 1000, "a message after the close");
    /* A whole message sent after the close, fragments after it too. */
    c = watch_join(&w);
    const ws_frame_opts o4[] = { close, start, end };
    const char *p4[] = { code, "{\"type\":\"offer\",", "\"data\":{}}" };
    send_frames(c, o4, p4, 3);
    expect_failed(&w, c, 1000, "a fragmented message after the close");
}
