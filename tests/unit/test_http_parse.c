/*
 * test_http_parse.c - Content-Length validation and room path
 * classification (common/http_parse.c).
 *
 * Every spelling a client could use to sneak a different length or a
 * second name for a room past the node is listed with the answer it must
 * get; the accepted forms are checked for the exact value or id they give.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http_parse.h"

static sb_cl_result cl(const char *s, uint64_t *v)
{
    *v = 12345;
    return sb_http_content_length(s, strlen(s), v);
}

Test(http_parse, content_length_plain_values)
{
    uint64_t v;
    cr_assert_eq(cl("0", &v), SB_CL_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(cl("2", &v), SB_CL_OK);
    cr_assert_eq(v, 2);
    cr_assert_eq(cl(" 17\t", &v), SB_CL_OK, "spaces and tabs around a value are allowed");
    cr_assert_eq(v, 17);
    cr_assert_eq(cl("0042", &v), SB_CL_OK);
    cr_assert_eq(v, 42);
    cr_assert_eq(cl("9223372036854775807", &v), SB_CL_OK);
    cr_assert_eq(v, 9223372036854775807ULL);
}

Test(http_parse, content_length_equal_duplicates_are_one_length)
{
    uint64_t v;
    cr_assert_eq(cl("5,5", &v), SB_CL_OK);
    cr_assert_eq(v, 5);
    cr_assert_eq(cl("5,  5, 05", &v), SB_CL_OK);
    cr_assert_eq(v, 5);
}

Test(http_parse, content_length_different_values_conflict)
{
    uint64_t v;
    cr_assert_eq(cl("2,5", &v), SB_CL_CONFLICT);
    cr_assert_eq(cl("5, 5, 6", &v), SB_CL_CONFLICT);
    cr_assert_eq(cl("0,1", &v), SB_CL_CONFLICT);
    cr_assert_eq(v, 12345, "a refused length must not be written");
}

Test(http_parse, content_length_malformed_is_invalid)
{
    const char *bad[] = {
        "",
        " ",
        "-1",
        "+1",
        "abc",
        "2abc",
        "abc2",
        "1.0",
        "0x10",
        "1 2",
        "2,",
        ",2",
        "2,,2",
        "2,x",
        "1e3",
        "\v1",
        "1\r",
        "1\n1",
        "٣",
        "9223372036854775808",  /* 2^63 */
        "18446744073709551616", /* 2^64 */
        "99999999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        cr_assert_eq(cl(bad[i], &v), SB_CL_INVALID, "\"%s\" was not refused", bad[i]);
        cr_assert_eq(v, 12345, "\"%s\" wrote a length", bad[i]);
    }
}

Test(http_parse, content_length_reads_only_len_bytes)
{
    uint64_t v = 0;
    cr_assert_eq(sb_http_content_length("12abc", 2, &v), SB_CL_OK);
    cr_assert_eq(v, 12);
    cr_assert_eq(sb_http_content_length("", 0, &v), SB_CL_INVALID);
}

#define ROOM "123e4567-e89b-42d3-a456-426614174000"

static sb_room_path room(const char *path, const char *prefix, char id[SB_UUID_LEN + 1])
{
    memset(id, 'x', SB_UUID_LEN + 1);
    return sb_http_room_path(path, strlen(path), prefix, id);
}

Test(http_parse, canonical_room_path_gives_the_id)
{
    char id[SB_UUID_LEN + 1];
    cr_assert_eq(room("/rooms/" ROOM, "/rooms/", id), SB_ROOM_PATH_ID);
    cr_assert_str_eq(id, ROOM);
    cr_assert_eq(room("/ws/" ROOM, "/ws/", id), SB_ROOM_PATH_ID);
    cr_assert_str_eq(id, ROOM);
}

Test(http_parse, other_routes_are_not_room_paths)
{
    char id[SB_UUID_LEN + 1];
    const char *other[] = { "/rooms",     "/rooms/",   "/ws",         "/ws/",
                            "/",          "",          "/room/" ROOM, "/x/../ws/" ROOM,
                            "//ws/" ROOM, "/WS/" ROOM, "/ws" ROOM };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        cr_assert_eq(room(other[i], "/ws/", id), SB_ROOM_PATH_OTHER, "%s", other[i]);
    cr_assert_eq(room("/rooms", "/rooms/", id), SB_ROOM_PATH_OTHER);
    cr_assert_eq(room("/roomsx/" ROOM, "/rooms/", id), SB_ROOM_PATH_OTHER);
}

Test(http_parse, other_spellings_of_a_room_are_not_the_room)
{
    char id[SB_UUID_LEN + 1];
    const char *longer[] = {
        "/ws//" ROOM,     /* empty segment */
        "/ws/" ROOM "/",  /* trailing slash */
        "/ws/./" ROOM,    /* dot segment */
        "/ws/x/../" ROOM, /* dot-dot segment */
        "/ws/" ROOM "/x", /* nested */
    };
    for (size_t i = 0; i < sizeof longer / sizeof longer[0]; i++) {
        cr_assert_eq(room(longer[i], "/ws/", id), SB_ROOM_PATH_OTHER, "%s", longer[i]);
        cr_assert_eq(id[0], 'x', "%s wrote an id", longer[i]);
    }
    const char *not_plain[] = {
        "/ws/%31%32%33e4567-e89b-42d3-a456-426614174000", /* percent-encoded */
        "/ws/%2F" ROOM,                                   /* encoded slash */
        "/ws/" ROOM "%00",                                /* encoded NUL */
        "/ws/" ROOM ".",                                  /* trailing dot */
        "/ws/..",                                         /* dot-dot alone */
        "/ws/+" ROOM,                                     /* plus */
    };
    for (size_t i = 0; i < sizeof not_plain / sizeof not_plain[0]; i++) {
        cr_assert_eq(room(not_plain[i], "/ws/", id), SB_ROOM_PATH_NOT_PLAIN, "%s", not_plain[i]);
        cr_assert_eq(id[0], 'x', "%s wrote an id", not_plain[i]);
    }
}

Test(http_parse, plain_segments_that_are_no_room_id)
{
    char id[SB_UUID_LEN + 1];
    const char *bad[] = {
        "/rooms/123E4567-E89B-42D3-A456-426614174000", /* uppercase */
        "/rooms/not-a-uuid",
        "/rooms/1234",
        "/rooms/" ROOM "0",                        /* 37 characters */
        "/rooms/123e4567e89b42d3a456426614174000", /* no dashes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(room(bad[i], "/rooms/", id), SB_ROOM_PATH_BAD_ID, "%s", bad[i]);
        cr_assert_eq(id[0], 'x', "%s wrote an id", bad[i]);
    }
    char longseg[128] = "/rooms/";
    memset(longseg + 7, 'a', 65);
    longseg[72] = '\0';
    cr_assert_eq(room(longseg, "/rooms/", id), SB_ROOM_PATH_NOT_PLAIN, "65-byte segment");
}

Test(http_parse, room_path_reads_only_len_bytes)
{
    char id[SB_UUID_LEN + 1];
    const char *p = "/ws/" ROOM "/trailing";
    cr_assert_eq(sb_http_room_path(p, 4 + SB_UUID_LEN, "/ws/", id), SB_ROOM_PATH_ID);
    cr_assert_str_eq(id, ROOM);
}

Test(http_parse, query_count_digits_up_to_max)
{
    cr_assert_eq(sb_http_query_count("0", 10000), 0);
    cr_assert_eq(sb_http_query_count("10", 10000), 10);
    cr_assert_eq(sb_http_query_count("10000", 10000), 10000);
    cr_assert_eq(sb_http_query_count("000000000000000000000000000000000000000007", 10000), 7,
                 "leading zeros are the same count");
    cr_assert_eq(sb_http_query_count("1099511627776", 1LL << 40), 1LL << 40);
}

Test(http_parse, query_count_other_spellings_are_refused)
{
    /* lws decodes %xx and turns '+' into a space before the node sees
     * the value: "?limit=+5" arrives as " 5". */
    const char *bad[] = { "",    " 5",  "5 ", "+5",  "-0",  "-1",    "5x",
                          "0x5", "1e3", "5.", "1.5", "\t5", "10001", "99999999999999999999",
                          "٥",   "5\n", "abc" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sb_http_query_count(bad[i], 10000), -1, "\"%s\" was not refused", bad[i]);
    cr_assert_eq(sb_http_query_count("1", -1), -1, "no count is under a negative max");
}
