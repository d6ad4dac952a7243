/*
 * turn.c - TURN REST API credentials (see turn.h), with libcrypto's HMAC.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "turn.h"

int sb_turn_credentials(const char *secret, const char *user_id, long long expiry, char *username,
                        size_t username_size, char *credential, size_t credential_size)
{
    int n = snprintf(username, username_size, "%lld:%s", expiry, user_id);
    if (n < 0 || (size_t)n >= username_size || credential_size < 29)
        return -1;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username, (size_t)n,
              digest, &digest_len))
        return -1;
    EVP_EncodeBlock((unsigned char *)credential, digest, (int)digest_len);
    return 0;
}
