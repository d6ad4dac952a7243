/*
 * http_parse.c - fuzz target: the HTTP request checks of
 * common/http_parse.c. The whole input is read both ways.
 *
 *  - As the Content-Length values of a request (every field joined with
 *    ','), sb_http_content_length agrees with a plain reading of the
 *    README: each comma-separated element, spaces and tabs around it
 *    trimmed, is ASCII digits whose value, leading zeros aside, has at
 *    most 19 digits and is at most 2^63 - 1 (compared as digit strings,
 *    not computed); a bad element makes the list invalid, else different
 *    values are a conflict. The length is written only when accepted.
 *  - As a request path, sb_http_room_path for "/rooms/" and "/ws/" agrees
 *    with the README's rule, read plainly: the prefix byte for byte, then
 *    one segment (no '/', not empty) of at most 64 letters, digits and
 *    '-', which is the room when libuuid spells it that way in lowercase.
 *    The id is written only for a room, and is the segment.
 *  - As a query argument's value (up to its first NUL), sb_http_query_count
 *    for the node's two bounds agrees with the README: one or more ASCII
 *    digits whose value, compared as a digit string, is at most the bound.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "fuzz.h"
#include "http_parse.h"

#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull
#define INT64_MAX_DIGITS "9223372036854775807"

/* ---- Content-Length ---- */

/* One trimmed element: its significant digits (leading zeros dropped,
 * "0" for zero) in sig[0, *sig_len), or false when it is no length. */
static bool element_reference(const char *s, size_t n, const char **sig, size_t *sig_len)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!memchr("0123456789", s[i], 10))
            return false;
    while (n > 1 && s[0] == '0')
        s++, n--;
    size_t max_len = strlen(INT64_MAX_DIGITS);
    if (n > max_len || (n == max_len && memcmp(s, INT64_MAX_DIGITS, n) > 0))
        return false;
    *sig = s;
    *sig_len = n;
    return true;
}

static sb_cl_result content_length_reference(const char *s, size_t n, uint64_t *value)
{
    const char *first = NULL, *sig;
    size_t first_len = 0, sig_len, pos = 0, a, b;
    bool conflict = false;
    while (fuzz_list_next(s, n, &pos, &a, &b)) {
        if (!element_reference(s + a, b - a, &sig, &sig_len))
            return SB_CL_INVALID;
        if (first == NULL)
            first = sig, first_len = sig_len;
        else if (sig_len != first_len || memcmp(sig, first, sig_len) != 0)
            conflict = true;
    }
    if (conflict)
        return SB_CL_CONFLICT;
    char digits[32];
    memcpy(digits, first, first_len);
    digits[first_len] = '\0';
    *value = strtoull(digits, NULL, 10);
    return SB_CL_OK;
}

static void check_content_length(const uint8_t *data, size_t size)
{
    char *list = fuzz_copy(data, size);
    uint64_t got = UNTOUCHED, want = 0;
    sb_cl_result r = sb_http_content_length(list, size, &got);
    sb_cl_result ref = content_length_reference((const char *)data, size, &want);
    FUZZ_CHECK(r == ref, "'%.*s': result %d, the README says %d", (int)size, list, (int)r,
               (int)ref);
    if (r == SB_CL_OK)
        FUZZ_CHECK(got == want, "'%.*s': length %llu, not %llu", (int)size, list,
                   (unsigned long long)got, (unsigned long long)want);
    else
        FUZZ_CHECK(got == UNTOUCHED, "'%.*s' refused but a length was written", (int)size, list);
    free(list);
}

/* ---- room paths ---- */

static bool plain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static bool is_room_id(const char *s, size_t n)
{
    char text[SB_UUID_LEN + 1], lower[SB_UUID_LEN + 1];
    uuid_t u;
    if (n != SB_UUID_LEN)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    if (uuid_parse(text, u) != 0)
        return false;
    uuid_unparse_lower(u, lower);
    return strcmp(text, lower) == 0;
}

static sb_room_path room_path_reference(const char *path, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (n < plen || memcmp(path, prefix, plen) != 0)
        return SB_ROOM_PATH_OTHER;
    const char *seg = path + plen;
    size_t seg_len = n - plen;
    if (seg_len == 0 || memchr(seg, '/', seg_len))
        return SB_ROOM_PATH_OTHER;
    if (seg_len > 64)
        return SB_ROOM_PATH_NOT_PLAIN;
    for (size_t i = 0; i < seg_len; i++)
        if (!plain_char(seg[i]))
            return SB_ROOM_PATH_NOT_PLAIN;
    return is_room_id(seg, seg_len) ? SB_ROOM_PATH_ID : SB_ROOM_PATH_BAD_ID;
}

static void check_room_path(const uint8_t *data, size_t size, const char *prefix)
{
    char *path = fuzz_copy(data, size);
    char id[SB_UUID_LEN + 1];
    memset(id, 'x', sizeof(id));
    sb_room_path got = sb_http_room_path(path, size, prefix, id);
    sb_room_path want = room_path_reference((const char *)data, size, prefix);
    FUZZ_CHECK(got == want, "'%.*s' under %s: %d, the README says %d", (int)size, path, prefix,
               (int)got, (int)want);
    if (got == SB_ROOM_PATH_ID) {
        size_t plen = strlen(prefix);
        FUZZ_CHECK(id[SB_UUID_LEN] == '\0' && memcmp(id, path + plen, SB_UUID_LEN) == 0,
                   "'%.*s': id '%.36s' is not the segment", (int)size, path, id);
    } else {
        for (size_t i = 0; i < sizeof(id); i++)
            FUZZ_CHECK(id[i] == 'x', "'%.*s' is no room but an id was written", (int)size, path);
    }
    free(path);
}

/* ---- query counts ---- */

static void check_query_count(const uint8_t *data, size_t size, long long max)
{
    char *v = fuzz_cstr(data, size, NULL);
    size_t n = strlen(v);
    char max_text[32];
    snprintf(max_text, sizeof max_text, "%lld", max);
    const char *sig;
    size_t sig_len;
    bool valid = element_reference(v, n, &sig, &sig_len)
                 && (sig_len < strlen(max_text)
                     || (sig_len == strlen(max_text) && memcmp(sig, max_text, sig_len) <= 0));
    long long got = sb_http_query_count(v, max);
    if (valid) {
        char digits[32];
        memcpy(digits, sig, sig_len);
        digits[sig_len] = '\0';
        FUZZ_CHECK(got == strtoll(digits, NULL, 10), "'%s' under %lld: %lld", v, max, got);
    } else {
        FUZZ_CHECK(got == -1, "'%s' under %lld accepted as %lld", v, max, got);
    }
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_content_length(data, size);
    check_query_count(data, size, 10000);
    check_query_count(data, size, 1LL << 40);
    check_room_path(data, size, "/rooms/");
    check_room_path(data, size, "/ws/");
    return 0;
}
