/*
 * access.c - the node's secrets and token checks (see access.h).
 *
 * The keys point into the configuration's --auth-secret string, which
 * lives as long as the process; nothing here is ever logged.
 */
#include <strings.h>

#include "access.h"
#include "clock.h"

static sb_token_key keys[SB_TOKEN_KEYS_MAX];
static size_t n_keys;

void access_init(const sb_config *cfg)
{
    n_keys = sb_token_keys_parse(cfg->auth_secret, keys, SB_TOKEN_KEYS_MAX);
}

bool access_enabled(void)
{
    return n_keys > 0;
}

sb_token_result access_verify(const char *token, size_t len, sb_token_claims *claims)
{
    return sb_token_verify(token, token ? len : 0, keys, n_keys, sb_clock_wall_ms() / 1000, claims,
                           NULL);
}

sb_token_result access_verify_bearer(const char *header, size_t len, sb_token_claims *claims)
{
    static const char scheme[] = "bearer ";
    size_t n = sizeof(scheme) - 1;
    if (!header || len <= n || strncasecmp(header, scheme, n) != 0)
        return SB_TOKEN_MISSING;
    while (n < len && header[n] == ' ')
        n++;
    return access_verify(header + n, len - n, claims);
}
