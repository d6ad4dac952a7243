/*
 * ids.c - fuzz target: room and user ids from URLs and messages, and the
 * TURN credentials minted for a user id from a query string.
 *
 *  - sb_id_is_valid(s, len) agrees with libuuid: true exactly when the
 *    bytes are 36 long, parse as a UUID and are the UUID's own lowercase
 *    spelling. The bytes sit in an exactly-sized buffer, so a read past
 *    len is an AddressSanitizer error.
 *  - sb_turn_credentials, with output buffers of the sizes bytes 0 and 1
 *    choose (exactly sized, so an overflow is caught), succeeds exactly
 *    when both fit, writes "<expiry>:<user>" and a 28-character base64
 *    HMAC-SHA1, and fails cleanly otherwise. Then comes a NUL-terminated
 *    user id and the secret.
 *  - sb_resume_token_parse(s, len) (a ?resume= value) agrees with a plain
 *    reading: 68 bytes, a valid id (libuuid, as above) then 32 lowercase
 *    hex digits; the parts it copies out are exactly those bytes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "fuzz.h"
#include "ids.h"
#include "turn.h"

#define EXPIRY 1767225600LL
#define CREDENTIAL_LEN 28

static void check_id(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    int got = sb_id_is_valid(buf, size);
    int expected = 0;
    if (size == SB_UUID_LEN && memchr(data, '\0', size) == NULL) {
        char text[SB_UUID_LEN + 1], lower[SB_UUID_LEN + 1];
        uuid_t u;
        memcpy(text, data, SB_UUID_LEN);
        text[SB_UUID_LEN] = '\0';
        if (uuid_parse(text, u) == 0) {
            uuid_unparse_lower(u, lower);
            expected = strcmp(lower, text) == 0;
        }
    }
    FUZZ_CHECK(got == expected, "'%.*s' valid=%d, libuuid says %d", (int)size, buf, got, expected);
    free(buf);
}

static int is_base64(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/'
              || (s[i] == '=' && i == len - 1)))
            return 0;
    return 1;
}

static void check_turn(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t username_size = data[0], credential_size = data[1] % 64, used;
    char *user = fuzz_cstr(data + 2, size - 2, &used);
    char *secret = fuzz_cstr(data + 2 + used, size - 2 - used, NULL);
    char *username = malloc(username_size ? username_size : 1);
    char *credential = malloc(credential_size ? credential_size : 1);
    char expected[512];
    int n = snprintf(expected, sizeof(expected), "%lld:%s", EXPIRY, user);

    int rc = sb_turn_credentials(secret, user, EXPIRY, username, username_size, credential,
                                 credential_size);
    int fits = (size_t)n < username_size && credential_size > CREDENTIAL_LEN;
    FUZZ_CHECK((rc == 0) == fits, "rc %d for sizes %zu and %zu", rc, username_size,
               credential_size);
    if (rc == 0) {
        FUZZ_CHECK(strcmp(username, expected) == 0, "username '%s'", username);
        FUZZ_CHECK(strlen(credential) == CREDENTIAL_LEN && is_base64(credential, CREDENTIAL_LEN),
                   "credential '%s'", credential);
    }
    free(credential);
    free(username);
    free(secret);
    free(user);
}

static int uuid_reference(const char *text)
{
    char copy[SB_UUID_LEN + 1], lower[SB_UUID_LEN + 1];
    uuid_t u;
    memcpy(copy, text, SB_UUID_LEN);
    copy[SB_UUID_LEN] = '\0';
    if (memchr(copy, '\0', SB_UUID_LEN) || uuid_parse(copy, u) != 0)
        return 0;
    uuid_unparse_lower(u, lower);
    return strcmp(lower, copy) == 0;
}

static void check_resume_token(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    char user[SB_UUID_LEN + 1], secret[SB_RESUME_SECRET_LEN + 1];
    int got = sb_resume_token_parse(buf, size, user, secret);
    int expected = size == 68 && uuid_reference(buf);
    for (size_t i = 36; expected && i < 68; i++)
        expected = strchr("0123456789abcdef", buf[i]) != NULL && buf[i] != '\0';
    FUZZ_CHECK(got == expected, "resume token '%.*s' valid=%d, expected %d", (int)size, buf, got,
               expected);
    if (got) {
        FUZZ_CHECK(strlen(user) == 36 && memcmp(user, buf, 36) == 0, "user id '%s'", user);
        FUZZ_CHECK(strlen(secret) == 32 && memcmp(secret, buf + 36, 32) == 0, "secret '%s'",
                   secret);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_id(data, size);
    check_resume_token(data, size);
    check_turn(data, size);
    return 0;
}
