/*
 * url_origin.c - fuzz target: the Redis URL parser and the CORS origin
 * check, the two parsers of common/config.c that see free-form strings.
 *
 * The input's first line is both a Redis URL and a --cors-origins list;
 * the rest, up to a NUL, is an Origin header.
 *
 *  - sb_redis_url_parse either refuses with a one-line reason and leaves
 *    the target untouched, or yields a target within its documented
 *    bounds that, written back as a canonical URL (credentials
 *    percent-encoded, an IPv6 host in brackets, port and database
 *    explicit), parses to the same target.
 *  - sb_config_origin_allowed agrees with a plain reading of the README:
 *    allowed when one comma-separated entry, trimmed, is "*" or exactly
 *    the origin.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

/* Room for a target written back: every byte of the three strings
 * escaped, plus the fixed parts. */
#define CANONICAL_MAX (3 * 3 * 256 + 64)

static void percent_encode(const char *s, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *out++ = (char)*p;
        } else {
            *out++ = '%';
            *out++ = hex[*p >> 4];
            *out++ = hex[*p & 15];
        }
    }
    *out = '\0';
}

static void canonical_url(const sb_redis_target *t, char *out, size_t size)
{
    char user[3 * 256], pass[3 * 256];
    percent_encode(t->username, user);
    percent_encode(t->password, pass);
    int bracket = strchr(t->host, ':') != NULL;
    snprintf(out, size, "redis://%s:%s@%s%s%s:%d/%d", user, pass, bracket ? "[" : "", t->host,
             bracket ? "]" : "", t->port, t->db);
}

static void check_url(const char *url)
{
    sb_redis_target t, before;
    char err[256] = "";
    memset(&t, 0x5a, sizeof(t));
    before = t;
    if (sb_redis_url_parse(url, &t, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL, "bad reason '%s'", err);
        FUZZ_CHECK(memcmp(&t, &before, sizeof(t)) == 0, "a refused URL changed the target");
        return;
    }
    FUZZ_CHECK(t.host[0] != '\0' && memchr(t.host, '\0', sizeof(t.host)), "host");
    for (const unsigned char *p = (const unsigned char *)t.host; *p; p++)
        FUZZ_CHECK(*p > ' ' && *p != 0x7f && *p != '{' && *p != '}' && *p != '/' && *p != '@',
                   "host '%s'", t.host);
    FUZZ_CHECK(memchr(t.username, '\0', sizeof(t.username))
                   && memchr(t.password, '\0', sizeof(t.password)),
               "credentials not terminated");
    FUZZ_CHECK(t.port >= 1 && t.port <= 65535 && t.db >= 0, "port %d db %d", t.port, t.db);

    char canonical[CANONICAL_MAX];
    sb_redis_target back;
    canonical_url(&t, canonical, sizeof(canonical));
    FUZZ_CHECK(sb_redis_url_parse(canonical, &back, err, sizeof(err)) == 0,
               "canonical form refused (%s)", err);
    FUZZ_CHECK(strcmp(back.host, t.host) == 0 && back.port == t.port && back.db == t.db
                   && strcmp(back.username, t.username) == 0
                   && strcmp(back.password, t.password) == 0,
               "canonical form parses to another target");
}

/* The README's rule, read directly. */
static int reference_allowed(const char *list, const char *origin)
{
    char *copy = strdup(list), *rest = copy, *entry;
    int allowed = 0;
    while (!allowed && (entry = strsep(&rest, ",")) != NULL) {
        char *end = entry + strlen(entry);
        while (entry < end && isspace((unsigned char)*entry))
            entry++;
        while (end > entry && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';
        allowed = strcmp(entry, "*") == 0 || (origin && *entry && strcmp(entry, origin) == 0);
    }
    free(copy);
    return allowed;
}

static void check_origin(const char *list, const char *origin)
{
    sb_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.cors_origins, sizeof(cfg.cors_origins), "%s", list);
    int got = sb_config_origin_allowed(&cfg, origin);
    FUZZ_CHECK(got == reference_allowed(cfg.cors_origins, origin), "origin '%s' in '%s': %d",
               origin ? origin : "(none)", cfg.cors_origins, got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *newline = memchr(data, '\n', size);
    size_t first = newline ? (size_t)(newline - data) : size;
    char *line = fuzz_cstr(data, first, NULL);
    char *origin = newline ? fuzz_cstr(newline + 1, size - first - 1, NULL) : NULL;

    check_url(line);
    check_origin(line, origin);
    check_origin(line, NULL);
    free(origin);
    free(line);
    return 0;
}
