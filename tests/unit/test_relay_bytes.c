/*
 * test_relay_bytes.c - a relayed message is the client's own bytes.
 *
 * When a client's message names `sender_id` or `room_id`, those members
 * are cut out of its text and the server's two keys put in front; every
 * other byte is the client's, so numbers and escapes keep their spelling.
 * Each case is checked byte for byte, and against what re-serializing the
 * parsed object gives (the server's values set on a copy of it): jansson
 * must read both as the same object. A generated set of messages checks
 * the same on every mix of member order, key spelling and whitespace.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_members.h"
#include "protocol.h"

#define ROOM "123e4567-e89b-42d3-a456-426614174000"
#define SENDER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"
#define PREFIX "{\"sender_id\":\"" SENDER "\",\"room_id\":\"" ROOM "\""
#define HEADROOM 16

/* What the node relays for `text`, which it must accept; NULL-terminated,
 * caller frees. Also checks that jansson reads it as the object the
 * parsed message becomes with the server's two keys set. */
static char *relay_of(const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1); /* exactly sized: ASan sees any overread */
    cr_assert_not_null(copy);
    memcpy(copy, text, n);
    sb_client_msg m;
    const char *error = NULL;
    cr_assert_eq(sb_protocol_parse_client(copy, n, ROOM, &m, &error), 0, "refused %s: %s", text,
                 error);
    size_t len = 0;
    char *buf = sb_protocol_build_relay(&m, ROOM, SENDER, HEADROOM, &len);
    cr_assert_not_null(buf, "no relay for %s", text);
    char *out = strndup(buf + HEADROOM, len);
    cr_assert_eq(strlen(out), len);

    json_error_t err;
    json_t *got = json_loadb(out, len, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(got, "relay of %s is not JSON (%s): %s", text, err.text, out);
    json_t *want = json_deep_copy(m.root);
    json_object_set_new(want, "sender_id", json_string(SENDER));
    json_object_set_new(want, "room_id", json_string(ROOM));
    cr_assert(json_equal(got, want), "relay of %s reads as another object: %s", text, out);
    json_decref(got);
    json_decref(want);
    free(buf);
    sb_client_msg_clear(&m);
    free(copy);
    return out;
}

static void expect_relay(const char *text, const char *want_after_prefix)
{
    char *out = relay_of(text);
    char want[2048];
    snprintf(want, sizeof(want), PREFIX "%s", want_after_prefix);
    cr_assert_str_eq(out, want, "relay of %s", text);
    free(out);
}

Test(relay_bytes, without_server_keys_the_bytes_follow_the_prefix)
{
    expect_relay("{\"type\":\"offer\",\"n\":0.1,\"z\":-0,\"s\":\"\\u00e9\"}",
                 ",\"type\":\"offer\",\"n\":0.1,\"z\":-0,\"s\":\"\\u00e9\"}");
}

Test(relay_bytes, member_first_middle_last)
{
    expect_relay("{\"room_id\":\"" ROOM "\",\"type\":\"offer\",\"data\":0.1}",
                 ",\"type\":\"offer\",\"data\":0.1}");
    expect_relay("{\"type\":\"offer\",\"room_id\":\"" ROOM "\",\"data\":-0}",
                 ",\"type\":\"offer\",\"data\":-0}");
    expect_relay("{\"type\":\"offer\",\"data\":\"\\u00e9\",\"room_id\":\"" ROOM "\"}",
                 ",\"type\":\"offer\",\"data\":\"\\u00e9\"}");
    expect_relay("{\"type\":\"offer\",\"data\":1E2,\"sender_id\":\"evil\"}",
                 ",\"type\":\"offer\",\"data\":1E2}");
}

/* `type` is required, so the nearest a message comes to holding only the
 * server's keys is both of them around it. */
Test(relay_bytes, both_members_around_the_only_other)
{
    expect_relay("{\"sender_id\":\"x\",\"room_id\":\"" ROOM "\",\"type\":\"t\"}",
                 ",\"type\":\"t\"}");
    expect_relay("{\"type\":\"t\",\"sender_id\":\"x\",\"room_id\":\"" ROOM "\"}",
                 ",\"type\":\"t\"}");
    expect_relay("{\"sender_id\":null,\"type\":\"t\",\"room_id\":\"" ROOM "\"}",
                 ",\"type\":\"t\"}");
}

Test(relay_bytes, whitespace_stays_where_members_stay)
{
    expect_relay(" { \"type\" : \"offer\" , \"room_id\" : \"" ROOM
                 "\" ,\n\t\"data\" : [ 1 , 2.50 ] } \n",
                 ", \"type\" : \"offer\" , \"data\" : [ 1 , 2.50 ] } \n");
    expect_relay("{\n  \"room_id\": \"" ROOM "\",\n  \"type\": \"offer\"\n}",
                 ",\n  \"type\": \"offer\"\n}");
    expect_relay("{\"type\":\"offer\" ,\"sender_id\" :{} }", ",\"type\":\"offer\" }");
}

Test(relay_bytes, nested_keys_stay)
{
    expect_relay("{\"type\":\"offer\",\"data\":{\"room_id\":\"other\",\"sender_id\":\"x\"},"
                 "\"room_id\":\"" ROOM "\"}",
                 ",\"type\":\"offer\",\"data\":{\"room_id\":\"other\",\"sender_id\":\"x\"}}");
    expect_relay(
        "{\"type\":\"offer\",\"list\":[{\"sender_id\":1}],\"sender_id\":[[{\"a\":\"]\"}]]}",
        ",\"type\":\"offer\",\"list\":[{\"sender_id\":1}]}");
}

/* jansson reads "room\u005fid" as room_id: the server's value must win
 * whatever the spelling, so every spelling is cut. */
Test(relay_bytes, escaped_key_spellings_are_cut)
{
    expect_relay("{\"type\":\"offer\",\"room\\u005fid\":\"" ROOM "\",\"sender\\u005Fid\":\"evil\"}",
                 ",\"type\":\"offer\"}");
    expect_relay("{\"\\u0073ender_id\":1,\"type\":\"offer\",\"\\u0072\\u006f\\u006fm_id\":\"" ROOM
                 "\"}",
                 ",\"type\":\"offer\"}");
    /* Keys that only look alike stay. */
    expect_relay("{\"type\":\"offer\",\"room\\\\_id\":1,\"Room_id\":2,\"room_id \":3,"
                 "\"sender_i\\u0064x\":4,\"sender\":5}",
                 ",\"type\":\"offer\",\"room\\\\_id\":1,\"Room_id\":2,\"room_id \":3,"
                 "\"sender_i\\u0064x\":4,\"sender\":5}");
}

Test(relay_bytes, strings_that_look_like_structure)
{
    expect_relay(
        "{\"type\":\"offer\",\"data\":\"}\\\",\\\"room_id\\\":\\\"x\",\"room_id\":\"" ROOM
        "\",\"n\":[{\"a\":\"]\"},\"\\\\\"]}",
        ",\"type\":\"offer\",\"data\":\"}\\\",\\\"room_id\\\":\\\"x\",\"n\":[{\"a\":\"]\"},"
        "\"\\\\\"]}");
}

/* Duplicates are refused before any of this, in every spelling: a second
 * room_id could otherwise hide behind the first. */
Test(relay_bytes, duplicate_keys_are_refused)
{
    const char *dup[] = {
        "{\"type\":\"offer\",\"room_id\":\"" ROOM "\",\"room_id\":\"" ROOM "\"}",
        "{\"type\":\"offer\",\"room_id\":\"" ROOM "\",\"room\\u005fid\":\"" ROOM "\"}",
        "{\"type\":\"offer\",\"sender_id\":1,\"sender\\u005fid\":2}",
    };
    for (size_t i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
        sb_client_msg m;
        const char *error = NULL;
        cr_assert_eq(sb_protocol_parse_client(dup[i], strlen(dup[i]), ROOM, &m, &error), -1, "%s",
                     dup[i]);
        cr_assert_str_eq(error, SB_ERR_INVALID_JSON);
    }
}

/* ---- generated messages ---- */

static const char *const members[] = {
    "\"room_id\":\"" ROOM "\"",
    "\"room\\u005fid\":\"" ROOM "\"",
    "\"sender_id\":\"evil\"",
    "\"sender\\u005fid\":{\"k\":[1,{\"room_id\":2}]}",
    "\"data\":{\"room_id\":\"other\",\"sdp\":\"v=0\\r\\n\"}",
    "\"n\":0.1",
    "\"z\":-0",
    "\"s\":\"\\u00e9,}\\\"\"",
    "\"to\":null",
    "\"a\":[ ]",
    "\"e\":{}",
};
#define N_MEMBERS (sizeof(members) / sizeof(members[0]))
static const char *const spaces[] = { "", " ", "\n\t ", "  " };

/* Is `sub` made of bytes of `text`, in order? */
static bool is_subsequence(const char *sub, const char *text)
{
    for (; *sub; sub++) {
        text = strchr(text, *sub);
        if (text == NULL)
            return false;
        text++;
    }
    return true;
}

Test(relay_bytes, generated_messages)
{
    srand(5);
    unsigned checked = 0;
    for (int round = 0; round < 3000; round++) {
        /* A random selection of members in random order, "type" among
         * them, with random whitespace around every token. */
        size_t order[N_MEMBERS + 1], n = 0;
        for (size_t i = 0; i < N_MEMBERS; i++)
            if (rand() % 2)
                order[n++] = i;
        order[n++] = N_MEMBERS; /* type */
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)rand() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        char text[2048];
        size_t len = 0;
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s{", spaces[rand() % 4]);
        for (size_t i = 0; i < n; i++) {
            const char *member = order[i] == N_MEMBERS ? "\"type\":\"offer\"" : members[order[i]];
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s%s%s", i ? "," : "",
                                    spaces[rand() % 4], member, spaces[rand() % 4]);
        }
        snprintf(text + len, sizeof(text) - len, "}%s", spaces[rand() % 4]);

        sb_client_msg m;
        const char *error = NULL;
        if (sb_protocol_parse_client(text, strlen(text), ROOM, &m, &error) != 0) {
            cr_assert_str_eq(error, SB_ERR_INVALID_JSON, "%s", text); /* both spellings */
            continue;
        }
        sb_client_msg_clear(&m);
        char *out = relay_of(text);
        cr_assert_eq(strncmp(out, PREFIX, strlen(PREFIX)), 0);
        const char *rest = out + strlen(PREFIX);
        cr_assert(is_subsequence(rest + (*rest == ','), strchr(text, '{') + 1),
                  "relay of %s holds bytes the client did not send: %s", text, out);
        cr_assert_null(strstr(rest, "evil"), "%s", out);
        cr_assert_null(strstr(rest, "room\\u005fid"), "%s", out);
        free(out);
        checked++;
    }
    cr_assert(checked > 1000, "only %u generated messages were accepted", checked);
}

/* ---- the scanner on its own ---- */

Test(relay_bytes, scanner_spans)
{
    const char *text = " {\"a\" : 1 ,\"b\\\"\":{\"c\":[\"}\"]},\"d\":\"x\"} ";
    sb_json_members it;
    sb_json_member m;
    cr_assert_eq(sb_json_members_begin(&it, text, strlen(text)), 0);
    const char *want[][2] = { { "a", "\"a\" : 1" },
                              { "b\\\"", "\"b\\\"\":{\"c\":[\"}\"]}" },
                              { "d", "\"d\":\"x\"" } };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(sb_json_members_next(&it, &m), 1);
        cr_assert_eq(m.key_len, strlen(want[i][0]));
        cr_assert_eq(memcmp(m.key, want[i][0], m.key_len), 0);
        cr_assert_eq(m.end - m.start, strlen(want[i][1]));
        cr_assert_eq(memcmp(text + m.start, want[i][1], m.end - m.start), 0, "member %zu", i);
    }
    cr_assert_eq(sb_json_members_next(&it, &m), 0);
    cr_assert_eq(sb_json_members_next(&it, &m), 0);
    cr_assert_eq(text[it.pos - 1], '}');

    cr_assert_eq(sb_json_members_begin(&it, "{ }", 3), 0);
    cr_assert_eq(sb_json_members_next(&it, &m), 0);
    cr_assert_eq(sb_json_members_begin(&it, "{\"room_id\":1}", 13), 0);
    cr_assert_eq(sb_json_members_next(&it, &m), 1);
    cr_assert(sb_json_key_is(m.key, m.key_len, "room_id"));
    cr_assert_eq(sb_json_members_next(&it, &m), 0);
}

/* Text cut anywhere ends the walk with -1, never a read past the end. */
Test(relay_bytes, scanner_on_cut_text)
{
    const char *text = "{\"a\":{\"b\":[1,\"x\\\"y\",{}]},\"c\":true}";
    size_t n = strlen(text);
    for (size_t cut = 0; cut < n; cut++) {
        char *copy = malloc(cut ? cut : 1);
        cr_assert_not_null(copy);
        memcpy(copy, text, cut);
        sb_json_members it;
        sb_json_member m;
        int r = sb_json_members_begin(&it, copy, cut);
        for (int steps = 0; r == 0 && steps < 10; steps++)
            r = sb_json_members_next(&it, &m) == 1 ? 0 : -1;
        cr_assert_eq(r, -1, "text cut at %zu was walked to the end", cut);
        free(copy);
    }
    const char *bad[] = { "",          "[]",    "{\"a\"}",    "{\"a\":}",
                          "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "{\"a\":1 \"b\":2}" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_json_members it;
        sb_json_member m;
        int r = sb_json_members_begin(&it, bad[i], strlen(bad[i]));
        while (r == 0)
            r = sb_json_members_next(&it, &m) == 1 ? 0 : -1;
        cr_assert_eq(r, -1, "%s", bad[i]);
    }
}

Test(relay_bytes, key_spellings)
{
    cr_assert(sb_json_key_is("room_id", 7, "room_id"));
    cr_assert(sb_json_key_is("room\\u005fid", 12, "room_id"));
    cr_assert(sb_json_key_is("\\u0072oom\\u005Fi\\u0064", 22, "room_id"));
    cr_assert_not(sb_json_key_is("room_i", 6, "room_id"));
    cr_assert_not(sb_json_key_is("room_idx", 8, "room_id"));
    cr_assert_not(sb_json_key_is("room\\u005fidx", 13, "room_id"));
    cr_assert_not(sb_json_key_is("room\\u005", 9, "room_id"));
    cr_assert_not(sb_json_key_is("room\\u005g_id", 13, "room_id"));
    cr_assert_not(sb_json_key_is("room\\_id", 8, "room_id"));
    cr_assert_not(sb_json_key_is("room\\", 5, "room"));
    cr_assert_not(sb_json_key_is("\\u00e9", 6, "e"));
    cr_assert(sb_json_key_is("a\\\"b\\n", 6, "a\"b\n"));
}
