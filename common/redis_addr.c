/*
 * redis_addr.c - Redis addresses (see redis_addr.h).
 *
 * Everything here is strict: an address a sentinel sends back is dialled
 * as is, so it must be a plain host and a port from 1 to 65535, and the
 * operator's list or URL is refused whole at start when one part is not.
 * The --redis-url's host and port are read by the same code as a list
 * entry, so every flag that names a Redis accepts the same hosts.
 */
#include "redis_addr.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ids.h"

static bool is_name_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-' || c == '_';
}

static bool is_v6_char(unsigned char c)
{
    return isxdigit(c) || c == ':' || c == '.';
}

/* An IPv6 address, with an optional "%zone" (an interface name). */
static bool is_v6(const char *host, size_t len)
{
    const char *pct = memchr(host, '%', len);
    size_t addr_len = pct ? (size_t)(pct - host) : len;
    if (!memchr(host, ':', addr_len) || (pct && addr_len + 1 == len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (i < addr_len ? !is_v6_char(c) : i > addr_len && !is_name_char(c))
            return false;
    }
    return true;
}

bool sb_host_valid(const char *host, size_t len)
{
    if (len == 0 || len >= SB_HOST_MAX)
        return false;
    if (is_v6(host, len))
        return true;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)host[i]))
            return false;
    return true;
}

/* A whole decimal port, 1 to 65535, of exactly len digits. */
static int parse_port(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

static void store_host(sb_hostport *out, const char *host, size_t len)
{
    memcpy(out->host, host, len);
    out->host[len] = '\0';
}

/* One trimmed entry s[0..len): host, host:port, [v6] or [v6]:port. */
static int parse_entry(const char *s, size_t len, int default_port, sb_hostport *out,
                       const char **why)
{
    const char *host = s, *rest;
    size_t host_len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            *why = "an IPv6 address is missing its ']'";
            return -1;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        rest = close + 1;
        if (!memchr(host, ':', host_len)) {
            *why = "only an IPv6 address goes in brackets";
            return -1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        host_len = colon ? (size_t)(colon - s) : len;
        rest = s + host_len;
    }
    size_t rest_len = len - (size_t)(rest - s);
    if (!sb_host_valid(host, host_len)) {
        *why = "a host is empty, too long or has characters a host name cannot have";
        return -1;
    }
    int port = default_port;
    if (rest_len > 0 && (rest[0] != ':' || (port = parse_port(rest + 1, rest_len - 1)) < 0)) {
        *why = "a port is not a whole number from 1 to 65535";
        return -1;
    }
    store_host(out, host, host_len);
    out->port = port;
    return 0;
}

int sb_hostport_list_parse(const char *s, int default_port, sb_hostport *out, size_t max, char *err,
                           size_t errlen)
{
    size_t n = 0;
    const char *why = NULL;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *start = p, *end = comma ? comma : p + strlen(p);
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (start == end) {
            why = "an entry is empty";
            break;
        }
        if (n == max) {
            why = "lists too many addresses";
            break;
        }
        if (parse_entry(start, (size_t)(end - start), default_port, &out[n], &why) != 0)
            break;
        n++;
        if (!comma)
            return (int)n;
        p = comma + 1;
    }
    if (err && errlen)
        snprintf(err, errlen, "must be host[:port] entries separated by commas (at most %zu): %s",
                 max, why);
    return -1;
}

bool sb_master_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > SB_MASTER_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f)
            return false;
    return true;
}

int sb_sentinel_addr_parse(const char *host, size_t host_len, const char *port, size_t port_len,
                           sb_hostport *out)
{
    int p = parse_port(port, port_len);
    if (!sb_host_valid(host, host_len) || p < 0)
        return -1;
    store_host(out, host, host_len);
    out->port = p;
    return 0;
}

/* The next space-separated word of msg[*pos..len), or false. */
static bool next_word(const char *msg, size_t len, size_t *pos, const char **word, size_t *wlen)
{
    if (*pos >= len || msg[*pos] == ' ')
        return false;
    const char *space = memchr(msg + *pos, ' ', len - *pos);
    size_t end = space ? (size_t)(space - msg) : len;
    *word = msg + *pos;
    *wlen = end - *pos;
    *pos = space ? end + 1 : len;
    return !space || *pos < len; /* a trailing space is malformed */
}

int sb_sentinel_switch_parse(const char *msg, size_t len, const char *name, sb_hostport *out)
{
    const char *w[5];
    size_t wl[5], pos = 0;
    for (int i = 0; i < 5; i++)
        if (!next_word(msg, len, &pos, &w[i], &wl[i]))
            return -1;
    if (pos != len)
        return -1;
    sb_hostport addr;
    if (sb_sentinel_addr_parse(w[3], wl[3], w[4], wl[4], &addr) != 0)
        return -1;
    if (wl[0] != strlen(name) || memcmp(w[0], name, wl[0]) != 0)
        return 0;
    *out = addr;
    return 1;
}

/* ------------------------------------------------------------------------
 * --redis-url: redis://[[user]:password@]host[:port][/db]
 * ------------------------------------------------------------------------ */

/* Decodes %XX escapes of s[0..len) into out. Passwords often contain
 * characters that have a meaning in URLs, so they arrive percent-encoded.
 * A decoded NUL is refused: it would silently cut the password short. */
static int percent_decode(const char *s, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = sb_hex_digit(s[i + 1]), lo = sb_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

static int parse_userinfo(const char *s, size_t len, sb_redis_target *t, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', len);
    if (colon == NULL) {
        snprintf(err, errlen, "put a ':' before the password (redis://:password@host)");
        return -1;
    }
    size_t user_len = (size_t)(colon - s);
    if (percent_decode(s, user_len, t->username, sizeof(t->username)) != 0
        || percent_decode(colon + 1, len - user_len - 1, t->password, sizeof(t->password)) != 0) {
        snprintf(err, errlen, "user name or password has a bad %%XX escape or is too long");
        return -1;
    }
    return 0;
}

/* "", "/" or "/<db>", the database a whole number up to INT_MAX. */
static int parse_db(const char *path, int *db)
{
    long long n = 0;
    *db = 0;
    if (path[0] == '\0' || strcmp(path, "/") == 0)
        return 0;
    for (const char *p = path + 1; *p; p++) {
        if (!isdigit((unsigned char)*p) || (n = n * 10 + (*p - '0')) > INT_MAX)
            return -1;
    }
    *db = (int)n;
    return 0;
}

int sb_redis_url_parse(const char *url, sb_redis_target *out, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    sb_redis_target t;
    char scratch[1];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    memset(&t, 0, sizeof(t));

    if (url == NULL || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
        if (url != NULL && strncasecmp(url, "rediss://", 9) == 0) {
            snprintf(err, errlen, "TLS (rediss://) is not supported; use redis://");
        } else {
            snprintf(err, errlen, "must start with redis://");
        }
        return -1;
    }
    const char *rest = url + sizeof(scheme) - 1;

    /* The last '@' ends the credentials, so an unescaped '@' or '/' in a
     * password still works; host, port and database never contain '@'. */
    const char *at = strrchr(rest, '@');
    if (at != NULL) {
        if (parse_userinfo(rest, (size_t)(at - rest), &t, err, errlen) != 0)
            return -1;
        rest = at + 1;
    }
    if (strpbrk(rest, "?#") != NULL) {
        snprintf(err, errlen, "query parameters are not supported");
        return -1;
    }
    const char *slash = strchr(rest, '/');
    size_t authority_len = slash ? (size_t)(slash - rest) : strlen(rest);
    /* Zeroed, as the seeds are: a config is compared whole. */
    sb_hostport addr;
    memset(&addr, 0, sizeof(addr));
    const char *why = NULL;
    if (parse_entry(rest, authority_len, SB_REDIS_DEFAULT_PORT, &addr, &why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    memcpy(t.host, addr.host, sizeof(t.host));
    t.port = addr.port;
    if (parse_db(slash ? slash : "", &t.db) != 0) {
        snprintf(err, errlen, "database must be a whole number, as in redis://host:6379/0");
        return -1;
    }

    *out = t;
    return 0;
}

int sb_redis_seeds_parse(const char *list, sb_redis_seeds *out, char *err, size_t errlen)
{
    /* Zeroed: a host is copied with its NUL only, and the same list must
     * give the same bytes (a config is compared whole). */
    sb_redis_seeds seeds;
    memset(&seeds, 0, sizeof(seeds));
    if (list[0]) {
        int n = sb_hostport_list_parse(list, SB_REDIS_DEFAULT_PORT, seeds.addr, SB_REDIS_SEEDS_MAX,
                                       err, errlen);
        if (n < 0)
            return -1;
        seeds.count = (size_t)n;
    }
    *out = seeds;
    return 0;
}
