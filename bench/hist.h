/*
 * hist.h - latency histogram with log-linear buckets (microseconds).
 *
 * Values below 128 us get a bucket each; above, every power of two is cut
 * into 64 equal buckets, so a reported percentile is at most 1.6 % above
 * the true value (it is the highest value its bucket can hold). Values
 * above HIST_MAX_US (about 268 s) are counted in the last bucket; min, max,
 * count and sum are exact. A histogram is a flat array: recording is an
 * index computation and an increment, merging is an addition.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS) /* 64 buckets per power of two */
#define HIST_MAX_SHIFT 21              /* top bucket starts at 127 << 21 us */
#define HIST_BUCKETS (2 * HIST_SUB + HIST_MAX_SHIFT * HIST_SUB)
#define HIST_MAX_US (((uint64_t)2 * HIST_SUB << HIST_MAX_SHIFT) - 1)

typedef struct {
    uint64_t count;
    uint64_t sum_us;
    uint64_t min_us, max_us;
    uint64_t buckets[HIST_BUCKETS];
} hist;

void hist_reset(hist *h);
void hist_record(hist *h, uint64_t us);
void hist_merge(hist *dst, const hist *src);

/* The value at percentile p (0..100], 0 when empty. */
uint64_t hist_percentile(const hist *h, double p);
double hist_mean(const hist *h);

/* Lines "<value_ms> <fraction at or below>" for each non-empty bucket, for
 * plotting a distribution (CDF). */
void hist_write_cdf(const hist *h, FILE *out);

/* {"count":..,"mean_us":..,"p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,"max_us":..} */
void hist_write_json(const hist *h, FILE *out);

#endif
