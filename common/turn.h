/*
 * turn.h - time-limited TURN credentials (the "TURN REST API" that coturn
 * implements with `use-auth-secret`).
 *
 * username   = "<expiry unix time>:<user id>"
 * credential = base64(HMAC-SHA1(shared secret, username))
 *
 * The TURN server recomputes the credential from the same secret and
 * refuses it after the expiry, so nothing is stored anywhere.
 */
#ifndef SB_TURN_H
#define SB_TURN_H

#include <stddef.h>

/* 0 on success; -1 if an output buffer is too small. A credential needs
 * 29 bytes (28 base64 characters and the NUL). */
int sb_turn_credentials(const char *secret, const char *user_id, long long expiry, char *username,
                        size_t username_size, char *credential, size_t credential_size);

#endif
