/*
 * sentinel.c - fuzz target: Redis Sentinel addresses (common/redis_addr.c):
 * the --redis-sentinels list and the master name an operator gives, and
 * the address a sentinel answers and the +switch-master event it sends.
 *
 * Input lines: 1 a --redis-sentinels list, 2 a master name, 3 and 4 the
 * host and port of a get-master-addr-by-name reply (handed over without a
 * NUL, as hiredis hands them), the rest (up to a NUL) a +switch-master
 * payload (also without a NUL).
 *
 *  - A list is refused with one printable line, or gives 1 to
 *    SB_SENTINELS_MAX dialable addresses, as many as a plain split at
 *    commas finds, that written back as "host:port,..." (IPv6 in
 *    brackets) read back to themselves.
 *  - A master name is valid exactly when a plain reading of the README
 *    says so: 1 to 100 bytes from '!' to '~'.
 *  - A reply address is taken exactly when the host is dialable and the
 *    port is 1 to 5 digits from 1 to 65535, and then copied as given.
 *  - An event agrees with a plain split at single spaces: five non-empty
 *    words with a takeable new address; 1 and the address only when the
 *    first word is the name, 0 leaving *out alone for another name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "redis_addr.h"

/* The next line of data[*pos..size) as a NUL-terminated copy. */
static char *next_line(const uint8_t *data, size_t size, size_t *pos)
{
    const uint8_t *nl = *pos < size ? memchr(data + *pos, '\n', size - *pos) : NULL;
    size_t end = nl ? (size_t)(nl - data) : size;
    size_t used;
    char *line = fuzz_cstr(data + *pos, end - *pos, &used);
    *pos = nl ? end + 1 : size;
    return line;
}

static void check_list(const char *text)
{
    sb_hostport out[SB_SENTINELS_MAX], again[SB_SENTINELS_MAX];
    char err[256];
    memset(out, 0, sizeof out);
    int n = sb_hostport_list_parse(text, 7, out, SB_SENTINELS_MAX, err, sizeof err);
    if (n < 0) {
        FUZZ_CHECK(err[0] != '\0', "refused without a reason");
        for (const unsigned char *p = (const unsigned char *)err; *p; p++)
            FUZZ_CHECK(*p >= ' ' && *p != 0x7f, "control character in the reason: %s", err);
        return;
    }
    size_t pos = 0, a, b, count = 0;
    while (fuzz_list_next(text, strlen(text), &pos, &a, &b))
        count++;
    FUZZ_CHECK(n >= 1 && n <= SB_SENTINELS_MAX && (size_t)n == count,
               "%d entries from '%s', a plain split finds %zu", n, text, count);
    char back[SB_SENTINELS_MAX * (SB_HOST_MAX + 10)] = "";
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(memchr(out[i].host, '\0', sizeof out[i].host)
                       && sb_host_valid(out[i].host, strlen(out[i].host)) && out[i].port >= 1
                       && out[i].port <= 65535,
                   "entry %d '%s' port %d", i, out[i].host, out[i].port);
        bool v6 = strchr(out[i].host, ':') != NULL;
        snprintf(back + strlen(back), sizeof back - strlen(back), "%s%s%s%s:%d", i ? "," : "",
                 v6 ? "[" : "", out[i].host, v6 ? "]" : "", out[i].port);
    }
    memset(again, 0, sizeof again);
    FUZZ_CHECK(sb_hostport_list_parse(back, 9, again, SB_SENTINELS_MAX, NULL, 0) == n
                   && memcmp(out, again, (size_t)n * sizeof out[0]) == 0,
               "'%s' does not read back", back);
}

static void check_name(const char *name)
{
    size_t len = strlen(name);
    bool plain = len >= 1 && len <= 100;
    for (size_t i = 0; i < len; i++)
        plain = plain && (unsigned char)name[i] >= '!' && (unsigned char)name[i] <= '~';
    FUZZ_CHECK(sb_master_name_valid(name) == plain, "name '%s'", name);
}

/* The port rule read plainly: 1 to 5 digits, 1 to 65535. */
static int plain_port(const char *s, size_t len)
{
    if (len < 1 || len > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

static void check_reply(const char *host, const char *port)
{
    size_t hl = strlen(host), pl = strlen(port);
    char *h = fuzz_copy((const uint8_t *)host, hl), *p = fuzz_copy((const uint8_t *)port, pl);
    sb_hostport out;
    int rc = sb_sentinel_addr_parse(h, hl, p, pl, &out);
    int want = plain_port(port, pl);
    bool ok = sb_host_valid(h, hl) && want > 0;
    FUZZ_CHECK((rc == 0) == ok, "'%s' '%s': %d", host, port, rc);
    if (rc == 0)
        FUZZ_CHECK(strcmp(out.host, host) == 0 && out.port == want, "'%s' '%s' read as %s %d", host,
                   port, out.host, out.port);
    free(h);
    free(p);
}

static void check_switch(const char *msg, size_t len, const char *name)
{
    char *copy = fuzz_copy((const uint8_t *)msg, len);
    sb_hostport out, before;
    memset(&out, 0x5a, sizeof out);
    before = out;
    int rc = sb_sentinel_switch_parse(copy, len, name, &out);
    /* Plain reading: split at every space; five words, none empty. */
    const char *w[6];
    size_t wl[6], n = 0, start = 0;
    bool empty = false;
    for (size_t i = 0; i <= len && n < 6; i++) {
        if (i == len || msg[i] == ' ') {
            w[n] = msg + start;
            wl[n] = i - start;
            empty = empty || wl[n] == 0;
            n++;
            start = i + 1;
        }
    }
    sb_hostport addr;
    bool shape = n == 5 && !empty && sb_sentinel_addr_parse(w[3], wl[3], w[4], wl[4], &addr) == 0;
    int want = !shape ? -1 : (wl[0] == strlen(name) && memcmp(w[0], name, wl[0]) == 0) ? 1 : 0;
    FUZZ_CHECK(rc == want, "event '%.*s' for '%s': %d, plainly %d", (int)len, msg, name, rc, want);
    if (rc == 1)
        FUZZ_CHECK(strcmp(out.host, addr.host) == 0 && out.port == addr.port, "new address");
    else
        FUZZ_CHECK(memcmp(&out, &before, sizeof out) == 0, "*out changed on %d", rc);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    char *list = next_line(data, size, &pos);
    char *name = next_line(data, size, &pos);
    char *host = next_line(data, size, &pos);
    char *port = next_line(data, size, &pos);
    size_t used;
    char *event = fuzz_cstr(data + pos, size - pos, &used);
    check_list(list);
    check_name(name);
    check_reply(host, port);
    check_switch(event, strlen(event), name);
    free(list);
    free(name);
    free(host);
    free(port);
    free(event);
    return 0;
}
