/*
 * json_scan.c - fuzz target: the one-pass validator and member finder
 * (common/json_scan.c) against jansson.
 *
 * The input is the text, in an exactly-sized buffer.
 *
 *  - Verdict: the scanner calls the text valid exactly when jansson's
 *    json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) reads it and it
 *    holds no raw NUL byte (never JSON; jansson skips one after a number
 *    or a literal, the node refuses it), and invalid exactly when not.
 *    "Unsure" (left to jansson by the node) is allowed only where the
 *    header says: an object with more keys than it compares, an escaped
 *    key too long to decode on the stack, a long real.
 *  - On valid text: the kind of the top-level value is jansson's, and each
 *    of the members `type`, `to`, `room_id` and `sender_id` of a top-level
 *    object is found exactly when jansson has it, with jansson's value: a
 *    string's decoded bytes (sb_json_unescape) are jansson's string, null
 *    is null, and any other value's text reads as jansson's value.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "json_scan.h"

static char json_kind(const json_t *v)
{
    if (json_is_object(v))
        return '{';
    if (json_is_array(v))
        return '[';
    if (json_is_string(v))
        return '"';
    return 'v';
}

static void check_member(const sb_json_span *span, const json_t *doc, const char *name)
{
    json_t *want = json_object_get(doc, name);
    if (want == NULL) {
        FUZZ_CHECK(span->kind == 0, "member %s found but jansson has none", name);
        return;
    }
    FUZZ_CHECK(span->kind != 0, "member %s not found", name);
    if (json_is_string(want)) {
        FUZZ_CHECK(span->kind == '"', "member %s: kind %c for a string", name, span->kind);
        char *got = malloc(span->len + 1);
        FUZZ_CHECK(got != NULL, "out of memory");
        size_t n = sb_json_unescape(span, got);
        FUZZ_CHECK(n == json_string_length(want) && memcmp(got, json_string_value(want), n) == 0,
                   "member %s decodes to '%s', jansson '%s'", name, got, json_string_value(want));
        free(got);
        return;
    }
    FUZZ_CHECK(span->kind == (json_is_null(want) ? 'n' : 'v'), "member %s: kind %c", name,
               span->kind);
    json_error_t err;
    json_t *alone = json_loadb(span->p, span->len, JSON_DECODE_ANY, &err);
    FUZZ_CHECK(alone != NULL && json_equal(alone, want), "member %s: its text is not its value",
               name);
    json_decref(alone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    json_error_t err;
    json_t *doc = json_loadb(buf, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    bool jansson_ok = doc != NULL && memchr(buf, '\0', size) == NULL;
    sb_json_top top;
    sb_json_verdict v = sb_json_scan(buf, size, &top);
    if (v == SB_JSON_UNSURE) {
        /* only where a repeated key or a real is costly to judge here */
        FUZZ_CHECK(size > 64, "unsure about %zu bytes", size);
    } else {
        FUZZ_CHECK((v == SB_JSON_VALID) == jansson_ok, "scanner says %s, jansson %s (%s)",
                   v == SB_JSON_VALID ? "valid" : "invalid", jansson_ok ? "valid" : "invalid",
                   doc ? "raw NUL" : err.text);
    }
    if (v == SB_JSON_VALID) {
        FUZZ_CHECK(top.kind == json_kind(doc), "top-level kind %c, jansson %c", top.kind,
                   json_kind(doc));
        if (json_is_object(doc)) {
            check_member(&top.type, doc, "type");
            check_member(&top.to, doc, "to");
            check_member(&top.room_id, doc, "room_id");
            check_member(&top.sender_id, doc, "sender_id");
        }
    }
    json_decref(doc);
    free(buf);
    return 0;
}
