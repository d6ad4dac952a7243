/*
 * members_ref.h - the top-level members of a JSON object text, delimited
 * by jansson alone: the reference the member scanner (common/json_members.c)
 * and the relay built with it are checked against.
 *
 * jansson gives no positions for what it parses, but it does say where it
 * stops: read from the first byte of a key or a value, a text that goes on
 * fails with "end of file expected" just past the token after it (':' after
 * a key, ',' or '}' after a value). That is where the key or value ends,
 * found without any scanner of ours.
 */
#ifndef SB_FUZZ_MEMBERS_REF_H
#define SB_FUZZ_MEMBERS_REF_H

#include <stddef.h>

#include <jansson.h>

typedef struct {
    size_t start;       /* the key's opening quote */
    size_t key_end;     /* just past the key's closing quote */
    size_t value_start; /* the value's first byte */
    size_t end;         /* just past the value's last byte */
    json_t *key;        /* the key as jansson reads it alone (a string) */
    json_t *value;      /* the value as jansson reads it alone */
} ref_member;

typedef struct {
    ref_member *m;
    size_t n;
    size_t open;  /* the object's '{' */
    size_t close; /* its '}' */
} ref_members;

/* The members of text[0, len), which jansson must have accepted as one
 * object (JSON_DECODE_ANY, repeated keys allowed). A failed FUZZ_CHECK
 * when jansson does not delimit it as described above. */
void ref_members_find(const char *text, size_t len, ref_members *out);
void ref_members_free(ref_members *r);

/* The key as a C string: NULL when it holds a NUL (jansson refuses those
 * in keys; checked anyway). */
const char *ref_member_key(const ref_member *m);

/* b[0, bn) is a[0, an) with one contiguous run cut out (possibly empty). */
int ref_is_cut(const char *a, size_t an, const char *b, size_t bn);

#endif
