/*
 * json_members.h - the top-level members of a JSON object, found in its
 * text without parsing it into values.
 *
 * The node relays a client's message as the client's own bytes; when some
 * members must go (the server sets `sender_id` and `room_id` itself), it
 * needs where each member starts and ends in the text. The scanner walks
 * an object text member by member, without allocating and without reading
 * past `len`. It checks structure only as far as it needs to find the
 * members: run it on text a JSON parser has already accepted.
 */
#ifndef SB_JSON_MEMBERS_H
#define SB_JSON_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *buf;
    size_t len;
    size_t pos;
    size_t count; /* members returned so far */
    bool done;
} sb_json_members;

/* One member: the bytes [start, end) run from its key's opening quote to
 * the last byte of its value; the key, escapes intact, is
 * [key, key + key_len) between the quotes. */
typedef struct {
    size_t start, end;
    const char *key;
    size_t key_len;
} sb_json_member;

/* Starts a walk over the object text in buf (whitespace around it
 * allowed). Returns 0, with it->pos just after the opening brace, or -1
 * when the text does not start as an object. */
int sb_json_members_begin(sb_json_members *it, const char *buf, size_t len);

/* The next member: returns 1 and fills *m, 0 after the last one (it->pos
 * then is just past the closing brace), or -1 when the text is not
 * well-formed enough to go on. */
int sb_json_members_next(sb_json_members *it, sb_json_member *m);

/* True when the key text (escapes intact) names `name` once its escapes
 * are decoded, so "room\u005fid" names room_id. `name` must be ASCII. */
bool sb_json_key_is(const char *key, size_t key_len, const char *name);

#endif
