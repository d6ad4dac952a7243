/*
 * test_ratelimit.c - token bucket arithmetic on a hand-driven clock.
 *
 * Every test moves time explicitly, so the expected number of accepted
 * messages follows from rate and burst alone.
 */
#include <criterion/criterion.h>

#include "ratelimit.h"

/* How many takes succeed in a row at one instant. */
static int drain(sb_token_bucket *b, uint64_t now_ms, int limit) {
    int n = 0;
    while (n < limit && sb_bucket_take(b, now_ms)) n++;
    return n;
}

Test(ratelimit, full_burst_then_refusal) {
    sb_token_bucket b;
    sb_bucket_init(&b, 50, 200, 1000);
    cr_assert_eq(drain(&b, 1000, 1000), 200);
    cr_assert_not(sb_bucket_take(&b, 1000));
}

Test(ratelimit, refill_follows_rate) {
    sb_token_bucket b;
    sb_bucket_init(&b, 50, 200, 0);
    drain(&b, 0, 1000);
    /* 50/s is one token per 20 ms. */
    cr_assert_not(sb_bucket_take(&b, 19));
    cr_assert(sb_bucket_take(&b, 20));
    cr_assert_not(sb_bucket_take(&b, 20));
    /* One second later: 50 more, not more. */
    cr_assert_eq(drain(&b, 1020, 1000), 50);
}

Test(ratelimit, refill_caps_at_burst) {
    sb_token_bucket b;
    sb_bucket_init(&b, 10, 5, 0);
    drain(&b, 0, 100);
    /* An hour idle earns only a full bucket. */
    cr_assert_eq(drain(&b, 3600 * 1000, 100), 5);
}

Test(ratelimit, sustained_rate_is_exact) {
    sb_token_bucket b;
    sb_bucket_init(&b, 50, 200, 0);
    drain(&b, 0, 1000);
    int accepted = 0;
    /* A client sending every millisecond for 10 s gets 50/s through. */
    for (uint64_t t = 1; t <= 10000; t++) {
        if (sb_bucket_take(&b, t)) accepted++;
    }
    cr_assert_eq(accepted, 500);
}

Test(ratelimit, fractional_rate) {
    sb_token_bucket b;
    sb_bucket_init(&b, 0.5, 1, 0);
    cr_assert(sb_bucket_take(&b, 0));
    cr_assert_not(sb_bucket_take(&b, 1999));
    cr_assert(sb_bucket_take(&b, 2000));
    cr_assert_not(sb_bucket_take(&b, 3000));
}

Test(ratelimit, partial_tokens_accumulate) {
    sb_token_bucket b;
    sb_bucket_init(&b, 100, 1, 0);
    cr_assert(sb_bucket_take(&b, 0));
    /* 4 ms + 4 ms + 2 ms earns 1.0 token in three steps. */
    cr_assert_not(sb_bucket_take(&b, 4));
    cr_assert_not(sb_bucket_take(&b, 8));
    cr_assert(sb_bucket_take(&b, 10));
}

Test(ratelimit, zero_or_negative_rate_is_unlimited) {
    sb_token_bucket b;
    sb_bucket_init(&b, 0, 0, 0);
    cr_assert_eq(drain(&b, 0, 100000), 100000);
    sb_bucket_init(&b, -1, 3, 0);
    cr_assert_eq(drain(&b, 0, 1000), 1000);
}

Test(ratelimit, clock_going_backwards_earns_nothing) {
    sb_token_bucket b;
    sb_bucket_init(&b, 10, 1, 5000);
    cr_assert(sb_bucket_take(&b, 5000));
    cr_assert_not(sb_bucket_take(&b, 1000));
    /* The refill is measured from 5000, not from the earlier reading. */
    cr_assert_not(sb_bucket_take(&b, 5099));
    cr_assert(sb_bucket_take(&b, 5100));
}

Test(ratelimit, burst_below_one_still_admits) {
    sb_token_bucket b;
    sb_bucket_init(&b, 5, 0, 0);
    cr_assert(sb_bucket_take(&b, 0));
    cr_assert_not(sb_bucket_take(&b, 0));
    cr_assert(sb_bucket_take(&b, 200));
}

Test(ratelimit, parse_accepts_rate_and_burst) {
    double r = -1, b = -1;
    cr_assert_eq(sb_ratelimit_parse("50:200", &r, &b), 0);
    cr_assert_float_eq(r, 50.0, 1e-9);
    cr_assert_float_eq(b, 200.0, 1e-9);
    cr_assert_eq(sb_ratelimit_parse("0.5:3", &r, &b), 0);
    cr_assert_float_eq(r, 0.5, 1e-9);
    cr_assert_float_eq(b, 3.0, 1e-9);
    cr_assert_eq(sb_ratelimit_parse("1:1", &r, &b), 0);
    cr_assert_float_eq(r, 1.0, 1e-9);
    cr_assert_float_eq(b, 1.0, 1e-9);
}

Test(ratelimit, parse_zero_means_unlimited) {
    double r = -1, b = -1;
    cr_assert_eq(sb_ratelimit_parse("0", &r, &b), 0);
    cr_assert_float_eq(r, 0.0, 1e-9);
    cr_assert_float_eq(b, 0.0, 1e-9);
}

Test(ratelimit, parse_rejects_junk) {
    const char *bad[] = {
        "", ":", "50", "50:", ":200", "50:0", "0:10", "0:0", "-5:10", "50:-1", "50:2.5",
        "abc", "50:200x", "50x:200", " 50:200", "50:200 ", "50:200:1", "+5:10", "1e3:10",
        "inf:10", "nan:10", "0x10:10", ".5:10", "5.:10", "5..1:10", "00", "0.0",
        "99999999999:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double r = 7, b = 7;
        cr_assert_neq(sb_ratelimit_parse(bad[i], &r, &b), 0, "accepted '%s'", bad[i]);
        cr_assert_float_eq(r, 7.0, 1e-9, "'%s' changed the rate", bad[i]);
    }
    double r, b;
    cr_assert_neq(sb_ratelimit_parse(NULL, &r, &b), 0);
}

Test(ratelimit, wait_until_the_next_token) {
    sb_token_bucket b;
    sb_bucket_init(&b, 2, 1, 0);
    cr_assert_eq(sb_bucket_wait_ms(&b), 0, "a full bucket needs no wait");
    cr_assert(sb_bucket_take(&b, 0));
    cr_assert_eq(sb_bucket_wait_ms(&b), 500);
    cr_assert_float_eq(sb_bucket_level(&b, 300), 0.6, 1e-9);
    cr_assert_eq(sb_bucket_wait_ms(&b), 200);
    cr_assert_not(sb_bucket_take(&b, 499));
    cr_assert_eq(sb_bucket_wait_ms(&b), 1);
    sb_bucket_level(&b, 499);
    cr_assert_eq(sb_bucket_wait_ms(&b), 1);
    cr_assert(sb_bucket_take(&b, 500));
    /* A rate so small the token never comes: a long wait, not an overflow. */
    sb_bucket_init(&b, 1e-300, 1, 0);
    cr_assert(sb_bucket_take(&b, 0));
    cr_assert_geq(sb_bucket_wait_ms(&b), (uint64_t)1e12);
    /* Unlimited never waits. */
    sb_bucket_init(&b, 0, 0, 0);
    cr_assert_eq(sb_bucket_wait_ms(&b), 0);
}
