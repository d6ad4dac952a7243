/*
 * token.h - access tokens: JSON Web Tokens (RFC 7519) signed with HS256.
 *
 * Owns: base64url, the HS256 signature, verification against a list of
 * secrets, the claims a token may carry, what a verified token allows,
 * signing (for `switchboard token` and the tests), and the redaction of
 * tokens from text that is about to be logged. Pure code: the clock is
 * passed in, nothing is logged. See docs/design.md#access-control and the
 * README's Security section for the rules.
 *
 * A token is accepted when, in this order:
 *  - it is at most SB_TOKEN_MAX bytes of three base64url segments (no
 *    padding, canonical: unused bits zero);
 *  - its header is a JSON object whose "alg" is exactly "HS256" (any
 *    other, "none" included, is refused before the signature is looked
 *    at), whose "typ", if present, is a string, and that has no "crit";
 *  - its signature matches one of the secrets (constant-time compare);
 *  - its claims are a JSON object with a valid `sub`, a numeric `exp`,
 *    optionally `nbf`, `room`, `grants`, `name` and `metadata`
 *    (SB_TOKEN_* bounds below); other claims are ignored;
 *  - now < exp + skew and now >= nbf - skew (SB_TOKEN_SKEW_S).
 */
#ifndef SB_TOKEN_H
#define SB_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ids.h"

#define SB_TOKEN_MAX 8192          /* bytes of a whole token */
#define SB_TOKEN_SKEW_S 30         /* clock skew allowed on exp and nbf */
#define SB_TOKEN_SUB_MAX 128       /* characters (code points) */
#define SB_TOKEN_NAME_MAX 128      /* characters */
#define SB_TOKEN_METADATA_MAX 1024 /* bytes of the compact serialization */
#define SB_TOKEN_SECRET_MIN 32     /* characters of a secret */
#define SB_TOKEN_KEYS_MAX 16       /* secrets in one list */

/* Grants; admin implies every other, in every room. */
#define SB_GRANT_JOIN 1u
#define SB_GRANT_CREATE 2u
#define SB_GRANT_LIST 4u
#define SB_GRANT_ADMIN 8u

typedef enum {
    SB_TOKEN_OK = 0,
    SB_TOKEN_MISSING,       /* no token at all */
    SB_TOKEN_TOO_LARGE,     /* over SB_TOKEN_MAX */
    SB_TOKEN_MALFORMED,     /* not three canonical base64url segments of JSON objects */
    SB_TOKEN_BAD_ALG,       /* alg is not exactly HS256 */
    SB_TOKEN_BAD_SIGNATURE, /* no secret signed it */
    SB_TOKEN_BAD_CLAIMS,    /* a claim is missing or out of bounds */
    SB_TOKEN_EXPIRED,
    SB_TOKEN_NOT_YET_VALID
} sb_token_result;

/* A verified token's claims. Strings are NUL-terminated UTF-8. */
typedef struct {
    char sub[4 * SB_TOKEN_SUB_MAX + 1];
    char name[4 * SB_TOKEN_NAME_MAX + 1];     /* "" when absent */
    char room[SB_UUID_LEN + 1];               /* a room id, "*", or "" when absent */
    char metadata[SB_TOKEN_METADATA_MAX + 1]; /* compact JSON object, "" when absent */
    unsigned grants;                          /* SB_GRANT_*, admin expanded */
    long long exp, nbf;                       /* nbf 0 when absent */
} sb_token_claims;

/* One secret: bytes, not a C string (RFC test keys hold any byte). */
typedef struct {
    const char *bytes;
    size_t len;
} sb_token_key;

/* Split a comma-separated list of secrets into keys pointing into it.
 * Returns how many (at most max); empty entries count as keys of length
 * 0, which config.c refuses. */
size_t sb_token_keys_parse(const char *list, sb_token_key *keys, size_t max);

/* Verify a token against keys at wall time `now` (seconds). On
 * SB_TOKEN_OK fills *claims. *why (if not NULL) gets a short static text
 * saying what was wrong, for operators (the CLI, debug logs); it never
 * holds bytes of the token. */
sb_token_result sb_token_verify(const char *token, size_t len, const sb_token_key *keys,
                                size_t n_keys, long long now, sb_token_claims *claims,
                                const char **why);

/* A short fixed description of a result ("expired", ...). */
const char *sb_token_result_text(sb_token_result r);

/* Whether verified claims allow `grant` (one SB_GRANT_* bit). For
 * SB_GRANT_JOIN the token's room must be room_id or "*" (admin: any). */
bool sb_token_allows(const sb_token_claims *claims, unsigned grant, const char *room_id);

/* {"identity":sub,"name":...,"metadata":{...}} with name and metadata only
 * when the token has them: what others see of a participant. NULL when
 * out of memory. */
json_t *sb_token_profile(const sb_token_claims *claims);

/* A grant word ("join", "create", "list", "admin") as its bit; 0 when it
 * is none of them. */
unsigned sb_token_grant_bit(const char *word, size_t len);

/* Sign `claims` (a JSON object, not checked) with HS256 under `key`:
 * header {"alg":"HS256","typ":"JWT"}. Returns a new NUL-terminated
 * string, NULL when out of memory. */
char *sb_token_sign(const json_t *claims, const sb_token_key *key);

/* HMAC-SHA256 of msg under key. */
void sb_token_hs256(const sb_token_key *key, const char *msg, size_t len, unsigned char mac[32]);

/* base64url without padding. encode writes 4*ceil(n/3) bytes at most and
 * a NUL, returns the length; decode refuses padding, other alphabets and
 * non-canonical ends, returns the length or -1 (also when it would not
 * fit `cap`). */
size_t sb_base64url_encode(const unsigned char *in, size_t n, char *out, size_t cap);
long sb_base64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* Copy `in` to out (cap bytes, NUL-terminated, truncated) with the value
 * of every access_token= parameter and every "Bearer " credential
 * replaced by "[redacted]". Returns the length written. For lines that
 * may quote a request. */
size_t sb_token_redact(const char *in, size_t len, char *out, size_t cap);

#endif
