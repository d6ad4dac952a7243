/*
 * ratelimit.c - token bucket for per-connection message rate limits.
 *
 * A bucket starts full, so a client may send `burst` messages at once (a
 * browser emits a flurry of ICE candidates right after an offer), and then
 * `rate` messages per second sustained. Refilling is lazy: nothing runs on
 * a timer; each take() credits the tokens earned since the previous call.
 * The clock is passed in by the caller, in milliseconds, which keeps this
 * file free of system calls and lets the tests drive time by hand.
 *
 * Tokens are doubles so fractional rates ("0.5:3" = one message every two
 * seconds) work without extra bookkeeping; the rounding error of summing
 * doubles is absorbed by a tiny tolerance when a whole token is taken.
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound for both numbers of a spec: far above any sensible limit, and
 * low enough that arithmetic on them can never overflow or lose a token. */
#define SPEC_MAX 1000000000.0

/* Crediting 0.05 tokens a millisecond twenty times gives 0.99999..., not 1;
 * without this slack a token earned exactly on time would arrive a tick late. */
#define TOKEN_EPSILON 1e-9

/* About 30 years: what sb_bucket_wait_ms says of a token that never comes. */
#define WAIT_MAX_MS 1e12

void sb_bucket_init(sb_token_bucket *b, double rate, double burst, uint64_t now_ms)
{
    /* A capacity below one token would refuse every message forever. */
    if (rate > 0 && burst < 1)
        burst = 1;
    b->rate = rate;
    b->burst = burst;
    b->tokens = burst;
    b->last_ms = now_ms;
}

static void refill(sb_token_bucket *b, uint64_t now_ms)
{
    /* A clock that steps backwards earns nothing; keeping the later
     * timestamp means the same interval is never credited twice. */
    if (now_ms <= b->last_ms)
        return;
    double earned = (double)(now_ms - b->last_ms) * b->rate / 1000.0;
    b->tokens += earned;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    b->last_ms = now_ms;
}

bool sb_bucket_take(sb_token_bucket *b, uint64_t now_ms)
{
    if (b->rate <= 0)
        return true;
    refill(b, now_ms);
    if (b->tokens < 1.0 - TOKEN_EPSILON)
        return false;
    b->tokens -= 1.0;
    if (b->tokens < 0)
        b->tokens = 0;
    return true;
}

double sb_bucket_level(sb_token_bucket *b, uint64_t now_ms)
{
    if (b->rate > 0)
        refill(b, now_ms);
    return b->tokens;
}

uint64_t sb_bucket_wait_ms(const sb_token_bucket *b)
{
    if (b->rate <= 0 || b->tokens >= 1.0 - TOKEN_EPSILON)
        return 0;
    /* Less a hair, so that rounding never announces a millisecond too many. */
    double ms = ceil((1.0 - b->tokens) * 1000.0 / b->rate - 1e-6);
    if (ms > WAIT_MAX_MS) /* a rate so small that it never comes */
        ms = WAIT_MAX_MS;
    return ms < 1 ? 1 : (uint64_t)ms;
}

/* Digits with at most one '.', which must have digits on both sides. This
 * is narrower than strtod on purpose: no signs, spaces, exponents, hex,
 * "inf" or "nan" can slip into a limit. */
static bool is_plain_decimal(const char *s, size_t len, bool allow_point)
{
    size_t digits_before = 0, digits_after = 0;
    bool seen_point = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (seen_point)
                digits_after++;
            else
                digits_before++;
        } else if (s[i] == '.' && allow_point && !seen_point) {
            seen_point = true;
        } else {
            return false;
        }
    }
    return digits_before > 0 && (!seen_point || digits_after > 0);
}

/* Converts a validated decimal of at most 31 characters. */
static bool decimal_value(const char *s, size_t len, bool allow_point, double *out)
{
    char tmp[32];
    if (len == 0 || len >= sizeof(tmp) || !is_plain_decimal(s, len, allow_point))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *out = strtod(tmp, NULL);
    return true;
}

int sb_ratelimit_parse(const char *spec, double *rate, double *burst)
{
    if (spec == NULL)
        return -1;
    if (strcmp(spec, "0") == 0) {
        *rate = 0;
        *burst = 0;
        return 0;
    }
    const char *colon = strchr(spec, ':');
    if (colon == NULL)
        return -1;

    double r, b;
    if (!decimal_value(spec, (size_t)(colon - spec), true, &r))
        return -1;
    if (!decimal_value(colon + 1, strlen(colon + 1), false, &b))
        return -1;
    if (r <= 0 || r > SPEC_MAX || b < 1 || b > SPEC_MAX)
        return -1;
    *rate = r;
    *burst = b;
    return 0;
}
