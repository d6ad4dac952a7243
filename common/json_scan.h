/*
 * json_scan.h - one pass over a JSON text: is it valid, and where are the
 * top-level members the node reads.
 *
 * The node relays a client's message as the client's own bytes, so it
 * needs no tree of it: only whether the whole text is JSON (RFC 8259),
 * and the values of a few top-level members (`type`, `to`, `room_id`,
 * `sender_id`). The scanner answers both in one pass over the bytes,
 * without allocating.
 *
 * It accepts exactly what jansson's json_loadb(JSON_DECODE_ANY |
 * JSON_REJECT_DUPLICATES) accepts, less any text holding a raw NUL byte:
 * numbers jansson cannot hold (integers beyond 64 bits, reals beyond
 * double range) are invalid, as are \u0000 in any string, lone
 * surrogates, invalid UTF-8, nesting deeper than jansson's 2048 values and
 * a key repeated in one object (compared after decoding escapes, as
 * jansson does). The fuzz target fuzz/json_scan.c holds it to that.
 *
 * Where checking a repeated key would cost more than parsing (an object
 * with very many keys, a very long escaped key, a very long real) the
 * scanner does not guess: it answers SB_JSON_UNSURE and the caller asks
 * jansson.
 */
#ifndef SB_JSON_SCAN_H
#define SB_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define SB_JSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

typedef enum { SB_JSON_VALID = 0, SB_JSON_INVALID = -1, SB_JSON_UNSURE = 1 } sb_json_verdict;

/* A top-level member's value. For a string, [p, p + len) is its text
 * between the quotes, escapes intact (`escaped` says whether it has any);
 * for any other value it is the value's text. */
typedef struct {
    char kind; /* 0: absent; '"' string; 'n' null; 'v' any other value */
    bool escaped;
    const char *p;
    size_t len;
} sb_json_span;

typedef struct {
    char kind; /* the top-level value: '{' object, '[' array, '"' string, 'v' other */
    /* Members of a top-level object, kind 0 when absent. */
    sb_json_span type, to, room_id, sender_id;
} sb_json_top;

/* Scan buf[0, len) (no NUL needed after it). On SB_JSON_VALID, *top
 * describes the value; otherwise its contents are unspecified. */
sb_json_verdict sb_json_scan(const char *buf, size_t len, sb_json_top *top);

/* The decoded bytes of a string span (escapes resolved, UTF-8 out) into
 * out, which has room for span->len + 1 bytes; NUL-terminated. Returns
 * the decoded length. Only for spans sb_json_scan returned as valid. */
size_t sb_json_unescape(const sb_json_span *span, char *out);

#endif
