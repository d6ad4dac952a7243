/*
 * members_ref.c - object members delimited by jansson (see members_ref.h).
 */
#include "members_ref.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *text, size_t len, size_t pos)
{
    while (pos < len && is_ws(text[pos]))
        pos++;
    return pos;
}

/* Reads the key or value at text[from] with jansson and returns the
 * position of the one-byte token after it; *end is just past its last
 * byte (whitespace before the token is not part of it). */
static size_t token_after(const char *text, size_t len, size_t from, size_t *end)
{
    json_error_t err;
    json_t *v = json_loadb(text + from, len - from, JSON_DECODE_ANY, &err);
    FUZZ_CHECK(v == NULL, "a member at %zu runs to the end of the object", from);
    FUZZ_CHECK(json_error_code(&err) == json_error_end_of_input_expected && err.position > 0,
               "jansson stopped at %zu with '%s'", from, err.text);
    size_t token = from + (size_t)err.position - 1;
    FUZZ_CHECK(token < len, "jansson stopped past the text");
    *end = token;
    while (*end > from && is_ws(text[*end - 1]))
        (*end)--;
    FUZZ_CHECK(*end > from, "an empty member at %zu", from);
    return token;
}

static json_t *load_exact(const char *text, size_t from, size_t to)
{
    json_error_t err;
    json_t *v = json_loadb(text + from, to - from, JSON_DECODE_ANY, &err);
    FUZZ_CHECK(v != NULL, "bytes %zu..%zu alone are not JSON: %s", from, to, err.text);
    return v;
}

void ref_members_find(const char *text, size_t len, ref_members *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = skip_ws(text, len, 0), cap = 0;
    FUZZ_CHECK(pos < len && text[pos] == '{', "not an object");
    out->open = pos;
    pos = skip_ws(text, len, pos + 1);
    if (pos < len && text[pos] == '}') {
        out->close = pos;
        return;
    }
    for (;;) {
        FUZZ_CHECK(pos < len && text[pos] == '"', "no key at %zu", pos);
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            out->m = realloc(out->m, cap * sizeof(*out->m));
            FUZZ_CHECK(out->m != NULL, "out of memory");
        }
        ref_member *m = &out->m[out->n++];
        m->start = pos;
        size_t colon = token_after(text, len, pos, &m->key_end);
        FUZZ_CHECK(text[colon] == ':', "no ':' after the key at %zu", pos);
        m->value_start = skip_ws(text, len, colon + 1);
        size_t next = token_after(text, len, m->value_start, &m->end);
        m->key = load_exact(text, m->start, m->key_end);
        m->value = load_exact(text, m->value_start, m->end);
        FUZZ_CHECK(json_is_string(m->key), "key at %zu is no string", pos);
        if (text[next] == '}') {
            out->close = next;
            return;
        }
        FUZZ_CHECK(text[next] == ',', "'%c' after the value at %zu", text[next], m->value_start);
        pos = skip_ws(text, len, next + 1);
    }
}

void ref_members_free(ref_members *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->m[i].key);
        json_decref(r->m[i].value);
    }
    free(r->m);
    memset(r, 0, sizeof(*r));
}

const char *ref_member_key(const ref_member *m)
{
    const char *k = json_string_value(m->key);
    return strlen(k) == json_string_length(m->key) ? k : NULL;
}

int ref_is_cut(const char *a, size_t an, const char *b, size_t bn)
{
    if (bn > an)
        return 0;
    size_t head = 0, tail = 0;
    while (head < bn && a[head] == b[head])
        head++;
    while (tail < bn && a[an - 1 - tail] == b[bn - 1 - tail])
        tail++;
    return head + tail >= bn;
}
