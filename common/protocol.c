/*
 * protocol.c - the Switchboard WebSocket protocol as pure functions.
 *
 * Three jobs, all without I/O (the first in client_msg.c):
 *
 * 1. Validating what a client sends (docs/design.md#websocket): client_msg.c.
 *
 * 2. Building what the server sends. Every builder serializes once, with
 *    jansson's streaming dumper writing straight into a buffer that keeps
 *    `headroom` free bytes in front. libwebsockets needs LWS_PRE bytes of
 *    scratch space before each frame, so the node can pass the same buffer
 *    to every recipient without copying it once per connection. A relayed
 *    client message is not serialized at all: it is the client's bytes,
 *    with the server's sender_id and room_id spliced in front and any
 *    members of those names cut out (found with json_members.h).
 *
 * 3. The envelope between nodes (docs/design.md#envelope): a one-line text header
 *    naming the origin node, the event and the subject, followed by the
 *    exact bytes local recipients get. A receiving node routes on the
 *    header alone and forwards the payload without parsing JSON. Decoding
 *    treats its input as untrusted bytes: it needs no NUL terminator and
 *    never reads past `len`, since anything with access to Redis can
 *    publish on a room channel.
 *
 * Numbers that jansson cannot represent (integers beyond 64 bits, reals
 * beyond double range) make json_loadb fail, so such messages are refused
 * as invalid JSON instead of being relayed with altered values.
 */
#include "protocol.h"
#include "json_members.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Serialization with headroom
 * ------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len; /* headroom + payload so far */
    size_t cap;
} dump_buf;

static int dump_buf_grow(dump_buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int dump_buf_append(const char *chunk, size_t size, void *data)
{
    dump_buf *b = data;
    if (size > SIZE_MAX - b->len - 1)
        return -1;
    /* +1 keeps room for the NUL written after the last chunk. */
    if (dump_buf_grow(b, b->len + size + 1) != 0)
        return -1;
    memcpy(b->data + b->len, chunk, size);
    b->len += size;
    return 0;
}

char *sb_json_dump_headroom(const json_t *json, size_t headroom, size_t *len)
{
    if (json == NULL || headroom > SIZE_MAX / 4)
        return NULL;
    dump_buf b = { .data = NULL, .len = headroom, .cap = headroom + 256 };
    b.data = malloc(b.cap);
    if (b.data == NULL)
        return NULL;

    /* Compact output is what goes over the wire; JSON_ENCODE_ANY allows a
     * caller to dump a scalar too. Object keys keep insertion order. */
    if (json_dump_callback(json, dump_buf_append, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        free(b.data);
        return NULL;
    }
    b.data[b.len] = '\0';
    if (len != NULL)
        *len = b.len - headroom;
    return b.data;
}

/* Serializes and releases `obj` (which may be NULL after a failed build). */
static char *dump_and_release(json_t *obj, size_t headroom, size_t *len)
{
    char *out = obj ? sb_json_dump_headroom(obj, headroom, len) : NULL;
    json_decref(obj);
    return out;
}

/* ------------------------------------------------------------------------
 * Server messages
 * ------------------------------------------------------------------------ */

/* json_string refuses NULL and invalid UTF-8; this keeps the builders
 * failing cleanly (NULL result) instead of emitting a half-built object. */
static int set_string(json_t *obj, const char *key, const char *value)
{
    json_t *s = value ? json_string(value) : NULL;
    if (s == NULL)
        return -1;
    return json_object_set_new(obj, key, s);
}

/* Safe to put between quotes as it is: no quote, backslash or control. */
static int is_plain_string(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return 0;
    return 1;
}

/* Bytes of a spliced relay message, written in order into one buffer
 * sized for the worst case (nothing dropped). */
typedef struct {
    char *p;
    const char *raw;
} splice_out;

static void put(splice_out *o, const char *bytes, size_t n)
{
    memcpy(o->p, bytes, n);
    o->p += n;
}

static void put_raw(splice_out *o, size_t from, size_t to)
{
    put(o, o->raw + from, to - from);
}

static bool names_server_key(const sb_json_member *m)
{
    return sb_json_key_is(m->key, m->key_len, "sender_id")
           || sb_json_key_is(m->key, m->key_len, "room_id");
}

/* The client's members after the server's two keys, minus any member
 * whose key names one of them, in any spelling ("room\u005fid" too, as
 * jansson reads it). A dropped member goes with the comma (and
 * whitespace) that joined it to a neighbour; the bytes of every other
 * member, and the separators between them, are the client's. Returns -1
 * on text the scanner cannot walk. */
static int put_members(splice_out *o, const char *raw, size_t raw_len)
{
    sb_json_members it;
    sb_json_member m;
    if (sb_json_members_begin(&it, raw, raw_len) != 0)
        return -1;
    size_t open_end = it.pos, first_start = 0, prev_end = it.pos, sep_from = 0, sep_to = 0;
    bool prev_kept = false, kept_any = false;
    int more;
    while ((more = sb_json_members_next(&it, &m)) == 1) {
        if (it.count == 1)
            first_start = m.start;
        if (prev_kept) {
            sep_from = prev_end;
            sep_to = m.start;
        }
        prev_kept = !names_server_key(&m);
        prev_end = m.end;
        if (!prev_kept)
            continue;
        if (kept_any) {
            put_raw(o, sep_from, sep_to);
        } else {
            put(o, ",", 1);
            put_raw(o, open_end, first_start); /* whitespace after the client's '{' */
        }
        put_raw(o, m.start, m.end);
        kept_any = true;
    }
    if (more < 0)
        return -1;
    put_raw(o, prev_end, raw_len); /* the closing brace, with whitespace around it */
    return 0;
}

/* {"sender_id":"S","room_id":"R", then the client's own bytes after its
 * '{', less the members put_members drops when there are any. */
static char *splice_relay(const sb_client_msg *msg, const char *room_id, const char *sender_id,
                          size_t headroom, size_t *len)
{
    const char *open = memchr(msg->raw, '{', msg->raw_len);
    if (open == NULL)
        return NULL;
    size_t prefix =
        strlen("{\"sender_id\":\"\",\"room_id\":\"\"") + strlen(sender_id) + strlen(room_id);
    char *out = malloc(headroom + prefix + 1 + msg->raw_len + 1);
    if (out == NULL)
        return NULL;
    splice_out o = { out + headroom, msg->raw };
    int n =
        snprintf(o.p, prefix + 1, "{\"sender_id\":\"%s\",\"room_id\":\"%s\"", sender_id, room_id);
    if (n < 0 || (size_t)n != prefix) {
        free(out);
        return NULL;
    }
    o.p += prefix;
    if (msg->names_server_key) {
        if (put_members(&o, msg->raw, msg->raw_len) != 0) {
            free(out);
            return NULL;
        }
    } else {
        put(&o, ",", 1);
        put_raw(&o, (size_t)(open + 1 - msg->raw), msg->raw_len);
    }
    *o.p = '\0';
    *len = (size_t)(o.p - (out + headroom));
    return out;
}

char *sb_protocol_build_relay(const sb_client_msg *msg, const char *room_id, const char *sender_id,
                              size_t headroom, size_t *len)
{
    if (msg == NULL || msg->raw == NULL || room_id == NULL || sender_id == NULL)
        return NULL;
    if (msg->raw && is_plain_string(sender_id) && is_plain_string(room_id)) {
        char *out = splice_relay(msg, room_id, sender_id, headroom, len);
        if (out != NULL)
            return out;
    }
    /* Only for ids that need escaping or text the scanner cannot walk,
     * neither of which a validated message from the node has: the object
     * re-serialized, which keeps its values but may respell numbers and
     * escapes. A shallow copy suffices: only top-level keys change, and
     * the nested values shared with the client's document are never
     * modified. */
    json_error_t err;
    json_t *doc = msg->root ? json_incref(msg->root)
                            : json_loadb(msg->raw, msg->raw_len, JSON_REJECT_DUPLICATES, &err);
    json_t *out = json_is_object(doc) ? json_copy(doc) : NULL;
    json_decref(doc);
    if (out == NULL || set_string(out, "sender_id", sender_id) != 0
        || set_string(out, "room_id", room_id) != 0) {
        json_decref(out);
        return NULL;
    }
    return dump_and_release(out, headroom, len);
}

static json_t *string_array(const char *const *items, size_t n)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *s = items[i] ? json_string(items[i]) : NULL;
        if (s == NULL || json_array_append_new(arr, s) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

char *sb_protocol_build_connected_list(const char *user_id, const char *room_id,
                                       const json_t *participants, const char *node_id,
                                       const sb_connected_resume *resume, size_t headroom,
                                       size_t *len)
{
    if (!json_is_array(participants))
        return NULL;
    json_t *obj = json_object();
    if (obj == NULL || set_string(obj, "type", "connected") != 0
        || set_string(obj, "user_id", user_id) != 0 || set_string(obj, "room_id", room_id) != 0
        || set_string(obj, "message", "Successfully connected to room") != 0
        || json_object_set(obj, "participants", (json_t *)participants) != 0
        || set_string(obj, "node_id", node_id) != 0
        || (resume && resume->resume_token
            && set_string(obj, "resume_token", resume->resume_token) != 0)
        || (resume && json_object_set_new(obj, "resumed", json_boolean(resume->resumed)) != 0)
        || (resume && resume->missed && json_object_set_new(obj, "missed", json_true()) != 0)) {
        json_decref(obj);
        return NULL;
    }
    return dump_and_release(obj, headroom, len);
}

char *sb_protocol_build_connected(const char *user_id, const char *room_id,
                                  const char *const *participants, size_t n_participants,
                                  const char *node_id, const sb_connected_resume *resume,
                                  size_t headroom, size_t *len)
{
    if (n_participants > 0 && participants == NULL)
        return NULL;
    json_t *list = string_array(participants, n_participants);
    char *out = list ? sb_protocol_build_connected_list(user_id, room_id, list, node_id, resume,
                                                        headroom, len)
                     : NULL;
    json_decref(list);
    return out;
}

char *sb_protocol_build_member_event(const char *type, const char *user_id, const char *room_id,
                                     const json_t *profile, size_t headroom, size_t *len)
{
    json_t *obj = json_object();
    if (obj == NULL || set_string(obj, "type", type) != 0
        || set_string(obj, "user_id", user_id) != 0 || set_string(obj, "room_id", room_id) != 0
        || (profile && json_object_update_missing(obj, (json_t *)profile) != 0)) {
        json_decref(obj);
        return NULL;
    }
    return dump_and_release(obj, headroom, len);
}

char *sb_protocol_build_user_event(const char *type, const char *user_id, const char *room_id,
                                   size_t headroom, size_t *len)
{
    return sb_protocol_build_member_event(type, user_id, room_id, NULL, headroom, len);
}

char *sb_protocol_build_error(const char *message, size_t headroom, size_t *len)
{
    json_t *obj = json_object();
    if (obj == NULL || set_string(obj, "type", "error") != 0
        || set_string(obj, "message", message) != 0) {
        json_decref(obj);
        return NULL;
    }
    return dump_and_release(obj, headroom, len);
}

char *sb_protocol_build_bare(const char *type, size_t headroom, size_t *len)
{
    json_t *obj = json_object();
    if (obj == NULL || set_string(obj, "type", type) != 0) {
        json_decref(obj);
        return NULL;
    }
    return dump_and_release(obj, headroom, len);
}

/* ------------------------------------------------------------------------
 * Envelope between nodes
 * ------------------------------------------------------------------------ */

#define ENV_MAGIC "SB1 "
#define ENV_MAGIC_LEN (sizeof(ENV_MAGIC) - 1)
#define ENV_NO_SUBJECT "*"

static const char *const event_words[] = {
    [SB_ENV_MSG] = "msg",     [SB_ENV_JOIN] = "join",     [SB_ENV_LEAVE] = "leave",
    [SB_ENV_CLOSE] = "close", [SB_ENV_REJOIN] = "rejoin", [SB_ENV_REPLACE] = "replace",
    [SB_ENV_AWAY] = "away",   [SB_ENV_BACK] = "back",
};
#define EVENT_COUNT (sizeof(event_words) / sizeof(event_words[0]))

static int event_from_word(const char *word, size_t len, sb_env_event *out)
{
    for (size_t i = 0; i < EVENT_COUNT; i++) {
        if (strlen(event_words[i]) == len && memcmp(word, event_words[i], len) == 0) {
            *out = (sb_env_event)i;
            return 0;
        }
    }
    return -1;
}

/* A header field: non-empty, and free of the separators that would make
 * the header ambiguous. */
static int is_header_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
            return 0;
    }
    return 1;
}

/* Joins and leaves name the user concerned; a receiver could not act on
 * one without it. */
static int event_needs_subject(sb_env_event event)
{
    return event == SB_ENV_JOIN || event == SB_ENV_LEAVE || event == SB_ENV_REJOIN
           || event == SB_ENV_REPLACE || event == SB_ENV_AWAY || event == SB_ENV_BACK;
}

size_t sb_envelope_header(const char *origin, sb_env_event event, const char *subject, char *out,
                          size_t cap)
{
    if ((unsigned)event >= EVENT_COUNT || origin == NULL)
        return 0;
    if (subject != NULL && subject[0] == '\0')
        subject = NULL;
    if (subject == NULL && event_needs_subject(event))
        return 0;
    if (!is_header_token(origin, strlen(origin)))
        return 0;
    if (subject != NULL
        && (!is_header_token(subject, strlen(subject)) || strcmp(subject, ENV_NO_SUBJECT) == 0))
        return 0;
    int n = snprintf(out, cap, "%s%s %s %s\n", ENV_MAGIC, origin, event_words[event],
                     subject ? subject : ENV_NO_SUBJECT);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

char *sb_envelope_encode(const char *origin, sb_env_event event, const char *subject,
                         const char *payload, size_t payload_len, size_t *len)
{
    if ((unsigned)event >= EVENT_COUNT || origin == NULL || (payload == NULL && payload_len > 0))
        return NULL;
    const char *subj = subject && subject[0] ? subject : ENV_NO_SUBJECT;
    size_t header_len =
        ENV_MAGIC_LEN + strlen(origin) + 1 + strlen(event_words[event]) + 1 + strlen(subj) + 1;
    if (payload_len > SIZE_MAX - header_len - 1)
        return NULL;
    char *out = malloc(header_len + payload_len + 1);
    if (out == NULL)
        return NULL;
    if (sb_envelope_header(origin, event, subject, out, header_len + 1) != header_len) {
        free(out);
        return NULL;
    }
    if (payload_len > 0)
        memcpy(out + header_len, payload, payload_len);
    out[header_len + payload_len] = '\0';
    if (len != NULL)
        *len = header_len + payload_len;
    return out;
}

/* Splits off the next space-terminated field of [*p, end). */
static int next_field(const char **p, const char *end, const char **field, size_t *field_len)
{
    const char *space = memchr(*p, ' ', (size_t)(end - *p));
    if (space == NULL)
        return -1;
    *field = *p;
    *field_len = (size_t)(space - *p);
    *p = space + 1;
    return is_header_token(*field, *field_len) ? 0 : -1;
}

int sb_envelope_decode(const char *buf, size_t len, sb_envelope *env)
{
    memset(env, 0, sizeof(*env));
    if (buf == NULL || len < ENV_MAGIC_LEN || memcmp(buf, ENV_MAGIC, ENV_MAGIC_LEN) != 0)
        return -1;

    const char *newline = memchr(buf, '\n', len);
    if (newline == NULL)
        return -1;
    const char *p = buf + ENV_MAGIC_LEN;

    const char *origin, *word;
    size_t origin_len, word_len;
    sb_env_event event;
    if (next_field(&p, newline, &origin, &origin_len) != 0)
        return -1;
    if (next_field(&p, newline, &word, &word_len) != 0)
        return -1;
    if (event_from_word(word, word_len, &event) != 0)
        return -1;

    /* The subject runs to the newline, so a fourth space-separated field
     * fails the token check here. */
    const char *subject = p;
    size_t subject_len = (size_t)(newline - p);
    if (!is_header_token(subject, subject_len))
        return -1;
    int has_subject = !(subject_len == 1 && subject[0] == ENV_NO_SUBJECT[0]);
    if (!has_subject && event_needs_subject(event))
        return -1;

    env->event = event;
    env->origin = origin;
    env->origin_len = origin_len;
    env->subject = has_subject ? subject : NULL;
    env->subject_len = has_subject ? subject_len : 0;
    env->payload = newline + 1;
    env->payload_len = len - (size_t)(newline + 1 - buf);
    return 0;
}
