/*
 * test_protocol_parse.c - which client messages are accepted, and with
 * which error the others are refused.
 *
 * Refusals are checked by their exact error text (clients match on them)
 * and the order of checks is pinned down by messages with several faults.
 * Inputs are copied into exactly-sized heap buffers without a NUL, so a
 * parser that read past `len` would trip AddressSanitizer.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define ROOM "123e4567-e89b-42d3-a456-426614174000"
#define OTHER_ROOM "223e4567-e89b-42d3-a456-426614174000"
#define USER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"

typedef struct {
    int rc;
    const char *error;
    sb_client_msg msg;
} parse_result;

static parse_result parse_len(const char *text, size_t len) {
    parse_result r;
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, text, len);
    r.rc = sb_protocol_parse_client(copy, len, ROOM, &r.msg, &r.error);
    free(copy);
    return r;
}

static parse_result parse(const char *text) {
    return parse_len(text, strlen(text));
}

static void assert_refused(const char *text, const char *expected) {
    parse_result r = parse(text);
    cr_assert_eq(r.rc, -1, "accepted %s", text);
    cr_assert_not_null(r.error, "no error for %s", text);
    cr_assert_str_eq(r.error, expected, "for %s", text);
    cr_assert_null(r.msg.root, "msg not empty after refusing %s", text);
    cr_assert_null(r.msg.type);
    cr_assert_null(r.msg.to);
}

/* Accepts `text` and returns the message; caller clears it. */
static sb_client_msg accept(const char *text) {
    parse_result r = parse(text);
    cr_assert_eq(r.rc, 0, "refused %s with '%s'", text, r.error ? r.error : "(null)");
    cr_assert_null(r.error);
    cr_assert_not_null(r.msg.root);
    cr_assert_not_null(r.msg.type);
    return r.msg;
}

/* ---- accepted shapes ---------------------------------------------------- */

Test(parse, offer_with_nested_sdp) {
    sb_client_msg m = accept("{\"type\":\"offer\",\"data\":{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n"
                             "o=- 46117317 2 IN IP4 127.0.0.1\\r\\n\"}}");
    cr_assert_eq(m.kind, SB_MSG_RELAY);
    cr_assert_str_eq(m.type, "offer");
    cr_assert_null(m.to);
    json_t *sdp = json_object_get(json_object_get(m.root, "data"), "sdp");
    cr_assert_str_eq(json_string_value(sdp), "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\n");
    sb_client_msg_clear(&m);
    cr_assert_null(m.root);
}

Test(parse, seed_message_types) {
    const char *types[] = { "offer", "answer", "ice-candidate", "join", "leave", "chat" };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"data\":null}", types[i]);
        sb_client_msg m = accept(buf);
        cr_assert_eq(m.kind, SB_MSG_RELAY);
        cr_assert_str_eq(m.type, types[i]);
        sb_client_msg_clear(&m);
    }
}

Test(parse, ice_candidate_numbers_and_arrays) {
    sb_client_msg m = accept(
        "{\"type\":\"ice-candidate\",\"data\":{\"candidate\":\"candidate:1 1 udp 2122260223 "
        "10.0.0.1 54321 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"list\":[1,2.5,"
        "\"x\",[true,false,null],{}]}}");
    json_t *data = json_object_get(m.root, "data");
    cr_assert_eq(json_integer_value(json_object_get(data, "sdpMLineIndex")), 0);
    json_t *list = json_object_get(data, "list");
    cr_assert_eq(json_array_size(list), 5);
    cr_assert_float_eq(json_real_value(json_array_get(list, 1)), 2.5, 1e-12);
    cr_assert(json_is_null(json_array_get(json_array_get(list, 3), 2)));
    sb_client_msg_clear(&m);
}

Test(parse, unicode_type_and_data) {
    sb_client_msg m = accept("{\"type\":\"caf\xc3\xa9\",\"data\":\"\\ud83d\\ude00 \xe6\x97\xa5\"}");
    cr_assert_str_eq(m.type, "caf\xc3\xa9");
    cr_assert_str_eq(json_string_value(json_object_get(m.root, "data")),
                     "\xf0\x9f\x98\x80 \xe6\x97\xa5");
    sb_client_msg_clear(&m);
}

Test(parse, numbers_within_range) {
    sb_client_msg m = accept("{\"type\":\"n\",\"big\":9223372036854775807,"
                             "\"small\":-9223372036854775808,\"real\":1.7976931348623157e308,"
                             "\"tiny\":4.9e-324}");
    cr_assert_eq(json_integer_value(json_object_get(m.root, "big")), INT64_MAX);
    cr_assert_eq(json_integer_value(json_object_get(m.root, "small")), INT64_MIN);
    cr_assert_gt(json_real_value(json_object_get(m.root, "real")), 1e308);
    sb_client_msg_clear(&m);
}

Test(parse, deep_nesting) {
    enum { DEPTH = 200 };
    char buf[32 + 2 * DEPTH * 6];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"type\":\"deep\",\"data\":");
    for (int i = 0; i < DEPTH; i++) n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[");
    for (int i = 0; i < DEPTH; i++) n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]");
    snprintf(buf + n, sizeof(buf) - n, "}");
    sb_client_msg m = accept(buf);
    sb_client_msg_clear(&m);
}

Test(parse, whitespace_and_key_order_do_not_matter) {
    sb_client_msg m = accept(" \n\t{ \"data\" : 1 ,\r\n \"type\" : \"offer\" } \n");
    cr_assert_str_eq(m.type, "offer");
    sb_client_msg_clear(&m);
}

Test(parse, matching_room_id_is_fine) {
    sb_client_msg m = accept("{\"type\":\"offer\",\"room_id\":\"" ROOM "\"}");
    cr_assert_eq(m.kind, SB_MSG_RELAY);
    sb_client_msg_clear(&m);
}

Test(parse, directed_message_sets_to) {
    sb_client_msg m = accept("{\"type\":\"offer\",\"to\":\"" USER "\",\"data\":{}}");
    cr_assert_not_null(m.to);
    cr_assert_str_eq(m.to, USER);
    sb_client_msg_clear(&m);
}

Test(parse, null_to_means_everyone) {
    sb_client_msg m = accept("{\"type\":\"offer\",\"to\":null}");
    cr_assert_null(m.to);
    sb_client_msg_clear(&m);
}

Test(parse, ping_is_not_relayed) {
    sb_client_msg m = accept("{\"type\":\"ping\"}");
    cr_assert_eq(m.kind, SB_MSG_PING);
    sb_client_msg_clear(&m);
    m = accept("{\"type\":\"ping\",\"data\":{\"t\":1},\"room_id\":\"" ROOM "\"}");
    cr_assert_eq(m.kind, SB_MSG_PING);
    sb_client_msg_clear(&m);
    /* Types are case-sensitive. */
    m = accept("{\"type\":\"PING\"}");
    cr_assert_eq(m.kind, SB_MSG_RELAY);
    sb_client_msg_clear(&m);
}

Test(parse, reserved_names_are_case_sensitive) {
    sb_client_msg m = accept("{\"type\":\"Connected\"}");
    cr_assert_str_eq(m.type, "Connected");
    sb_client_msg_clear(&m);
    m = accept("{\"type\":\"error \"}");
    sb_client_msg_clear(&m);
}

Test(parse, reads_only_len_bytes) {
    const char *text = "{\"type\":\"offer\"}garbage";
    parse_result r = parse_len(text, strlen("{\"type\":\"offer\"}"));
    cr_assert_eq(r.rc, 0);
    cr_assert_str_eq(r.msg.type, "offer");
    sb_client_msg_clear(&r.msg);
}

Test(parse, clear_is_idempotent) {
    sb_client_msg m = accept("{\"type\":\"x\"}");
    sb_client_msg_clear(&m);
    sb_client_msg_clear(&m);
    sb_client_msg_clear(NULL);
    cr_assert_null(m.root);
}

/* ---- refusals ----------------------------------------------------------- */

Test(parse, invalid_json) {
    const char *bad[] = {
        "", " ", "{", "}", "not json", "{'type':'offer'}", "{\"type\":\"offer\"} x",
        "{\"type\":\"offer\"}{\"type\":\"offer\"}", "{\"type\":\"offer\",}", "{\"type\" \"offer\"}",
        "{type:\"offer\"}", "[1,2", "\"unterminated", "{\"type\":\"a\\u0000b\"}",
        "{\"type\":\"bad utf8 \xc3\x28\"}", "{\"type\":\"lone \\ud800 surrogate\"}",
        "{\"type\":\"offer\",\"type\":\"answer\"}", "{\"type\":\"x\",\"n\":18446744073709551616}",
        "{\"type\":\"x\",\"n\":1e400}", "{\"type\":\"x\",\"n\":NaN}", "{\"type\":\"x\",\"n\":01}",
        "\xef\xbb\xbf{\"type\":\"bom\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i], SB_ERR_INVALID_JSON);
    }
}

Test(parse, embedded_nul_byte_is_invalid) {
    const char text[] = "{\"type\":\"of\0fer\"}";
    parse_result r = parse_len(text, sizeof(text) - 1);
    cr_assert_eq(r.rc, -1);
    cr_assert_str_eq(r.error, SB_ERR_INVALID_JSON);
}

/* jansson reads one NUL byte right after a number or a literal as if it
 * were not there; these must not pass as objects and be relayed, NUL and
 * all, to clients whose parsers refuse them. */
Test(parse, nul_byte_after_a_scalar_is_invalid) {
    static const char after_number[] = "{\"type\":\"offer\",\"n\":1\0}";
    static const char after_literal[] = "{\"type\":\"offer\",\"t\":true\0}";
    static const char in_array[] = "{\"type\":\"offer\",\"a\":[1\0,null\0]}";
    static const char at_the_end[] = "{\"type\":\"offer\"}\0";
    const struct {
        const char *text;
        size_t len;
    } cases[] = { { after_number, sizeof(after_number) - 1 },
                  { after_literal, sizeof(after_literal) - 1 },
                  { in_array, sizeof(in_array) - 1 },
                  { at_the_end, sizeof(at_the_end) - 1 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parse_result r = parse_len(cases[i].text, cases[i].len);
        cr_assert_eq(r.rc, -1, "case %zu accepted", i);
        cr_assert_str_eq(r.error, SB_ERR_INVALID_JSON, "case %zu", i);
        cr_assert_null(r.msg.root);
    }
}

Test(parse, non_objects) {
    const char *bad[] = { "[]", "[{\"type\":\"offer\"}]", "\"offer\"", "42", "-1.5", "true",
                          "false", "null" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i], SB_ERR_NOT_OBJECT);
    }
}

Test(parse, bad_type) {
    const char *bad[] = {
        "{}", "{\"data\":\"offer\"}", "{\"type\":null}", "{\"type\":1}", "{\"type\":\"\"}",
        "{\"type\":{}}", "{\"type\":[\"offer\"]}", "{\"type\":true}", "{\"Type\":\"offer\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i], SB_ERR_BAD_TYPE);
    }
}

Test(parse, reserved_types_one_by_one) {
    const char *reserved[] = { "connected", "user-joined", "user-left", "error", "room-closed",
                               "reconnect", "pong" };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"data\":{}}", reserved[i]);
        assert_refused(buf, SB_ERR_RESERVED_TYPE);
        cr_assert(sb_protocol_type_is_reserved(reserved[i]));
    }
    cr_assert_not(sb_protocol_type_is_reserved("offer"));
    cr_assert_not(sb_protocol_type_is_reserved("ping"));
    cr_assert_not(sb_protocol_type_is_reserved("Pong"));
    cr_assert_not(sb_protocol_type_is_reserved(""));
    cr_assert_not(sb_protocol_type_is_reserved(NULL));
}

Test(parse, room_mismatch) {
    const char *bad[] = {
        "{\"type\":\"offer\",\"room_id\":\"" OTHER_ROOM "\"}",
        "{\"type\":\"offer\",\"room_id\":null}",
        "{\"type\":\"offer\",\"room_id\":\"\"}",
        "{\"type\":\"offer\",\"room_id\":42}",
        "{\"type\":\"offer\",\"room_id\":[\"" ROOM "\"]}",
        "{\"type\":\"offer\",\"room_id\":\"123E4567-E89B-42D3-A456-426614174000\"}",
        "{\"type\":\"offer\",\"room_id\":\"" ROOM " \"}",
        "{\"type\":\"offer\",\"room_id\":\"123e4567-e89b-42d3-a456-42661417400\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i], SB_ERR_ROOM_MISMATCH);
    }
}

Test(parse, bad_to) {
    const char *bad[] = {
        "{\"type\":\"offer\",\"to\":\"\"}",   "{\"type\":\"offer\",\"to\":1}",
        "{\"type\":\"offer\",\"to\":{}}",     "{\"type\":\"offer\",\"to\":[\"" USER "\"]}",
        "{\"type\":\"offer\",\"to\":true}",   "{\"type\":\"offer\",\"to\":false}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i], SB_ERR_BAD_TO);
    }
}

Test(parse, refusal_order) {
    /* Each message has several faults; the earliest check decides. */
    assert_refused("[{\"type\":\"connected\"}]", SB_ERR_NOT_OBJECT);
    assert_refused("{\"type\":1,\"room_id\":\"x\",\"to\":1}", SB_ERR_BAD_TYPE);
    assert_refused("{\"type\":\"error\",\"room_id\":\"x\",\"to\":1}", SB_ERR_RESERVED_TYPE);
    assert_refused("{\"type\":\"offer\",\"room_id\":\"x\",\"to\":1}", SB_ERR_ROOM_MISMATCH);
    assert_refused("{\"type\":\"ping\",\"room_id\":\"x\"}", SB_ERR_ROOM_MISMATCH);
    assert_refused("{\"type\":\"ping\",\"to\":\"\"}", SB_ERR_BAD_TO);
}

Test(parse, no_room_on_connection_refuses_any_room_id) {
    sb_client_msg m;
    const char *error = NULL;
    const char *text = "{\"type\":\"offer\",\"room_id\":\"" ROOM "\"}";
    cr_assert_eq(sb_protocol_parse_client(text, strlen(text), NULL, &m, &error), -1);
    cr_assert_str_eq(error, SB_ERR_ROOM_MISMATCH);
}
