/*
 * fuzz_util.c - the checks and buffer copies declared in fuzz.h.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: check failed: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    if (size > 0)
        memcpy(copy, data, size);
    return copy;
}

char *fuzz_cstr(const uint8_t *data, size_t size, size_t *used)
{
    const uint8_t *nul = size > 0 ? memchr(data, '\0', size) : NULL;
    size_t n = nul ? (size_t)(nul - data) : size;
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    if (n > 0)
        memcpy(s, data, n);
    s[n] = '\0';
    if (used != NULL)
        *used = nul ? n + 1 : n;
    return s;
}

bool fuzz_list_next(const char *s, size_t n, size_t *pos, size_t *a, size_t *b)
{
    if (*pos > n)
        return false;
    size_t i = *pos;
    while (i < n && s[i] != ',')
        i++;
    *a = *pos;
    *b = i;
    *pos = i + 1;
    while (*a < *b && (s[*a] == ' ' || s[*a] == '\t'))
        (*a)++;
    while (*b > *a && (s[*b - 1] == ' ' || s[*b - 1] == '\t'))
        (*b)--;
    return true;
}
