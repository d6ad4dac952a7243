/*
 * hist.c - log-linear latency histogram (see hist.h).
 *
 * Bucket index of a value v (microseconds):
 *
 *   v < 128                 index v              (exact)
 *   v >= 128                shift = msb(v) - 6, mantissa = v >> shift in [64, 127]
 *                           index = 128 + (shift - 1) * 64 + (mantissa - 64)
 *
 * so the relative width of a bucket never exceeds 1/64. The layout is the
 * one HdrHistogram uses with 2 significant digits, cut down to what a
 * signaling benchmark needs: microseconds to a couple of minutes.
 */
#include <string.h>

#include "hist.h"

static unsigned msb64(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static unsigned bucket_of(uint64_t v)
{
    if (v > HIST_MAX_US)
        v = HIST_MAX_US;
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned shift = msb64(v) - HIST_SUB_BITS;
    unsigned mantissa = (unsigned)(v >> shift);
    return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (mantissa - HIST_SUB);
}

/* The highest value that falls into bucket i. */
static uint64_t bucket_top(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
    uint64_t mantissa = HIST_SUB + (i - 2 * HIST_SUB) % HIST_SUB;
    return ((mantissa + 1) << shift) - 1;
}

void hist_reset(hist *h)
{
    memset(h, 0, sizeof(*h));
}

void hist_record(hist *h, uint64_t us)
{
    h->buckets[bucket_of(us)]++;
    if (h->count == 0 || us < h->min_us)
        h->min_us = us;
    if (us > h->max_us)
        h->max_us = us;
    h->count++;
    h->sum_us += us;
}

void hist_merge(hist *dst, const hist *src)
{
    if (!src->count)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    if (dst->count == 0 || src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
    dst->count += src->count;
    dst->sum_us += src->sum_us;
}

uint64_t hist_percentile(const hist *h, double p)
{
    if (!h->count)
        return 0;
    if (p >= 100.0)
        return h->max_us;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            /* never report more than was seen, nor less than the minimum */
            if (top > h->max_us)
                top = h->max_us;
            if (top < h->min_us)
                top = h->min_us;
            return top;
        }
    }
    return h->max_us;
}

double hist_mean(const hist *h)
{
    return h->count ? (double)h->sum_us / (double)h->count : 0.0;
}

void hist_write_cdf(const hist *h, FILE *out)
{
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (!h->buckets[i])
            continue;
        seen += h->buckets[i];
        uint64_t top = bucket_top(i);
        if (top > h->max_us)
            top = h->max_us;
        fprintf(out, "%.3f %.6f\n", (double)top / 1000.0, (double)seen / (double)h->count);
    }
}

void hist_write_json(const hist *h, FILE *out)
{
    fprintf(out,
            "{\"count\":%llu,\"mean_us\":%.1f,\"min_us\":%llu,\"p50_us\":%llu,\"p90_us\":%llu,"
            "\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu}",
            (unsigned long long)h->count, hist_mean(h), (unsigned long long)h->min_us,
            (unsigned long long)hist_percentile(h, 50), (unsigned long long)hist_percentile(h, 90),
            (unsigned long long)hist_percentile(h, 99),
            (unsigned long long)hist_percentile(h, 99.9), (unsigned long long)h->max_us);
}
