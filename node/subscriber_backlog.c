/*
 * subscriber_backlog.c - how far behind the nodes' subscribers are, read
 * from a CLIENT LIST reply (see subscriber_backlog.h).
 */
#include <stdbool.h>
#include <string.h>

#include "redis_bus.h"
#include "subscriber_backlog.h"

#define NAME_FIELD " name=" SB_SUBSCRIBER_NAME_PREFIX

/* The value of `field` (" omem=") on the line [line, end), or -1. */
static long long line_number(const char *line, const char *end, const char *field)
{
    size_t flen = strlen(field);
    for (const char *p = line; p + flen <= end; p++) {
        if (memcmp(p, field, flen) != 0)
            continue;
        long long v = 0;
        const char *d = p + flen;
        if (d >= end || *d < '0' || *d > '9')
            return -1;
        for (; d < end && *d >= '0' && *d <= '9'; d++)
            v = v * 10 + (*d - '0');
        return v;
    }
    return -1;
}

static bool line_has(const char *line, const char *end, const char *field)
{
    size_t flen = strlen(field);
    for (const char *p = line; p + flen <= end; p++)
        if (memcmp(p, field, flen) == 0)
            return true;
    return false;
}

long long sb_subscriber_backlog(const char *list, size_t len)
{
    long long max = -1;
    const char *end = list + len;
    for (const char *line = list; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        /* CLIENT LIST starts each line with id=, so " name=" is a field */
        if (line_has(line, eol, NAME_FIELD)) {
            long long omem = line_number(line, eol, " omem=");
            if (omem > max)
                max = omem;
        }
        line = eol + 1;
    }
    return max;
}
