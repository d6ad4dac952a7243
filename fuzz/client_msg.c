/*
 * client_msg.c - fuzz target: one text frame from a client.
 *
 * The bytes go to sb_protocol_parse_client exactly as the node passes a
 * frame (an exactly-sized buffer with no NUL after it), and the outcome is
 * checked against jansson reading the same bytes on its own:
 *
 *  - bytes jansson refuses as JSON, that repeat a key or that hold a raw
 *    NUL byte (never JSON, though jansson skips one after a number or a
 *    literal), are refused as "Invalid JSON";
 *  - any other refusal names the first check that fails, in the order the
 *    README's refusal table and protocol.c give;
 *  - an accepted message is a JSON object whose "type" is the type parsed,
 *    with `to` and the kind (ping or relay) read from it;
 *  - its relayed form (sb_protocol_build_relay) is one JSON object without
 *    repeated keys that carries the server's sender_id and room_id, never
 *    the client's, and every other top-level member of the client's;
 *  - when the client named neither sender_id nor room_id, its members are
 *    relayed as the very bytes it sent.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "protocol.h"

#define ROOM "123e4567-e89b-42d3-a456-426614174000"
#define SENDER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"
/* As libwebsockets' LWS_PRE: scratch bytes the node writes in front. */
#define HEADROOM 16

/* The refusal the README's table promises for a document jansson read
 * (NULL: it must be accepted). */
static const char *expected_refusal(json_t *doc)
{
    if (!json_is_object(doc))
        return SB_ERR_NOT_OBJECT;
    json_t *type = json_object_get(doc, "type");
    if (!json_is_string(type) || json_string_length(type) == 0)
        return SB_ERR_BAD_TYPE;
    if (sb_protocol_type_is_reserved(json_string_value(type)))
        return SB_ERR_RESERVED_TYPE;
    json_t *room = json_object_get(doc, "room_id");
    if (room != NULL && !(json_is_string(room) && strcmp(json_string_value(room), ROOM) == 0))
        return SB_ERR_ROOM_MISMATCH;
    json_t *to = json_object_get(doc, "to");
    if (to != NULL && !json_is_null(to) && !(json_is_string(to) && json_string_length(to) > 0))
        return SB_ERR_BAD_TO;
    return NULL;
}

static void check_accepted(const sb_client_msg *msg, json_t *doc)
{
    FUZZ_CHECK(msg->root != NULL && msg->type != NULL, "accepted without a document");
    FUZZ_CHECK(json_equal(msg->root, doc), "parsed document differs from jansson's");
    const char *type = json_string_value(json_object_get(doc, "type"));
    FUZZ_CHECK(strcmp(msg->type, type) == 0, "type '%s' but the document says '%s'", msg->type,
               type);
    FUZZ_CHECK((msg->kind == SB_MSG_PING) == (strcmp(type, "ping") == 0), "wrong kind for '%s'",
               type);
    json_t *to = json_object_get(doc, "to");
    if (json_is_string(to))
        FUZZ_CHECK(msg->to != NULL && strcmp(msg->to, json_string_value(to)) == 0, "wrong to");
    else
        FUZZ_CHECK(msg->to == NULL, "to set for a message to the whole room");
}

/* The client's members, from just after its first '{' to just before its
 * last '}': the bytes the relay promises to pass on untouched. */
static int client_members(const char *raw, size_t len, const char **start, size_t *n)
{
    const char *open = memchr(raw, '{', len);
    const char *close = raw + len;
    while (close > raw && close[-1] != '}')
        close--;
    if (open == NULL || close <= open + 1)
        return -1;
    *start = open + 1;
    *n = (size_t)(close - 1 - *start);
    return 0;
}

static void check_relay(const sb_client_msg *msg, json_t *doc)
{
    size_t len = 0;
    char *out = sb_protocol_build_relay(msg, ROOM, SENDER, HEADROOM, &len);
    FUZZ_CHECK(out != NULL, "no relay for an accepted message");
    memset(out, 0xa5, HEADROOM); /* the headroom is ours to write */
    const char *payload = out + HEADROOM;
    FUZZ_CHECK(payload[len] == '\0', "relay not NUL-terminated");

    json_error_t jerr;
    json_t *relayed = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(json_is_object(relayed), "relay is not one JSON object (%s): %.*s", jerr.text,
               (int)len, payload);
    json_t *sender = json_object_get(relayed, "sender_id");
    json_t *room = json_object_get(relayed, "room_id");
    FUZZ_CHECK(json_is_string(sender) && strcmp(json_string_value(sender), SENDER) == 0,
               "relay does not carry the server's sender_id: %.*s", (int)len, payload);
    FUZZ_CHECK(json_is_string(room) && strcmp(json_string_value(room), ROOM) == 0,
               "relay does not carry the server's room_id: %.*s", (int)len, payload);

    size_t kept = 0;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (strcmp(key, "sender_id") == 0 || strcmp(key, "room_id") == 0)
            continue;
        kept++;
        FUZZ_CHECK(json_equal(value, json_object_get(relayed, key)), "member '%s' changed", key);
    }
    FUZZ_CHECK(json_object_size(relayed) == kept + 2, "relay has members the client did not send");

    const char *members;
    size_t n;
    if (!json_object_get(doc, "sender_id") && !json_object_get(doc, "room_id")
        && client_members(msg->raw, msg->raw_len, &members, &n) == 0)
        FUZZ_CHECK(memmem(payload, len, members, n) != NULL,
                   "the client's bytes were not relayed as sent: %.*s", (int)len, payload);
    json_decref(relayed);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    json_error_t jerr;
    json_t *doc = json_loadb(buf, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    /* Repeated keys count as invalid JSON: they would make the checks
     * ambiguous (protocol.c). So does a raw NUL byte, never JSON (RFC
     * 8259), though jansson skips one right after a number or a literal. */
    bool nul = memchr(buf, '\0', size) != NULL;
    const char *expected = doc && !nul ? expected_refusal(doc) : SB_ERR_INVALID_JSON;

    sb_client_msg msg;
    const char *error = NULL;
    int rc = sb_protocol_parse_client(buf, size, ROOM, &msg, &error);
    if (expected != NULL) {
        FUZZ_CHECK(rc == -1, "accepted; expected '%s'", expected);
        FUZZ_CHECK(error != NULL && strcmp(error, expected) == 0, "refused with '%s', not '%s'",
                   error ? error : "(null)", expected);
        FUZZ_CHECK(msg.root == NULL && msg.type == NULL && msg.to == NULL,
                   "refusal left a message behind");
    } else {
        FUZZ_CHECK(rc == 0, "refused with '%s'", error ? error : "(null)");
        FUZZ_CHECK(error == NULL, "error '%s' set on success", error);
        check_accepted(&msg, doc);
        check_relay(&msg, doc);
        sb_client_msg_clear(&msg);
    }
    json_decref(doc);
    free(buf);
    return 0;
}
