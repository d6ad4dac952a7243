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
 *  - the relay's bytes are the server's two keys, then the client's text
 *    with exactly its sender_id and room_id members cut out: every other
 *    member byte for byte and in order, with the client's bytes between
 *    them; when the client named neither, everything after its '{'.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "members_ref.h"
#include "protocol.h"

#define ROOM "123e4567-e89b-42d3-a456-426614174000"
#define SENDER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"
/* As libwebsockets' LWS_PRE: scratch bytes the node writes in front. */
#define HEADROOM 16
#define PREFIX "{\"sender_id\":\"" SENDER "\",\"room_id\":\"" ROOM "\""

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

static bool names_server_key(const ref_member *m)
{
    const char *key = ref_member_key(m);
    return key && (strcmp(key, "sender_id") == 0 || strcmp(key, "room_id") == 0);
}

/*
 * The relay's bytes: the server's two keys, then the client's text with
 * exactly its sender_id and room_id members cut out. Members are found by
 * jansson on both sides (members_ref.h), not by the scanner the relay is
 * built with. After the prefix, the relay holds every other member of the
 * client's, byte for byte and in order, and nothing else; the bytes
 * between two of them (or before the first, or after the last) are the
 * client's bytes between them with at most one run cut out - the dropped
 * members and a comma. When nothing is dropped, the relay is the prefix,
 * a comma and everything after the client's '{'.
 */
static void check_relay_bytes(const sb_client_msg *msg, const char *payload, size_t len)
{
    const char *raw = msg->raw;
    size_t raw_len = msg->raw_len, prefix_len = strlen(PREFIX);
    FUZZ_CHECK(len > prefix_len && memcmp(payload, PREFIX, prefix_len) == 0,
               "relay does not start with the server's keys: %.*s", (int)len, payload);
    ref_members client, relay;
    ref_members_find(raw, raw_len, &client);
    ref_members_find(payload, len, &relay);
    FUZZ_CHECK(relay.n >= 2 && relay.m[1].end == prefix_len, "the prefix is not two members");

    size_t r = 2, client_from = client.open + 1, relay_from = prefix_len;
    bool first = true, dropped = false;
    for (size_t c = 0; c < client.n; c++) {
        const ref_member *cm = &client.m[c];
        if (names_server_key(cm)) {
            dropped = true;
            continue;
        }
        FUZZ_CHECK(r < relay.n, "client member %zu is not relayed: %.*s", c, (int)len, payload);
        const ref_member *rm = &relay.m[r++];
        size_t n = cm->end - cm->start;
        FUZZ_CHECK(rm->end - rm->start == n && memcmp(payload + rm->start, raw + cm->start, n) == 0,
                   "client member %zu is relayed as other bytes: %.*s", c, (int)len, payload);
        /* Before the first member the relay adds the comma after the prefix. */
        size_t skip = first ? 1 : 0;
        FUZZ_CHECK(!first || payload[relay_from] == ',', "no comma after the prefix");
        FUZZ_CHECK(ref_is_cut(raw + client_from, cm->start - client_from,
                              payload + relay_from + skip, rm->start - relay_from - skip),
                   "bytes before client member %zu are not the client's: %.*s", c, (int)len,
                   payload);
        client_from = cm->end;
        relay_from = rm->end;
        first = false;
    }
    FUZZ_CHECK(r == relay.n, "the relay has members the client did not send: %.*s", (int)len,
               payload);
    FUZZ_CHECK(ref_is_cut(raw + client_from, raw_len - client_from, payload + relay_from,
                          len - relay_from),
               "the relay does not end as the client's text: %.*s", (int)len, payload);
    if (!dropped) {
        size_t rest = raw_len - (client.open + 1);
        FUZZ_CHECK(len == prefix_len + 1 + rest && payload[prefix_len] == ','
                       && memcmp(payload + prefix_len + 1, raw + client.open + 1, rest) == 0,
                   "the client's bytes were not relayed as sent: %.*s", (int)len, payload);
    }
    ref_members_free(&client);
    ref_members_free(&relay);
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

    check_relay_bytes(msg, payload, len);
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
