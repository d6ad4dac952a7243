/*
 * log.c - one line per event on stderr, as text or as JSON lines.
 *
 * Every line is assembled in memory and handed to stderr with a single
 * fwrite. stderr is unbuffered, so that is a single write(2): lines from
 * several node processes sharing a terminal or a log collector's pipe do not
 * interleave mid-line (writes up to PIPE_BUF are atomic on pipes).
 *
 * "One line per event" is a promise to whoever greps or parses the output,
 * so values are escaped in both formats: in text, control characters
 * become visible escapes; in JSON, strings follow RFC 8259 and bytes that
 * are not valid UTF-8 (a log message may quote what a client sent) become
 * U+FFFD rather than producing a line a JSON parser rejects. jansson is not
 * used for this because it refuses invalid UTF-8 outright.
 *
 * Timestamps are ISO 8601 UTC with milliseconds, which sort as text and
 * line up across nodes.
 *
 * A line repeated within SB_LOG_REPEAT_WINDOW_MS is written once, then
 * counted (see "Repeats" below): a condition that recurs thousands of times
 * a second costs a few lines, not the disk.
 *
 * The settings are process-wide statics written once by sb_log_init before
 * any other thread could exist (the node has a single event loop).
 */
#include "log.h"

#include "clock.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sb_log_level current_level = SB_LOG_INFO;
static sb_log_format current_format = SB_LOG_TEXT;
static char current_node[128];

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const level_labels[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

int sb_log_level_parse(const char *s, sb_log_level *out)
{
    if (s == NULL)
        return -1;
    for (int i = SB_LOG_DEBUG; i <= SB_LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (sb_log_level)i;
            return 0;
        }
    }
    return -1;
}

int sb_log_format_parse(const char *s, sb_log_format *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "text") == 0)
        *out = SB_LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = SB_LOG_JSON;
    else
        return -1;
    return 0;
}

void sb_log_init(sb_log_level level, sb_log_format format, const char *node_id)
{
    static bool flush_at_exit;
    if (!flush_at_exit)
        flush_at_exit = atexit(sb_log_flush_repeats) == 0;
    current_level = level;
    current_format = format;
    snprintf(current_node, sizeof(current_node), "%s", node_id ? node_id : "");
}

int sb_log_enabled(sb_log_level level)
{
    return level >= current_level;
}

/* ------------------------------------------------------------------------
 * A growable line buffer. An allocation failure is remembered rather than
 * reported at every append, and the line is then dropped as a whole.
 * ------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} line_buf;

static void buf_reserve(line_buf *b, size_t extra)
{
    if (b->failed || b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return;
    }
    b->data = p;
    b->cap = cap;
}

static void buf_append(line_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void buf_puts(line_buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static void buf_hex_escape(line_buf *b, const char *prefix, unsigned value, int digits)
{
    char tmp[16];
    int n = snprintf(tmp, sizeof(tmp), "%s%0*x", prefix, digits, value);
    buf_append(b, tmp, (size_t)n);
}

/* ------------------------------------------------------------------------
 * Escaping
 * ------------------------------------------------------------------------ */

static void append_text_escaped(line_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                buf_hex_escape(b, "\\x", *p, 2);
            else
                buf_append(b, (const char *)p, 1);
        }
    }
}

/* Length of the well-formed UTF-8 sequence starting at p (1..4), or 0 when
 * it is malformed, overlong, a surrogate or beyond U+10FFFF. */
static size_t utf8_sequence_length(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        min = 0x80;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else
        return 0;
    for (size_t i = 1; i < n; i++) {
        /* A NUL terminator fails this test too, so we never read past it. */
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static void append_json_escape(line_buf *b, unsigned char c)
{
    switch (c) {
    case '"':
        buf_puts(b, "\\\"");
        break;
    case '\\':
        buf_puts(b, "\\\\");
        break;
    case '\n':
        buf_puts(b, "\\n");
        break;
    case '\r':
        buf_puts(b, "\\r");
        break;
    case '\t':
        buf_puts(b, "\\t");
        break;
    default:
        buf_hex_escape(b, "\\u", c, 4);
    }
}

static void append_json_string(line_buf *b, const char *s)
{
    buf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == '"' || *p == '\\' || *p < 0x20) {
            append_json_escape(b, *p);
            p++;
            continue;
        }
        size_t n = utf8_sequence_length(p);
        if (n == 0) {
            buf_puts(b, "\\ufffd");
            p++;
        } else {
            buf_append(b, (const char *)p, n);
            p += n;
        }
    }
    buf_puts(b, "\"");
}

/* ------------------------------------------------------------------------
 * Lines
 * ------------------------------------------------------------------------ */

static void append_text_field(line_buf *b, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    buf_puts(b, " ");
    buf_puts(b, key);
    buf_puts(b, "=");
    append_text_escaped(b, value);
}

static void build_text_line(line_buf *b, const char *ts, sb_log_level level, const char *room,
                            const char *user, const char *msg)
{
    buf_puts(b, ts);
    buf_puts(b, " ");
    buf_puts(b, level_labels[level]);
    append_text_field(b, "node", current_node);
    append_text_field(b, "room", room);
    append_text_field(b, "user", user);
    buf_puts(b, " ");
    append_text_escaped(b, msg);
    buf_puts(b, "\n");
}

static void append_json_field(line_buf *b, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    buf_puts(b, ",\"");
    buf_puts(b, key);
    buf_puts(b, "\":");
    append_json_string(b, value);
}

static void build_json_line(line_buf *b, const char *ts, sb_log_level level, const char *room,
                            const char *user, const char *msg)
{
    buf_puts(b, "{\"ts\":\"");
    buf_puts(b, ts);
    buf_puts(b, "\",\"level\":\"");
    buf_puts(b, level_names[level]);
    buf_puts(b, "\"");
    append_json_field(b, "node", current_node);
    append_json_field(b, "room", room);
    append_json_field(b, "user", user);
    buf_puts(b, ",\"msg\":");
    append_json_string(b, msg);
    buf_puts(b, "}\n");
}

/* The caller's message, formatted; heap-allocated only when it does not fit
 * the stack buffer. Returns NULL on allocation failure. */
static char *format_message(char *stack, size_t stack_size, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(stack, stack_size, fmt, ap);
    if (n < 0) {
        va_end(again);
        return NULL;
    }
    if ((size_t)n < stack_size) {
        va_end(again);
        return stack;
    }
    char *heap = malloc((size_t)n + 1);
    if (heap != NULL)
        vsnprintf(heap, (size_t)n + 1, fmt, again);
    va_end(again);
    return heap;
}

/* Build and write one line. */
static void emit(sb_log_level level, const char *room, const char *user, const char *text)
{
    char ts[SB_ISO8601_SIZE];
    sb_clock_iso8601(sb_clock_wall_ms(), ts);

    line_buf b = { 0 };
    if (current_format == SB_LOG_JSON)
        build_json_line(&b, ts, level, room, user, text);
    else
        build_text_line(&b, ts, level, room, user, text);

    if (!b.failed) {
        fwrite(b.data, 1, b.len, stderr);
        fflush(stderr);
    }
    free(b.data);
}

/* ------------------------------------------------------------------------
 * Repeats. A fixed table of the lines written lately; a line equal to one
 * of them (same level, fields and text) within its window is counted, not
 * written. When the window ends — noticed at the next line logged, or at
 * exit — a line "<text> (repeated N times)" reports the count, and the next
 * occurrence is written again. A full table gives up its oldest entry
 * (reporting it first), so memory stays fixed whatever the input.
 * ------------------------------------------------------------------------ */

#define REPEAT_SLOTS 32
#define REPEAT_TEXT 256
#define REPEAT_FIELD 64

typedef struct {
    uint64_t key; /* 0: free */
    uint64_t since_ms;
    unsigned long repeats;
    sb_log_level level;
    char room[REPEAT_FIELD], user[REPEAT_FIELD], text[REPEAT_TEXT];
} repeat_slot;

static repeat_slot repeat_table[REPEAT_SLOTS];
static uint64_t repeat_window_ms = SB_LOG_REPEAT_WINDOW_MS;

void sb_log_set_repeat_window(uint64_t ms)
{
    sb_log_flush_repeats();
    repeat_window_ms = ms;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* field separator */
}

static uint64_t line_key(sb_log_level level, const char *room, const char *user, const char *text)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)level;
    h = fnv1a(fnv1a(fnv1a(h, room), user), text);
    return h ? h : 1;
}

/* Copy with "..." when cut. */
static void copy_field(char *dst, size_t size, const char *src)
{
    if (snprintf(dst, size, "%s", src ? src : "") >= (int)size)
        memcpy(dst + size - 4, "...", 4);
}

static void release(repeat_slot *s)
{
    if (s->repeats > 0) {
        char line[REPEAT_TEXT + 48];
        snprintf(line, sizeof(line), "%s (repeated %lu times)", s->text, s->repeats);
        emit(s->level, s->room, s->user, line);
    }
    s->key = 0;
}

void sb_log_flush_repeats(void)
{
    for (size_t i = 0; i < REPEAT_SLOTS; i++)
        if (repeat_table[i].key)
            release(&repeat_table[i]);
}

/* True when the line is a repeat to count instead of writing. */
static bool is_repeat(sb_log_level level, const char *room, const char *user, const char *text)
{
    if (repeat_window_ms == 0)
        return false;
    uint64_t now = sb_clock_monotonic_ms();
    uint64_t key = line_key(level, room, user, text);
    repeat_slot *match = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        repeat_slot *s = &repeat_table[i];
        if (s->key && now - s->since_ms >= repeat_window_ms)
            release(s); /* its window is over: report it, free the slot */
        if (s->key == key)
            match = s;
        else if (!s->key && !free_slot)
            free_slot = s;
        else if (s->key && (!oldest || s->since_ms < oldest->since_ms))
            oldest = s;
    }
    if (match) {
        match->repeats++;
        return true;
    }
    if (!free_slot) {
        release(oldest);
        free_slot = oldest;
    }
    free_slot->key = key;
    free_slot->since_ms = now;
    free_slot->repeats = 0;
    free_slot->level = level;
    copy_field(free_slot->room, sizeof(free_slot->room), room);
    copy_field(free_slot->user, sizeof(free_slot->user), user);
    copy_field(free_slot->text, sizeof(free_slot->text), text);
    return false;
}

void sb_log(sb_log_level level, const char *room, const char *user, const char *fmt, ...)
{
    if (level < SB_LOG_DEBUG || level > SB_LOG_ERROR || !sb_log_enabled(level))
        return;

    char stack[1024];
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(stack, sizeof(stack), fmt, ap);
    va_end(ap);

    const char *text = msg ? msg : "(log message could not be formatted)";
    if (!is_repeat(level, room, user, text))
        emit(level, room, user, text);
    if (msg != stack)
        free(msg);
}
