/*
 * clock.h - the two clocks the server uses and how it writes time.
 *
 * Wall time (ms since the epoch) is what goes into Redis and JSON;
 * monotonic time measures intervals (rate limits, latencies) and never
 * jumps when the wall clock is set.
 */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

#define SB_ISO8601_SIZE 32

int64_t sb_clock_wall_ms(void);
uint64_t sb_clock_monotonic_ms(void);
double sb_clock_monotonic_s(void);
/* A duration in ms as the struct timeval libevent timers take. */
struct timeval sb_clock_timeval(uint64_t ms);
/* "2026-11-26T23:31:05.123Z" */
void sb_clock_iso8601(int64_t wall_ms, char out[SB_ISO8601_SIZE]);

#endif
