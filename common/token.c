/*
 * token.c - HS256 JSON Web Tokens (see token.h for the acceptance rules).
 *
 * The header's alg is checked before anything else is trusted: a token
 * that names another algorithm, "none" included, is refused whatever its
 * signature, so no key is ever used with an algorithm the token chose.
 * The signature is compared with CRYPTO_memcmp, in constant time, against
 * every secret of the list (rotation: old and new are both accepted).
 * Claims are read only from a token whose signature matched.
 *
 * Unknown grant words refuse the token: grants are few and fixed, and a
 * misspelt one ("joni") should fail where it was minted rather than yield
 * a token that silently allows less.
 */
#include "token.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAC_LEN 32
#define REDACTED "[redacted]"

/* ---- base64url ------------------------------------------------------------------------------ */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t sb_base64url_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        size_t chunk = n - i < 3 ? n - i : 3;
        if (chunk > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (chunk > 2)
            v |= in[i + 2];
        for (size_t k = 0; k < chunk + 1; k++) {
            if (o + 1 >= cap)
                break;
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
        }
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
    return o;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long sb_base64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 1 || (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    /* A tail of 2 or 3 characters carries 1 or 2 bytes; its unused low
     * bits must be zero, so each byte string has one spelling. */
    size_t tail = n % 4;
    if (tail == 2) {
        if (acc & 0xf)
            return -1;
        out[o++] = (unsigned char)(acc >> 4);
    } else if (tail == 3) {
        if (acc & 0x3)
            return -1;
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    return (long)o;
}

/* ---- keys and signatures --------------------------------------------------------------------- */

size_t sb_token_keys_parse(const char *list, sb_token_key *keys, size_t max)
{
    size_t n = 0;
    if (!list || !*list)
        return 0;
    for (const char *p = list; n < max;) {
        size_t len = strcspn(p, ",");
        keys[n].bytes = p;
        keys[n].len = len;
        n++;
        if (!p[len])
            break;
        p += len + 1;
    }
    return n;
}

void sb_token_hs256(const sb_token_key *key, const char *msg, size_t len, unsigned char mac[32])
{
    unsigned int mac_len = 0;
    /* A zero-length key is still a key to HMAC; OpenSSL wants a pointer. */
    static const char empty[1];
    if (!HMAC(EVP_sha256(), key->len ? key->bytes : empty, (int)key->len,
              (const unsigned char *)msg, len, mac, &mac_len))
        memset(mac, 0, MAC_LEN);
}

static bool signature_matches(const char *signed_part, size_t len, const unsigned char *sig,
                              const sb_token_key *keys, size_t n_keys)
{
    bool match = false;
    for (size_t i = 0; i < n_keys; i++) {
        unsigned char mac[MAC_LEN];
        sb_token_hs256(&keys[i], signed_part, len, mac);
        /* Every key is tried: the time taken says nothing about which. */
        match |= CRYPTO_memcmp(mac, sig, MAC_LEN) == 0;
    }
    return match;
}

/* ---- claims ------------------------------------------------------------------------------------ */

unsigned sb_token_grant_bit(const char *word, size_t len)
{
    static const struct {
        const char *word;
        unsigned bit;
    } grants[] = {
        { "join", SB_GRANT_JOIN },
        { "create", SB_GRANT_CREATE },
        { "list", SB_GRANT_LIST },
        { "admin", SB_GRANT_ADMIN },
    };
    for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++)
        if (strlen(grants[i].word) == len && memcmp(grants[i].word, word, len) == 0)
            return grants[i].bit;
    return 0;
}

/* A string of 1..max characters (code points of valid UTF-8, which
 * jansson guarantees), none a control character. */
static bool text_ok(const json_t *v, size_t max, bool required, char *out, size_t cap)
{
    if (!v)
        return !required;
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v), chars = 0;
    for (size_t i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        chars += (c & 0xc0) != 0x80;
    }
    if (chars == 0 || chars > max || bytes >= cap)
        return false;
    memcpy(out, s, bytes + 1);
    return true;
}

/* A NumericDate: a JSON number, read as whole seconds. */
static bool date_ok(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d > 1e15 || d < -1e15)
            return false;
        *out = (long long)floor(d);
        return true;
    }
    return false;
}

static const char *read_grants(const json_t *v, unsigned *out)
{
    *out = 0;
    if (!v)
        return NULL;
    if (!json_is_array(v))
        return "grants is not an array";
    size_t i;
    json_t *g;
    json_array_foreach(v, i, g)
    {
        unsigned bit =
            json_is_string(g) ? sb_token_grant_bit(json_string_value(g), json_string_length(g)) : 0;
        if (!bit)
            return "grants holds an unknown grant";
        *out |= bit;
    }
    if (*out & SB_GRANT_ADMIN)
        *out |= SB_GRANT_JOIN | SB_GRANT_CREATE | SB_GRANT_LIST;
    return NULL;
}

static const char *read_room(const json_t *v, char *out)
{
    out[0] = '\0';
    if (!v)
        return NULL;
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || !((n == 1 && s[0] == '*') || (n == SB_UUID_LEN && sb_id_is_valid(s, n))))
        return "room is not a room id or *";
    memcpy(out, s, n + 1);
    return NULL;
}

static const char *read_metadata(const json_t *v, char *out)
{
    out[0] = '\0';
    if (!v)
        return NULL;
    if (!json_is_object(v))
        return "metadata is not an object";
    char *text = json_dumps(v, JSON_COMPACT);
    size_t n = text ? strlen(text) : SIZE_MAX;
    if (n > SB_TOKEN_METADATA_MAX) {
        free(text);
        return "metadata is over 1 KiB";
    }
    memcpy(out, text, n + 1);
    free(text);
    return NULL;
}

static const char *read_claims(const json_t *p, sb_token_claims *c)
{
    memset(c, 0, sizeof(*c));
    if (!text_ok(json_object_get(p, "sub"), SB_TOKEN_SUB_MAX, true, c->sub, sizeof(c->sub)))
        return "sub is missing, empty, over 128 characters or has a control character";
    if (!text_ok(json_object_get(p, "name"), SB_TOKEN_NAME_MAX, false, c->name, sizeof(c->name)))
        return "name is empty, over 128 characters or has a control character";
    json_t *exp = json_object_get(p, "exp"), *nbf = json_object_get(p, "nbf");
    if (!date_ok(exp, &c->exp))
        return "exp is missing or not a number";
    if (nbf && !date_ok(nbf, &c->nbf))
        return "nbf is not a number";
    const char *why = read_room(json_object_get(p, "room"), c->room);
    if (!why)
        why = read_grants(json_object_get(p, "grants"), &c->grants);
    if (!why)
        why = read_metadata(json_object_get(p, "metadata"), c->metadata);
    return why;
}

/* ---- verification ------------------------------------------------------------------------------- */

/* A segment decoded and parsed as a JSON object, or NULL. */
static json_t *segment_json(const char *seg, size_t n)
{
    unsigned char buf[SB_TOKEN_MAX];
    long len = sb_base64url_decode(seg, n, buf, sizeof(buf));
    if (len <= 0)
        return NULL;
    json_error_t err;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static sb_token_result check_header(const char *seg, size_t n, const char **why)
{
    json_t *h = segment_json(seg, n);
    if (!h) {
        *why = "header is not base64url of a JSON object";
        return SB_TOKEN_MALFORMED;
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    json_t *typ = json_object_get(h, "typ");
    sb_token_result r = SB_TOKEN_OK;
    if (!alg || strcmp(alg, "HS256") != 0) {
        *why = "alg is not HS256";
        r = SB_TOKEN_BAD_ALG;
    } else if (typ && !json_is_string(typ)) {
        *why = "typ is not a string";
        r = SB_TOKEN_MALFORMED;
    } else if (json_object_get(h, "crit")) {
        *why = "crit is not supported";
        r = SB_TOKEN_MALFORMED;
    }
    json_decref(h);
    return r;
}

static sb_token_result verify(const char *token, size_t len, const sb_token_key *keys,
                              size_t n_keys, long long now, sb_token_claims *claims,
                              const char **why)
{
    if (!token || len == 0) {
        *why = "no token";
        return SB_TOKEN_MISSING;
    }
    if (len > SB_TOKEN_MAX) {
        *why = "token over 8 KiB";
        return SB_TOKEN_TOO_LARGE;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    const char *end = token + len;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) {
        *why = "not three dot-separated segments";
        return SB_TOKEN_MALFORMED;
    }
    sb_token_result r = check_header(token, (size_t)(dot1 - token), why);
    if (r != SB_TOKEN_OK)
        return r;
    unsigned char sig[MAC_LEN + 3];
    if (sb_base64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), sig, sizeof(sig)) != MAC_LEN) {
        *why = "signature is not base64url of 32 bytes";
        return SB_TOKEN_MALFORMED;
    }
    if (!signature_matches(token, (size_t)(dot2 - token), sig, keys, n_keys)) {
        *why = "signature matches no secret";
        return SB_TOKEN_BAD_SIGNATURE;
    }
    json_t *payload = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!payload) {
        *why = "claims are not base64url of a JSON object";
        return SB_TOKEN_MALFORMED;
    }
    *why = read_claims(payload, claims);
    json_decref(payload);
    if (*why)
        return SB_TOKEN_BAD_CLAIMS;
    /* now is a sane clock; exp and nbf may be any 64-bit number. */
    if (now - SB_TOKEN_SKEW_S >= claims->exp) {
        *why = "expired";
        return SB_TOKEN_EXPIRED;
    }
    if (claims->nbf && now + SB_TOKEN_SKEW_S < claims->nbf) {
        *why = "not valid yet (nbf)";
        return SB_TOKEN_NOT_YET_VALID;
    }
    return SB_TOKEN_OK;
}

sb_token_result sb_token_verify(const char *token, size_t len, const sb_token_key *keys,
                                size_t n_keys, long long now, sb_token_claims *claims,
                                const char **why)
{
    const char *scratch = NULL;
    sb_token_claims tmp;
    sb_token_result r = verify(token, len, keys, n_keys, now, &tmp, why ? why : &scratch);
    if (r == SB_TOKEN_OK && claims)
        *claims = tmp;
    if (r == SB_TOKEN_OK && why)
        *why = NULL;
    return r;
}

const char *sb_token_result_text(sb_token_result r)
{
    switch (r) {
    case SB_TOKEN_OK:
        return "valid";
    case SB_TOKEN_MISSING:
        return "no token";
    case SB_TOKEN_TOO_LARGE:
        return "token too large";
    case SB_TOKEN_MALFORMED:
        return "malformed token";
    case SB_TOKEN_BAD_ALG:
        return "algorithm is not HS256";
    case SB_TOKEN_BAD_SIGNATURE:
        return "bad signature";
    case SB_TOKEN_BAD_CLAIMS:
        return "bad claims";
    case SB_TOKEN_EXPIRED:
        return "token expired";
    case SB_TOKEN_NOT_YET_VALID:
        return "token not valid yet";
    }
    return "?";
}

bool sb_token_allows(const sb_token_claims *c, unsigned grant, const char *room_id)
{
    if (c->grants & SB_GRANT_ADMIN)
        return true;
    if (!(c->grants & grant))
        return false;
    if (grant != SB_GRANT_JOIN)
        return true;
    return strcmp(c->room, "*") == 0 || (c->room[0] && room_id && strcmp(c->room, room_id) == 0);
}

json_t *sb_token_profile(const sb_token_claims *c)
{
    json_t *p = json_pack("{s:s}", "identity", c->sub);
    if (p && c->name[0] && json_object_set_new(p, "name", json_string(c->name)) != 0)
        goto fail;
    if (p && c->metadata[0]) {
        json_error_t err;
        json_t *m = json_loads(c->metadata, 0, &err);
        if (!m || json_object_set_new(p, "metadata", m) != 0)
            goto fail;
    }
    return p;
fail:
    json_decref(p);
    return NULL;
}

/* ---- signing --------------------------------------------------------------------------------------- */

static char *b64_of(const char *text, size_t n, size_t *out_len)
{
    char *out = malloc(n / 3 * 4 + 6);
    if (out)
        *out_len = sb_base64url_encode((const unsigned char *)text, n, out, n / 3 * 4 + 6);
    return out;
}

char *sb_token_sign(const json_t *claims, const sb_token_key *key)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *payload = json_dumps(claims, JSON_COMPACT);
    size_t hlen = 0, plen = 0;
    char *h = b64_of(header, sizeof(header) - 1, &hlen);
    char *p = payload ? b64_of(payload, strlen(payload), &plen) : NULL;
    char *out = h && p ? malloc(hlen + plen + 2 + 44) : NULL;
    if (out) {
        size_t n = hlen + 1 + plen;
        memcpy(out, h, hlen);
        out[hlen] = '.';
        memcpy(out + hlen + 1, p, plen);
        unsigned char mac[MAC_LEN];
        sb_token_hs256(key, out, n, mac);
        out[n++] = '.';
        sb_base64url_encode(mac, MAC_LEN, out + n, 44);
    }
    free(payload);
    free(h);
    free(p);
    return out;
}

/* ---- redaction ------------------------------------------------------------------------------------- */

/* Characters that end a credential in a query string or a header. */
static bool ends_credential(char c)
{
    return c == '&' || c == ' ' || c == '"' || c == '\'' || c == '\t' || c == '\r' || c == '\n'
           || c == ',' || c == ';' || c == '\0';
}

size_t sb_token_redact(const char *in, size_t len, char *out, size_t cap)
{
    static const char param[] = "access_token=", bearer[] = "bearer ";
    size_t o = 0;
    if (!cap)
        return 0;
    for (size_t i = 0; i < len && o + 1 < cap;) {
        size_t skip = 0;
        if (len - i >= sizeof(param) - 1 && strncasecmp(in + i, param, sizeof(param) - 1) == 0)
            skip = sizeof(param) - 1;
        else if (len - i >= sizeof(bearer) - 1
                 && strncasecmp(in + i, bearer, sizeof(bearer) - 1) == 0)
            skip = sizeof(bearer) - 1;
        if (!skip) {
            out[o++] = in[i++];
            continue;
        }
        for (size_t k = 0; k < skip && o + 1 < cap; k++)
            out[o++] = in[i++];
        while (i < len && in[i] == ' ')
            i++;
        if (i < len && !ends_credential(in[i])) {
            for (size_t k = 0; k < sizeof(REDACTED) - 1 && o + 1 < cap; k++)
                out[o++] = REDACTED[k];
            while (i < len && !ends_credential(in[i]))
                i++;
        }
    }
    out[o] = '\0';
    return o;
}
