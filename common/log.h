/*
 * log.h - one line per event on stderr, as text or as JSON lines.
 *
 * Text:  2026-11-26T23:31:05.123Z INFO  node=a1 room=... user=... joined
 * JSON:  {"ts":"...","level":"info","node":"a1","room":"...","user":"...","msg":"joined"}
 *
 * Room and user ids are optional (NULL) and travel as fields rather than
 * inside the message so logs can be filtered by them.
 *
 * Repeats: a line equal to one written less than SB_LOG_REPEAT_WINDOW_MS
 * ago (same level, room, user and text) is counted instead of written;
 * when the window has passed, one line "<text> (repeated N times)" gives
 * the count. Memory is a fixed table of recent lines.
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdint.h>

typedef enum { SB_LOG_DEBUG, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERROR } sb_log_level;
typedef enum { SB_LOG_TEXT, SB_LOG_JSON } sb_log_format;

/* Parse "debug|info|warn|error" and "text|json"; 0 on success. */
int sb_log_level_parse(const char *s, sb_log_level *out);
int sb_log_format_parse(const char *s, sb_log_format *out);

/* Set once at start; node_id is copied. */
void sb_log_init(sb_log_level level, sb_log_format format, const char *node_id);
int sb_log_enabled(sb_log_level level);

void sb_log(sb_log_level level, const char *room, const char *user, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SB_LOG_REPEAT_WINDOW_MS 10000

/* Window for repeats; 0 writes every line. Reports pending counts first. */
void sb_log_set_repeat_window(uint64_t ms);
/* Write the pending "(repeated N times)" lines now (also run at exit). */
void sb_log_flush_repeats(void);

#define sb_debug(room, user, ...) \
    do { \
        if (sb_log_enabled(SB_LOG_DEBUG)) \
            sb_log(SB_LOG_DEBUG, room, user, __VA_ARGS__); \
    } while (0)
#define sb_info(room, user, ...) sb_log(SB_LOG_INFO, room, user, __VA_ARGS__)
#define sb_warn(room, user, ...) sb_log(SB_LOG_WARN, room, user, __VA_ARGS__)
#define sb_error(room, user, ...) sb_log(SB_LOG_ERROR, room, user, __VA_ARGS__)

#endif
