/*
 * test_turn_clock.c - TURN REST API credentials and the clock helpers.
 *
 * The credential vector was computed independently (Python's hmac and
 * base64 modules) for secret "s3cret" and username "1795822976:alice".
 */
#include <criterion/criterion.h>
#include <string.h>

#include "clock.h"
#include "turn.h"

Test(turn, credential_matches_an_independent_computation)
{
    char user[64], cred[64];
    cr_assert_eq(
        sb_turn_credentials("s3cret", "alice", 1795822976LL, user, sizeof user, cred, sizeof cred),
        0);
    cr_assert_str_eq(user, "1795822976:alice");
    cr_assert_str_eq(cred, "c6ogdVGssMYGMZ+R+1moTRJPBVA=");
}

Test(turn, another_secret_gives_another_credential)
{
    char user[64], a[64], b[64];
    sb_turn_credentials("one", "alice", 100, user, sizeof user, a, sizeof a);
    sb_turn_credentials("two", "alice", 100, user, sizeof user, b, sizeof b);
    cr_assert_str_neq(a, b);
}

Test(turn, small_buffers_are_refused)
{
    char user[8], cred[64], small[16];
    cr_assert_eq(sb_turn_credentials("k", "a-long-user-id", 1795822976LL, user, sizeof user, cred,
                                     sizeof cred),
                 -1);
    char user_ok[64];
    cr_assert_eq(sb_turn_credentials("k", "u", 1, user_ok, sizeof user_ok, small, sizeof small),
                 -1);
}

Test(clock, iso8601_of_known_instants)
{
    char out[SB_ISO8601_SIZE];
    sb_clock_iso8601(0, out);
    cr_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    sb_clock_iso8601(1795822976123LL, out);
    cr_assert_str_eq(out, "2026-11-27T23:42:56.123Z");
}

Test(clock, timeval_of_ms)
{
    struct timeval tv = sb_clock_timeval(0);
    cr_assert(tv.tv_sec == 0 && tv.tv_usec == 0);
    tv = sb_clock_timeval(20);
    cr_assert(tv.tv_sec == 0 && tv.tv_usec == 20000);
    tv = sb_clock_timeval(5000);
    cr_assert(tv.tv_sec == 5 && tv.tv_usec == 0);
    tv = sb_clock_timeval(86401999);
    cr_assert(tv.tv_sec == 86401 && tv.tv_usec == 999000);
}

Test(clock, monotonic_does_not_go_back)
{
    uint64_t a = sb_clock_monotonic_ms();
    uint64_t b = sb_clock_monotonic_ms();
    cr_assert_geq(b, a);
    cr_assert_gt(sb_clock_wall_ms(), 1700000000000LL);
}
