/*
 * test_ids.c - room/user ids and node ids.
 *
 * Validity is checked against hand-written good and bad spellings, and the
 * generator is checked against the validator plus a uniqueness sweep, so a
 * generator that returned a constant or an uppercase form would fail.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

static bool valid(const char *s) {
    return sb_id_is_valid(s, strlen(s));
}

Test(ids, canonical_lowercase_uuid_is_valid) {
    cr_assert(valid("123e4567-e89b-42d3-a456-426614174000"));
    cr_assert(valid("00000000-0000-0000-0000-000000000000"));
    cr_assert(valid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
}

Test(ids, other_spellings_are_refused) {
    const char *bad[] = {
        "",
        "123E4567-E89B-42D3-A456-426614174000",   /* uppercase */
        "123e4567e89b42d3a456426614174000",       /* no dashes */
        "{123e4567-e89b-42d3-a456-426614174000}", /* braces */
        "123e4567-e89b-42d3-a456-42661417400",    /* 35 chars */
        "123e4567-e89b-42d3-a456-4266141740000",  /* 37 chars */
        "123e4567-e89b-42d3-a456_426614174000",   /* wrong separator */
        "123e4567-e89b-42d3-a4567426614174000",   /* digit where a dash goes */
        "123e4567-e89b-42d3-a456-42661417400g",   /* not hex */
        "123e4567-e89b-42d3-a456-42661417400 ",   /* trailing space */
        " 23e4567-e89b-42d3-a456-426614174000",
        "123e4567--89b-42d3-a456-426614174000",   /* dash inside a group */
        "../../../../etc/passwd-aaaa-bbbbbbbbbbb",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(valid(bad[i]), "accepted '%s'", bad[i]);
    }
}

Test(ids, validity_uses_len_not_nul) {
    const char *s = "123e4567-e89b-42d3-a456-426614174000trailing";
    cr_assert(sb_id_is_valid(s, SB_UUID_LEN));
    cr_assert_not(sb_id_is_valid(s, strlen(s)));
    cr_assert_not(sb_id_is_valid(NULL, 0));
    /* An embedded NUL inside the 36 bytes is not an id. */
    char buf[SB_UUID_LEN] = "123e4567-e89b-42d3-a456-42661417400";
    buf[35] = '\0';
    cr_assert_not(sb_id_is_valid(buf, SB_UUID_LEN));
}

Test(ids, generated_ids_are_valid_version4) {
    char id[SB_UUID_LEN + 1];
    sb_id_generate(id);
    cr_assert_eq(strlen(id), SB_UUID_LEN);
    cr_assert(valid(id), "generated '%s'", id);
    cr_assert_eq(id[14], '4', "version nibble of '%s'", id);
    cr_assert(strchr("89ab", id[19]) != NULL, "variant nibble of '%s'", id);
}

static int compare_ids(const void *a, const void *b) {
    return strcmp(a, b);
}

Test(ids, thousand_generated_ids_are_distinct) {
    enum { N = 1000 };
    static char ids[N][SB_UUID_LEN + 1];
    for (int i = 0; i < N; i++) {
        sb_id_generate(ids[i]);
        cr_assert(valid(ids[i]));
    }
    qsort(ids, N, sizeof(ids[0]), compare_ids);
    for (int i = 1; i < N; i++) {
        cr_assert_str_neq(ids[i - 1], ids[i], "duplicate id %s", ids[i]);
    }
}

static bool is_node_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

Test(ids, node_default_is_host_dash_six_hex) {
    char node[128];
    sb_id_node_default(node, sizeof(node));
    size_t n = strlen(node);
    cr_assert_gt(n, 7, "node id '%s'", node);
    cr_assert_leq(n, 100);
    cr_assert_eq(node[n - 7], '-', "node id '%s'", node);
    for (size_t i = n - 6; i < n; i++) {
        cr_assert(strchr("0123456789abcdef", node[i]) != NULL, "node id '%s'", node);
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert(is_node_char(node[i]), "bad char in node id '%s'", node);
    }
}

Test(ids, node_default_suffix_changes) {
    char a[128], b[128];
    int same = 0;
    /* Two equal 24-bit suffixes in a row happen once in 16 million; three
     * draws all equal would mean the suffix is not random. */
    for (int i = 0; i < 3; i++) {
        sb_id_node_default(a, sizeof(a));
        sb_id_node_default(b, sizeof(b));
        if (strcmp(a, b) == 0) same++;
    }
    cr_assert_lt(same, 3);
}

Test(ids, node_default_respects_small_buffers) {
    char small[10];
    memset(small, 'x', sizeof(small));
    sb_id_node_default(small, sizeof(small));
    cr_assert_lt(strlen(small), sizeof(small));
    cr_assert_geq(strlen(small), 6);

    char tiny[4];
    sb_id_node_default(tiny, sizeof(tiny));
    cr_assert_eq(strlen(tiny), 3);
}

Test(ids, resume_token_parse)
{
    const char *good = "3f2b9c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f0123456789abcdef0123456789abcdef";
    char user[SB_UUID_LEN + 1], secret[SB_RESUME_SECRET_LEN + 1];
    cr_assert(sb_resume_token_parse(good, strlen(good), user, secret));
    cr_assert_str_eq(user, "3f2b9c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f");
    cr_assert_str_eq(secret, "0123456789abcdef0123456789abcdef");
    cr_assert_not(sb_resume_token_parse(good, strlen(good) - 1, user, secret));
    cr_assert_not(sb_resume_token_parse(NULL, 0, user, secret));
    char bad[SB_RESUME_TOKEN_LEN + 1];
    static const struct {
        size_t at;
        char c;
    } flips[] = { { 0, 'G' }, { 8, 'x' }, { 36, 'A' }, { 67, 'g' }, { 50, '\0' } };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        memcpy(bad, good, sizeof(bad));
        bad[flips[i].at] = flips[i].c;
        cr_assert_not(sb_resume_token_parse(bad, SB_RESUME_TOKEN_LEN, user, secret), "flip %zu", i);
    }
}

Test(ids, resume_secrets_are_hex_and_differ)
{
    char a[SB_RESUME_SECRET_LEN + 1], b[SB_RESUME_SECRET_LEN + 1];
    sb_resume_secret_generate(a);
    sb_resume_secret_generate(b);
    cr_assert_eq(strlen(a), SB_RESUME_SECRET_LEN);
    cr_assert_eq(strspn(a, "0123456789abcdef"), SB_RESUME_SECRET_LEN);
    cr_assert_str_neq(a, b);
}
