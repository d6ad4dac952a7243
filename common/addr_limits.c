/*
 * addr_limits.c - request buckets and connection counts per client address
 * (see addr_limits.h).
 *
 * The bucket table is set-associative: an address hashes to one set of
 * SB_ADDR_BUCKET_WAYS slots and lives in one of them. Looking it up, or
 * choosing whom it replaces, touches those slots only, so a request costs
 * the same however many addresses were seen. Replacing the fullest bucket
 * is what keeps the limit honest: a client that spent its tokens is the
 * last one forgotten, and forgetting a full bucket changes nothing, since a
 * new one starts full too. Only a set whose every slot is in use by an
 * address that sent a request within the last burst/rate seconds forgets
 * a partly spent bucket (giving that address at most a burst back) - with
 * the default 20:100 that takes more than 8 new addresses per set every 5 s
 * on top of the table's 16 384.
 */
#include "addr_limits.h"

#include <stdlib.h>
#include <string.h>

/* murmur3's 64-bit finalizer. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t sb_addr_hash(const sb_ipaddr *a, uint64_t seed)
{
    uint64_t w0, w1;
    memcpy(&w0, a->bytes, 8);
    memcpy(&w1, a->bytes + 8, 8);
    uint64_t h = mix(seed ^ a->family);
    h = mix(h ^ w0);
    return mix(h ^ w1 ^ 0x9e3779b97f4a7c15ULL);
}

/* ---- request buckets --------------------------------------------------------------------- */

int sb_addr_buckets_init(sb_addr_buckets *t, double rate, double burst, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->rate = rate;
    t->burst = burst;
    t->seed = seed;
    if (rate <= 0)
        return 0;
    t->n_sets = SB_ADDR_BUCKET_SLOTS / SB_ADDR_BUCKET_WAYS;
    t->slots = calloc(SB_ADDR_BUCKET_SLOTS, sizeof(*t->slots));
    return t->slots ? 0 : -1;
}

void sb_addr_buckets_free(sb_addr_buckets *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* a's slot in its set: the one it has, else the one it takes over. */
static sb_addr_bucket_slot *bucket_slot(sb_addr_buckets *t, const sb_ipaddr *a, uint64_t now_ms)
{
    sb_addr_bucket_slot *set =
        t->slots + (sb_addr_hash(a, t->seed) % t->n_sets) * SB_ADDR_BUCKET_WAYS;
    sb_addr_bucket_slot *unused = NULL, *fullest = NULL;
    double most = -1;
    for (size_t i = 0; i < SB_ADDR_BUCKET_WAYS; i++) {
        sb_addr_bucket_slot *s = &set[i];
        if (s->addr.family == 0) {
            if (!unused)
                unused = s;
            continue;
        }
        if (sb_ipaddr_equal(&s->addr, a))
            return s;
        double level = sb_bucket_level(&s->bucket, now_ms);
        if (level > most) {
            most = level;
            fullest = s;
        }
    }
    sb_addr_bucket_slot *s = unused ? unused : fullest;
    s->addr = *a;
    sb_bucket_init(&s->bucket, t->rate, t->burst, now_ms);
    return s;
}

bool sb_addr_buckets_take(sb_addr_buckets *t, const sb_ipaddr *a, uint64_t now_ms,
                          uint64_t *retry_ms)
{
    if (t->rate <= 0 || !t->slots)
        return true;
    sb_addr_bucket_slot *s = bucket_slot(t, a, now_ms);
    if (sb_bucket_take(&s->bucket, now_ms))
        return true;
    if (retry_ms)
        *retry_ms = sb_bucket_wait_ms(&s->bucket);
    return false;
}

size_t sb_addr_buckets_used(const sb_addr_buckets *t)
{
    size_t n = 0;
    for (size_t i = 0; t->slots && i < t->n_sets * SB_ADDR_BUCKET_WAYS; i++)
        n += t->slots[i].addr.family != 0;
    return n;
}

/* ---- connection counts ------------------------------------------------------------------- */

struct sb_addr_count_entry {
    sb_ipaddr addr;
    unsigned count;
    sb_addr_count_entry *next;
};

int sb_addr_counts_init(sb_addr_counts *t, size_t n_heads, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->seed = seed;
    t->n_heads = n_heads ? n_heads : 1;
    t->heads = calloc(t->n_heads, sizeof(*t->heads));
    return t->heads ? 0 : -1;
}

void sb_addr_counts_free(sb_addr_counts *t)
{
    for (size_t i = 0; t->heads && i < t->n_heads; i++) {
        sb_addr_count_entry *e = t->heads[i];
        while (e) {
            sb_addr_count_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(t->heads);
    memset(t, 0, sizeof(*t));
}

/* The link that points at a's entry (or the chain's terminating NULL). */
static sb_addr_count_entry **count_link(const sb_addr_counts *t, const sb_ipaddr *a)
{
    sb_addr_count_entry **link = &t->heads[sb_addr_hash(a, t->seed) % t->n_heads];
    while (*link && !sb_ipaddr_equal(&(*link)->addr, a))
        link = &(*link)->next;
    return link;
}

bool sb_addr_counts_acquire(sb_addr_counts *t, const sb_ipaddr *a, unsigned max)
{
    if (!t->heads)
        return false;
    sb_addr_count_entry **link = count_link(t, a);
    if (*link) {
        if ((*link)->count >= max)
            return false;
        (*link)->count++;
        return true;
    }
    if (max == 0)
        return false;
    sb_addr_count_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return false;
    e->addr = *a;
    e->count = 1;
    *link = e;
    t->entries++;
    return true;
}

void sb_addr_counts_release(sb_addr_counts *t, const sb_ipaddr *a)
{
    if (!t->heads)
        return;
    sb_addr_count_entry **link = count_link(t, a);
    sb_addr_count_entry *e = *link;
    if (!e)
        return;
    if (--e->count == 0) {
        *link = e->next;
        free(e);
        t->entries--;
    }
}

unsigned sb_addr_counts_get(const sb_addr_counts *t, const sb_ipaddr *a)
{
    if (!t->heads)
        return 0;
    sb_addr_count_entry *e = *count_link(t, a);
    return e ? e->count : 0;
}
