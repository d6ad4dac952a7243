/*
 * json_scan.c - validate a JSON text and find its top-level members in one
 * pass (see json_scan.h).
 *
 * An explicit stack of open containers instead of recursion, so a deep
 * text costs no C stack; the keys of every open object are remembered
 * (pointers into the text) so a repeated key is found without copying.
 * Plain string bytes, the bulk of a message (an SDP), are skipped through
 * a table lookup; only escapes and non-ASCII bytes take the slow path.
 */
#include "json_scan.h"
#include "ids.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_MAX 512       /* keys remembered over all open objects */
#define OBJECT_KEYS_MAX 64 /* past this, one object's keys go to jansson */
#define KEY_DECODE_MAX 256 /* escaped keys compared after decoding up to this */
#define REAL_TEXT_MAX 512  /* reals checked with strtod up to this length */

typedef struct {
    const char *p;
    size_t len;
    bool escaped;
} key_span;

typedef struct {
    const char *buf;
    size_t len, pos;
    size_t open;                   /* containers open */
    char stack[SB_JSON_MAX_DEPTH]; /* '{' or '[' per open container */
    uint16_t key_base[SB_JSON_MAX_DEPTH];
    key_span keys[KEYS_MAX];
    size_t n_keys;
    sb_json_span *member; /* the top-level member whose value is being read */
    const char *member_start;
} scanner;

/* Bytes a string holds as they are: printable ASCII but the quote and the
 * backslash. */
static const bool plain[256] = {
    [0x20] = 1,
    [0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7f] = 1,
};

/* Whether eight bytes are all plain, tested at once: a byte under 0x20,
 * a quote or a backslash (a zero after the XOR) borrows into its high bit
 * when subtracted from, and a non-ASCII byte has it already. A borrow only
 * carries into the bytes above one that matched, so the answer is exact. */
static bool plain8(const char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = ones * 0x80;
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    uint64_t hit = v | (v - ones * 0x20) | ((v ^ ones * '"') - ones) | ((v ^ ones * '\\') - ones);
    return (hit & highs) == 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(scanner *s)
{
    while (s->pos < s->len && is_ws(s->buf[s->pos]))
        s->pos++;
}

/* The code unit of "\uXXXX" at p (p at the backslash, 6 bytes there), or
 * -1. */
static int32_t read_u_escape(const char *p)
{
    if (p[0] != '\\' || p[1] != 'u')
        return -1;
    int32_t v = 0;
    for (int i = 2; i < 6; i++) {
        int h = sb_hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* A UTF-8 sequence at p (first byte >= 0x80, n bytes left): its length,
 * or 0 when it is not RFC 3629 UTF-8 (overlong, surrogate, beyond
 * U+10FFFF, cut short). */
static size_t utf8_length(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t need;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* An escape at buf[pos] (the backslash): the bytes it takes, or 0 when it
 * is invalid (for jansson: unknown, \u0000, a lone surrogate). */
static size_t escape_length(const char *buf, size_t len, size_t pos)
{
    if (pos + 1 >= len)
        return 0;
    switch (buf[pos + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;
    case 'u':
        break;
    default:
        return 0;
    }
    if (pos + 6 > len)
        return 0;
    int32_t v = read_u_escape(buf + pos);
    if (v <= 0 || (v >= 0xdc00 && v <= 0xdfff))
        return 0;
    if (v < 0xd800 || v > 0xdbff)
        return 6;
    if (pos + 12 > len)
        return 0;
    int32_t low = read_u_escape(buf + pos + 6);
    return low >= 0xdc00 && low <= 0xdfff ? 12 : 0;
}

/* The string at buf[pos] (its opening quote): 0, with pos past the closing
 * quote and the span of its contents, or -1. */
static int scan_string(scanner *s, key_span *out)
{
    const char *buf = s->buf;
    size_t len = s->len, pos = s->pos + 1;
    bool escaped = false;
    for (;;) {
        while (len - pos >= 8 && plain8(buf + pos))
            pos += 8;
        while (pos < len && plain[(unsigned char)buf[pos]])
            pos++;
        if (pos >= len)
            return -1;
        unsigned char c = (unsigned char)buf[pos];
        size_t n;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = true;
            n = escape_length(buf, len, pos);
        } else if (c >= 0x80) {
            n = utf8_length((const unsigned char *)buf + pos, len - pos);
        } else {
            n = 0; /* a control character */
        }
        if (n == 0)
            return -1;
        pos += n;
    }
    out->p = buf + s->pos + 1;
    out->len = pos - (s->pos + 1);
    out->escaped = escaped;
    s->pos = pos + 1;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_digits(const scanner *s, size_t pos)
{
    while (pos < s->len && is_digit(s->buf[pos]))
        pos++;
    return pos;
}

/* A real is refused by jansson when strtod overflows. Without an exponent
 * the digits before the point tell, except right at the edge. */
static sb_json_verdict check_real(const char *text, size_t len, size_t int_digits, bool exponent)
{
    if (!exponent && int_digits <= 308)
        return SB_JSON_VALID;
    if (!exponent && int_digits >= 310)
        return SB_JSON_INVALID;
    if (len >= REAL_TEXT_MAX)
        return SB_JSON_UNSURE;
    char copy[REAL_TEXT_MAX];
    memcpy(copy, text, len);
    copy[len] = '\0';
    errno = 0;
    double v = strtod(copy, NULL);
    return (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE ? SB_JSON_INVALID : SB_JSON_VALID;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, within jansson's range:
 * an integer must fit 64 bits, a real must not overflow a double. */
static sb_json_verdict scan_number(scanner *s)
{
    size_t start = s->pos, pos = s->pos;
    bool negative = s->buf[pos] == '-';
    if (negative)
        pos++;
    size_t digits = pos;
    if (pos >= s->len || !is_digit(s->buf[pos]))
        return SB_JSON_INVALID;
    if (s->buf[pos] == '0') {
        pos++;
        if (pos < s->len && is_digit(s->buf[pos]))
            return SB_JSON_INVALID;
    } else {
        pos = skip_digits(s, pos);
    }
    size_t int_digits = pos - digits;
    bool real = false, exponent = false;
    if (pos < s->len && s->buf[pos] == '.') {
        real = true;
        if (pos + 1 >= s->len || !is_digit(s->buf[pos + 1]))
            return SB_JSON_INVALID;
        pos = skip_digits(s, pos + 1);
    }
    if (pos < s->len && (s->buf[pos] == 'e' || s->buf[pos] == 'E')) {
        real = exponent = true;
        pos++;
        if (pos < s->len && (s->buf[pos] == '+' || s->buf[pos] == '-'))
            pos++;
        if (pos >= s->len || !is_digit(s->buf[pos]))
            return SB_JSON_INVALID;
        pos = skip_digits(s, pos);
    }
    s->pos = pos;
    if (real)
        return check_real(s->buf + start, pos - start, int_digits, exponent);
    if (int_digits < 19)
        return SB_JSON_VALID;
    if (int_digits > 19)
        return SB_JSON_INVALID;
    const char *limit = negative ? "9223372036854775808" : "9223372036854775807";
    return memcmp(s->buf + digits, limit, 19) > 0 ? SB_JSON_INVALID : SB_JSON_VALID;
}

static bool scan_literal(scanner *s, const char *word, size_t n)
{
    if (s->len - s->pos < n || memcmp(s->buf + s->pos, word, n) != 0)
        return false;
    s->pos += n;
    return true;
}

/* ---- keys ------------------------------------------------------------------ */

static size_t unescape(const char *p, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] != '\\') {
            out[o++] = p[i++];
            continue;
        }
        char c = p[i + 1];
        if (c != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            out[o++] = to[strchr(from, c) - from];
            i += 2;
            continue;
        }
        uint32_t cp = (uint32_t)read_u_escape(p + i);
        i += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)read_u_escape(p + i) - 0xdc00);
            i += 6;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xc0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xe0 | cp >> 12);
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[o++] = (char)(0xf0 | cp >> 18);
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    out[o] = '\0';
    return o;
}

size_t sb_json_unescape(const sb_json_span *span, char *out)
{
    if (!span->escaped) {
        memcpy(out, span->p, span->len);
        out[span->len] = '\0';
        return span->len;
    }
    return unescape(span->p, span->len, out);
}

/* 1 when two keys name the same string, 0 when not, -1 when too long to
 * decide here. */
static int same_key(const key_span *a, const key_span *b)
{
    if (!a->escaped && !b->escaped)
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
    if (a->len > KEY_DECODE_MAX || b->len > KEY_DECODE_MAX)
        return -1;
    char da[KEY_DECODE_MAX + 1], db[KEY_DECODE_MAX + 1];
    size_t na = unescape(a->p, a->len, da), nb = unescape(b->p, b->len, db);
    return na == nb && memcmp(da, db, na) == 0;
}

/* Remember a key of the innermost object, refusing a repeat. */
static sb_json_verdict add_key(scanner *s, const key_span *k)
{
    size_t base = s->key_base[s->open - 1];
    if (s->n_keys - base >= OBJECT_KEYS_MAX || s->n_keys >= KEYS_MAX)
        return SB_JSON_UNSURE;
    for (size_t i = base; i < s->n_keys; i++) {
        int same = same_key(&s->keys[i], k);
        if (same != 0)
            return same > 0 ? SB_JSON_INVALID : SB_JSON_UNSURE;
    }
    s->keys[s->n_keys++] = *k;
    return SB_JSON_VALID;
}

#define NAME_MAX_LEN 9 /* "sender_id" */

static bool key_names(const key_span *k, const char *name)
{
    size_t n = strlen(name);
    if (!k->escaped)
        return k->len == n && memcmp(k->p, name, n) == 0;
    /* No escape takes more than 6 bytes per decoded byte. */
    if (k->len > 6 * NAME_MAX_LEN)
        return false;
    char decoded[6 * NAME_MAX_LEN + 1];
    size_t got = unescape(k->p, k->len, decoded);
    return got == n && memcmp(decoded, name, n) == 0;
}

/* The span a top-level key's value goes to, or NULL. */
static sb_json_span *member_slot(sb_json_top *top, const key_span *k)
{
    if (key_names(k, "type"))
        return &top->type;
    if (key_names(k, "to"))
        return &top->to;
    if (key_names(k, "room_id"))
        return &top->room_id;
    if (key_names(k, "sender_id"))
        return &top->sender_id;
    return NULL;
}

/* ---- the walk --------------------------------------------------------------- */

/* One value at s->pos (whitespace skipped), scalars whole, a container
 * only opened. */
static sb_json_verdict begin_value(scanner *s, char *kind)
{
    if (s->pos >= s->len || s->open + 1 > SB_JSON_MAX_DEPTH)
        return SB_JSON_INVALID;
    char c = s->buf[s->pos];
    key_span str;
    *kind = 'v';
    switch (c) {
    case '{':
    case '[':
        s->stack[s->open] = c;
        s->key_base[s->open] = (uint16_t)s->n_keys;
        s->open++;
        s->pos++;
        *kind = c;
        return SB_JSON_VALID;
    case '"':
        *kind = '"';
        return scan_string(s, &str) == 0 ? SB_JSON_VALID : SB_JSON_INVALID;
    case 't':
        return scan_literal(s, "true", 4) ? SB_JSON_VALID : SB_JSON_INVALID;
    case 'f':
        return scan_literal(s, "false", 5) ? SB_JSON_VALID : SB_JSON_INVALID;
    case 'n':
        *kind = 'n';
        return scan_literal(s, "null", 4) ? SB_JSON_VALID : SB_JSON_INVALID;
    default:
        return c == '-' || is_digit(c) ? scan_number(s) : SB_JSON_INVALID;
    }
}

/* A key and its colon, in the innermost object. */
static sb_json_verdict read_key(scanner *s, sb_json_top *top)
{
    key_span k;
    if (s->pos >= s->len || s->buf[s->pos] != '"' || scan_string(s, &k) != 0)
        return SB_JSON_INVALID;
    sb_json_verdict v = add_key(s, &k);
    if (v != SB_JSON_VALID)
        return v;
    if (s->open == 1)
        s->member = member_slot(top, &k);
    skip_ws(s);
    if (s->pos >= s->len || s->buf[s->pos] != ':')
        return SB_JSON_INVALID;
    s->pos++;
    skip_ws(s);
    return SB_JSON_VALID;
}

/* The value of a top-level member that ended at s->pos. */
static void end_member(scanner *s, char kind)
{
    sb_json_span *m = s->member;
    s->member = NULL;
    m->kind = kind == '"' ? '"' : kind == 'n' ? 'n' : 'v';
    m->p = s->member_start;
    m->len = (size_t)(s->buf + s->pos - s->member_start);
    if (m->kind == '"') {
        m->p++;
        m->len -= 2;
        m->escaped = memchr(m->p, '\\', m->len) != NULL;
    }
}

static sb_json_verdict walk(scanner *s, sb_json_top *top)
{
    char kind = 0, member_kind = 0;
    for (;;) {
        /* a value is due */
        bool at_member = s->member && s->open == 1, at_top = s->open == 0;
        if (at_member)
            s->member_start = s->buf + s->pos;
        sb_json_verdict v = begin_value(s, &kind);
        if (v != SB_JSON_VALID)
            return v;
        if (at_member)
            member_kind = kind;
        if (at_top)
            top->kind = kind == '{' || kind == '[' || kind == '"' ? kind : 'v';
        if (kind == '{' || kind == '[') {
            skip_ws(s);
            if (s->pos < s->len && s->buf[s->pos] == (kind == '{' ? '}' : ']')) {
                s->pos++;
                s->open--;
                s->n_keys = s->key_base[s->open];
            } else if (kind == '{') {
                if ((v = read_key(s, top)) != SB_JSON_VALID)
                    return v;
                continue;
            } else {
                continue;
            }
        }
        /* a value ended: a separator, a closing bracket, or the end */
        for (;;) {
            if (s->member && s->open == 1 && s->member_start) {
                end_member(s, member_kind);
                s->member_start = NULL;
            }
            skip_ws(s);
            if (s->open == 0)
                return s->pos == s->len ? SB_JSON_VALID : SB_JSON_INVALID;
            if (s->pos >= s->len)
                return SB_JSON_INVALID;
            char c = s->buf[s->pos++], open = s->stack[s->open - 1];
            if (c == ',') {
                skip_ws(s);
                if (open == '{' && (v = read_key(s, top)) != SB_JSON_VALID)
                    return v;
                break;
            }
            if (c != (open == '{' ? '}' : ']'))
                return SB_JSON_INVALID;
            s->open--;
            s->n_keys = s->key_base[s->open];
        }
    }
}

sb_json_verdict sb_json_scan(const char *buf, size_t len, sb_json_top *top)
{
    static _Thread_local scanner s;
    memset(top, 0, sizeof(*top));
    s.buf = buf;
    s.len = len;
    s.pos = 0;
    s.open = 0;
    s.n_keys = 0;
    s.member = NULL;
    s.member_start = NULL;
    skip_ws(&s);
    return walk(&s, top);
}
