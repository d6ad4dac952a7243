/*
 * addr_limits.h - per-client-address state of the node's anonymous limits,
 * in memory that no number of addresses can grow without bound.
 *
 * Owns two tables keyed by sb_ipaddr:
 *  - request buckets: one token bucket per address (--http-rate-limit) in
 *    a table of fixed size, set-associative. An address that is not in
 *    the table takes an unused slot of its set, else the slot whose bucket
 *    is fullest (a full bucket is one that could be forgotten for free), so
 *    a flood of new addresses costs the table nothing but forgetting the
 *    most idle ones. The hash is keyed with a random seed: nobody can aim
 *    addresses at one set.
 *  - connection counts: how many WebSockets an address holds
 *    (--max-connections-per-ip). An entry exists only while its count is
 *    above zero, so the table never holds more entries than there are
 *    connections, which the connection cap bounds.
 *
 * Pure code on a caller-supplied clock (milliseconds): no I/O, no timers.
 */
#ifndef SB_ADDR_LIMITS_H
#define SB_ADDR_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "ratelimit.h"

/* Slots of the bucket table, SB_ADDR_BUCKET_WAYS per set. */
#define SB_ADDR_BUCKET_SLOTS 16384
#define SB_ADDR_BUCKET_WAYS 8

typedef struct {
    sb_ipaddr addr; /* family 0: unused */
    sb_token_bucket bucket;
} sb_addr_bucket_slot;

typedef struct {
    double rate, burst;
    uint64_t seed;
    size_t n_sets;
    sb_addr_bucket_slot *slots;
} sb_addr_buckets;

/* 0, or -1 when out of memory. rate <= 0 makes every take succeed. */
int sb_addr_buckets_init(sb_addr_buckets *t, double rate, double burst, uint64_t seed);
void sb_addr_buckets_free(sb_addr_buckets *t);
/* Take one token of a's bucket. When it is empty: false, and *retry_ms
 * (may be NULL) is how long until a token is there again (at least 1). */
bool sb_addr_buckets_take(sb_addr_buckets *t, const sb_ipaddr *a, uint64_t now_ms,
                          uint64_t *retry_ms);
/* Addresses in the table (for tests: never more than the slots). */
size_t sb_addr_buckets_used(const sb_addr_buckets *t);

typedef struct sb_addr_count_entry sb_addr_count_entry;

typedef struct {
    uint64_t seed;
    size_t n_heads;
    sb_addr_count_entry **heads;
    size_t entries;
} sb_addr_counts;

int sb_addr_counts_init(sb_addr_counts *t, size_t n_heads, uint64_t seed);
void sb_addr_counts_free(sb_addr_counts *t);
/* Count one more for a unless it already has `max` (or memory runs out):
 * then false and nothing changes. */
bool sb_addr_counts_acquire(sb_addr_counts *t, const sb_ipaddr *a, unsigned max);
/* One fewer for a (an address without a count is left alone). */
void sb_addr_counts_release(sb_addr_counts *t, const sb_ipaddr *a);
unsigned sb_addr_counts_get(const sb_addr_counts *t, const sb_ipaddr *a);

/* The keyed hash both tables use. */
uint64_t sb_addr_hash(const sb_ipaddr *a, uint64_t seed);

#endif
