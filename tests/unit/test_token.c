/*
 * test_token.c - HS256 tokens: known answers, every refusal, grants,
 * signing, redaction.
 *
 * Known answers: RFC 7515 appendix A.1 (its HS256 example, key and
 * signature), and a token made by an independent implementation (Python's
 * hmac and base64 modules) with the secret SECRET. Tokens for the
 * refusals are built here from header and claims text, signed with the
 * module's HMAC, which the RFC vector checks.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define ROOM "5b0c3a56-1d2e-4f3a-9b8c-7d6e5f4a3b2c"
#define NOW 1800000000LL
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static const sb_token_key key = { SECRET, sizeof(SECRET) - 1 };

/* header.claims.signature from texts, signed with k (NULL: a signature of
 * 32 zero bytes). Caller frees. */
static char *make(const char *header, const char *claims, const sb_token_key *k)
{
    size_t hn = strlen(header), cn = strlen(claims);
    char *out = malloc(hn * 2 + cn * 2 + 64);
    size_t n = sb_base64url_encode((const unsigned char *)header, hn, out, hn * 2 + 8);
    out[n++] = '.';
    n += sb_base64url_encode((const unsigned char *)claims, cn, out + n, cn * 2 + 8);
    unsigned char mac[32] = { 0 };
    if (k)
        sb_token_hs256(k, out, n, mac);
    out[n++] = '.';
    sb_base64url_encode(mac, 32, out + n, 48);
    return out;
}

static sb_token_result check(const char *token, sb_token_claims *c)
{
    return sb_token_verify(token, strlen(token), &key, 1, NOW, c, NULL);
}

/* Verify header + claims signed with the right key. */
static sb_token_result check_claims(const char *claims)
{
    char *t = make(HS256, claims, &key);
    sb_token_claims c;
    sb_token_result r = check(t, &c);
    free(t);
    return r;
}

/* ---- known answers ---- */

Test(token, rfc7515_a1_signature)
{
    static const char k64[] =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    static const char token[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
        "cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    unsigned char kbytes[64];
    cr_assert_eq(sb_base64url_decode(k64, strlen(k64), kbytes, sizeof kbytes), 64);
    sb_token_key rfc = { (const char *)kbytes, 64 };

    const char *last_dot = strrchr(token, '.');
    unsigned char mac[32];
    char mac64[64];
    sb_token_hs256(&rfc, token, (size_t)(last_dot - token), mac);
    sb_base64url_encode(mac, 32, mac64, sizeof mac64);
    cr_assert_str_eq(mac64, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");

    /* Through the verifier: the signature holds (its claims have no sub,
     * so the refusal is about claims, not the signature); with another
     * key it does not. */
    const char *why = NULL;
    cr_assert_eq(sb_token_verify(token, strlen(token), &rfc, 1, 1300819000, NULL, &why),
                 SB_TOKEN_BAD_CLAIMS, "%s", why);
    cr_assert_eq(sb_token_verify(token, strlen(token), &key, 1, 1300819000, NULL, NULL),
                 SB_TOKEN_BAD_SIGNATURE);
}

Test(token, accepts_an_independently_made_token)
{
    static const char token[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvb20iOiIqIiwiZ3JhbnRzIjpbImpv"
        "aW4iLCJsaXN0Il0sImV4cCI6MjAwMDAwMDAwMCwibmJmIjoxNTAwMDAwMDAwLCJuYW1lIjoiQWxpY2UiLCJtZXRh"
        "ZGF0YSI6eyJ0ZWFtIjoiYmx1ZSJ9fQ.Tl_WeZsjyhm8YY1U96hBE6toxqF3GYOAkBQKcTPQRkc";
    sb_token_claims c;
    cr_assert_eq(check(token, &c), SB_TOKEN_OK);
    cr_assert_str_eq(c.sub, "alice");
    cr_assert_str_eq(c.name, "Alice");
    cr_assert_str_eq(c.room, "*");
    cr_assert_str_eq(c.metadata, "{\"team\":\"blue\"}");
    cr_assert_eq(c.grants, SB_GRANT_JOIN | SB_GRANT_LIST);
    cr_assert_eq(c.exp, 2000000000LL);
    cr_assert_eq(c.nbf, 1500000000LL);
}

Test(token, sign_then_verify_round_trips)
{
    json_t *claims = json_pack("{s:s,s:s,s:[s],s:I,s:s}", "sub", "bob", "room", ROOM, "grants",
                               "create", "exp", (json_int_t)(NOW + 60), "name", "Bob \xc3\xa9");
    char *t = sb_token_sign(claims, &key);
    json_decref(claims);
    sb_token_claims c;
    cr_assert_eq(check(t, &c), SB_TOKEN_OK);
    cr_assert_str_eq(c.sub, "bob");
    cr_assert_str_eq(c.room, ROOM);
    cr_assert_str_eq(c.name, "Bob \xc3\xa9");
    cr_assert_eq(c.grants, SB_GRANT_CREATE);
    free(t);
}

/* ---- refusals: structure and algorithm ---- */

Test(token, refuses_other_algorithms_whatever_the_signature)
{
    static const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS512\"}",
        "{\"alg\":\"RS256\"}",
        "{\"alg\":\"hs256\"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":null}",
        "{\"alg\":[\"HS256\"]}",
    };
    const char *claims = "{\"sub\":\"a\",\"exp\":1900000000}";
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *signed_ = make(headers[i], claims, &key), *unsigned_ = make(headers[i], claims, NULL);
        cr_assert_eq(check(signed_, NULL), SB_TOKEN_BAD_ALG, "%s", headers[i]);
        cr_assert_eq(check(unsigned_, NULL), SB_TOKEN_BAD_ALG, "%s", headers[i]);
        free(signed_);
        free(unsigned_);
    }
    /* alg none with an empty signature, as such tokens are usually sent */
    char *t = make("{\"alg\":\"none\"}", claims, NULL);
    *(strrchr(t, '.') + 1) = '\0';
    cr_assert_eq(check(t, NULL), SB_TOKEN_BAD_ALG);
    free(t);
}

Test(token, typ_is_optional_crit_is_refused)
{
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"exp\":1900000000}"), SB_TOKEN_OK);
    char *t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1900000000}", &key);
    cr_assert_eq(check(t, NULL), SB_TOKEN_OK);
    free(t);
    t = make("{\"alg\":\"HS256\",\"typ\":1}", "{\"sub\":\"a\",\"exp\":1900000000}", &key);
    cr_assert_eq(check(t, NULL), SB_TOKEN_MALFORMED);
    free(t);
    t = make("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{\"sub\":\"a\",\"exp\":1900000000}", &key);
    cr_assert_eq(check(t, NULL), SB_TOKEN_MALFORMED);
    free(t);
}

Test(token, wrong_secret_and_altered_bytes)
{
    char *t = make(HS256, "{\"sub\":\"a\",\"exp\":1900000000}", &key);
    sb_token_key other = { "another-secret-of-more-than-32-chars", 36 };
    cr_assert_eq(sb_token_verify(t, strlen(t), &other, 1, NOW, NULL, NULL), SB_TOKEN_BAD_SIGNATURE);
    /* One more claims byte, same signature. */
    char *forged = make(HS256, "{\"sub\":\"b\",\"exp\":1900000000}", NULL);
    strcpy(strrchr(forged, '.'), strrchr(t, '.'));
    cr_assert_eq(check(forged, NULL), SB_TOKEN_BAD_SIGNATURE);
    /* Last signature character changed. */
    char *last = t + strlen(t) - 1;
    *last = *last == 'A' ? 'Q' : 'A';
    cr_assert_neq(check(t, NULL), SB_TOKEN_OK);
    free(forged);
    free(t);
}

Test(token, rotation_accepts_every_listed_secret)
{
    sb_token_key keys[SB_TOKEN_KEYS_MAX];
    const char *list = "new-secret-new-secret-new-secret-1," SECRET;
    cr_assert_eq(sb_token_keys_parse(list, keys, SB_TOKEN_KEYS_MAX), 2);
    cr_assert_eq(keys[1].len, strlen(SECRET));
    char *old = make(HS256, "{\"sub\":\"a\",\"exp\":1900000000}", &key);
    char *fresh = make(HS256, "{\"sub\":\"a\",\"exp\":1900000000}", &keys[0]);
    cr_assert_eq(sb_token_verify(old, strlen(old), keys, 2, NOW, NULL, NULL), SB_TOKEN_OK);
    cr_assert_eq(sb_token_verify(fresh, strlen(fresh), keys, 2, NOW, NULL, NULL), SB_TOKEN_OK);
    /* Once the old one is dropped from the list, its tokens stop working. */
    cr_assert_eq(sb_token_verify(old, strlen(old), keys, 1, NOW, NULL, NULL),
                 SB_TOKEN_BAD_SIGNATURE);
    free(old);
    free(fresh);
}

Test(token, malformed_structure_and_base64)
{
    char *good = make(HS256, "{\"sub\":\"a\",\"exp\":1900000000}", &key);
    cr_assert_eq(check(good, NULL), SB_TOKEN_OK);
    static const char *bad[] = {
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJIUzI1NiJ9..",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "!!!.e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9=.e30.AAAA",
        /* the header is JSON, but not an object */
        "WyJIUzI1NiJd.e30.AAAA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(check(bad[i], NULL), SB_TOKEN_MALFORMED, "%s", bad[i]);
    cr_assert_eq(sb_token_verify("", 0, &key, 1, NOW, NULL, NULL), SB_TOKEN_MISSING);
    cr_assert_eq(sb_token_verify(NULL, 0, &key, 1, NOW, NULL, NULL), SB_TOKEN_MISSING);

    /* Padding, '+' and '/', and a signature one byte short. */
    size_t n = strlen(good);
    char *t = malloc(n + 3);
    snprintf(t, n + 3, "%s==", good);
    cr_assert_eq(check(t, NULL), SB_TOKEN_MALFORMED);
    strcpy(t, good);
    t[n - 1] = '+';
    cr_assert_eq(check(t, NULL), SB_TOKEN_MALFORMED);
    t[n - 1] = '/';
    cr_assert_eq(check(t, NULL), SB_TOKEN_MALFORMED);
    strcpy(t, good);
    t[n - 2] = '\0';
    cr_assert_eq(check(t, NULL), SB_TOKEN_MALFORMED);
    free(t);
    free(good);
}

Test(token, non_canonical_base64_is_refused)
{
    unsigned char out[8];
    cr_assert_eq(sb_base64url_decode("QQ", 2, out, sizeof out), 1);
    cr_assert_eq(out[0], 'A');
    cr_assert_eq(sb_base64url_decode("QR", 2, out, sizeof out), -1); /* low bits set */
    cr_assert_eq(sb_base64url_decode("QUI", 3, out, sizeof out), 2);
    cr_assert_eq(sb_base64url_decode("QUJ", 3, out, sizeof out), -1);
    cr_assert_eq(sb_base64url_decode("Q", 1, out, sizeof out), -1);
    cr_assert_eq(sb_base64url_decode("QUJD", 4, out, 2), -1); /* does not fit */
    cr_assert_eq(sb_base64url_decode("", 0, out, sizeof out), 0);
}

Test(token, oversized_token_is_refused_before_parsing)
{
    size_t n = SB_TOKEN_MAX + 1;
    char *t = malloc(n + 1);
    memset(t, 'A', n);
    t[n] = '\0';
    cr_assert_eq(check(t, NULL), SB_TOKEN_TOO_LARGE);
    free(t);
    /* A signed token just over the bound, too. */
    char claims[SB_TOKEN_MAX];
    snprintf(claims, sizeof claims, "{\"sub\":\"a\",\"exp\":1900000000,\"x\":\"%0*d\"}", 6200, 0);
    cr_assert_eq(check_claims(claims), SB_TOKEN_TOO_LARGE);
}

/* ---- refusals: claims ---- */

Test(token, missing_or_bad_claims)
{
    static const char *bad[] = {
        "{\"exp\":1900000000}",                              /* no sub */
        "{\"sub\":\"a\"}",                                   /* no exp */
        "{\"sub\":\"\",\"exp\":1900000000}",                 /* empty sub */
        "{\"sub\":7,\"exp\":1900000000}",                    /* sub not a string */
        "{\"sub\":\"a\\nb\",\"exp\":1900000000}",            /* control character */
        "{\"sub\":\"a\",\"exp\":\"1900000000\"}",            /* exp a string */
        "{\"sub\":\"a\",\"exp\":1900000000,\"nbf\":true}",   /* nbf not a number */
        "{\"sub\":\"a\",\"exp\":1900000000,\"name\":\"\"}",  /* empty name */
        "{\"sub\":\"a\",\"exp\":1900000000,\"name\":[]}",    /* name not a string */
        "{\"sub\":\"a\",\"exp\":1900000000,\"room\":\"x\"}", /* room not an id */
        "{\"sub\":\"a\",\"exp\":1900000000,\"room\":\"5B0C3A56-1D2E-4F3A-9B8C-7D6E5F4A3B2C\"}",
        "{\"sub\":\"a\",\"exp\":1900000000,\"metadata\":[1]}", /* metadata not an object */
        "{\"sub\":\"a\",\"exp\":1900000000,\"metadata\":\"{}\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(check_claims(bad[i]), SB_TOKEN_BAD_CLAIMS, "%s", bad[i]);
    /* a repeated claim, and claims that are not a JSON object at all */
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1900000000}"),
                 SB_TOKEN_MALFORMED);
    cr_assert_eq(check_claims("[1,2]"), SB_TOKEN_MALFORMED);
    cr_assert_eq(check_claims("{\"sub\":"), SB_TOKEN_MALFORMED);
}

Test(token, bounds_of_sub_name_and_metadata)
{
    char claims[4096], text[1200];
    /* 128 characters pass, 129 do not; counted in characters (é is 2 bytes). */
    for (int i = 0; i < 128; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    text[256] = '\0';
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"name\":\"%s\",\"exp\":1900000000}", text,
             text);
    cr_assert_eq(check_claims(claims), SB_TOKEN_OK);
    strcat(text, "x");
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"exp\":1900000000}", text);
    cr_assert_eq(check_claims(claims), SB_TOKEN_BAD_CLAIMS);
    snprintf(claims, sizeof claims, "{\"sub\":\"a\",\"name\":\"%s\",\"exp\":1900000000}", text);
    cr_assert_eq(check_claims(claims), SB_TOKEN_BAD_CLAIMS);

    /* metadata: {"k":"..."} of exactly 1024 bytes passes, 1025 does not */
    memset(text, 'm', 1016);
    text[1016] = '\0';
    snprintf(claims, sizeof claims,
             "{\"sub\":\"a\",\"exp\":1900000000,\"metadata\":{\"k\":\"%s\"}}", text);
    cr_assert_eq(check_claims(claims), SB_TOKEN_OK);
    strcat(text, "m");
    snprintf(claims, sizeof claims,
             "{\"sub\":\"a\",\"exp\":1900000000,\"metadata\":{\"k\":\"%s\"}}", text);
    cr_assert_eq(check_claims(claims), SB_TOKEN_BAD_CLAIMS);
}

Test(token, exp_and_nbf_with_and_without_skew)
{
    char claims[256];
    struct {
        long long exp, nbf;
        sb_token_result want;
    } cases[] = {
        { NOW + 1, 0, SB_TOKEN_OK },
        { NOW, 0, SB_TOKEN_OK },           /* expired now, within the skew */
        { NOW - 29, 0, SB_TOKEN_OK },      /* 29 s late: still accepted */
        { NOW - 30, 0, SB_TOKEN_EXPIRED }, /* 30 s late: the skew is used up */
        { NOW - 3600, 0, SB_TOKEN_EXPIRED },
        { NOW + 60, NOW, SB_TOKEN_OK },
        { NOW + 60, NOW + 30, SB_TOKEN_OK }, /* 30 s early: within the skew */
        { NOW + 60, NOW + 31, SB_TOKEN_NOT_YET_VALID },
        { NOW + 9999, NOW + 3600, SB_TOKEN_NOT_YET_VALID },
        { 9223372036854775807LL, 0, SB_TOKEN_OK }, /* no overflow at the ends */
        { -9223372036854775807LL - 1, 0, SB_TOKEN_EXPIRED },
        { NOW + 60, 9223372036854775807LL, SB_TOKEN_NOT_YET_VALID },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].nbf)
            snprintf(claims, sizeof claims, "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}",
                     cases[i].exp, cases[i].nbf);
        else
            snprintf(claims, sizeof claims, "{\"sub\":\"a\",\"exp\":%lld}", cases[i].exp);
        cr_assert_eq(check_claims(claims), cases[i].want, "case %zu: %s", i, claims);
    }
    /* A NumericDate may have a fraction. */
    snprintf(claims, sizeof claims, "{\"sub\":\"a\",\"exp\":%lld.5}", NOW + 10);
    cr_assert_eq(check_claims(claims), SB_TOKEN_OK);
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"exp\":1e300}"), SB_TOKEN_BAD_CLAIMS);
}

/* ---- grants ---- */

static sb_token_claims claims_of(const char *text)
{
    char *t = make(HS256, text, &key);
    sb_token_claims c;
    cr_assert_eq(check(t, &c), SB_TOKEN_OK, "%s", text);
    free(t);
    return c;
}

Test(token, grants_edge_cases)
{
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[\"joni\"]}"),
                 SB_TOKEN_BAD_CLAIMS);
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[\"JOIN\"]}"),
                 SB_TOKEN_BAD_CLAIMS);
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[1]}"),
                 SB_TOKEN_BAD_CLAIMS);
    cr_assert_eq(check_claims("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":\"join\"}"),
                 SB_TOKEN_BAD_CLAIMS);

    sb_token_claims none = claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[]}");
    cr_assert_eq(none.grants, 0u);
    cr_assert_not(sb_token_allows(&none, SB_GRANT_LIST, NULL));
    sb_token_claims absent = claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"room\":\"*\"}");
    cr_assert_not(sb_token_allows(&absent, SB_GRANT_JOIN, ROOM));

    sb_token_claims dup =
        claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[\"list\",\"list\"]}");
    cr_assert_eq(dup.grants, SB_GRANT_LIST);

    /* join is for the token's room only; without a room it joins nothing */
    sb_token_claims one =
        claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"room\":\"" ROOM "\",\"grants\":[\"join\"]}");
    cr_assert(sb_token_allows(&one, SB_GRANT_JOIN, ROOM));
    cr_assert_not(sb_token_allows(&one, SB_GRANT_JOIN, "00000000-0000-4000-8000-000000000000"));
    cr_assert_not(sb_token_allows(&one, SB_GRANT_JOIN, NULL));
    cr_assert_not(sb_token_allows(&one, SB_GRANT_LIST, ROOM));
    sb_token_claims roomless =
        claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[\"join\"]}");
    cr_assert_not(sb_token_allows(&roomless, SB_GRANT_JOIN, ROOM));
    sb_token_claims any = claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"room\":\"*\",\"grants\":"
                                    "[\"join\"]}");
    cr_assert(sb_token_allows(&any, SB_GRANT_JOIN, ROOM));

    /* admin implies every grant, in every room */
    sb_token_claims admin = claims_of("{\"sub\":\"a\",\"exp\":1900000000,\"grants\":[\"admin\"]}");
    cr_assert_eq(admin.grants, SB_GRANT_ADMIN | SB_GRANT_JOIN | SB_GRANT_CREATE | SB_GRANT_LIST);
    cr_assert(sb_token_allows(&admin, SB_GRANT_JOIN, ROOM));
    cr_assert(sb_token_allows(&admin, SB_GRANT_CREATE, NULL));
    cr_assert_eq(sb_token_grant_bit("admin", 5), SB_GRANT_ADMIN);
    cr_assert_eq(sb_token_grant_bit("admi", 4), 0u);
}

Test(token, profile_holds_identity_name_and_metadata)
{
    sb_token_claims c = claims_of("{\"sub\":\"u-1\",\"exp\":1900000000,\"name\":\"Ann\","
                                  "\"metadata\":{\"a\":[1,2]}}");
    json_t *p = sb_token_profile(&c);
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"identity\":\"u-1\",\"metadata\":{\"a\":[1,2]},\"name\":\"Ann\"}");
    free(text);
    json_decref(p);
    sb_token_claims bare = claims_of("{\"sub\":\"u-2\",\"exp\":1900000000}");
    p = sb_token_profile(&bare);
    text = json_dumps(p, JSON_COMPACT);
    cr_assert_str_eq(text, "{\"identity\":\"u-2\"}");
    free(text);
    json_decref(p);
}

Test(token, keys_parse_keeps_empty_entries)
{
    sb_token_key keys[4];
    cr_assert_eq(sb_token_keys_parse("", keys, 4), 0);
    cr_assert_eq(sb_token_keys_parse("a,,b", keys, 4), 3);
    cr_assert_eq(keys[1].len, 0);
    cr_assert_eq(sb_token_keys_parse("a,", keys, 4), 2);
    cr_assert_eq(sb_token_keys_parse("a,b,c,d,e", keys, 4), 4);
}

/* ---- redaction ---- */

Test(token, redact_hides_query_tokens_and_bearer_credentials)
{
    char out[256];
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "GET /ws/r?access_token=eyJ.x.y HTTP/1.1", "GET /ws/r?access_token=[redacted] HTTP/1.1" },
        { "/ws/r?a=1&access_token=abc&b=2", "/ws/r?a=1&access_token=[redacted]&b=2" },
        { "Authorization: Bearer eyJabc.def.ghi", "Authorization: Bearer [redacted]" },
        { "authorization: bearer   abc, next", "authorization: bearer [redacted], next" },
        { "ACCESS_TOKEN=zzz", "ACCESS_TOKEN=[redacted]" },
        { "access_token=", "access_token=" },
        { "nothing to hide", "nothing to hide" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb_token_redact(cases[i].in, strlen(cases[i].in), out, sizeof out);
        cr_assert_str_eq(out, cases[i].want);
    }
    /* A small buffer truncates and still terminates. */
    char small[8];
    cr_assert_eq(sb_token_redact("access_token=secret", 19, small, sizeof small), 7);
    cr_assert_str_eq(small, "access_");
}
