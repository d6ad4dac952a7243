/*
 * netaddr.h - client addresses: IPv4 and IPv6 addresses, CIDR lists
 * (--trusted-proxies), and who the client is behind trusted proxies
 * (X-Forwarded-For).
 *
 * Pure functions: text in, result out, no I/O. The node calls them for
 * every request and upgrade; the unit tests and the fuzz target call them
 * directly.
 *
 * One spelling per address: an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * what a dual-stack socket reports for an IPv4 peer) is the IPv4 address,
 * so a client is one client whichever way its address reaches us.
 */
#ifndef SB_NETADDR_H
#define SB_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

typedef struct {
    uint8_t family;    /* 4 or 6; 0: no address */
    uint8_t bytes[16]; /* network order; IPv4 uses the first 4, the rest are 0 */
} sb_ipaddr;

typedef struct {
    sb_ipaddr net; /* host bits are 0 */
    uint8_t prefix;
} sb_cidr;

#define SB_CIDR_LIST_MAX 32
typedef struct {
    sb_cidr items[SB_CIDR_LIST_MAX];
    size_t count;
} sb_cidr_list;

/* Longest address text accepted (an IPv6 address with an IPv4 tail). */
#define SB_IPADDR_TEXT_MAX 45
/* Room for sb_ipaddr_format, NUL included. */
#define SB_IPADDR_STRLEN 46

/* Exactly one address, dotted-quad IPv4 or IPv6 text (no brackets, port,
 * zone or surrounding space), in s[0..len) (no NUL needed). 0 or -1. */
int sb_ipaddr_parse(const char *s, size_t len, sb_ipaddr *out);
/* The address of an AF_INET or AF_INET6 socket address; family 0 for any
 * other. */
void sb_ipaddr_from_sockaddr(const struct sockaddr *sa, sb_ipaddr *out);
/* Canonical text (inet_ntop), "-" for no address. */
void sb_ipaddr_format(const sb_ipaddr *a, char out[SB_IPADDR_STRLEN]);
bool sb_ipaddr_equal(const sb_ipaddr *a, const sb_ipaddr *b);
/* a with every bit past the first `bits` cleared (bits is capped at the
 * family's width). */
sb_ipaddr sb_ipaddr_prefix(const sb_ipaddr *a, unsigned bits);

/* "CIDR[,CIDR...]": each entry an address, optionally "/prefix" (0-32 for
 * IPv4, 0-128 for IPv6; no prefix = that one address), spaces around
 * entries allowed. Host bits past the prefix must be 0 (10.0.0.0/8, not
 * 10.1.2.3/8: the second is more likely a typo than a subnet). "" is the
 * empty list. 0, or -1 with a one-line reason that quotes no input. */
int sb_cidr_list_parse(const char *text, sb_cidr_list *out, char *why, size_t whylen);
bool sb_cidr_contains(const sb_cidr *c, const sb_ipaddr *a);
bool sb_cidr_list_contains(const sb_cidr_list *l, const sb_ipaddr *a);

/* Who sent the request. The TCP peer, unless the peer is a trusted proxy:
 * then X-Forwarded-For (xff[0..xff_len), every header line joined by ',',
 * oldest hop first) is walked from the right, skipping trusted proxies,
 * and the first address that is not one is the client. Each proxy appends
 * the address it received the request from, so that is the nearest hop
 * no trusted proxy vouches for; anything further left was written by the
 * client and could be anything. When every hop is trusted, the left-most
 * is the client; when an entry is not an address (a proxy that wrote
 * something else), the walk stops at the last address read. */
sb_ipaddr sb_client_address(const sb_ipaddr *peer, const char *xff, size_t xff_len,
                            const sb_cidr_list *trusted);

#endif
