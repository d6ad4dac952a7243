/*
 * util.h - the clock and the random numbers of the load generator.
 *
 * One monotonic clock in microseconds for everything the generator
 * measures: senders and receivers live in the same process, so a stamp
 * taken when a message is written can be compared with the clock when it
 * arrives, without any clock synchronisation. The random generator is a
 * seeded xorshift so a run is repeatable.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>

uint64_t now_us(void);

void rng_seed(uint64_t seed);
uint64_t rng_next(void);
/* Uniform in [lo, hi]. */
int rng_range(int lo, int hi);

#endif
