/*
 * test_rfc6455.c - UTF-8 validation in pieces and the upgrade-request
 * checks.
 *
 * The validator is compared with a plain reference decoder written from
 * RFC 3629 over every sequence of up to three bytes and many random
 * longer ones, and each text is also fed split at every position: a
 * character cut between two pieces must give the same verdict as the
 * whole text. Inputs are copied into exactly-sized heap buffers so a read
 * past the end trips AddressSanitizer.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rfc6455.h"

/* Reference: decode each character in full and check it (RFC 3629 §3-4). */
static bool reference_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t need;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + need >= n) /* cut short */
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* The validator's verdict on the whole text, fed in pieces cut at `cuts`
 * (ascending offsets). */
static bool feed_valid(const unsigned char *s, size_t n, const size_t *cuts, size_t n_cuts)
{
    unsigned char *copy = malloc(n ? n : 1);
    cr_assert_not_null(copy);
    memcpy(copy, s, n);
    uint8_t state = 0;
    size_t from = 0;
    bool ok = true;
    for (size_t i = 0; i <= n_cuts && ok; i++) {
        size_t to = i < n_cuts ? cuts[i] : n;
        ok = sb_utf8_feed(&state, copy + from, to - from) == 0;
        from = to;
    }
    free(copy);
    return ok && state == 0;
}

static bool whole_valid(const unsigned char *s, size_t n)
{
    return feed_valid(s, n, NULL, 0);
}

/* The verdict is the same for the whole text and for every single cut. */
static void check_every_split(const unsigned char *s, size_t n, bool want)
{
    cr_assert_eq(whole_valid(s, n), want, "whole text of %zu bytes", n);
    for (size_t cut = 0; cut <= n; cut++)
        cr_assert_eq(feed_valid(s, n, &cut, 1), want, "text of %zu bytes cut at %zu", n, cut);
}

#define CHECK(literal, want) \
    check_every_split((const unsigned char *)(literal), sizeof(literal) - 1, (want))

Test(utf8, valid_boundaries)
{
    CHECK("", true);
    CHECK("plain ascii {\"type\":\"offer\"}", true);
    CHECK("\xc2\x80", true);         /* U+0080 */
    CHECK("\xdf\xbf", true);         /* U+07FF */
    CHECK("\xe0\xa0\x80", true);     /* U+0800 */
    CHECK("\xed\x9f\xbf", true);     /* U+D7FF, just below the surrogates */
    CHECK("\xee\x80\x80", true);     /* U+E000, just above them */
    CHECK("\xef\xbf\xbf", true);     /* U+FFFF */
    CHECK("\xf0\x90\x80\x80", true); /* U+10000 */
    CHECK("\xf4\x8f\xbf\xbf", true); /* U+10FFFF */
    CHECK("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 end", true);
    CHECK("\0nul is a character\0", true);
}

Test(utf8, invalid_forms)
{
    CHECK("\x80", false); /* continuation without a lead */
    CHECK("\xbf", false);
    CHECK("\xc0\x80", false);         /* overlong NUL */
    CHECK("\xc1\xbf", false);         /* overlong */
    CHECK("\xe0\x80\x80", false);     /* overlong */
    CHECK("\xe0\x9f\xbf", false);     /* overlong U+07FF */
    CHECK("\xed\xa0\x80", false);     /* U+D800 */
    CHECK("\xed\xbf\xbf", false);     /* U+DFFF */
    CHECK("\xf0\x80\x80\x80", false); /* overlong */
    CHECK("\xf0\x8f\xbf\xbf", false); /* overlong U+FFFF */
    CHECK("\xf4\x90\x80\x80", false); /* U+110000 */
    CHECK("\xf5\x80\x80\x80", false);
    CHECK("\xfe", false);
    CHECK("\xff", false);
    CHECK("\xc3", false); /* cut short at the end */
    CHECK("\xe2\x82", false);
    CHECK("\xf0\x9f\x98", false);
    CHECK("\xc3(", false); /* lead byte, then ASCII */
    CHECK("\xe2\x82(", false);
    CHECK("\xf0\x9f\x98\x80\x80", false); /* one continuation too many */
}

Test(utf8, exhaustive_up_to_three_bytes)
{
    unsigned char s[3];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        cr_assert_eq(whole_valid(s, 1), reference_valid(s, 1), "%02x", a);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            cr_assert_eq(whole_valid(s, 2), reference_valid(s, 2), "%02x %02x", a, b);
            if (a < 0xc0)
                continue; /* a third byte cannot rescue a text that is already wrong */
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                size_t cut = 1 + (c & 1);
                cr_assert_eq(feed_valid(s, 3, &cut, 1), reference_valid(s, 3), "%02x %02x %02x", a,
                             b, c);
            }
        }
    }
}

/* Random texts built mostly of characters and bytes near the boundaries,
 * so about half of them are valid, each fed whole and in random pieces. */
Test(utf8, random_texts_agree_with_the_reference)
{
    static const unsigned char pool[] = { 'a',  '{',  0x00, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                          0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff };
    srand(6455);
    unsigned valid = 0;
    for (int round = 0; round < 200000; round++) {
        unsigned char s[24];
        size_t n = (size_t)(rand() % (int)sizeof(s));
        for (size_t i = 0; i < n; i++)
            s[i] = rand() % 3 ? 0x80 | (rand() & 0x3f) : pool[rand() % (int)sizeof(pool)];
        size_t cuts[3], n_cuts = n ? (size_t)(rand() % 4) : 0;
        for (size_t i = 0; i < n_cuts; i++)
            cuts[i] = (size_t)(rand() % (int)(n + 1));
        for (size_t i = 1; i < n_cuts; i++) /* ascending */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        bool want = reference_valid(s, n);
        valid += want;
        cr_assert_eq(feed_valid(s, n, cuts, n_cuts), want, "round %d", round);
    }
    cr_assert(valid > 1000, "the generator made only %u valid texts", valid);
}

/* The eight-bytes-at-a-time ASCII path must still see one bad byte
 * anywhere, and a character straddling its eight-byte steps. */
Test(utf8, ascii_runs_with_one_odd_byte)
{
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            unsigned char *s = malloc(len);
            cr_assert_not_null(s);
            memset(s, 'x', len);
            s[at] = 0xff;
            cr_assert_not(whole_valid(s, len), "0xff at %zu of %zu", at, len);
            if (at + 1 < len) {
                s[at] = 0xc3, s[at + 1] = 0xa9;
                cr_assert(whole_valid(s, len), "U+00E9 at %zu of %zu", at, len);
            }
            free(s);
        }
    }
}

Test(utf8, failure_leaves_state_alone)
{
    uint8_t state = 0;
    cr_assert_eq(sb_utf8_feed(&state, "\xe2", 1), 0);
    uint8_t before = state;
    cr_assert_neq(before, 0);
    cr_assert_eq(sb_utf8_feed(&state, "x", 1), -1);
    cr_assert_eq(state, before);
}

/* ---- upgrade request ---- */

Test(handshake, key_must_be_sixteen_bytes_in_base64)
{
    const char *good[] = { "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA==",
                           "+/+/+/+/+/+/+/+/+/+/+w==" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(sb_ws_key_is_valid(good[i], strlen(good[i])), "%s", good[i]);
    const char *bad[] = { "",
                          "dGhlIHNhbXBsZSBub25jZQ=",
                          "dGhlIHNhbXBsZSBub25jZQ===",
                          "dGhlIHNhbXBsZSBub25jZQ",
                          "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
                          "AAAAAAAAAAA=",
                          "AAAAAAAAAAAAAAAAAAAAA===",
                          "AAAAAAAAAAAAAAAAAAAAAA=A",
                          "AAAAAAAAAAAAAAAAAAAAA-==",
                          "AAAAAAAAAA AAAAAAAAAAA==",
                          "dGhlIHNhbXBsZSBub25jZQ==,dGhlIHNhbXBsZSBub25jZQ==" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(sb_ws_key_is_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
    cr_assert_not(sb_ws_key_is_valid(NULL, 24));
    /* Only `len` bytes count. */
    cr_assert(sb_ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ==XYZ", 24));
}

Test(handshake, connection_token_list)
{
    const char *has[] = { "Upgrade",
                          "upgrade",
                          "UPGRADE",
                          "keep-alive, Upgrade",
                          "Upgrade, keep-alive",
                          "keep-alive,upgrade",
                          " \tupgrade\t ",
                          ",,upgrade,," };
    for (size_t i = 0; i < sizeof(has) / sizeof(has[0]); i++)
        cr_assert(sb_http_list_has_token(has[i], strlen(has[i]), "upgrade"), "'%s'", has[i]);
    const char *lacks[] = { "",         "keep-alive",         "upgrades",
                            "up grade", "upgrade-insecure",   "x-upgrade",
                            ",",        "keep-alive; upgrade" };
    for (size_t i = 0; i < sizeof(lacks) / sizeof(lacks[0]); i++)
        cr_assert_not(sb_http_list_has_token(lacks[i], strlen(lacks[i]), "upgrade"), "'%s'",
                      lacks[i]);
    cr_assert_not(sb_http_list_has_token("upgrade", 6, "upgrade"), "reads past len");
}
