/*
 * util.c - monotonic microseconds and a seeded xorshift64* (see util.h).
 */
#include <time.h>

#include "util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
    if (!rng_state)
        rng_state = 1;
}

uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

int rng_range(int lo, int hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}
