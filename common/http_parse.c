/*
 * http_parse.c - Content-Length, room path and query count checks (see
 * http_parse.h).
 *
 * All are strict on purpose: the node takes a request's bytes exactly as
 * they were sent, so a length, a path or a count has one spelling, and
 * anything else is refused rather than guessed at.
 */
#include "http_parse.h"

#include <stdbool.h>
#include <string.h>

#define PLAIN_SEGMENT_MAX 64

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One list element, already trimmed: 1*DIGIT that fits an int64. */
static bool parse_decimal(const char *p, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

sb_cl_result sb_http_content_length(const char *list, size_t len, uint64_t *out)
{
    bool have = false, conflict = false;
    uint64_t first = 0;
    size_t i = 0;
    do {
        size_t start = i;
        while (i < len && list[i] != ',')
            i++;
        size_t a = start, b = i;
        while (a < b && is_ows(list[a]))
            a++;
        while (b > a && is_ows(list[b - 1]))
            b--;
        uint64_t v;
        if (!parse_decimal(list + a, b - a, &v))
            return SB_CL_INVALID;
        if (have && v != first)
            conflict = true;
        if (!have)
            first = v;
        have = true;
    } while (i++ < len);
    if (conflict)
        return SB_CL_CONFLICT;
    *out = first;
    return SB_CL_OK;
}

static bool is_plain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

sb_room_path sb_http_room_path(const char *path, size_t len, const char *prefix,
                               char id[SB_UUID_LEN + 1])
{
    size_t plen = strlen(prefix);
    if (len <= plen || memcmp(path, prefix, plen) != 0)
        return SB_ROOM_PATH_OTHER;
    const char *seg = path + plen;
    size_t n = len - plen;
    if (memchr(seg, '/', n))
        return SB_ROOM_PATH_OTHER; /* a longer path: "//", dot segments, nesting */
    if (n > PLAIN_SEGMENT_MAX)
        return SB_ROOM_PATH_NOT_PLAIN;
    for (size_t i = 0; i < n; i++)
        if (!is_plain_char(seg[i]))
            return SB_ROOM_PATH_NOT_PLAIN;
    if (n != SB_UUID_LEN || !sb_id_is_valid(seg, n))
        return SB_ROOM_PATH_BAD_ID;
    memcpy(id, seg, SB_UUID_LEN);
    id[SB_UUID_LEN] = '\0';
    return SB_ROOM_PATH_ID;
}

long long sb_http_query_count(const char *v, long long max)
{
    uint64_t n;
    if (max < 0 || !parse_decimal(v, strlen(v), &n) || n > (uint64_t)max)
        return -1;
    return (long long)n;
}
