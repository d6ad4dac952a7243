/*
 * netaddr.c - addresses, CIDR lists and the client behind trusted proxies
 * (see netaddr.h).
 *
 * Address text is read by inet_pton, which is strict (no leading zeros in
 * IPv4 octets, no brackets, no zone ids), after our own length and
 * character checks, so a NUL or a stray byte inside the given range can
 * never be cut off and ignored.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static unsigned family_bits(const sb_ipaddr *a)
{
    return a->family == 4 ? 32 : a->family == 6 ? 128 : 0;
}

static void set_v4(sb_ipaddr *out, const uint8_t bytes[4])
{
    memset(out, 0, sizeof(*out));
    out->family = 4;
    memcpy(out->bytes, bytes, 4);
}

static void set_v6(sb_ipaddr *out, const uint8_t bytes[16])
{
    if (memcmp(bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        set_v4(out, bytes + 12);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->family = 6;
    memcpy(out->bytes, bytes, 16);
}

/* Digits, hex digits, '.' and ':' only: what an address may contain. */
static bool address_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
                  || c == '.' || c == ':';
        if (!ok)
            return false;
    }
    return true;
}

int sb_ipaddr_parse(const char *s, size_t len, sb_ipaddr *out)
{
    char text[SB_IPADDR_TEXT_MAX + 1];
    if (len == 0 || len > SB_IPADDR_TEXT_MAX || !address_chars(s, len))
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    uint8_t bytes[16];
    if (memchr(text, ':', len)) {
        if (inet_pton(AF_INET6, text, bytes) != 1)
            return -1;
        set_v6(out, bytes);
        return 0;
    }
    if (inet_pton(AF_INET, text, bytes) != 1)
        return -1;
    set_v4(out, bytes);
    return 0;
}

void sb_ipaddr_from_sockaddr(const struct sockaddr *sa, sb_ipaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        set_v4(out, (const uint8_t *)&in->sin_addr);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        set_v6(out, in6->sin6_addr.s6_addr);
    }
}

void sb_ipaddr_format(const sb_ipaddr *a, char out[SB_IPADDR_STRLEN])
{
    if (a->family != 4 && a->family != 6) {
        snprintf(out, SB_IPADDR_STRLEN, "-");
        return;
    }
    if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, SB_IPADDR_STRLEN))
        snprintf(out, SB_IPADDR_STRLEN, "-");
}

bool sb_ipaddr_equal(const sb_ipaddr *a, const sb_ipaddr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

sb_ipaddr sb_ipaddr_prefix(const sb_ipaddr *a, unsigned bits)
{
    sb_ipaddr out = *a;
    unsigned width = family_bits(a);
    if (bits >= width)
        return out;
    out.bytes[bits / 8] &= (uint8_t)(0xff00u >> (bits % 8));
    for (unsigned i = bits / 8 + 1; i < sizeof(out.bytes); i++)
        out.bytes[i] = 0;
    return out;
}

bool sb_cidr_contains(const sb_cidr *c, const sb_ipaddr *a)
{
    if (c->net.family != a->family || a->family == 0)
        return false;
    sb_ipaddr masked = sb_ipaddr_prefix(a, c->prefix);
    return sb_ipaddr_equal(&masked, &c->net);
}

bool sb_cidr_list_contains(const sb_cidr_list *l, const sb_ipaddr *a)
{
    for (size_t i = 0; l && i < l->count; i++) {
        if (sb_cidr_contains(&l->items[i], a))
            return true;
    }
    return false;
}

/* ---- CIDR lists -------------------------------------------------------------------------- */

static void trim(const char **start, const char **end)
{
    while (*start < *end && (**start == ' ' || **start == '\t'))
        (*start)++;
    while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
}

/* "0" to "128" without a sign or a leading zero. */
static int parse_prefix(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
        return -1;
    unsigned n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        n = n * 10 + (unsigned)(s[i] - '0');
    }
    *out = n;
    return 0;
}

static int parse_cidr(const char *s, size_t len, sb_cidr *out, char *why, size_t whylen)
{
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash ? (size_t)(slash - s) : len;
    if (sb_ipaddr_parse(s, addr_len, &out->net) != 0) {
        snprintf(why, whylen, "an entry is not an IPv4 or IPv6 address (CIDR, e.g. 10.0.0.0/8)");
        return -1;
    }
    /* A mapped IPv6 network is written in IPv6 bits: ::ffff:10.0.0.0/104
     * is 10.0.0.0/8. */
    bool mapped = memchr(s, ':', addr_len) && out->net.family == 4;
    unsigned width = family_bits(&out->net), prefix = width;
    if (slash) {
        if (parse_prefix(slash + 1, len - addr_len - 1, &prefix) != 0
            || prefix > (mapped ? 128 : width) || (mapped && prefix < 96)) {
            snprintf(why, whylen,
                     "an entry has a bad prefix length (0-32 for IPv4, 0-128 for IPv6)");
            return -1;
        }
        if (mapped)
            prefix -= 96;
    }
    out->prefix = (uint8_t)prefix;
    sb_ipaddr masked = sb_ipaddr_prefix(&out->net, prefix);
    if (!sb_ipaddr_equal(&masked, &out->net)) {
        snprintf(why, whylen,
                 "an entry has bits set past its prefix (write 10.0.0.0/8, not 10.1.2.3/8)");
        return -1;
    }
    return 0;
}

int sb_cidr_list_parse(const char *text, sb_cidr_list *out, char *why, size_t whylen)
{
    sb_cidr_list list;
    char scratch[1];
    if (!why || !whylen) {
        why = scratch;
        whylen = sizeof(scratch);
    }
    memset(&list, 0, sizeof(list));
    const char *p = text ? text : "";
    const char *all_end = p + strlen(p);
    const char *a = p, *b = all_end;
    trim(&a, &b);
    if (a == b) {
        *out = list;
        return 0;
    }
    while (p <= all_end) {
        const char *comma = memchr(p, ',', (size_t)(all_end - p));
        const char *start = p, *end = comma ? comma : all_end;
        trim(&start, &end);
        if (start == end) {
            snprintf(why, whylen, "has an empty entry");
            return -1;
        }
        if (list.count == SB_CIDR_LIST_MAX) {
            snprintf(why, whylen, "has more than %d entries", SB_CIDR_LIST_MAX);
            return -1;
        }
        if (parse_cidr(start, (size_t)(end - start), &list.items[list.count], why, whylen) != 0)
            return -1;
        list.count++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = list;
    return 0;
}

/* ---- X-Forwarded-For --------------------------------------------------------------------- */

sb_ipaddr sb_client_address(const sb_ipaddr *peer, const char *xff, size_t xff_len,
                            const sb_cidr_list *trusted)
{
    sb_ipaddr client = *peer;
    if (!xff || !trusted || !sb_cidr_list_contains(trusted, peer))
        return client;
    const char *end = xff + xff_len;
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        trim(&a, &b);
        sb_ipaddr hop;
        if (sb_ipaddr_parse(a, (size_t)(b - a), &hop) != 0)
            return client;
        client = hop;
        if (!sb_cidr_list_contains(trusted, &hop))
            return client;
        if (start == xff)
            break;
        end = start - 1; /* before the comma */
    }
    return client;
}
