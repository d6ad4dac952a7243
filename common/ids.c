/*
 * ids.c - room, user and node identifiers.
 *
 * Room and user ids are random (version 4) UUIDs from libuuid, always in the
 * canonical lowercase 8-4-4-4-12 form. Validation is deliberately strict: it
 * accepts exactly that form and nothing else (no uppercase, no braces, no
 * missing dashes), so an id taken from a URL or a message can be used as a
 * Redis key, a log field or a JSON string without escaping, and one room can
 * never be reached under two spellings.
 *
 * A node id only has to be unique among live nodes and readable in logs:
 * the host name (so an operator sees where the node runs) plus six random
 * hex digits (so several nodes on one host differ, and a restarted node does
 * not inherit the membership its previous incarnation left in Redis).
 */
#include "ids.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

/* Short enough that "<host>-<6 hex>" stays within the 100 characters the
 * configuration allows for a node id. */
#define NODE_HOST_MAX 64
#define NODE_SUFFIX_HEX 6

void sb_id_generate(char out[SB_UUID_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

static bool is_dash_position(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool sb_id_is_valid(const char *s, size_t len)
{
    if (s == NULL || len != SB_UUID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (is_dash_position(i) ? s[i] != '-' : !is_lower_hex(s[i]))
            return false;
    }
    return true;
}

static bool is_node_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
           || c == '_' || c == '-';
}

/* The host name, cut short and with anything unusual replaced, or "node"
 * when the system does not tell us one. */
static void sanitized_host_name(char *out, size_t size)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0') {
        strcpy(host, "node");
    }
    host[sizeof(host) - 1] = '\0';

    size_t n = strlen(host);
    if (n > size - 1)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = is_node_id_char(host[i]) ? host[i] : '-';
    out[n] = '\0';
}

static void random_hex_suffix(char out[NODE_SUFFIX_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    uuid_t u;
    uuid_generate_random(u);
    for (int i = 0; i < NODE_SUFFIX_HEX; i++) {
        unsigned byte = u[i / 2];
        out[i] = hex[(i % 2 == 0) ? (byte >> 4) : (byte & 0x0f)];
    }
    out[NODE_SUFFIX_HEX] = '\0';
}

void sb_id_node_default(char *out, size_t size)
{
    if (out == NULL || size == 0)
        return;
    char host[NODE_HOST_MAX + 1];
    char suffix[NODE_SUFFIX_HEX + 1];
    sanitized_host_name(host, sizeof(host));
    random_hex_suffix(suffix);

    /* When the caller's buffer is small, the host name gives way first: the
     * random suffix is what keeps node ids apart. */
    size_t room_for_host = size > NODE_SUFFIX_HEX + 2 ? size - (NODE_SUFFIX_HEX + 2) : 0;
    size_t host_len = strlen(host);
    if (host_len > room_for_host)
        host_len = room_for_host;
    if (host_len == 0) {
        snprintf(out, size, "%s", suffix);
        return;
    }
    snprintf(out, size, "%.*s-%s", (int)host_len, host, suffix);
}

int sb_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool sb_resume_token_parse(const char *s, size_t len, char user_id[SB_UUID_LEN + 1],
                           char secret[SB_RESUME_SECRET_LEN + 1])
{
    if (!s || len != SB_RESUME_TOKEN_LEN || !sb_id_is_valid(s, SB_UUID_LEN))
        return false;
    for (size_t i = SB_UUID_LEN; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    memcpy(user_id, s, SB_UUID_LEN);
    user_id[SB_UUID_LEN] = '\0';
    memcpy(secret, s + SB_UUID_LEN, SB_RESUME_SECRET_LEN);
    secret[SB_RESUME_SECRET_LEN] = '\0';
    return true;
}

void sb_resume_secret_generate(char out[SB_RESUME_SECRET_LEN + 1])
{
    unsigned char raw[SB_RESUME_SECRET_LEN / 2];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            abort(); /* no randomness: no token may be guessable */
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[SB_RESUME_SECRET_LEN] = '\0';
}
