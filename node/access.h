/*
 * access.h - access control on the node (docs/design.md#access-control).
 *
 * Owns: whether auth is on (--auth-secret set), the node's list of
 * secrets, and the check of a token a client presents — in the
 * WebSocket's ?access_token= or a REST request's Authorization header —
 * against them at the wall clock. What a verified token allows is
 * sb_token_allows (common/token.h); the refusals are the callers'.
 */
#ifndef SB_ACCESS_H
#define SB_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "token.h"

/* Read the secrets of cfg (already validated by config.c). */
void access_init(const sb_config *cfg);
bool access_enabled(void);
/* Verify a token (NULL or empty: SB_TOKEN_MISSING). */
sb_token_result access_verify(const char *token, size_t len, sb_token_claims *claims);
/* Verify the credential of an Authorization header value, "Bearer
 * <token>" (the scheme in any case); another scheme is SB_TOKEN_MISSING. */
sb_token_result access_verify_bearer(const char *header, size_t len, sb_token_claims *claims);

#endif
