/*
 * client_msg.c - validating what a client sends (docs/design.md#websocket).
 *
 * The checks run in a fixed order - JSON, object, type, reserved type,
 * room, target - so a message with several faults always earns the same
 * error, which keeps clients and tests predictable. Everything that
 * passes is relayed as is: the server does not know or care what an
 * "offer" looks like, so a client can add message types without a server
 * release.
 *
 * The node validates in one pass without building a tree
 * (common/json_scan.h), reading only the top-level members it needs. Text
 * the scanner leaves to jansson (an object with very many keys, say) is
 * judged by jansson, and so are the checks on it: both paths give the
 * same verdict, which the fuzz targets client_msg and json_scan hold them
 * to.
 */
#include "json_scan.h"
#include "protocol.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Every type the server sends. A client may send "ping" (the server
 * answers it) but not "pong", which only the server writes. */
static const char *const reserved_types[] = {
    "connected", "user-joined", "user-left", "error", "room-closed", "reconnect", "pong",
};

int sb_protocol_type_is_reserved(const char *type)
{
    if (type == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(reserved_types) / sizeof(reserved_types[0]); i++) {
        if (strcmp(type, reserved_types[i]) == 0)
            return 1;
    }
    return 0;
}

/* ---- with jansson: the rare text the scanner leaves to it ---------------- */

/* The type string, or NULL when it is missing, not a string or empty. */
static const char *message_type(json_t *root)
{
    json_t *type = json_object_get(root, "type");
    if (!json_is_string(type) || json_string_length(type) == 0)
        return NULL;
    return json_string_value(type);
}

/* An absent room_id is fine; a present one must name this very room. */
static int room_matches(json_t *root, const char *room_id)
{
    json_t *room = json_object_get(root, "room_id");
    if (room == NULL)
        return 1;
    return json_is_string(room) && room_id != NULL && strcmp(json_string_value(room), room_id) == 0;
}

/* Sets *to to the target user, or NULL when the message is for the whole
 * room (`to` absent or null). Returns 0 when `to` is well formed. */
static int message_target(json_t *root, const char **to)
{
    json_t *value = json_object_get(root, "to");
    *to = NULL;
    if (value == NULL || json_is_null(value))
        return 0;
    if (!json_is_string(value) || json_string_length(value) == 0)
        return -1;
    *to = json_string_value(value);
    return 0;
}

/* Runs every check on a parsed document; NULL when it is acceptable. */
static const char *refusal_for(json_t *root, const char *room_id, const char **type,
                               const char **to)
{
    if (!json_is_object(root))
        return SB_ERR_NOT_OBJECT;
    *type = message_type(root);
    if (*type == NULL)
        return SB_ERR_BAD_TYPE;
    if (sb_protocol_type_is_reserved(*type))
        return SB_ERR_RESERVED_TYPE;
    if (!room_matches(root, room_id))
        return SB_ERR_ROOM_MISMATCH;
    if (message_target(root, to) != 0)
        return SB_ERR_BAD_TO;
    return NULL;
}

/* A decoded string of the message, kept inline when short. */
static const char *keep_span(sb_client_msg *msg, int slot, const sb_json_span *span,
                             char *inline_buf, size_t cap)
{
    char *out = inline_buf;
    if (span->len >= cap) { /* decoding never makes a string longer */
        out = msg->heap[slot] = malloc(span->len + 1);
        if (out == NULL)
            return NULL;
    }
    sb_json_unescape(span, out);
    return out;
}

static int read_with_jansson(const char *buf, size_t len, const char *room_id, sb_client_msg *msg,
                             const char **error)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        *error = SB_ERR_INVALID_JSON;
        return -1;
    }
    const char *type = NULL, *to = NULL;
    const char *refusal = refusal_for(root, room_id, &type, &to);
    if (refusal != NULL) {
        json_decref(root);
        *error = refusal;
        return -1;
    }
    msg->root = root;
    msg->type = type;
    msg->to = to;
    msg->names_server_key =
        json_object_get(root, "sender_id") != NULL || json_object_get(root, "room_id") != NULL;
    return 0;
}

/* ---- in one pass ---------------------------------------------------------- */

/* A present room_id must be a string naming this very room. */
static bool span_names_room(const sb_json_span *span, const char *room_id)
{
    char decoded[256];
    if (span->kind != '"' || room_id == NULL || span->len >= sizeof(decoded))
        return false;
    size_t n = sb_json_unescape(span, decoded);
    return n == strlen(room_id) && memcmp(decoded, room_id, n) == 0;
}

static const char *refusal_for_top(const sb_json_top *top)
{
    if (top->kind != '{')
        return SB_ERR_NOT_OBJECT;
    if (top->type.kind != '"' || top->type.len == 0)
        return SB_ERR_BAD_TYPE;
    return NULL;
}

static int read_scanned(const sb_json_top *top, const char *room_id, sb_client_msg *msg,
                        const char **error)
{
    const char *refusal = refusal_for_top(top);
    if (refusal == NULL) {
        msg->type = keep_span(msg, 0, &top->type, msg->type_buf, sizeof(msg->type_buf));
        if (msg->type == NULL)
            refusal = SB_ERR_INVALID_JSON;
        else if (sb_protocol_type_is_reserved(msg->type))
            refusal = SB_ERR_RESERVED_TYPE;
        else if (top->room_id.kind && !span_names_room(&top->room_id, room_id))
            refusal = SB_ERR_ROOM_MISMATCH;
        else if (top->to.kind && top->to.kind != 'n' && (top->to.kind != '"' || top->to.len == 0))
            refusal = SB_ERR_BAD_TO;
    }
    if (refusal == NULL && top->to.kind == '"') {
        msg->to = keep_span(msg, 1, &top->to, msg->to_buf, sizeof(msg->to_buf));
        if (msg->to == NULL)
            refusal = SB_ERR_INVALID_JSON;
    }
    if (refusal != NULL) {
        *error = refusal;
        return -1;
    }
    msg->names_server_key = top->room_id.kind != 0 || top->sender_id.kind != 0;
    return 0;
}

int sb_protocol_read_client(const char *buf, size_t len, const char *room_id, sb_client_msg *msg,
                            const char **error)
{
    memset(msg, 0, offsetof(sb_client_msg, type_buf));
    *error = NULL;
    /* A raw NUL byte is never JSON (controls inside strings must be
     * escaped); jansson reads one right after a number or a literal as if
     * it were not there, the scanner refuses it anywhere. */
    sb_json_top top;
    sb_json_verdict v = sb_json_scan(buf, len, &top);
    int rc;
    if (v == SB_JSON_INVALID) {
        *error = SB_ERR_INVALID_JSON;
        rc = -1;
    } else if (v == SB_JSON_UNSURE) {
        rc = memchr(buf, '\0', len) ? (*error = SB_ERR_INVALID_JSON, -1)
                                    : read_with_jansson(buf, len, room_id, msg, error);
    } else {
        rc = read_scanned(&top, room_id, msg, error);
    }
    if (rc != 0) {
        sb_client_msg_clear(msg);
        return -1;
    }
    msg->kind = strcmp(msg->type, "ping") == 0 ? SB_MSG_PING : SB_MSG_RELAY;
    msg->raw = buf;
    msg->raw_len = len;
    return 0;
}

int sb_protocol_parse_client(const char *buf, size_t len, const char *room_id, sb_client_msg *msg,
                             const char **error)
{
    if (sb_protocol_read_client(buf, len, room_id, msg, error) != 0)
        return -1;
    if (msg->root == NULL) {
        json_error_t jerr;
        msg->root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        const char *type = NULL, *to = NULL;
        if (msg->root == NULL || refusal_for(msg->root, room_id, &type, &to) != NULL) {
            /* the scanner and jansson disagree: trust neither */
            sb_client_msg_clear(msg);
            *error = SB_ERR_INVALID_JSON;
            return -1;
        }
        msg->type = type;
        msg->to = to;
    }
    return 0;
}

void sb_client_msg_clear(sb_client_msg *msg)
{
    if (msg == NULL)
        return;
    json_decref(msg->root);
    free(msg->heap[0]);
    free(msg->heap[1]);
    memset(msg, 0, offsetof(sb_client_msg, type_buf));
}
