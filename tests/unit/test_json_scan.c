/*
 * test_json_scan.c - the one-pass validator against jansson at the edges
 * where the two could part: depth, number range, escapes, repeated keys,
 * and the top-level members it finds.
 *
 * Every verdict is checked against jansson on the same bytes
 * (json_loadb with JSON_DECODE_ANY | JSON_REJECT_DUPLICATES), so the
 * expected answer is never written by hand twice.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "protocol.h"

static bool jansson_accepts(const char *text, size_t len)
{
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    json_decref(doc);
    return doc != NULL && memchr(text, '\0', len) == NULL;
}

/* The scanner's verdict on an exactly-sized copy, checked against jansson
 * and against what the test expects of both. */
static void expect_len(const char *text, size_t len, bool valid)
{
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, text, len);
    sb_json_top top;
    sb_json_verdict v = sb_json_scan(copy, len, &top);
    cr_assert_eq(jansson_accepts(copy, len), valid, "jansson on %.80s", text);
    cr_assert_eq(v, valid ? SB_JSON_VALID : SB_JSON_INVALID, "scanner on %.80s: %d", text, v);
    free(copy);
}

static void expect(const char *text, bool valid)
{
    expect_len(text, strlen(text), valid);
}

Test(json_scan, scalars_and_whitespace)
{
    expect("0", true);
    expect(" \t\r\n\"x\" ", true);
    expect("true", true);
    expect("nul", false);
    expect("truex", false);
    expect("", false);
    expect("  ", false);
    expect("{} x", false);
    expect("{\"a\":1,}", false);
    expect("[1,]", false);
    expect("{\"a\" 1}", false);
    expect("\xef\xbb\xbf{}", false); /* a byte order mark is not JSON */
}

Test(json_scan, numbers_at_jansson_limits)
{
    expect("9223372036854775807", true);
    expect("9223372036854775808", false);
    expect("-9223372036854775808", true);
    expect("-9223372036854775809", false);
    expect("12345678901234567890", false);
    expect("-0", true);
    expect("01", false);
    expect("-", false);
    expect("1.", false);
    expect(".5", false);
    expect("1e", false);
    expect("1e+", false);
    expect("1E-5", true);
    expect("1.7976931348623157e308", true);
    expect("1.8e308", false);
    expect("-1e309", false);
    expect("4.9e-324", true);
    expect("1e-400", true); /* underflow is not refused */
    char big[400];
    memset(big, '9', 309);
    strcpy(big + 309, ".0");
    expect(big, false);
    memset(big, '1', 308);
    strcpy(big + 308, ".5");
    expect(big, true);
}

Test(json_scan, strings_and_escapes)
{
    expect("\"\\ud83d\\ude00\"", true);
    expect("\"\\ud83d\"", false);
    expect("\"\\ude00\"", false);
    expect("\"\\ud83d\\u0041\"", false);
    expect("\"\\u0000\"", false);
    expect("{\"\\u0000\":1}", false);
    expect("\"\\x\"", false);
    expect("\"\\u12G4\"", false);
    expect("\"a\tb\"", false);
    expect("\"caf\xc3\xa9\"", true);
    expect("\"\xc0\xaf\"", false);         /* overlong */
    expect("\"\xed\xa0\x80\"", false);     /* an encoded surrogate */
    expect("\"\xf4\x90\x80\x80\"", false); /* beyond U+10FFFF */
    expect("\"\xe6\x97\"", false);         /* cut short */
    expect_len("{\"a\":1\0}", 8, false);   /* a raw NUL, which jansson skips */
    expect_len("1\0", 2, false);
}

/* Strings are skipped eight bytes at a time while every byte is plain: a
 * byte that needs a look, at every place in and around such a block of a
 * long string, ends the skip at that byte. */
Test(json_scan, a_byte_to_look_at_anywhere_in_a_long_string)
{
    static const struct {
        const char *bytes;
        bool valid;
    } odd[] = {
        { "\\n", true },     { "\\q", false }, { "\x01", false },   { "\x1f", false },
        { "\xc3\xa9", true }, { "\xff", false }, { "\x7f", true },    { " ", true },
        { "\x21\x23", true }, { "\x5b\x5d", true }, { "\x22,\"", false },
    };
    char text[64];
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
        for (size_t at = 0; at < 20; at++) {
            size_t n = (size_t)snprintf(text, sizeof(text), "{\"type\":\"%.*s%s%.*s\"}", (int)at,
                                        "aaaaaaaaaaaaaaaaaaaaaaa", odd[k].bytes, (int)(19 - at),
                                        "aaaaaaaaaaaaaaaaaaaaaaa");
            expect_len(text, n, odd[k].valid);
        }
}

Test(json_scan, repeated_keys_in_any_object_and_spelling)
{
    expect("{\"a\":1,\"a\":2}", false);
    expect("{\"a\":1,\"\\u0061\":2}", false);
    expect("{\"x\":{\"a\":1,\"b\":{\"a\":3},\"a\":2}}", false);
    expect("{\"x\":{\"a\":1},\"y\":{\"a\":1},\"a\":1}", true);
    expect("[{\"a\":1},{\"a\":1}]", true);
    expect("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", false);
}

static void nest(char *buf, int depth, const char *inner)
{
    size_t n = 0;
    for (int i = 0; i < depth; i++)
        buf[n++] = '[';
    n += (size_t)sprintf(buf + n, "%s", inner);
    for (int i = 0; i < depth; i++)
        buf[n++] = ']';
    buf[n] = '\0';
}

Test(json_scan, depth_at_jansson_limit)
{
    static char buf[2 * SB_JSON_MAX_DEPTH + 16];
    nest(buf, SB_JSON_MAX_DEPTH, "");
    expect(buf, true);
    nest(buf, SB_JSON_MAX_DEPTH + 1, "");
    expect(buf, false);
    nest(buf, SB_JSON_MAX_DEPTH - 1, "1");
    expect(buf, true);
    nest(buf, SB_JSON_MAX_DEPTH, "1");
    expect(buf, false);
}

Test(json_scan, top_level_members)
{
    const char *text = "{\"t\\u0079pe\":\"of\\u0066er\",\"data\":{\"to\":1},\"to\":null,"
                       "\"room_id\":[1,{\"a\":2}],\"sender_id\" : 5 }";
    sb_json_top top;
    cr_assert_eq(sb_json_scan(text, strlen(text), &top), SB_JSON_VALID);
    cr_assert_eq(top.kind, '{');
    char out[32];
    cr_assert_eq(top.type.kind, '"');
    cr_assert_eq(sb_json_unescape(&top.type, out), 5);
    cr_assert_str_eq(out, "offer");
    cr_assert_eq(top.to.kind, 'n');
    cr_assert_eq(top.room_id.kind, 'v');
    cr_assert_eq(top.room_id.len, strlen("[1,{\"a\":2}]"));
    cr_assert(memcmp(top.room_id.p, "[1,{\"a\":2}]", top.room_id.len) == 0);
    cr_assert_eq(top.sender_id.kind, 'v');
    cr_assert_eq(top.sender_id.len, 1);
}

/* An object with more keys than the scanner compares goes to jansson:
 * the node's verdict is the same either way. */
Test(json_scan, many_keys_are_judged_by_jansson)
{
    char buf[4096];
    size_t n = (size_t)sprintf(buf, "{\"type\":\"offer\"");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(buf + n, ",\"k%d\":%d", i, i);
    sprintf(buf + n, "}");
    sb_json_top top;
    cr_assert_eq(sb_json_scan(buf, strlen(buf), &top), SB_JSON_UNSURE);
    sb_client_msg m;
    const char *error = NULL;
    cr_assert_eq(sb_protocol_read_client(buf, strlen(buf), "r", &m, &error), 0);
    cr_assert_str_eq(m.type, "offer");
    sb_client_msg_clear(&m);
    sprintf(buf + n, ",\"k7\":1}");
    cr_assert_eq(sb_protocol_read_client(buf, strlen(buf), "r", &m, &error), -1);
    cr_assert_str_eq(error, SB_ERR_INVALID_JSON);
}

/* The node's path keeps a long type or target on the heap, whole. */
Test(json_scan, long_type_and_target)
{
    char buf[600];
    char type[201], to[201];
    memset(type, 't', 200);
    type[200] = '\0';
    memset(to, 'u', 200);
    to[200] = '\0';
    snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"to\":\"%s\"}", type, to);
    sb_client_msg m;
    const char *error = NULL;
    cr_assert_eq(sb_protocol_read_client(buf, strlen(buf), "r", &m, &error), 0);
    cr_assert_null(m.root);
    cr_assert_str_eq(m.type, type);
    cr_assert_str_eq(m.to, to);
    sb_client_msg_clear(&m);
}
