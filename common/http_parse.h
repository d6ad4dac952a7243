/*
 * http_parse.h - the parts of HTTP request handling that are ours, as pure
 * functions: bytes in, result out, no libwebsockets types, no I/O, no
 * allocation. The node calls them from its HTTP callbacks; the unit tests
 * and the fuzz targets call them directly.
 *
 * Owns: Content-Length validation (RFC 9110 §8.6: one or more equal
 * decimal values, nothing else), the classification of a raw request
 * path against a room route (/rooms/{id}, /ws/{id}), where the only
 * spelling of a room is its canonical lowercase UUID, and the counts of
 * query arguments (?limit=, ?offset=).
 */
#ifndef SB_HTTP_PARSE_H
#define SB_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"

/* A buffer that holds any query argument: none is longer than the header
 * table a request must fit in (libwebsockets' 4 KiB, else 414/431).
 * lws_get_urlarg_by_name() stops at the first argument longer than the
 * buffer it is given, so a smaller one would hide the arguments after a
 * long one. */
#define SB_HTTP_ARG_MAX 4096

/* Refusal texts of the framing checks ({"detail": ...} of a 400). */
#define SB_HTTP_ERR_BAD_LENGTH "Invalid Content-Length"
#define SB_HTTP_ERR_CONFLICTING_LENGTH "Conflicting Content-Length headers"
#define SB_HTTP_ERR_LENGTH_AND_CHUNKED "Content-Length with Transfer-Encoding"

typedef enum {
    SB_CL_OK,       /* *out holds the length */
    SB_CL_INVALID,  /* empty, not digits, signed, or over 2^63 - 1 */
    SB_CL_CONFLICT, /* valid numbers that differ */
} sb_cl_result;

/*
 * The Content-Length of a request from the value(s) the client sent: `list`
 * is every Content-Length field value joined with ',' (a client may also
 * send one field "5, 5"). Each element, spaces and tabs around it
 * trimmed, must be 1*DIGIT; equal elements are one length (RFC 9110
 * allows that), different ones are a conflict.
 */
sb_cl_result sb_http_content_length(const char *list, size_t len, uint64_t *out);

typedef enum {
    SB_ROOM_PATH_OTHER,     /* not this route: another prefix, or more than one segment */
    SB_ROOM_PATH_ID,        /* prefix + a canonical room id, copied to id */
    SB_ROOM_PATH_BAD_ID,    /* prefix + one plain segment that is no room id */
    SB_ROOM_PATH_NOT_PLAIN, /* prefix + one segment with other bytes: %xx, '.', ... */
} sb_room_path;

/*
 * Classify the raw request path (as the client sent it, without the query)
 * for the room route `prefix` ("/rooms/" or "/ws/", with its slash).
 * A plain segment is 1..64 ASCII letters, digits or '-'; a room id is a
 * lowercase UUID (sb_id_is_valid). Any other spelling of a room is not
 * the room: a percent-encoded id or one with other bytes is NOT_PLAIN;
 * "//", "." or ".." segments or a trailing slash make it OTHER.
 */
sb_room_path sb_http_room_path(const char *path, size_t len, const char *prefix,
                               char id[SB_UUID_LEN + 1]);

/*
 * A count from a query argument (?limit=, ?offset=) as lws hands it over
 * (%xx decoded, '+' made a space, NUL-terminated): one or more ASCII
 * digits whose value is at most max (max >= 0). Returns the value, or -1
 * for anything else: empty, a sign, a space, another byte, or over max.
 */
long long sb_http_query_count(const char *v, long long max);

#endif
