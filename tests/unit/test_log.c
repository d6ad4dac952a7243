/*
 * test_log.c - log level/format parsing and the lines written to stderr.
 *
 * stderr is redirected by criterion; each test closes it after logging so
 * the captured text can be read to the end, then checks the exact shape of
 * every line (timestamp format, fields, escaping) rather than mere presence.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define TS_PATTERN "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

static void redirect(void)
{
    cr_redirect_stderr();
}

/* Everything the test wrote to stderr, NUL-terminated; caller frees. */
static char *captured_stderr(void)
{
    fflush(stderr);
    fclose(stderr);
    FILE *in = cr_get_redirected_stderr();
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, in)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = '\0';
    return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0, "bad pattern %s", pattern);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    cr_assert_eq(rc, 0, "'%s' does not match /%s/", text, pattern);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s == '\n');
    return n;
}

/* The JSON line in `text`, which must hold exactly one line. */
static json_t *single_json_line(const char *text)
{
    cr_assert_eq(count_lines(text), 1, "expected one line, got '%s'", text);
    json_error_t err;
    json_t *obj = json_loads(text, 0, &err);
    cr_assert_not_null(obj, "not JSON (%s): %s", err.text, text);
    cr_assert(json_is_object(obj));
    return obj;
}

Test(log, level_parse)
{
    sb_log_level l = SB_LOG_ERROR;
    cr_assert_eq(sb_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, SB_LOG_DEBUG);
    cr_assert_eq(sb_log_level_parse("info", &l), 0);
    cr_assert_eq(l, SB_LOG_INFO);
    cr_assert_eq(sb_log_level_parse("warn", &l), 0);
    cr_assert_eq(l, SB_LOG_WARN);
    cr_assert_eq(sb_log_level_parse("error", &l), 0);
    cr_assert_eq(l, SB_LOG_ERROR);

    const char *bad[] = { "", "INFO", "warning", "err", "info ", "trace", "0" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = SB_LOG_WARN;
        cr_assert_neq(sb_log_level_parse(bad[i], &l), 0, "accepted '%s'", bad[i]);
        cr_assert_eq(l, SB_LOG_WARN);
    }
    cr_assert_neq(sb_log_level_parse(NULL, &l), 0);
}

Test(log, format_parse)
{
    sb_log_format f = SB_LOG_JSON;
    cr_assert_eq(sb_log_format_parse("text", &f), 0);
    cr_assert_eq(f, SB_LOG_TEXT);
    cr_assert_eq(sb_log_format_parse("json", &f), 0);
    cr_assert_eq(f, SB_LOG_JSON);
    const char *bad[] = { "", "JSON", "jsonl", "txt", "plain" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f = SB_LOG_TEXT;
        cr_assert_neq(sb_log_format_parse(bad[i], &f), 0, "accepted '%s'", bad[i]);
        cr_assert_eq(f, SB_LOG_TEXT);
    }
    cr_assert_neq(sb_log_format_parse(NULL, &f), 0);
}

Test(log, enabled_follows_threshold)
{
    sb_log_init(SB_LOG_WARN, SB_LOG_TEXT, "n");
    cr_assert_not(sb_log_enabled(SB_LOG_DEBUG));
    cr_assert_not(sb_log_enabled(SB_LOG_INFO));
    cr_assert(sb_log_enabled(SB_LOG_WARN));
    cr_assert(sb_log_enabled(SB_LOG_ERROR));
    sb_log_init(SB_LOG_DEBUG, SB_LOG_TEXT, "n");
    cr_assert(sb_log_enabled(SB_LOG_DEBUG));
}

Test(log, text_line_shape, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_info("r1", "u1", "joined after %d ms", 42);
    char *out = captured_stderr();
    assert_matches(out, "^" TS_PATTERN " INFO  node=a1 room=r1 user=u1 joined after 42 ms\n$");
    free(out);
}

Test(log, text_omits_missing_fields, .init = redirect)
{
    sb_log_init(SB_LOG_DEBUG, SB_LOG_TEXT, "a1");
    sb_warn(NULL, NULL, "redis down");
    sb_error("r2", NULL, "boom");
    sb_debug(NULL, "u9", "detail");
    char *out = captured_stderr();
    assert_matches(out,
                   "^" TS_PATTERN " WARN  node=a1 redis down\n" TS_PATTERN
                   " ERROR node=a1 room=r2 boom\n" TS_PATTERN " DEBUG node=a1 user=u9 detail\n$");
    free(out);
}

Test(log, below_threshold_writes_nothing, .init = redirect)
{
    sb_log_init(SB_LOG_ERROR, SB_LOG_TEXT, "a1");
    sb_debug(NULL, NULL, "d");
    sb_info(NULL, NULL, "i");
    sb_warn(NULL, NULL, "w");
    char *out = captured_stderr();
    cr_assert_str_eq(out, "");
    free(out);
}

Test(log, text_escapes_control_characters, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_info("r\n1", NULL, "line1\nline2\r\tbell\a");
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 1, "got '%s'", out);
    assert_matches(out, "room=r\\\\n1 line1\\\\nline2\\\\r\\\\tbell\\\\x07\n$");
    free(out);
}

Test(log, json_line_fields, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    sb_info("r1", "u1", "joined");
    char *out = captured_stderr();
    json_t *obj = single_json_line(out);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "node")), "a1");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "room")), "r1");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "user")), "u1");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "msg")), "joined");
    const char *ts = json_string_value(json_object_get(obj, "ts"));
    cr_assert_not_null(ts);
    assert_matches(ts, "^" TS_PATTERN "$");
    cr_assert_eq(json_object_size(obj), 6);
    json_decref(obj);
    free(out);
}

Test(log, json_omits_missing_fields, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    sb_error(NULL, NULL, "x");
    char *out = captured_stderr();
    json_t *obj = single_json_line(out);
    cr_assert_null(json_object_get(obj, "room"));
    cr_assert_null(json_object_get(obj, "user"));
    cr_assert_str_eq(json_string_value(json_object_get(obj, "level")), "error");
    json_decref(obj);
    free(out);
}

Test(log, json_escapes_everything, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    sb_info("r\"1", "u\\1",
            "quote \" backslash \\ nl \n tab \t ctl \x01 unicode \xc3\xa9\xf0\x9f\x98\x80");
    char *out = captured_stderr();
    json_t *obj = single_json_line(out);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "room")), "r\"1");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "user")), "u\\1");
    cr_assert_str_eq(
        json_string_value(json_object_get(obj, "msg")),
        "quote \" backslash \\ nl \n tab \t ctl \x01 unicode \xc3\xa9\xf0\x9f\x98\x80");
    json_decref(obj);
    free(out);
}

Test(log, json_replaces_invalid_utf8, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    /* A stray continuation byte, a truncated sequence, an overlong '/', a
     * UTF-16 surrogate and a code point past U+10FFFF. */
    sb_info(NULL, NULL,
            "a\x80"
            "b\xc3"
            "c\xc0\xaf"
            "d\xed\xa0\x80"
            "e\xf4\x90\x80\x80"
            "f");
    char *out = captured_stderr();
    json_t *obj = single_json_line(out);
    const char *msg = json_string_value(json_object_get(obj, "msg"));
    cr_assert_not_null(msg);
    cr_assert_eq(msg[0], 'a');
    cr_assert_eq(msg[strlen(msg) - 1], 'f');
    cr_assert(strstr(msg, "\xef\xbf\xbd") != NULL, "no U+FFFD in '%s'", msg);
    cr_assert(strstr(msg, "\x80"
                          "b")
              == NULL);
    json_decref(obj);
    free(out);
}

Test(log, long_message_is_complete, .init = redirect)
{
    enum { N = 10000 };
    char *big = malloc(N + 1);
    cr_assert_not_null(big);
    for (int i = 0; i < N; i++)
        big[i] = (char)('a' + i % 26);
    big[N] = '\0';
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    sb_info(NULL, NULL, "%s", big);
    char *out = captured_stderr();
    json_t *obj = single_json_line(out);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "msg")), big);
    json_decref(obj);
    free(out);
    free(big);
}

Test(log, timestamp_is_now_in_utc, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    /* The log reads CLOCK_REALTIME; time() may read a coarser clock that
     * is still in the previous second when the log's is in the next. */
    struct timespec b, a;
    clock_gettime(CLOCK_REALTIME, &b);
    sb_info(NULL, NULL, "tick");
    clock_gettime(CLOCK_REALTIME, &a);
    time_t before = b.tv_sec, after = a.tv_sec;
    char *out = captured_stderr();
    json_t *obj = single_json_line(out);
    const char *ts = json_string_value(json_object_get(obj, "ts"));
    struct tm tm = { 0 };
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    cr_assert_not_null(rest, "unparsable ts %s", ts);
    time_t t = timegm(&tm);
    cr_assert(t >= before && t <= after, "ts %s not within [%ld, %ld]", ts, (long)before,
              (long)after);
    json_decref(obj);
    free(out);
}

Test(log, each_call_is_one_line, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    for (int i = 0; i < 50; i++)
        sb_info("r", "u", "event %d", i);
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 50);
    free(out);
}

/* ---- repeated lines ---- */

static size_t count_substr(const char *s, const char *sub)
{
    size_t n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
        n++;
    return n;
}

Test(log, repeats_written_once_then_counted, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_log_set_repeat_window(60000);
    for (int i = 0; i < 1000; i++)
        sb_warn(NULL, NULL, "accept: errno %d", 24);
    sb_log_flush_repeats();
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 2, "got '%s'", out);
    char *second = strchr(out, '\n') + 1;
    assert_matches(out, "^" TS_PATTERN " WARN  node=a1 accept: errno 24\n");
    assert_matches(second,
                   "^" TS_PATTERN " WARN  node=a1 accept: errno 24 \\(repeated 999 times\\)\n$");
    free(out);
}

Test(log, lines_that_differ_are_all_written, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_log_set_repeat_window(60000);
    char user[16];
    for (int i = 0; i < 5; i++) {
        snprintf(user, sizeof user, "u%d", i);
        sb_info("r1", user, "joined");
    }
    sb_info("r2", "u0", "joined"); /* other room */
    sb_warn("r1", "u0", "joined"); /* other level */
    sb_info("r1", "u0", "left");   /* other text */
    sb_log_flush_repeats();
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 8, "got '%s'", out);
    cr_assert_eq(count_substr(out, "repeated"), 0);
    free(out);
}

Test(log, window_end_reports_then_writes_again, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_log_set_repeat_window(50);
    for (int i = 0; i < 3; i++)
        sb_warn(NULL, NULL, "redis down");
    struct timespec ts = { 0, 120 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    sb_warn(NULL, NULL, "redis down");
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 3, "got '%s'", out);
    const char *second = strchr(out, '\n') + 1;
    const char *third = strchr(second, '\n') + 1;
    assert_matches(second, "^" TS_PATTERN " WARN  node=a1 redis down \\(repeated 2 times\\)\n");
    assert_matches(third, "^" TS_PATTERN " WARN  node=a1 redis down\n$");
    free(out);
}

/* More distinct lines than the table holds: the oldest entry is reported
 * and dropped, so every count still comes out and memory stays fixed. */
Test(log, full_table_reports_what_it_drops, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_log_set_repeat_window(60000);
    for (int i = 0; i < 200; i++) {
        sb_warn(NULL, NULL, "line %d", i);
        sb_warn(NULL, NULL, "line %d", i);
    }
    sb_log_flush_repeats();
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 400, "got %zu lines", count_lines(out));
    cr_assert_eq(count_substr(out, "(repeated 1 times)"), 200);
    cr_assert_eq(count_substr(out, "line 199 (repeated 1 times)"), 1);
    free(out);
}

Test(log, window_zero_writes_every_line, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_TEXT, "a1");
    sb_log_set_repeat_window(0);
    for (int i = 0; i < 10; i++)
        sb_warn(NULL, NULL, "same");
    sb_log_flush_repeats();
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 10);
    free(out);
}

Test(log, json_repeat_line_keeps_fields, .init = redirect)
{
    sb_log_init(SB_LOG_INFO, SB_LOG_JSON, "a1");
    sb_log_set_repeat_window(60000);
    sb_warn("r1", "u1", "Rate limit exceeded");
    sb_warn("r1", "u1", "Rate limit exceeded");
    sb_log_flush_repeats();
    char *out = captured_stderr();
    cr_assert_eq(count_lines(out), 2, "got '%s'", out);
    json_t *obj = single_json_line(strchr(out, '\n') + 1);
    cr_assert_str_eq(json_string_value(json_object_get(obj, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "room")), "r1");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "user")), "u1");
    cr_assert_str_eq(json_string_value(json_object_get(obj, "msg")),
                     "Rate limit exceeded (repeated 1 times)");
    json_decref(obj);
    free(out);
}
