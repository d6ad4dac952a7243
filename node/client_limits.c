/*
 * client_limits.c - client addresses and the per-address limits (see
 * client_limits.h).
 *
 * X-Forwarded-For is read only when the TCP peer is a trusted proxy; from
 * anyone else it is the client's own claim and is ignored. lws joins the
 * header's lines with ',' in the order they came, which is the order the
 * proxies appended them, so the right-most entry is the nearest hop.
 */
#include <string.h>
#include <sys/random.h>

#include "addr_limits.h"
#include "client_limits.h"
#include "clock.h"
#include "listener.h"

/* An IPv6 client is its /64 (see client_limits.h). */
#define IPV6_CLIENT_BITS 64
/* Chains of the WebSocket count table; it holds one entry per address
 * with a WebSocket open, so chains stay short up to ~100k addresses. */
#define COUNT_HEADS 16384
/* lws's header table is 4 KiB, so no header is longer. */
#define XFF_MAX 4096

static const sb_config *cfg;
static sb_addr_buckets buckets;
static sb_addr_counts counts;

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = sb_clock_monotonic_ms() ^ (uint64_t)(uintptr_t)&seed;
    return seed;
}

int client_limits_init(const sb_config *config)
{
    cfg = config;
    if (sb_addr_buckets_init(&buckets, cfg->http_rate_per_sec, cfg->http_rate_burst, random_seed())
        != 0)
        return -1;
    if (cfg->max_connections_per_ip > 0
        && sb_addr_counts_init(&counts, COUNT_HEADS, random_seed()) != 0)
        return -1;
    return 0;
}

void client_limits_stop(void)
{
    sb_addr_buckets_free(&buckets);
    sb_addr_counts_free(&counts);
}

sb_ipaddr client_address(struct lws *wsi)
{
    sb_ipaddr peer;
    listener_peer(wsi, &peer);
    if (!sb_cidr_list_contains(&cfg->trusted, &peer))
        return sb_ipaddr_prefix(&peer, IPV6_CLIENT_BITS);
    char xff[XFF_MAX];
    int n = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);
    sb_ipaddr client = sb_client_address(&peer, xff, n > 0 ? strlen(xff) : 0, &cfg->trusted);
    return sb_ipaddr_prefix(&client, IPV6_CLIENT_BITS);
}

bool client_limits_http_allow(const sb_ipaddr *client, unsigned *retry_after_s)
{
    uint64_t wait_ms = 0;
    if (sb_addr_buckets_take(&buckets, client, sb_clock_monotonic_ms(), &wait_ms))
        return true;
    *retry_after_s = (unsigned)((wait_ms + 999) / 1000);
    if (*retry_after_s == 0)
        *retry_after_s = 1;
    return false;
}

bool client_limits_ws_acquire(const sb_ipaddr *client)
{
    if (cfg->max_connections_per_ip <= 0)
        return true;
    return sb_addr_counts_acquire(&counts, client, (unsigned)cfg->max_connections_per_ip);
}

void client_limits_ws_release(const sb_ipaddr *client)
{
    if (cfg->max_connections_per_ip > 0)
        sb_addr_counts_release(&counts, client);
}
