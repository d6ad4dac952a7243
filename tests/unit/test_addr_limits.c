/*
 * test_addr_limits.c - per-address request buckets and connection counts,
 * on a hand-driven clock: the limit per address, the wait it announces,
 * and that no number of addresses grows the tables or frees a client that
 * spent its tokens.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "addr_limits.h"

static sb_ipaddr v4(uint32_t n) {
    sb_ipaddr a;
    memset(&a, 0, sizeof(a));
    a.family = 4;
    a.bytes[0] = (uint8_t)(n >> 24);
    a.bytes[1] = (uint8_t)(n >> 16);
    a.bytes[2] = (uint8_t)(n >> 8);
    a.bytes[3] = (uint8_t)n;
    return a;
}

static int takes(sb_addr_buckets *t, const sb_ipaddr *a, uint64_t now, int limit) {
    int n = 0;
    while (n < limit && sb_addr_buckets_take(t, a, now, NULL)) n++;
    return n;
}

Test(addr_buckets, burst_then_rate_per_address) {
    sb_addr_buckets t;
    cr_assert_eq(sb_addr_buckets_init(&t, 20, 100, 1), 0);
    sb_ipaddr a = v4(0x0a000001), b = v4(0x0a000002);
    cr_assert_eq(takes(&t, &a, 1000, 1000), 100);
    uint64_t retry = 0;
    cr_assert_not(sb_addr_buckets_take(&t, &a, 1000, &retry));
    cr_assert_eq(retry, 50, "20/s: the next token in 50 ms, got %llu", (unsigned long long)retry);
    cr_assert_eq(takes(&t, &b, 1000, 1000), 100, "another address has a bucket of its own");
    cr_assert_not(sb_addr_buckets_take(&t, &a, 1049, NULL));
    cr_assert(sb_addr_buckets_take(&t, &a, 1050, NULL), "the announced wait is enough");
    cr_assert_eq(takes(&t, &a, 2050, 1000), 20);
    sb_addr_buckets_free(&t);
}

Test(addr_buckets, off_takes_no_memory) {
    sb_addr_buckets t;
    cr_assert_eq(sb_addr_buckets_init(&t, 0, 0, 1), 0);
    cr_assert_null(t.slots);
    sb_ipaddr a = v4(1);
    cr_assert_eq(takes(&t, &a, 0, 10000), 10000);
    sb_addr_buckets_free(&t);
}

Test(addr_buckets, many_addresses_stay_in_bounds_and_a_spent_client_stays_spent) {
    sb_addr_buckets t;
    cr_assert_eq(sb_addr_buckets_init(&t, 1, 5, 42), 0);
    sb_ipaddr spent = v4(0xc0000201);
    cr_assert_eq(takes(&t, &spent, 0, 100), 5);
    /* A million other addresses, each one request, all within the time a
     * token takes to come back. */
    for (uint32_t i = 0; i < 1000000; i++) {
        sb_ipaddr other = v4(0x0b000000 + i);
        cr_assert(sb_addr_buckets_take(&t, &other, 500, NULL));
    }
    cr_assert_leq(sb_addr_buckets_used(&t), SB_ADDR_BUCKET_SLOTS);
    cr_assert_not(sb_addr_buckets_take(&t, &spent, 500, NULL),
                  "the flood made the table forget a client that had spent its tokens");
    sb_addr_buckets_free(&t);
}

Test(addr_buckets, ipv6_and_ipv4_are_different_keys) {
    sb_addr_buckets t;
    cr_assert_eq(sb_addr_buckets_init(&t, 1, 1, 7), 0);
    sb_ipaddr a = v4(0x0a000001), b = a;
    b.family = 6;
    cr_assert(sb_addr_buckets_take(&t, &a, 0, NULL));
    cr_assert(sb_addr_buckets_take(&t, &b, 0, NULL));
    cr_assert_not(sb_addr_buckets_take(&t, &a, 0, NULL));
    sb_addr_buckets_free(&t);
}

Test(addr_counts, acquire_up_to_max_and_release) {
    sb_addr_counts t;
    cr_assert_eq(sb_addr_counts_init(&t, 16, 3), 0);
    sb_ipaddr a = v4(1), b = v4(2);
    cr_assert(sb_addr_counts_acquire(&t, &a, 2));
    cr_assert(sb_addr_counts_acquire(&t, &a, 2));
    cr_assert_not(sb_addr_counts_acquire(&t, &a, 2));
    cr_assert_eq(sb_addr_counts_get(&t, &a), 2, "a refusal counts nothing");
    cr_assert(sb_addr_counts_acquire(&t, &b, 2));
    sb_addr_counts_release(&t, &a);
    cr_assert(sb_addr_counts_acquire(&t, &a, 2));
    cr_assert_not(sb_addr_counts_acquire(&t, &a, 2));
    cr_assert_not(sb_addr_counts_acquire(&t, &b, 0), "max 0 admits nobody");
    sb_ipaddr never = v4(3);
    sb_addr_counts_release(&t, &never);
    cr_assert_eq(t.entries, 2, "releasing an address without a count changes nothing");
    sb_addr_counts_free(&t);
}

Test(addr_counts, entries_live_only_while_counted) {
    sb_addr_counts t;
    cr_assert_eq(sb_addr_counts_init(&t, 64, 9), 0);
    for (uint32_t i = 0; i < 10000; i++) {
        sb_ipaddr a = v4(i);
        cr_assert(sb_addr_counts_acquire(&t, &a, 1));
    }
    cr_assert_eq(t.entries, 10000);
    for (uint32_t i = 0; i < 10000; i++) {
        sb_ipaddr a = v4(i);
        sb_addr_counts_release(&t, &a);
        sb_addr_counts_release(&t, &a); /* one too many: harmless */
    }
    cr_assert_eq(t.entries, 0, "released addresses are forgotten");
    for (size_t i = 0; i < t.n_heads; i++)
        cr_assert_null(t.heads[i]);
    sb_addr_counts_free(&t);
}
