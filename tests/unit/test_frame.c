/*
 * test_frame.c - shared outgoing frames, linked alone (node_core).
 *
 * A frame's payload sits LWS_PRE bytes into its buffer so lws can write
 * the WebSocket header in front of it; only the constant comes from lws.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define USER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"
#define ROOM "0d1f2e3c-4b5a-4c8b-a7e2-9b2c6a1e5f3d"

static json_t *parse_payload(sb_frame *f)
{
    cr_assert_not_null(f);
    cr_assert_eq(frame_payload(f), f->buf + LWS_PRE);
    cr_assert_eq(strlen(frame_payload(f)), f->len, "the payload is NUL-terminated at len");
    json_error_t err;
    json_t *v = json_loadb(frame_payload(f), f->len, 0, &err);
    cr_assert_not_null(v, "payload is not JSON: %s", err.text);
    return v;
}

Test(frame, copy_holds_the_bytes)
{
    const char data[] = "{\"type\":\"offer\",\"data\":{\"sdp\":\"v=0\"}}";
    sb_frame *f = frame_copy(data, sizeof(data) - 1);
    cr_assert_not_null(f);
    cr_assert_eq(f->refs, 1);
    cr_assert_eq(f->len, sizeof(data) - 1);
    cr_assert_eq(memcmp(frame_payload(f), data, f->len), 0);
    cr_assert_eq(frame_payload(f)[f->len], '\0');
    frame_unref(f);

    sb_frame *empty = frame_copy("", 0);
    cr_assert_not_null(empty);
    cr_assert_eq(empty->len, 0);
    frame_unref(empty);
}

/* Every holder takes a reference; the buffer lives until the last one
 * lets go (a double free or a leak shows in the sanitizer build). */
Test(frame, references)
{
    sb_frame *f = frame_copy("x", 1);
    frame_ref(f);
    frame_ref(f);
    cr_assert_eq(f->refs, 3);
    frame_unref(f);
    frame_unref(f);
    cr_assert_eq(f->refs, 1);
    cr_assert_eq(frame_payload(f)[0], 'x');
    frame_unref(f);

    frame_ref(NULL);
    frame_unref(NULL);
    cr_assert_null(frame_adopt(NULL, 0));
}

Test(frame, server_messages)
{
    sb_frame *pong = frame_bare("pong");
    json_t *v = parse_payload(pong);
    cr_assert_str_eq(json_string_value(json_object_get(v, "type")), "pong");
    json_decref(v);
    frame_unref(pong);

    sb_frame *f = frame_error("Room is full");
    v = parse_payload(f);
    cr_assert_str_eq(json_string_value(json_object_get(v, "type")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(v, "message")), "Room is full");
    json_decref(v);
    frame_unref(f);

    f = frame_user_event("user-left", USER, ROOM);
    v = parse_payload(f);
    cr_assert_str_eq(json_string_value(json_object_get(v, "type")), "user-left");
    cr_assert_str_eq(json_string_value(json_object_get(v, "user_id")), USER);
    cr_assert_str_eq(json_string_value(json_object_get(v, "room_id")), ROOM);
    json_decref(v);
    frame_unref(f);
}

#define ORIGIN "node-a.example-1f2e3d"

static void assert_span(const char *p, size_t len, const char *expected)
{
    cr_assert_eq(len, strlen(expected), "'%.*s' vs '%s'", (int)len, p, expected);
    cr_assert_eq(memcmp(p, expected, len), 0, "'%.*s' vs '%s'", (int)len, p, expected);
}

/* What other nodes receive: the frame's payload bytes, unchanged, behind a
 * header naming this node, the event and its subject. */
Test(frame, envelope_carries_the_payload)
{
    const char data[] = "{\"type\":\"offer\",\"sdp\":0.1}";
    sb_frame *f = frame_copy(data, sizeof(data) - 1);
    size_t len = 0;
    char *buf = frame_envelope(f, ORIGIN, SB_ENV_MSG, USER, &len);
    cr_assert_not_null(buf);
    sb_envelope env;
    cr_assert_eq(sb_envelope_decode(buf, len, &env), 0);
    cr_assert_eq(env.event, SB_ENV_MSG);
    assert_span(env.origin, env.origin_len, ORIGIN);
    assert_span(env.subject, env.subject_len, USER);
    assert_span(env.payload, env.payload_len, data);
    free(buf);
    frame_unref(f);
}

Test(frame, member_envelopes)
{
    const struct {
        sb_env_event event;
        const char *type;
    } cases[] = {
        { SB_ENV_JOIN, "user-joined" },
        { SB_ENV_REJOIN, "user-joined" },
        { SB_ENV_LEAVE, "user-left" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        char *buf = frame_member_envelope(ORIGIN, cases[i].event, USER, ROOM, &len);
        cr_assert_not_null(buf);
        sb_envelope env;
        cr_assert_eq(sb_envelope_decode(buf, len, &env), 0);
        cr_assert_eq(env.event, cases[i].event);
        assert_span(env.origin, env.origin_len, ORIGIN);
        assert_span(env.subject, env.subject_len, USER);
        sb_frame *expected = frame_user_event(cases[i].type, USER, ROOM);
        assert_span(env.payload, env.payload_len, frame_payload(expected));
        frame_unref(expected);
        free(buf);
    }
}

/* A decoder of server frames as RFC 6455 5.2 reads them: FIN, opcode,
 * no mask, the length in 7, 16 or 64 bits. Returns the frame's size in
 * buf (0 when it is not one whole unmasked final text frame). */
static size_t read_server_frame(const unsigned char *buf, size_t len, const unsigned char **payload,
                                size_t *plen)
{
    if (len < 2 || buf[0] != 0x81 || (buf[1] & 0x80))
        return 0;
    size_t head = 2;
    uint64_t n = buf[1] & 0x7f;
    if (n == 126) {
        head = 4;
        n = len >= 4 ? (uint64_t)buf[2] << 8 | buf[3] : 0;
    } else if (n == 127) {
        head = 10;
        n = 0;
        for (size_t i = 0; i < 8 && len >= 10; i++)
            n = n << 8 | buf[2 + i];
    }
    if (len < head || len - head < n)
        return 0;
    *payload = buf + head;
    *plen = (size_t)n;
    return head + (size_t)n;
}

Test(frame, pack_writes_frames_back_to_back)
{
    /* Every length form and its edges: 7 bits up to 125, 16 up to 65535,
     * then 64. */
    static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
    enum { N = sizeof(lens) / sizeof(lens[0]) };
    sb_frame *frames[N];
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
        char *data = malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++)
            data[k] = (char)('a' + (i * 7 + k) % 26);
        frames[i] = frame_copy(data, lens[i]);
        free(data);
        cr_assert_not_null(frames[i]);
        total += lens[i] + FRAME_HEADER_MAX;
    }
    unsigned char *out = malloc(total);
    size_t used = 0;
    for (size_t i = 0; i < N; i++) {
        size_t w = frame_pack(frames[i], out + used, total - used);
        cr_assert_gt(w, lens[i], "frame %zu not packed", i);
        used += w;
    }
    /* Read back in order: each frame whole, its payload the frame's. */
    size_t at = 0;
    for (size_t i = 0; i < N; i++) {
        const unsigned char *p;
        size_t plen;
        size_t w = read_server_frame(out + at, used - at, &p, &plen);
        cr_assert_gt(w, 0, "frame %zu is not a whole server frame", i);
        cr_assert_eq(plen, lens[i], "frame %zu: length %zu, want %zu", i, plen, lens[i]);
        cr_assert_eq(memcmp(p, frame_payload(frames[i]), plen), 0, "frame %zu: payload differs", i);
        at += w;
    }
    cr_assert_eq(at, used, "bytes after the last frame");
    free(out);
    for (size_t i = 0; i < N; i++)
        frame_unref(frames[i]);
}

Test(frame, pack_refuses_what_does_not_fit)
{
    sb_frame *f = frame_copy("{\"type\":\"pong\"}", 15);
    unsigned char out[32];
    memset(out, 0xee, sizeof(out));
    cr_assert_eq(frame_pack(f, out, 16), 0, "a 17-byte frame in 16 bytes");
    cr_assert_eq(frame_pack(f, out, 1), 0);
    cr_assert_eq(frame_pack(f, out, 0), 0);
    cr_assert_eq(out[0], 0xee, "a refused frame wrote nothing");
    cr_assert_eq(frame_pack(f, out, 17), 17, "exactly its size fits");
    frame_unref(f);
}
