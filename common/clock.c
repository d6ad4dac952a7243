/*
 * clock.c - wall and monotonic clocks, ISO 8601 (see clock.h).
 */
#include <stdio.h>
#include <time.h>

#include "clock.h"

int64_t sb_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sb_clock_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

double sb_clock_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timeval sb_clock_timeval(uint64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

void sb_clock_iso8601(int64_t wall_ms, char out[SB_ISO8601_SIZE])
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, SB_ISO8601_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, SB_ISO8601_SIZE - n, ".%03dZ", (int)(wall_ms % 1000));
}
