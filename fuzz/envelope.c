/*
 * envelope.c - fuzz target: the envelope between nodes.
 *
 * Anything with access to Redis can publish on a room channel, so
 * sb_envelope_decode gets hostile bytes. Every input is used twice:
 *
 *  - as a message from Redis: when it decodes, every field lies inside the
 *    input, the header fields are tokens (non-empty, no space, CR, LF or
 *    NUL), joins, leaves and the other membership events name a user, and encoding the decoded fields
 *    gives back the very same bytes;
 *  - as the fields a node encodes: byte 0 picks the event (one value past
 *    the last is invalid), then a NUL-terminated origin, a NUL-terminated
 *    subject and the payload. Encoding succeeds exactly when protocol.h
 *    says it must, and what it encodes decodes to the same fields.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "protocol.h"

#define EVENT_LIMIT (SB_ENV_BACK + 1)

static int is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
            return 0;
    return 1;
}

static int needs_subject(sb_env_event event)
{
    return event == SB_ENV_JOIN || event == SB_ENV_LEAVE || event == SB_ENV_REJOIN
           || event == SB_ENV_REPLACE || event == SB_ENV_AWAY || event == SB_ENV_BACK;
}

static int inside(const char *p, size_t n, const char *buf, size_t size)
{
    return p >= buf && n <= size && p + n <= buf + size;
}

static void decode_side(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    sb_envelope env;
    if (sb_envelope_decode(buf, size, &env) != 0) {
        free(buf);
        return;
    }
    FUZZ_CHECK((unsigned)env.event < EVENT_LIMIT, "event %d", (int)env.event);
    FUZZ_CHECK(inside(env.origin, env.origin_len, buf, size), "origin outside the input");
    FUZZ_CHECK(is_token(env.origin, env.origin_len), "origin is not a token");
    FUZZ_CHECK(env.payload + env.payload_len == buf + size
                   && inside(env.payload, env.payload_len, buf, size),
               "payload is not the tail of the input");
    if (env.subject == NULL) {
        FUZZ_CHECK(env.subject_len == 0, "subject length without a subject");
        FUZZ_CHECK(!needs_subject(env.event), "join or leave without a user");
    } else {
        FUZZ_CHECK(inside(env.subject, env.subject_len, buf, size), "subject outside the input");
        FUZZ_CHECK(is_token(env.subject, env.subject_len), "subject is not a token");
        FUZZ_CHECK(!(env.subject_len == 1 && env.subject[0] == '*'), "'*' as a subject");
    }

    /* Tokens hold no NUL, so fuzz_cstr copies all of one (strndup would
     * look for a NUL past the field under strict_string_checks). */
    char *origin = fuzz_cstr((const uint8_t *)env.origin, env.origin_len, NULL);
    char *subject =
        env.subject ? fuzz_cstr((const uint8_t *)env.subject, env.subject_len, NULL) : NULL;
    size_t len = 0;
    char *again =
        sb_envelope_encode(origin, env.event, subject, env.payload, env.payload_len, &len);
    FUZZ_CHECK(again != NULL, "a decoded envelope does not encode");
    FUZZ_CHECK(len == size && memcmp(again, buf, size) == 0, "round trip changed the bytes");
    free(again);
    free(subject);
    free(origin);
    free(buf);
}

/* What protocol.h promises sb_envelope_encode accepts. */
static int encodable(unsigned event, const char *origin, const char *subject)
{
    if (event >= EVENT_LIMIT || !is_token(origin, strlen(origin)))
        return 0;
    if (subject[0] == '\0')
        return !needs_subject((sb_env_event)event);
    return is_token(subject, strlen(subject)) && strcmp(subject, "*") != 0;
}

static void encode_side(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    unsigned event = data[0] % (EVENT_LIMIT + 1);
    size_t used, off = 1;
    char *origin = fuzz_cstr(data + off, size - off, &used);
    off += used;
    char *subject = fuzz_cstr(data + off, size - off, &used);
    off += used;
    char *payload = fuzz_copy(data + off, size - off);
    size_t payload_len = size - off;

    size_t len = 0;
    char *wire =
        sb_envelope_encode(origin, (sb_env_event)event, subject, payload, payload_len, &len);
    int ok = encodable(event, origin, subject);
    FUZZ_CHECK((wire != NULL) == ok, "encode %s",
               ok ? "refused valid fields" : "accepted bad fields");
    if (wire != NULL) {
        sb_envelope env;
        char *copy = fuzz_copy((const uint8_t *)wire, len);
        FUZZ_CHECK(sb_envelope_decode(copy, len, &env) == 0, "an encoded envelope does not decode");
        FUZZ_CHECK(env.event == (sb_env_event)event, "event changed");
        FUZZ_CHECK(env.origin_len == strlen(origin)
                       && memcmp(env.origin, origin, env.origin_len) == 0,
                   "origin changed");
        FUZZ_CHECK(
            env.subject_len == strlen(subject)
                && (env.subject_len == 0 || memcmp(env.subject, subject, env.subject_len) == 0),
            "subject changed");
        FUZZ_CHECK(env.payload_len == payload_len
                       && (payload_len == 0 || memcmp(env.payload, payload, payload_len) == 0),
                   "payload changed");
        free(copy);
        free(wire);
    }
    free(payload);
    free(subject);
    free(origin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_side(data, size);
    encode_side(data, size);
    return 0;
}
