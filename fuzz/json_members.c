/*
 * json_members.c - fuzz target: the top-level member scanner
 * (common/json_members.c) that cuts members out of a client's bytes.
 *
 * The input is the text, in an exactly-sized buffer.
 *
 *  - On any bytes, the walk ends (a member per step, never more members
 *    than bytes), stays inside the text, and each member it returns starts
 *    at a quote and holds its key between quotes.
 *  - On text jansson accepts as an object (and without a raw NUL byte,
 *    which no JSON has), the walk reaches the closing brace, and its
 *    members are exactly the members jansson delimits (members_ref.h), in
 *    order, byte for byte: same start, same end, same key. Each member's key, read alone, is the object's key at that place
 *    and its value the object's value; sb_json_key_is agrees with the key
 *    jansson decodes.
 *  - Removing members from the text (the server's two keys, every other
 *    member, all of them), each with the separator before it, leaves JSON
 *    that jansson reads as the object without those members.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "json_members.h"
#include "members_ref.h"

typedef struct {
    sb_json_member *m;
    size_t n;
    int result; /* 0: walked to the closing brace; -1: stopped */
    size_t end; /* it.pos after the walk */
} walk;

/* The scanner over any bytes, with the checks that hold whatever they are. */
static void walk_text(const char *buf, size_t size, walk *w)
{
    sb_json_members it;
    memset(w, 0, sizeof(*w));
    w->result = sb_json_members_begin(&it, buf, size);
    if (w->result != 0)
        return;
    FUZZ_CHECK(it.pos >= 1 && it.pos <= size && buf[it.pos - 1] == '{', "begin not after '{'");
    size_t prev_end = it.pos;
    w->m = malloc((size / 2 + 1) * sizeof(*w->m)); /* a member takes at least "" and : */
    FUZZ_CHECK(w->m != NULL, "out of memory");
    for (;;) {
        sb_json_member m;
        int r = sb_json_members_next(&it, &m);
        if (r <= 0) {
            w->result = r;
            break;
        }
        FUZZ_CHECK(w->n < size / 2 + 1, "more members than the text can hold");
        FUZZ_CHECK(m.start >= prev_end && m.start < m.end && m.end <= size,
                   "member %zu at %zu..%zu after %zu", w->n, m.start, m.end, prev_end);
        FUZZ_CHECK(buf[m.start] == '"' && m.key == buf + m.start + 1, "key not at the quote");
        FUZZ_CHECK(m.start + 1 + m.key_len < m.end && m.key[m.key_len] == '"',
                   "key not between quotes");
        FUZZ_CHECK(it.count == w->n + 1, "count %zu after %zu members", it.count, w->n + 1);
        sb_json_key_is(m.key, m.key_len, "room_id"); /* any key text: no overread */
        w->m[w->n++] = m;
        prev_end = m.end;
    }
    w->end = it.pos;
    if (w->result == 0) {
        FUZZ_CHECK(it.pos > prev_end && it.pos <= size && buf[it.pos - 1] == '}',
                   "walk ended at %zu, not after '}'", it.pos);
        sb_json_member m;
        FUZZ_CHECK(sb_json_members_next(&it, &m) == 0, "a member after the end");
    }
}

/* sb_json_key_is(key text, name) against the key jansson decoded. */
static void check_key_is(const sb_json_member *m, const ref_member *r)
{
    static const char *const names[] = { "sender_id", "room_id", "type", "to", "" };
    const char *key = ref_member_key(r);
    size_t key_len = json_string_length(r->key);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        bool want = key != NULL && strcmp(key, names[i]) == 0;
        FUZZ_CHECK(sb_json_key_is(m->key, m->key_len, names[i]) == want,
                   "key \"%.*s\" names '%s': %d", (int)m->key_len, m->key, names[i], !want);
    }
    bool ascii = key != NULL;
    for (size_t i = 0; ascii && i < key_len; i++)
        ascii = (unsigned char)key[i] < 0x80;
    if (!ascii || key_len == 0)
        return;
    char *name = strdup(key);
    FUZZ_CHECK(name != NULL, "out of memory");
    FUZZ_CHECK(sb_json_key_is(m->key, m->key_len, name), "key \"%.*s\" does not name '%s'",
               (int)m->key_len, m->key, name);
    name[key_len - 1] ^= 1; /* another ASCII name of the same length */
    FUZZ_CHECK(!sb_json_key_is(m->key, m->key_len, name), "key \"%.*s\" names '%s'",
               (int)m->key_len, m->key, name);
    free(name);
}

enum { DROP_SERVER_KEYS, DROP_EVEN, DROP_ODD, DROP_ALL, N_DROPS };

static bool dropped(int how, size_t i, const ref_member *r)
{
    const char *key = ref_member_key(r);
    switch (how) {
    case DROP_SERVER_KEYS:
        return key && (strcmp(key, "sender_id") == 0 || strcmp(key, "room_id") == 0);
    case DROP_EVEN:
        return i % 2 == 0;
    case DROP_ODD:
        return i % 2 == 1;
    default:
        return true;
    }
}

/* The text with the dropped members cut out by the scanner's spans, each
 * kept member with the separator that came before it (the first one with
 * the whitespace after '{'), must read as the object built from the kept
 * members alone (the last of repeated keys wins, as in jansson). */
static void check_removal(const char *buf, size_t size, const walk *w, const ref_members *ref,
                          int how)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    size_t open_end = ref->open + 1, n = open_end;
    memcpy(text, buf, open_end);
    json_t *want = json_object();
    bool first = true;
    for (size_t i = 0; i < w->n; i++) {
        if (dropped(how, i, &ref->m[i]))
            continue;
        size_t sep = first ? w->m[0].start - open_end : w->m[i].start - w->m[i - 1].end;
        memcpy(text + n, first ? buf + open_end : buf + w->m[i - 1].end, sep);
        n += sep;
        memcpy(text + n, buf + w->m[i].start, w->m[i].end - w->m[i].start);
        n += w->m[i].end - w->m[i].start;
        json_object_set(want, ref_member_key(&ref->m[i]), ref->m[i].value);
        first = false;
    }
    size_t tail = w->n ? w->m[w->n - 1].end : open_end; /* the closing brace */
    memcpy(text + n, buf + tail, size - tail);
    n += size - tail;
    json_error_t err;
    json_t *got = json_loadb(text, n, JSON_DECODE_ANY, &err);
    FUZZ_CHECK(got != NULL, "removal %d left no JSON (%s): %.*s", how, err.text, (int)n, text);
    FUZZ_CHECK(json_equal(got, want), "removal %d reads as another object: %.*s", how, (int)n,
               text);
    json_decref(got);
    json_decref(want);
    free(text);
}

static void check_object(const char *buf, size_t size, const walk *w, json_t *doc)
{
    ref_members ref;
    ref_members_find(buf, size, &ref);
    FUZZ_CHECK(w->result == 0, "jansson reads an object, the walk stopped after %zu members", w->n);
    FUZZ_CHECK(w->n == ref.n, "%zu members, jansson delimits %zu", w->n, ref.n);
    FUZZ_CHECK(w->end == ref.close + 1, "walk ended at %zu, the object at %zu", w->end,
               ref.close + 1);
    json_t *rebuilt = json_object();
    for (size_t i = 0; i < ref.n; i++) {
        const sb_json_member *m = &w->m[i];
        const ref_member *r = &ref.m[i];
        FUZZ_CHECK(m->start == r->start && m->end == r->end,
                   "member %zu is %zu..%zu, jansson says %zu..%zu", i, m->start, m->end, r->start,
                   r->end);
        FUZZ_CHECK(m->key_len + 2 == r->key_end - r->start, "member %zu: key length %zu", i,
                   m->key_len);
        const char *key = ref_member_key(r);
        FUZZ_CHECK(key != NULL, "a key with a NUL in an accepted object");
        json_object_set(rebuilt, key, r->value);
        check_key_is(m, r);
    }
    FUZZ_CHECK(json_equal(rebuilt, doc), "the members read alone are not the object");
    /* Without repeated keys, the order is jansson's too. */
    if (json_object_size(doc) == ref.n) {
        size_t i = 0;
        const char *key;
        json_t *value;
        json_object_foreach(doc, key, value)
        {
            FUZZ_CHECK(strcmp(key, ref_member_key(&ref.m[i])) == 0, "member %zu out of order", i);
            FUZZ_CHECK(json_equal(value, ref.m[i].value), "member %zu: other value", i);
            i++;
        }
    }
    for (int how = 0; how < N_DROPS; how++)
        check_removal(buf, size, w, &ref, how);
    json_decref(rebuilt);
    ref_members_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    walk w;
    walk_text(buf, size, &w);
    json_error_t err;
    json_t *doc = json_loadb(buf, size, JSON_DECODE_ANY, &err);
    /* A raw NUL byte is never JSON, though jansson skips one after a
     * number or a literal; the node refuses such text before the scanner
     * sees it (protocol.c). */
    if (json_is_object(doc) && memchr(buf, '\0', size) == NULL)
        check_object(buf, size, &w, doc);
    json_decref(doc);
    free(w.m);
    free(buf);
    return 0;
}
