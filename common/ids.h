/*
 * ids.h - identifiers: room and user ids are UUID4 strings from libuuid.
 *
 * Only the canonical lowercase form (8-4-4-4-12 hex digits) is accepted as
 * an id, so an id can be put in a Redis key, a log line or a JSON string
 * without escaping and two spellings never name the same room.
 */
#ifndef SB_IDS_H
#define SB_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define SB_UUID_LEN 36 /* without the NUL */

/* Write a fresh random UUID4 in canonical lowercase form into out[37]. */
void sb_id_generate(char out[SB_UUID_LEN + 1]);

/* True when s[0..len) is a canonical lowercase UUID. */
bool sb_id_is_valid(const char *s, size_t len);

/* A resume token (docs/design.md#resume) is the participant's user id
 * followed by a secret of SB_RESUME_SECRET_LEN lowercase hex digits (128
 * random bits). Clients treat it as opaque. */
#define SB_RESUME_SECRET_LEN 32
#define SB_RESUME_TOKEN_LEN (SB_UUID_LEN + SB_RESUME_SECRET_LEN)

/* True when s[0..len) is a well-formed resume token: then its user id and
 * secret are copied out, NUL-terminated. Anything else is no token. */
bool sb_resume_token_parse(const char *s, size_t len, char user_id[SB_UUID_LEN + 1],
                           char secret[SB_RESUME_SECRET_LEN + 1]);

/* A fresh resume secret: SB_RESUME_SECRET_LEN lowercase hex digits of
 * random bits from the kernel (getrandom), NUL-terminated. */
void sb_resume_secret_generate(char out[SB_RESUME_SECRET_LEN + 1]);

/* A node id from the host name and a random suffix: "<host>-<6 hex>",
 * with characters outside [A-Za-z0-9._-] replaced by '-'. */
void sb_id_node_default(char *out, size_t size);

/* The value of one hex digit of either case, or -1 (for URL %XX and JSON
 * unicode escapes). */
int sb_hex_digit(char c);

#endif
