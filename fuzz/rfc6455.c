/*
 * rfc6455.c - fuzz target: the checks of common/rfc6455.c, on the bytes
 * of a text message and of handshake headers.
 *
 * Input: byte 0 (low four bits) is the number of cuts, then two bytes per
 * cut (big endian, modulo the text's length plus one, sorted), then the
 * text.
 *
 *  - sb_utf8_feed, fed the text in the pieces the cuts make (each in an
 *    exactly-sized buffer), agrees after every piece with a plain decoder
 *    written from RFC 3629: a piece fails exactly when the text up to its
 *    end can no longer be completed into UTF-8, a failure leaves the state
 *    alone, and the state is 0 exactly when the text so far is whole UTF-8.
 *  - sb_ws_key_is_valid(text) is true exactly when the text is base64
 *    (RFC 4648, a plain decoder) of 16 bytes; those 16 bytes are also what
 *    OpenSSL's EVP_DecodeBlock makes of it.
 *  - sb_http_list_has_token(text, token) agrees with a plain reading of a
 *    comma-separated list, for "upgrade" and "keep-alive".
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "rfc6455.h"

#define MAX_CUTS 15

/* ---- UTF-8 ---- */

/* The code point of s[0, n) as one character whose lead byte says it
 * needs n bytes, or -1 when a byte after the lead is no continuation. */
static long decode_char(const unsigned char *s, size_t n)
{
    static const unsigned lead_bits[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    long cp = s[0] & lead_bits[n];
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    return cp;
}

/* RFC 3629: the shortest form, no surrogates, nothing past U+10FFFF. */
static bool char_valid(const unsigned char *s, size_t n)
{
    static const long min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
    long cp = decode_char(s, n);
    return cp >= min_cp[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

static size_t char_length(unsigned char lead)
{
    if (lead < 0x80)
        return 1;
    if ((lead & 0xe0) == 0xc0)
        return 2;
    if ((lead & 0xf0) == 0xe0)
        return 3;
    if ((lead & 0xf8) == 0xf0)
        return 4;
    return 0;
}

typedef enum { TEXT_WHOLE, TEXT_CUT_SHORT, TEXT_INVALID } text_state;

/* s[0, n) as UTF-8: whole, valid but ending inside a character that some
 * bytes could still complete, or not UTF-8 whatever follows. A
 * character cut short is tried with every byte in the place of the first
 * missing one and 0x80 after it: the limits of RFC 3629 depend on the
 * lead byte and the byte after it only. */
static text_state utf8_reference(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t need = char_length(s[i]);
        if (need == 0)
            return TEXT_INVALID;
        if (i + need <= n) {
            if (!char_valid(s + i, need))
                return TEXT_INVALID;
            i += need;
            continue;
        }
        unsigned char c[4];
        size_t have = n - i;
        memcpy(c, s + i, have);
        for (unsigned b = 0; b < 256; b++) {
            c[have] = (unsigned char)b;
            for (size_t k = have + 1; k < need; k++)
                c[k] = 0x80;
            if (char_valid(c, need))
                return TEXT_CUT_SHORT;
        }
        return TEXT_INVALID;
    }
    return TEXT_WHOLE;
}

static void check_utf8(const unsigned char *text, size_t n, const size_t *cuts, size_t n_cuts)
{
    uint8_t state = 0;
    size_t from = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : n;
        char *piece = fuzz_copy(text + from, to - from);
        uint8_t before = state;
        int rc = sb_utf8_feed(&state, piece, to - from);
        free(piece);
        text_state want = utf8_reference(text, to);
        FUZZ_CHECK((rc == -1) == (want == TEXT_INVALID),
                   "piece %zu..%zu of %zu: returned %d, the reference says %d", from, to, n, rc,
                   (int)want);
        if (rc == -1) {
            FUZZ_CHECK(state == before, "a failure changed the state");
            return;
        }
        FUZZ_CHECK((state == 0) == (want == TEXT_WHOLE), "state %u after %zu bytes, reference %d",
                   state, to, (int)want);
        from = to;
    }
}

/* ---- Sec-WebSocket-Key ---- */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 §4: decodes s[0, n) into out (room for n bytes) and returns
 * the number of bytes, or -1. Padding only at the end, as "=" or "==";
 * the unused bits of the last character are not checked (§3.5 leaves
 * that to the decoder, and RFC 6455 asks only that the key decodes to 16
 * bytes). */
static long base64_decode(const char *s, size_t n, unsigned char *out)
{
    if (n % 4 != 0)
        return -1;
    size_t pad = 0;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    unsigned long bits = 0;
    size_t nbits = 0, len = 0;
    for (size_t i = 0; i < n - pad; i++) {
        const char *p = s[i] ? strchr(base64_alphabet, s[i]) : NULL;
        if (p == NULL)
            return -1;
        bits = (bits << 6 | (unsigned long)(p - base64_alphabet)) & 0xffffff;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[len++] = (unsigned char)(bits >> nbits);
        }
    }
    return (long)len;
}

static void check_key(const char *text, size_t n)
{
    char *key = fuzz_copy((const uint8_t *)text, n);
    bool got = sb_ws_key_is_valid(key, n);
    unsigned char *mine = malloc(n + 1), *theirs = malloc(n + 1);
    FUZZ_CHECK(mine && theirs, "out of memory");
    bool want = base64_decode(text, n, mine) == 16;
    FUZZ_CHECK(got == want, "key '%.*s': %d, base64 of 16 bytes: %d", (int)n, text, got, want);
    if (want) {
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        int len = EVP_DecodeBlock(theirs, (const unsigned char *)text, (int)n);
        FUZZ_CHECK(len == 18 && memcmp(mine, theirs, 16) == 0,
                   "key '%.*s': OpenSSL decodes it otherwise (%d bytes)", (int)n, text, len);
    }
    free(mine);
    free(theirs);
    free(key);
}

/* ---- Connection: list of tokens ---- */

static bool ascii_equal_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return false;
    }
    return true;
}

/* Split at every ',', trim spaces and tabs, compare without case. */
static bool list_has_reference(const char *s, size_t n, const char *token)
{
    size_t pos = 0, a, b, tlen = strlen(token);
    while (fuzz_list_next(s, n, &pos, &a, &b))
        if (b - a == tlen && ascii_equal_nocase(s + a, token, tlen))
            return true;
    return false;
}

static void check_list(const char *text, size_t n)
{
    static const char *const tokens[] = { "upgrade", "keep-alive" };
    char *list = fuzz_copy((const uint8_t *)text, n);
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        bool got = sb_http_list_has_token(list, n, tokens[i]);
        FUZZ_CHECK(got == list_has_reference(text, n, tokens[i]), "'%.*s' has %s: %d", (int)n, text,
                   tokens[i], got);
    }
    free(list);
}

static int by_offset(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n_cuts = data[0] & MAX_CUTS;
    if (size < 1 + 2 * n_cuts)
        return 0;
    const uint8_t *text = data + 1 + 2 * n_cuts;
    size_t n = size - 1 - 2 * n_cuts;
    size_t cuts[MAX_CUTS];
    for (size_t i = 0; i < n_cuts; i++)
        cuts[i] = ((size_t)data[1 + 2 * i] << 8 | data[2 + 2 * i]) % (n + 1);
    qsort(cuts, n_cuts, sizeof(cuts[0]), by_offset);

    check_utf8(text, n, cuts, n_cuts);
    check_key((const char *)text, n);
    check_list((const char *)text, n);
    return 0;
}
