/*
 * netaddr.c - fuzz target: client addresses (common/netaddr.c), which read
 * --trusted-proxies and, from any client, X-Forwarded-For.
 *
 * The input's first line is a --trusted-proxies list, its second line the
 * TCP peer's address, and the rest an X-Forwarded-For value (up to a NUL).
 *
 *  - sb_ipaddr_parse agrees with inet_pton on the same text (IPv6 when it
 *    has a ':', else IPv4), and an accepted address written back with
 *    sb_ipaddr_format parses to itself.
 *  - sb_cidr_list_parse refuses with a one-line reason, or yields at most
 *    SB_CIDR_LIST_MAX networks without host bits that, written back as
 *    "addr/prefix,...", parse to the same list; membership agrees with a
 *    bit-by-bit comparison.
 *  - sb_client_address agrees with a plain reading of the rule: split the
 *    header at commas, walk from the right while the hop is a trusted
 *    address, stop at an entry that is not an address.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netaddr.h"

static void check_address(const char *text)
{
    sb_ipaddr a;
    size_t len = strlen(text);
    int got = sb_ipaddr_parse(text, len, &a);
    unsigned char bytes[16];
    int ref =
        strchr(text, ':') ? inet_pton(AF_INET6, text, bytes) : inet_pton(AF_INET, text, bytes);
    FUZZ_CHECK((got == 0) == (ref == 1), "'%s': parse %d, inet_pton %d", text, got, ref);
    if (got != 0)
        return;
    char back[SB_IPADDR_STRLEN];
    sb_ipaddr again;
    sb_ipaddr_format(&a, back);
    FUZZ_CHECK(sb_ipaddr_parse(back, strlen(back), &again) == 0 && sb_ipaddr_equal(&a, &again),
               "'%s' written back as '%s' reads otherwise", text, back);
}

static int bit(const sb_ipaddr *a, unsigned i)
{
    return (a->bytes[i / 8] >> (7 - i % 8)) & 1;
}

static int reference_contains(const sb_cidr *c, const sb_ipaddr *a)
{
    if (c->net.family != a->family || a->family == 0)
        return 0;
    for (unsigned i = 0; i < c->prefix; i++)
        if (bit(&c->net, i) != bit(a, i))
            return 0;
    return 1;
}

static void check_list(const char *text, sb_cidr_list *out)
{
    char why[256] = "";
    if (sb_cidr_list_parse(text, out, why, sizeof(why)) != 0) {
        FUZZ_CHECK(why[0] && !strchr(why, '\n'), "bad reason '%s'", why);
        out->count = 0;
        return;
    }
    FUZZ_CHECK(out->count <= SB_CIDR_LIST_MAX, "%zu entries", out->count);
    char back[SB_CIDR_LIST_MAX * (SB_IPADDR_STRLEN + 5)] = "";
    for (size_t i = 0; i < out->count; i++) {
        const sb_cidr *c = &out->items[i];
        unsigned width = c->net.family == 4 ? 32 : 128;
        FUZZ_CHECK(c->net.family == 4 || c->net.family == 6, "family %d", c->net.family);
        FUZZ_CHECK(c->prefix <= width, "prefix %u", c->prefix);
        for (unsigned b = c->prefix; b < 128; b++)
            FUZZ_CHECK(!bit(&c->net, b), "host bit %u set in entry %zu", b, i);
        char addr[SB_IPADDR_STRLEN];
        sb_ipaddr_format(&c->net, addr);
        snprintf(back + strlen(back), sizeof(back) - strlen(back), "%s%s/%u", i ? "," : "", addr,
                 c->prefix);
    }
    sb_cidr_list again;
    FUZZ_CHECK(sb_cidr_list_parse(back, &again, NULL, 0) == 0 && again.count == out->count
                   && memcmp(again.items, out->items, sizeof(again.items)) == 0,
               "'%s' written back as '%s' reads otherwise", text, back);
}

/* The rule of netaddr.h, read directly on a copy split at commas. */
static sb_ipaddr reference_client(const sb_ipaddr *peer, const char *xff, const sb_cidr_list *t)
{
    sb_ipaddr client = *peer;
    if (!sb_cidr_list_contains(t, peer))
        return client;
    size_t commas = 0;
    for (const char *p = xff; *p; p++)
        commas += *p == ',';
    char *copy = strdup(xff), *rest = copy;
    char **entries = calloc(commas + 1, sizeof(*entries));
    size_t n = 0;
    for (char *e; (e = strsep(&rest, ",")) != NULL;)
        entries[n++] = e;
    while (n > 0) {
        char *e = entries[--n], *end = e + strlen(e);
        while (*e == ' ' || *e == '\t')
            e++;
        while (end > e && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        sb_ipaddr hop;
        if (sb_ipaddr_parse(e, (size_t)(end - e), &hop) != 0)
            break;
        client = hop;
        int trusted = 0;
        for (size_t i = 0; i < t->count; i++)
            trusted |= reference_contains(&t->items[i], &hop);
        if (!trusted)
            break;
    }
    free(entries);
    free(copy);
    return client;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t used1 = 0, used2 = 0;
    const uint8_t *nl1 = memchr(data, '\n', size);
    size_t first = nl1 ? (size_t)(nl1 - data) : size;
    char *list_text = fuzz_cstr(data, first, &used1);
    const uint8_t *rest = nl1 ? nl1 + 1 : data + size;
    size_t rest_size = (size_t)(data + size - rest);
    const uint8_t *nl2 = memchr(rest, '\n', rest_size);
    size_t second = nl2 ? (size_t)(nl2 - rest) : rest_size;
    char *peer_text = fuzz_cstr(rest, second, &used2);
    const uint8_t *tail = nl2 ? nl2 + 1 : rest + rest_size;
    char *xff = fuzz_cstr(tail, (size_t)(data + size - tail), NULL);

    sb_cidr_list trusted;
    check_list(list_text, &trusted);
    check_address(peer_text);
    check_address(xff);

    sb_ipaddr peer;
    if (sb_ipaddr_parse(peer_text, strlen(peer_text), &peer) == 0) {
        for (size_t i = 0; i < trusted.count; i++)
            FUZZ_CHECK(sb_cidr_contains(&trusted.items[i], &peer)
                           == reference_contains(&trusted.items[i], &peer),
                       "membership of '%s' in entry %zu", peer_text, i);
        sb_ipaddr got = sb_client_address(&peer, xff, strlen(xff), &trusted);
        sb_ipaddr want = reference_client(&peer, xff, &trusted);
        char g[SB_IPADDR_STRLEN], w[SB_IPADDR_STRLEN];
        sb_ipaddr_format(&got, g);
        sb_ipaddr_format(&want, w);
        FUZZ_CHECK(sb_ipaddr_equal(&got, &want), "client %s, by the rule %s (xff '%s')", g, w, xff);
    }
    free(xff);
    free(peer_text);
    free(list_text);
    return 0;
}
