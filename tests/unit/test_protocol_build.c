/*
 * test_protocol_build.c - the messages the server sends.
 *
 * Each builder's output is checked twice: byte for byte where the exact
 * compact form is part of what clients see, and by parsing it back, so a
 * wrong escape or a missing field fails either way. Headroom is checked by
 * writing over it: AddressSanitizer would catch a buffer that does not
 * really reserve it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define ROOM "123e4567-e89b-42d3-a456-426614174000"
#define SENDER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"
#define TARGET "0c6f1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
#define HEADROOM 16

/* The payload of a built buffer, after checking its layout: `headroom`
 * writable bytes, then `len` bytes of payload, then a NUL. */
static const char *payload_of(char *buf, size_t headroom, size_t len)
{
    cr_assert_not_null(buf);
    memset(buf, 0xAB, headroom);
    cr_assert_eq(buf[headroom + len], '\0', "payload not NUL-terminated");
    cr_assert_eq(strlen(buf + headroom), len, "length excludes or includes extra bytes");
    return buf + headroom;
}

static json_t *parse_back(const char *payload, size_t len)
{
    json_error_t err;
    json_t *obj = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(obj, "output is not JSON (%s): %.*s", err.text, (int)len, payload);
    return obj;
}

static const char *field(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static sb_client_msg parse_client(const char *text)
{
    sb_client_msg m;
    const char *error = NULL;
    cr_assert_eq(sb_protocol_parse_client(text, strlen(text), ROOM, &m, &error), 0, "%s",
                 error ? error : "");
    return m;
}

/* ---- sb_json_dump_headroom --------------------------------------------- */

Test(build, dump_is_compact_with_headroom)
{
    json_t *obj = json_pack("{s:s, s:[i,i], s:{s:b}}", "a", "x", "b", 1, 2, "c", "d", 1);
    size_t len = 0;
    char *buf = sb_json_dump_headroom(obj, HEADROOM, &len);
    const char *p = payload_of(buf, HEADROOM, len);
    cr_assert_str_eq(p, "{\"a\":\"x\",\"b\":[1,2],\"c\":{\"d\":true}}");
    free(buf);
    json_decref(obj);
}

Test(build, dump_without_headroom)
{
    json_t *obj = json_pack("{s:s}", "type", "pong");
    size_t len = 0;
    char *buf = sb_json_dump_headroom(obj, 0, &len);
    cr_assert_str_eq(payload_of(buf, 0, len), "{\"type\":\"pong\"}");
    free(buf);
    json_decref(obj);
}

Test(build, dump_scalars_and_arrays)
{
    json_t *arr = json_pack("[s,n,f]", "a", 0.5);
    size_t len = 0;
    char *buf = sb_json_dump_headroom(arr, 4, &len);
    cr_assert_str_eq(payload_of(buf, 4, len), "[\"a\",null,0.5]");
    free(buf);
    json_decref(arr);

    json_t *n = json_integer(-42);
    buf = sb_json_dump_headroom(n, 4, &len);
    cr_assert_str_eq(payload_of(buf, 4, len), "-42");
    free(buf);
    json_decref(n);
}

Test(build, dump_large_value_grows_buffer)
{
    enum { N = 300000 };
    char *big = malloc(N + 1);
    cr_assert_not_null(big);
    for (int i = 0; i < N; i++)
        big[i] = (char)('a' + i % 26);
    big[N] = '\0';
    json_t *obj = json_pack("{s:s}", "data", big);
    size_t len = 0;
    char *buf = sb_json_dump_headroom(obj, 64, &len);
    const char *p = payload_of(buf, 64, len);
    cr_assert_eq(len, N + strlen("{\"data\":\"\"}"));
    json_t *back = parse_back(p, len);
    cr_assert_str_eq(field(back, "data"), big);
    json_decref(back);
    json_decref(obj);
    free(buf);
    free(big);
}

Test(build, dump_null_is_refused)
{
    size_t len = 7;
    cr_assert_null(sb_json_dump_headroom(NULL, HEADROOM, &len));
}

/* ---- relay ------------------------------------------------------------- */

Test(build, relay_sets_sender_and_room)
{
    sb_client_msg m =
        parse_client("{\"type\":\"offer\",\"data\":{\"sdp\":\"v=0\\r\\n\",\"n\":[1,2]}}");
    size_t len = 0;
    char *buf = sb_protocol_build_relay(&m, ROOM, SENDER, HEADROOM, &len);
    json_t *out = parse_back(payload_of(buf, HEADROOM, len), len);
    cr_assert_str_eq(field(out, "type"), "offer");
    cr_assert_str_eq(field(out, "room_id"), ROOM);
    cr_assert_str_eq(field(out, "sender_id"), SENDER);
    cr_assert(json_equal(json_object_get(out, "data"), json_object_get(m.root, "data")));
    cr_assert_null(json_object_get(out, "to"));
    cr_assert_eq(json_object_size(out), 4);
    json_decref(out);
    free(buf);
    sb_client_msg_clear(&m);
}

Test(build, relay_overrides_spoofed_sender)
{
    sb_client_msg m = parse_client("{\"type\":\"answer\",\"sender_id\":\"someone-else\","
                                   "\"room_id\":\"" ROOM "\",\"data\":1}");
    size_t len = 0;
    char *buf = sb_protocol_build_relay(&m, ROOM, SENDER, HEADROOM, &len);
    json_t *out = parse_back(payload_of(buf, HEADROOM, len), len);
    cr_assert_str_eq(field(out, "sender_id"), SENDER);
    cr_assert_str_eq(field(out, "room_id"), ROOM);
    cr_assert_eq(json_object_size(out), 4);
    json_decref(out);
    free(buf);
    /* The parsed message itself is left as the client sent it. */
    cr_assert_str_eq(field(m.root, "sender_id"), "someone-else");
    sb_client_msg_clear(&m);
}

Test(build, relay_keeps_to_and_unknown_fields)
{
    sb_client_msg m = parse_client("{\"type\":\"ice-candidate\",\"to\":\"" TARGET "\","
                                   "\"data\":{\"candidate\":\"c\",\"sdpMLineIndex\":0},"
                                   "\"extra\":[\"\xc3\xa9\",9223372036854775807]}");
    size_t len = 0;
    char *buf = sb_protocol_build_relay(&m, ROOM, SENDER, HEADROOM, &len);
    json_t *out = parse_back(payload_of(buf, HEADROOM, len), len);
    cr_assert_str_eq(field(out, "to"), TARGET);
    cr_assert(json_equal(json_object_get(out, "extra"), json_object_get(m.root, "extra")));
    cr_assert(json_equal(json_object_get(out, "data"), json_object_get(m.root, "data")));
    json_decref(out);
    free(buf);
    sb_client_msg_clear(&m);
}

/* Without sender_id or room_id from the client, the server's two keys are
 * put in front of the client's own bytes, which pass unchanged. */
Test(build, relay_splices_ids_before_the_client_bytes)
{
    const char *sent = "  {\"type\":\"offer\", \"data\":{\"a\":1.5e3,\"s\":\"\\u00e9\"}}";
    sb_client_msg m = parse_client(sent);
    size_t len = 0;
    char *buf = sb_protocol_build_relay(&m, ROOM, SENDER, HEADROOM, &len);
    const char *want = "{\"sender_id\":\"" SENDER "\",\"room_id\":\"" ROOM
                       "\",\"type\":\"offer\", \"data\":{\"a\":1.5e3,\"s\":\"\\u00e9\"}}";
    cr_assert_str_eq(payload_of(buf, HEADROOM, len), want);
    cr_assert_eq(len, strlen(want));
    json_decref(parse_back(payload_of(buf, HEADROOM, len), len));
    free(buf);
    sb_client_msg_clear(&m);
}

/* A client that sent either key has that member cut from its bytes, and
 * the server's values go in front (more cases in test_relay_bytes.c). */
Test(build, relay_overwrites_client_ids)
{
    sb_client_msg m =
        parse_client("{\"type\":\"offer\",\"sender_id\":\"evil\",\"data\":{\"a\":1}}");
    size_t len = 0;
    char *buf = sb_protocol_build_relay(&m, ROOM, SENDER, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"sender_id\":\"" SENDER "\",\"room_id\":\"" ROOM
                     "\",\"type\":\"offer\",\"data\":{\"a\":1}}");
    free(buf);
    sb_client_msg_clear(&m);
}

Test(build, relay_refuses_missing_ids)
{
    sb_client_msg m = parse_client("{\"type\":\"offer\"}");
    size_t len;
    cr_assert_null(sb_protocol_build_relay(&m, NULL, SENDER, HEADROOM, &len));
    cr_assert_null(sb_protocol_build_relay(&m, ROOM, NULL, HEADROOM, &len));
    cr_assert_null(sb_protocol_build_relay(NULL, ROOM, SENDER, HEADROOM, &len));
    sb_client_msg_clear(&m);
}

/* ---- server messages --------------------------------------------------- */

Test(build, connected_exact)
{
    const char *others[] = { TARGET, SENDER };
    size_t len = 0;
    char *buf = sb_protocol_build_connected("u1", ROOM, others, 2, "node-a", NULL, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"type\":\"connected\",\"user_id\":\"u1\",\"room_id\":\"" ROOM "\","
                     "\"message\":\"Successfully connected to room\",\"participants\":[\"" TARGET
                     "\",\"" SENDER "\"],\"node_id\":\"node-a\"}");
    free(buf);
}

Test(build, connected_with_resume)
{
    size_t len = 0;
    sb_connected_resume r = { "tok", true, false };
    char *buf = sb_protocol_build_connected("u1", ROOM, NULL, 0, "n", &r, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"type\":\"connected\",\"user_id\":\"u1\",\"room_id\":\"" ROOM "\","
                     "\"message\":\"Successfully connected to room\",\"participants\":[],"
                     "\"node_id\":\"n\",\"resume_token\":\"tok\",\"resumed\":true}");
    free(buf);
    r.resumed = false;
    r.missed = true;
    buf = sb_protocol_build_connected("u1", ROOM, NULL, 0, "n", &r, HEADROOM, &len);
    cr_assert(strstr(payload_of(buf, HEADROOM, len), "\"resumed\":false,\"missed\":true}"));
    free(buf);
}

Test(build, connected_parses_back)
{
    const char *others[] = { "a", "b", "c" };
    size_t len = 0;
    char *buf = sb_protocol_build_connected(SENDER, ROOM, others, 3, "n\"1", NULL, HEADROOM, &len);
    json_t *out = parse_back(payload_of(buf, HEADROOM, len), len);
    cr_assert_str_eq(field(out, "type"), "connected");
    cr_assert_str_eq(field(out, "user_id"), SENDER);
    cr_assert_str_eq(field(out, "room_id"), ROOM);
    cr_assert_str_eq(field(out, "message"), "Successfully connected to room");
    cr_assert_str_eq(field(out, "node_id"), "n\"1");
    json_t *list = json_object_get(out, "participants");
    cr_assert_eq(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(json_string_value(json_array_get(list, i)), others[i]);
    }
    cr_assert_eq(json_object_size(out), 6);
    json_decref(out);
    free(buf);
}

Test(build, connected_alone_has_empty_list)
{
    size_t len = 0;
    char *buf = sb_protocol_build_connected(SENDER, ROOM, NULL, 0, "n", NULL, 0, &len);
    json_t *out = parse_back(payload_of(buf, 0, len), len);
    json_t *list = json_object_get(out, "participants");
    cr_assert(json_is_array(list));
    cr_assert_eq(json_array_size(list), 0);
    json_decref(out);
    free(buf);
}

Test(build, connected_refuses_bad_input)
{
    const char *with_null[] = { "a", NULL };
    size_t len;
    cr_assert_null(sb_protocol_build_connected(SENDER, ROOM, with_null, 2, "n", NULL, 0, &len));
    cr_assert_null(sb_protocol_build_connected(SENDER, ROOM, NULL, 1, "n", NULL, 0, &len));
    cr_assert_null(sb_protocol_build_connected(NULL, ROOM, NULL, 0, "n", NULL, 0, &len));
    cr_assert_null(sb_protocol_build_connected(SENDER, ROOM, NULL, 0, NULL, NULL, 0, &len));
}

Test(build, user_events_exact)
{
    size_t len = 0;
    char *buf = sb_protocol_build_user_event("user-joined", SENDER, ROOM, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"type\":\"user-joined\",\"user_id\":\"" SENDER "\",\"room_id\":\"" ROOM
                     "\"}");
    free(buf);
    buf = sb_protocol_build_user_event("user-left", SENDER, ROOM, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len), "{\"type\":\"user-left\",\"user_id\":\"" SENDER
                                                     "\",\"room_id\":\"" ROOM "\"}");
    free(buf);
}

Test(build, member_event_with_a_profile)
{
    size_t len = 0;
    json_t *profile = json_pack("{s:s,s:s,s:{s:i}}", "identity", "alice", "name", "Al\"ice",
                                "metadata", "seat", 3);
    char *buf =
        sb_protocol_build_member_event("user-joined", SENDER, ROOM, profile, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"type\":\"user-joined\",\"user_id\":\"" SENDER "\",\"room_id\":\"" ROOM
                     "\",\"identity\":\"alice\",\"name\":\"Al\\\"ice\",\"metadata\":{\"seat\":3}}");
    free(buf);
    /* A profile cannot overwrite the server's own members. */
    json_t *spoof = json_pack("{s:s,s:s}", "identity", "x", "user_id", "mallory");
    buf = sb_protocol_build_member_event("user-joined", SENDER, ROOM, spoof, HEADROOM, &len);
    json_t *back = parse_back(payload_of(buf, HEADROOM, len), len);
    cr_assert_str_eq(field(back, "user_id"), SENDER);
    json_decref(back);
    json_decref(spoof);
    free(buf);
    json_decref(profile);
}

Test(build, connected_with_participant_objects)
{
    size_t len = 0;
    json_t *list = json_pack("[{s:s,s:s}]", "user_id", TARGET, "identity", "bob");
    char *buf =
        sb_protocol_build_connected_list(SENDER, ROOM, list, "node-a", NULL, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"type\":\"connected\",\"user_id\":\"" SENDER "\",\"room_id\":\"" ROOM
                     "\",\"message\":\"Successfully connected to room\",\"participants\":[{"
                     "\"user_id\":\"" TARGET "\",\"identity\":\"bob\"}],\"node_id\":\"node-a\"}");
    free(buf);
    cr_assert_null(sb_protocol_build_connected_list(SENDER, ROOM, NULL, "n", NULL, 0, &len));
    json_decref(list);
}

Test(build, error_exact_and_escaped)
{
    size_t len = 0;
    char *buf = sb_protocol_build_error(SB_ERR_ROOM_FULL, HEADROOM, &len);
    cr_assert_str_eq(payload_of(buf, HEADROOM, len),
                     "{\"type\":\"error\",\"message\":\"Room is full\"}");
    free(buf);

    buf = sb_protocol_build_error(SB_ERR_BAD_TO, HEADROOM, &len);
    json_t *out = parse_back(payload_of(buf, HEADROOM, len), len);
    cr_assert_str_eq(field(out, "message"), "'to' must be a user id string");
    json_decref(out);
    free(buf);

    buf = sb_protocol_build_error("say \"hi\"\n\\", 0, &len);
    out = parse_back(payload_of(buf, 0, len), len);
    cr_assert_str_eq(field(out, "message"), "say \"hi\"\n\\");
    json_decref(out);
    free(buf);
}

Test(build, bare_messages_exact)
{
    const char *types[] = { "pong", "reconnect", "room-closed" };
    for (size_t i = 0; i < 3; i++) {
        size_t len = 0;
        char expected[64];
        snprintf(expected, sizeof(expected), "{\"type\":\"%s\"}", types[i]);
        char *buf = sb_protocol_build_bare(types[i], HEADROOM, &len);
        cr_assert_str_eq(payload_of(buf, HEADROOM, len), expected);
        cr_assert_eq(len, strlen(expected));
        free(buf);
    }
}

Test(build, builders_refuse_invalid_utf8)
{
    size_t len;
    cr_assert_null(sb_protocol_build_error("bad \xff byte", 0, &len));
    cr_assert_null(sb_protocol_build_bare(NULL, 0, &len));
    cr_assert_null(sb_protocol_build_user_event("user-left", "\xc3", ROOM, 0, &len));
}
