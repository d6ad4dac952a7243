/*
 * ratelimit.h - token bucket for per-connection message rate limits.
 *
 * Pure arithmetic on a caller-supplied clock (milliseconds), so it can be
 * tested without sleeping. A bucket holds at most `burst` tokens and gains
 * `rate` tokens per second; each accepted message takes one.
 */
#ifndef SB_RATELIMIT_H
#define SB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double rate;  /* tokens per second; <= 0 disables the limit */
    double burst; /* capacity */
    double tokens;
    uint64_t last_ms;
} sb_token_bucket;

void sb_bucket_init(sb_token_bucket *b, double rate, double burst, uint64_t now_ms);
/* Take one token; false when the bucket is empty (the message is refused). */
bool sb_bucket_take(sb_token_bucket *b, uint64_t now_ms);
/* Tokens in the bucket at now_ms (credits what was earned since). */
double sb_bucket_level(sb_token_bucket *b, uint64_t now_ms);
/* Milliseconds from the last take or level until a whole token is there
 * (0 when one is; at least 1 otherwise). */
uint64_t sb_bucket_wait_ms(const sb_token_bucket *b);

/* Parse "RATE:BURST" (e.g. "50:200") or "0" (unlimited). 0 on success. */
int sb_ratelimit_parse(const char *spec, double *rate, double *burst);

#endif
