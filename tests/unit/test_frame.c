/*
 * test_frame.c - shared outgoing frames, linked alone (node_core).
 *
 * A frame's payload sits LWS_PRE bytes into its buffer so lws can write
 * the WebSocket header in front of it; only the constant comes from lws.
 */
#include <criterion/criterion.h>
#include <jansson.h>
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
