/*
 * test_netaddr.c - addresses, CIDR lists (--trusted-proxies) and the
 * client behind trusted proxies (X-Forwarded-For).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

static sb_ipaddr addr(const char *text) {
    sb_ipaddr a;
    cr_assert_eq(sb_ipaddr_parse(text, strlen(text), &a), 0, "'%s' refused", text);
    return a;
}

static const char *fmt(const sb_ipaddr *a) {
    static char out[4][SB_IPADDR_STRLEN];
    static int next;
    char *o = out[next++ % 4];
    sb_ipaddr_format(a, o);
    return o;
}

static sb_cidr_list list(const char *text) {
    sb_cidr_list l;
    char why[128] = "";
    cr_assert_eq(sb_cidr_list_parse(text, &l, why, sizeof(why)), 0, "'%s' refused: %s", text, why);
    return l;
}

static void list_refused(const char *text) {
    sb_cidr_list l;
    char why[128] = "";
    cr_assert_neq(sb_cidr_list_parse(text, &l, why, sizeof(why)), 0, "'%s' accepted", text);
    cr_assert(why[0] && !strchr(why, '\n'), "'%s': reason '%s'", text, why);
}

/* The client of a request from `peer` carrying X-Forwarded-For `xff`
 * (NULL: no header), with these trusted proxies. */
static const char *client(const char *peer, const char *xff, const char *trusted) {
    sb_ipaddr p = addr(peer);
    sb_cidr_list t = list(trusted);
    sb_ipaddr c = sb_client_address(&p, xff, xff ? strlen(xff) : 0, &t);
    return fmt(&c);
}

Test(netaddr, addresses) {
    sb_ipaddr a = addr("192.0.2.1");
    cr_assert_eq(a.family, 4);
    cr_assert_str_eq(fmt(&a), "192.0.2.1");
    a = addr("2001:DB8::1");
    cr_assert_eq(a.family, 6);
    cr_assert_str_eq(fmt(&a), "2001:db8::1");
    /* A mapped IPv4 address is that IPv4 address. */
    sb_ipaddr m = addr("::ffff:192.0.2.1");
    cr_assert_eq(m.family, 4);
    sb_ipaddr v4 = addr("192.0.2.1");
    cr_assert(sb_ipaddr_equal(&m, &v4));
    /* Only the given bytes count; no NUL is needed after them. */
    cr_assert_eq(sb_ipaddr_parse("10.0.0.1x", 8, &a), 0);
    cr_assert_str_eq(fmt(&a), "10.0.0.1");
}

Test(netaddr, address_refusals) {
    const char *bad[] = { "", " 10.0.0.1", "10.0.0.1 ", "10.0.0", "10.0.0.256", "010.0.0.1",
                          "10.0.0.1:80", "[::1]", "::1%eth0", "1::2::3", "example.com",
                          "10.0.0.1/8", "0x0a.0.0.1",
                          "0000:0000:0000:0000:0000:0000:0000:0000:0" };
    sb_ipaddr a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_neq(sb_ipaddr_parse(bad[i], strlen(bad[i]), &a), 0, "'%s' accepted", bad[i]);
    cr_assert_neq(sb_ipaddr_parse("10.0\0.0.1", 9, &a), 0, "a NUL inside was accepted");
}

Test(netaddr, from_sockaddr) {
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
    sb_ipaddr a;
    sb_ipaddr_from_sockaddr((struct sockaddr *)&in, &a);
    cr_assert_str_eq(fmt(&a), "127.0.0.2");
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.3", &in6.sin6_addr);
    sb_ipaddr_from_sockaddr((struct sockaddr *)&in6, &a);
    cr_assert_eq(a.family, 4, "a dual-stack socket's IPv4 peer is IPv4");
    cr_assert_str_eq(fmt(&a), "127.0.0.3");
    sb_ipaddr_from_sockaddr(NULL, &a);
    cr_assert_eq(a.family, 0);
    cr_assert_str_eq(fmt(&a), "-");
}

Test(netaddr, prefix) {
    sb_ipaddr a = addr("2001:db8:1:2:3:4:5:6");
    sb_ipaddr p = sb_ipaddr_prefix(&a, 64);
    cr_assert_str_eq(fmt(&p), "2001:db8:1:2::");
    p = sb_ipaddr_prefix(&a, 60);
    cr_assert_str_eq(fmt(&p), "2001:db8:1::");
    a = addr("10.1.2.3");
    p = sb_ipaddr_prefix(&a, 64);
    cr_assert_str_eq(fmt(&p), "10.1.2.3", "bits past the width change nothing");
    p = sb_ipaddr_prefix(&a, 12);
    cr_assert_str_eq(fmt(&p), "10.0.0.0");
    p = sb_ipaddr_prefix(&a, 0);
    cr_assert_str_eq(fmt(&p), "0.0.0.0");
}

Test(netaddr, cidr_lists) {
    sb_cidr_list l = list("");
    cr_assert_eq(l.count, 0);
    l = list("  ");
    cr_assert_eq(l.count, 0);
    l = list("10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1,0.0.0.0/0");
    cr_assert_eq(l.count, 5);
    cr_assert_eq(l.items[1].prefix, 32, "no prefix is one address");
    cr_assert_eq(l.items[3].prefix, 128);
    sb_ipaddr a = addr("10.200.1.1");
    cr_assert(sb_cidr_contains(&l.items[0], &a));
    a = addr("11.0.0.1");
    cr_assert_not(sb_cidr_contains(&l.items[0], &a));
    cr_assert(sb_cidr_contains(&l.items[4], &a), "0.0.0.0/0 holds every IPv4 address");
    a = addr("fd12::1");
    cr_assert(sb_cidr_contains(&l.items[2], &a));
    cr_assert_not(sb_cidr_contains(&l.items[4], &a), "an IPv4 network holds no IPv6 address");
    l = list("192.168.1.7");
    a = addr("192.168.1.8");
    cr_assert_not(sb_cidr_list_contains(&l, &a));
    a = addr("192.168.1.7");
    cr_assert(sb_cidr_list_contains(&l, &a));
    /* A mapped network is an IPv4 one. */
    l = list("::ffff:10.0.0.0/104");
    cr_assert_eq(l.items[0].net.family, 4);
    cr_assert_eq(l.items[0].prefix, 8);
    a = addr("10.9.9.9");
    cr_assert(sb_cidr_list_contains(&l, &a));
}

Test(netaddr, cidr_refusals) {
    list_refused("10.0.0.0/33");
    list_refused("::/129");
    list_refused("10.1.2.3/8");
    list_refused("10.0.0.0/08");
    list_refused("10.0.0.0/");
    list_refused("10.0.0.0/-1");
    list_refused("10.0.0.0/+8");
    list_refused("10.0.0.0,,10.0.0.1");
    list_refused("10.0.0.0,");
    list_refused("example.com/8");
    list_refused("::ffff:10.0.0.0/8");
    char many[1024] = "";
    for (int i = 0; i <= SB_CIDR_LIST_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.0.%d", i ? "," : "", i);
    list_refused(many);
}

Test(netaddr, peer_not_trusted_is_the_client) {
    cr_assert_str_eq(client("203.0.113.9", "198.51.100.1", ""), "203.0.113.9");
    cr_assert_str_eq(client("203.0.113.9", "198.51.100.1", "10.0.0.0/8"), "203.0.113.9",
                     "a spoofed header from an untrusted peer is ignored");
}

Test(netaddr, walk_from_the_right_past_trusted_proxies) {
    const char *t = "10.0.0.0/8";
    cr_assert_str_eq(client("10.0.0.1", NULL, t), "10.0.0.1", "no header: the proxy itself");
    cr_assert_str_eq(client("10.0.0.1", "", t), "10.0.0.1");
    cr_assert_str_eq(client("10.0.0.1", "198.51.100.1", t), "198.51.100.1");
    /* The client's own claim is left of the hop the proxy appended. */
    cr_assert_str_eq(client("10.0.0.1", "1.1.1.1, 198.51.100.1", t), "198.51.100.1");
    cr_assert_str_eq(client("10.0.0.1", "garbage,198.51.100.1", t), "198.51.100.1");
    /* Chained proxies are skipped. */
    cr_assert_str_eq(client("10.0.0.1", "1.1.1.1,198.51.100.1, 10.0.0.2,10.0.0.3", t),
                     "198.51.100.1");
    /* Every hop trusted: the left-most. */
    cr_assert_str_eq(client("10.0.0.1", "10.0.0.5, 10.0.0.2", t), "10.0.0.5");
    /* A trusted proxy that wrote something else: the last address read. */
    cr_assert_str_eq(client("10.0.0.1", "198.51.100.1,bogus,10.0.0.2", t), "10.0.0.2");
    cr_assert_str_eq(client("10.0.0.1", "198.51.100.1,", t), "10.0.0.1");
    cr_assert_str_eq(client("10.0.0.1", ",198.51.100.1", t), "198.51.100.1");
    cr_assert_str_eq(client("10.0.0.1", "198.51.100.1:4000", t), "10.0.0.1");
    /* IPv6, mapped or not. */
    cr_assert_str_eq(client("10.0.0.1", "2001:db8::7", t), "2001:db8::7");
    cr_assert_str_eq(client("10.0.0.1", "::ffff:198.51.100.1", t), "198.51.100.1");
    cr_assert_str_eq(client("::1", "198.51.100.1", "::1"), "198.51.100.1");
    cr_assert_str_eq(client("::ffff:10.0.0.1", "\t198.51.100.1\t", t), "198.51.100.1");
}
