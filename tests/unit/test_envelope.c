/*
 * test_envelope.c - the header that carries a message between nodes.
 *
 * Decoding gets untrusted bytes from Redis, so besides round trips this
 * checks a catalogue of malformed headers, every truncation of a valid
 * envelope and a few thousand random mutations. Inputs always sit in
 * exactly-sized heap buffers with no NUL after them, so any read past
 * `len` is an AddressSanitizer error in the sanitizer build.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define ORIGIN "node-a.example-1f2e3d"
#define USER "9b2c6a1e-5f3d-4c8b-a7e2-0d1f2e3c4b5a"

/* Decodes a private, unterminated copy of buf[0..len). The copy is kept
 * alive in *keep so the pointers in *env stay valid. */
static int decode_copy(const char *buf, size_t len, sb_envelope *env, char **keep) {
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, buf, len);
    int rc = sb_envelope_decode(copy, len, env);
    if (rc == 0) {
        /* Whatever decode returns must lie inside the input. */
        cr_assert(env->origin >= copy && env->origin + env->origin_len <= copy + len);
        cr_assert(env->payload >= copy && env->payload + env->payload_len == copy + len);
        if (env->subject_len > 0) {
            cr_assert(env->subject >= copy && env->subject + env->subject_len <= copy + len);
        }
    }
    *keep = copy;
    return rc;
}

static void assert_field(const char *p, size_t len, const char *expected) {
    cr_assert_eq(len, strlen(expected), "field '%.*s' vs '%s'", (int)len, p, expected);
    cr_assert_eq(memcmp(p, expected, len), 0, "field '%.*s' vs '%s'", (int)len, p, expected);
}

static void assert_malformed(const char *text) {
    sb_envelope env;
    char *keep;
    cr_assert_eq(decode_copy(text, strlen(text), &env, &keep), -1, "accepted '%s'", text);
    free(keep);
}

Test(envelope, encode_exact_bytes) {
    const char *payload = "{\"type\":\"offer\"}";
    size_t len = 0;
    char *out = sb_envelope_encode(ORIGIN, SB_ENV_MSG, NULL, payload, strlen(payload), &len);
    cr_assert_str_eq(out, "SB1 " ORIGIN " msg *\n{\"type\":\"offer\"}");
    cr_assert_eq(len, strlen(out));
    free(out);

    out = sb_envelope_encode(ORIGIN, SB_ENV_JOIN, USER, "{}", 2, &len);
    cr_assert_str_eq(out, "SB1 " ORIGIN " join " USER "\n{}");
    free(out);
    out = sb_envelope_encode(ORIGIN, SB_ENV_LEAVE, USER, "{}", 2, &len);
    cr_assert_str_eq(out, "SB1 " ORIGIN " leave " USER "\n{}");
    free(out);
    out = sb_envelope_encode(ORIGIN, SB_ENV_CLOSE, NULL, "{}", 2, &len);
    cr_assert_str_eq(out, "SB1 " ORIGIN " close *\n{}");
    free(out);
}

Test(envelope, round_trip_every_event) {
    struct {
        sb_env_event event;
        const char *subject;
    } cases[] = {
        { SB_ENV_MSG, NULL }, { SB_ENV_MSG, USER }, { SB_ENV_JOIN, USER },
        { SB_ENV_LEAVE, USER }, { SB_ENV_CLOSE, NULL }, { SB_ENV_REJOIN, USER },
        { SB_ENV_REPLACE, USER }, { SB_ENV_AWAY, USER }, { SB_ENV_BACK, USER },
    };
    const char *payload = "{\"type\":\"x\",\"data\":\"line1\\nline2\"}";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        char *wire = sb_envelope_encode(ORIGIN, cases[i].event, cases[i].subject, payload,
                                        strlen(payload), &len);
        cr_assert_not_null(wire);
        sb_envelope env;
        char *keep;
        cr_assert_eq(decode_copy(wire, len, &env, &keep), 0, "case %zu", i);
        cr_assert_eq(env.event, cases[i].event);
        assert_field(env.origin, env.origin_len, ORIGIN);
        if (cases[i].subject) assert_field(env.subject, env.subject_len, cases[i].subject);
        else cr_assert_eq(env.subject_len, 0);
        assert_field(env.payload, env.payload_len, payload);
        free(keep);
        free(wire);
    }
}

Test(envelope, payload_is_opaque_bytes) {
    /* Newlines, spaces, NULs and header-like text in the payload survive. */
    const char payload[] = "a\nSB1 x msg *\n\0\xff end ";
    size_t plen = sizeof(payload) - 1;
    size_t len = 0;
    char *wire = sb_envelope_encode(ORIGIN, SB_ENV_MSG, USER, payload, plen, &len);
    cr_assert_not_null(wire);
    sb_envelope env;
    char *keep;
    cr_assert_eq(decode_copy(wire, len, &env, &keep), 0);
    cr_assert_eq(env.payload_len, plen);
    cr_assert_eq(memcmp(env.payload, payload, plen), 0);
    assert_field(env.subject, env.subject_len, USER);
    free(keep);
    free(wire);
}

Test(envelope, empty_payload_round_trips) {
    size_t len = 0;
    char *wire = sb_envelope_encode(ORIGIN, SB_ENV_CLOSE, NULL, NULL, 0, &len);
    cr_assert_str_eq(wire, "SB1 " ORIGIN " close *\n");
    sb_envelope env;
    char *keep;
    cr_assert_eq(decode_copy(wire, len, &env, &keep), 0);
    cr_assert_eq(env.payload_len, 0);
    free(keep);
    free(wire);
}

Test(envelope, encode_refuses_ambiguous_headers) {
    size_t len;
    cr_assert_null(sb_envelope_encode("node a", SB_ENV_MSG, NULL, "{}", 2, &len));
    cr_assert_null(sb_envelope_encode("node\na", SB_ENV_MSG, NULL, "{}", 2, &len));
    cr_assert_null(sb_envelope_encode("", SB_ENV_MSG, NULL, "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(NULL, SB_ENV_MSG, NULL, "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_MSG, "a b", "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_MSG, "a\n", "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_MSG, "*", "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_JOIN, NULL, "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_LEAVE, "", "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, (sb_env_event)99, NULL, "{}", 2, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_MSG, NULL, NULL, 5, &len));
}

Test(envelope, malformed_headers) {
    const char *bad[] = {
        "", "S", "SB1", "SB1 ", "SB1 a", "SB1 a msg", "SB1 a msg *",
        "SB2 a msg *\n{}", "sb1 a msg *\n{}", "SB1a msg *\n{}", " SB1 a msg *\n{}",
        "SB1 a msg\n{}", "SB1 a\n{}", "SB1\n{}", "SB1 \n{}",
        "SB1  msg *\n{}", "SB1 a  *\n{}", "SB1 a msg \n{}", "SB1 a msg  *\n{}",
        "SB1 a bogus *\n{}", "SB1 a MSG *\n{}", "SB1 a msgs *\n{}", "SB1 a ms *\n{}",
        "SB1 a msg * extra\n{}", "SB1 a msg x\r\n{}", "SB1 a\rb msg *\n{}",
        "SB1 a join *\n{}", "SB1 a leave *\n{}",
        "{\"type\":\"offer\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) assert_malformed(bad[i]);
}

Test(envelope, nul_in_header_is_malformed) {
    const char text[] = "SB1 a\0b msg *\n{}";
    sb_envelope env;
    char *keep;
    cr_assert_eq(decode_copy(text, sizeof(text) - 1, &env, &keep), -1);
    free(keep);
}

Test(envelope, every_truncation_is_safe) {
    const char *payload = "{\"type\":\"user-joined\",\"user_id\":\"" USER "\"}";
    size_t len = 0;
    char *wire = sb_envelope_encode(ORIGIN, SB_ENV_JOIN, USER, payload, strlen(payload), &len);
    cr_assert_not_null(wire);
    size_t header_len = (size_t)(strchr(wire, '\n') - wire) + 1;

    for (size_t cut = 0; cut <= len; cut++) {
        sb_envelope env;
        char *keep;
        int rc = decode_copy(wire, cut, &env, &keep);
        if (cut < header_len) {
            cr_assert_eq(rc, -1, "accepted a header cut at %zu", cut);
        } else {
            /* Past the newline only the payload shrinks. */
            cr_assert_eq(rc, 0, "refused cut at %zu", cut);
            cr_assert_eq(env.payload_len, cut - header_len);
            assert_field(env.subject, env.subject_len, USER);
        }
        free(keep);
    }
    free(wire);
}

Test(envelope, random_mutations_do_not_crash) {
    const char *payload = "{\"type\":\"offer\",\"data\":\"x\"}";
    size_t len = 0;
    char *wire = sb_envelope_encode(ORIGIN, SB_ENV_MSG, USER, payload, strlen(payload), &len);
    cr_assert_not_null(wire);
    uint32_t state = 12345;
    int accepted = 0, refused = 0;
    for (int round = 0; round < 5000; round++) {
        char *m = malloc(len);
        cr_assert_not_null(m);
        memcpy(m, wire, len);
        for (int k = 0; k < 3; k++) {
            state = state * 1103515245u + 12345u;
            size_t pos = (state >> 8) % len;
            state = state * 1103515245u + 12345u;
            static const char alphabet[] = " \n*\0SB1msgjoinleaveclose\r\xff";
            m[pos] = alphabet[(state >> 8) % (sizeof(alphabet) - 1)];
        }
        state = state * 1103515245u + 12345u;
        size_t cut = (state >> 8) % (len + 1);
        sb_envelope env;
        char *keep;
        if (decode_copy(m, cut, &env, &keep) == 0) {
            accepted++;
            cr_assert(env.event <= SB_ENV_REPLACE);
            cr_assert_gt(env.origin_len, 0);
            cr_assert_null(memchr(env.origin, ' ', env.origin_len));
            cr_assert_null(memchr(env.origin, '\n', env.origin_len));
        } else {
            refused++;
        }
        free(keep);
        free(m);
    }
    /* The mutations must actually exercise both outcomes. */
    cr_assert_gt(accepted, 0);
    cr_assert_gt(refused, 0);
    free(wire);
}

Test(envelope, decode_null_is_malformed) {
    sb_envelope env;
    cr_assert_eq(sb_envelope_decode(NULL, 0, &env), -1);
    cr_assert_eq(sb_envelope_decode(NULL, 10, &env), -1);
}

Test(envelope, away_and_back_name_a_user) {
    size_t len = 0;
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_AWAY, NULL, NULL, 0, &len));
    cr_assert_null(sb_envelope_encode(ORIGIN, SB_ENV_BACK, NULL, "7", 1, &len));
    const char wire[] = "SB1 node-a away *\n";
    sb_envelope env;
    cr_assert_eq(sb_envelope_decode(wire, sizeof(wire) - 1, &env), -1);
    char *ok = sb_envelope_encode(ORIGIN, SB_ENV_AWAY, USER, NULL, 0, &len);
    cr_assert_not_null(ok);
    cr_assert_eq(sb_envelope_decode(ok, len, &env), 0);
    cr_assert_eq(env.event, SB_ENV_AWAY);
    cr_assert_eq(env.payload_len, 0);
    free(ok);
}
