/*
 * token.c - fuzz target: access tokens (common/token.c), which arrive in a
 * WebSocket's query string and a REST request's Authorization header.
 *
 * Byte 0 picks what the rest of the input is:
 *
 *  - even: a token, in an exactly-sized buffer. sb_token_verify agrees
 *    with an independent reading: OpenSSL's base64 (after mapping the URL
 *    alphabet) and HMAC, jansson for the header. Accepted means the header
 *    says exactly HS256 and the signature is the HMAC of the first two
 *    segments under the key; a header whose alg is anything else is
 *    refused as such whatever follows; no other key accepts it; accepted
 *    claims are within their documented bounds. The bytes also go through
 *    sb_token_redact: no access_token= or Bearer value survives it.
 *  - odd: claims text, signed here with the key (so the claims parser is
 *    reached, which random tokens never do), then verified: accepted
 *    exactly when a direct reading of the README's rules with jansson
 *    accepts the claims, and then with the same values.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "ids.h"
#include "token.h"

#define NOW 1800000000LL
#define KEY "fuzz-secret-fuzz-secret-fuzz-secret"

static const sb_token_key key = { KEY, sizeof(KEY) - 1 };
static const sb_token_key other = { "another-key-another-key-another-key", 35 };

/* base64url without padding, decoded by OpenSSL: NULL when not canonical
 * (EVP_DecodeBlock then encoding back must give the same text). */
static unsigned char *reference_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1)
        return NULL;
    char *std = calloc(1, n + 4);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!isalnum((unsigned char)c) && c != '-' && c != '_') {
            free(std);
            return NULL;
        }
        std[m++] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (m % 4)
        std[m++] = '=';
    unsigned char *out = malloc(m / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)std, (int)m);
    size_t len = got < 0 ? 0 : (size_t)got - (n % 4 ? 4 - n % 4 : 0);
    /* canonical: encoding the bytes again gives the same characters */
    unsigned char *again = malloc(m + 1);
    int back = got < 0 ? -1 : EVP_EncodeBlock(again, out, (int)len);
    bool same = back >= 0 && memcmp(again, std, m) == 0;
    free(again);
    free(std);
    if (!same) {
        free(out);
        return NULL;
    }
    *out_len = len;
    return out;
}

static void check_claims_bounds(const sb_token_claims *c)
{
    size_t chars = 0;
    FUZZ_CHECK(memchr(c->sub, 0, sizeof(c->sub)) && c->sub[0], "sub");
    for (const unsigned char *p = (const unsigned char *)c->sub; *p; p++) {
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f, "control character in sub");
        chars += (*p & 0xc0) != 0x80;
    }
    FUZZ_CHECK(chars <= SB_TOKEN_SUB_MAX, "sub of %zu characters", chars);
    FUZZ_CHECK(!c->room[0] || strcmp(c->room, "*") == 0 || sb_id_is_valid(c->room, SB_UUID_LEN),
               "room '%s'", c->room);
    FUZZ_CHECK(!(c->grants & ~15u), "grants %x", c->grants);
    FUZZ_CHECK(!(c->grants & SB_GRANT_ADMIN) || c->grants == 15u, "admin without the rest");
    if (c->metadata[0]) {
        json_error_t err;
        json_t *m = json_loads(c->metadata, 0, &err);
        FUZZ_CHECK(json_is_object(m) && strlen(c->metadata) <= SB_TOKEN_METADATA_MAX, "metadata");
        json_decref(m);
    }
    FUZZ_CHECK(NOW - SB_TOKEN_SKEW_S < c->exp && (!c->nbf || NOW + SB_TOKEN_SKEW_S >= c->nbf),
               "accepted outside its time");
}

static void check_redact(const char *in, size_t n)
{
    char out[512];
    sb_token_redact(in, n, out, sizeof(out));
    FUZZ_CHECK(memchr(out, 0, sizeof(out)) != NULL, "unterminated");
    static const char *const marks[] = { "access_token=", "bearer " };
    for (size_t k = 0; k < 2; k++) {
        size_t ml = strlen(marks[k]);
        for (const char *p = out; (p = strcasestr(p, marks[k])); p++) {
            const char *v = p + ml;
            while (*v == ' ')
                v++;
            FUZZ_CHECK(!*v || strchr("&\"' \t\r\n,;[", *v), "a credential survived: %s", out);
        }
    }
}

static void check_token(const char *t, size_t n)
{
    sb_token_claims c;
    sb_token_result r = sb_token_verify(t, n, &key, 1, NOW, &c, NULL);
    check_redact(t, n);
    if (r == SB_TOKEN_OK) {
        check_claims_bounds(&c);
        FUZZ_CHECK(sb_token_verify(t, n, &other, 1, NOW, NULL, NULL) != SB_TOKEN_OK,
                   "another key accepts it");
    }
    if (n > SB_TOKEN_MAX) {
        FUZZ_CHECK(r == SB_TOKEN_TOO_LARGE, "oversized token: %d", r);
        return;
    }
    const char *d1 = memchr(t, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - t)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - t))) {
        FUZZ_CHECK(r == SB_TOKEN_MISSING || r == SB_TOKEN_MALFORMED, "not 3 segments: %d", r);
        return;
    }
    size_t hlen;
    unsigned char *h = reference_decode(t, (size_t)(d1 - t), &hlen);
    json_error_t err;
    json_t *header = h ? json_loadb((const char *)h, hlen, JSON_REJECT_DUPLICATES, &err) : NULL;
    free(h);
    if (!json_is_object(header)) {
        FUZZ_CHECK(r == SB_TOKEN_MALFORMED, "header not an object, result %d", r);
        json_decref(header);
        return;
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    bool hs256 = alg && strcmp(alg, "HS256") == 0;
    json_decref(header);
    FUZZ_CHECK(hs256 || r == SB_TOKEN_BAD_ALG, "alg %s gave %d", alg ? alg : "(none)", r);
    if (r != SB_TOKEN_OK)
        return;
    size_t slen;
    unsigned char *sig = reference_decode(d2 + 1, n - (size_t)(d2 + 1 - t), &slen);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), KEY, (int)key.len, (const unsigned char *)t, (size_t)(d2 - t), mac,
         &mac_len);
    FUZZ_CHECK(sig && slen == 32 && memcmp(sig, mac, 32) == 0, "accepted a wrong signature");
    free(sig);
}

/* ---- claims, read directly from the README's rules ---- */

static bool text_ok(json_t *v, bool required)
{
    if (!v)
        return !required;
    if (!json_is_string(v))
        return false;
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)json_string_value(v); *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        chars += (*p & 0xc0) != 0x80;
    }
    return chars >= 1 && chars <= 128 && strlen(json_string_value(v)) == json_string_length(v);
}

static bool date_of(json_t *v, long long *out)
{
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_real(v) && fabs(json_real_value(v)) <= 1e15)
        *out = (long long)floor(json_real_value(v));
    else
        return false;
    return true;
}

static bool reference_accepts(json_t *c)
{
    long long exp, nbf = 0;
    json_t *room = json_object_get(c, "room"), *grants = json_object_get(c, "grants"),
           *meta = json_object_get(c, "metadata"), *nbf_v = json_object_get(c, "nbf");
    if (!json_is_object(c) || !text_ok(json_object_get(c, "sub"), true)
        || !text_ok(json_object_get(c, "name"), false) || !date_of(json_object_get(c, "exp"), &exp)
        || (nbf_v && !date_of(nbf_v, &nbf)))
        return false;
    if (room
        && !(json_is_string(room)
             && (strcmp(json_string_value(room), "*") == 0
                 || (json_string_length(room) == 36
                     && sb_id_is_valid(json_string_value(room), 36)))))
        return false;
    size_t i;
    json_t *g;
    if (grants && !json_is_array(grants))
        return false;
    json_array_foreach(grants, i, g)
    {
        const char *w = json_string_value(g);
        if (!w
            || (strcmp(w, "join") && strcmp(w, "create") && strcmp(w, "list") && strcmp(w, "admin"))
            || strlen(w) != json_string_length(g))
            return false;
    }
    if (meta) {
        char *text = json_is_object(meta) ? json_dumps(meta, JSON_COMPACT) : NULL;
        bool fits = text && strlen(text) <= 1024;
        free(text);
        if (!fits)
            return false;
    }
    return exp > NOW - 30 && (!nbf || nbf <= NOW + 30);
}

static void check_signed_claims(const char *text, size_t n)
{
    json_error_t err;
    json_t *claims = json_loadb(text, n, JSON_REJECT_DUPLICATES, &err);
    if (!claims)
        return;
    char *t = sb_token_sign(claims, &key);
    FUZZ_CHECK(t != NULL, "signing failed");
    sb_token_claims c;
    sb_token_result r = sb_token_verify(t, strlen(t), &key, 1, NOW, &c, NULL);
    bool want = json_is_object(claims) && reference_accepts(claims) && strlen(t) <= SB_TOKEN_MAX;
    FUZZ_CHECK((r == SB_TOKEN_OK) == want, "result %d, the rules say %d: %.*s", r, want, (int)n,
               text);
    if (r == SB_TOKEN_OK) {
        check_claims_bounds(&c);
        FUZZ_CHECK(strcmp(c.sub, json_string_value(json_object_get(claims, "sub"))) == 0, "sub");
    }
    free(t);
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *buf = fuzz_copy(data + 1, size - 1);
    if (data[0] & 1)
        check_signed_claims(buf, size - 1);
    else
        check_token(buf, size - 1);
    free(buf);
    return 0;
}
