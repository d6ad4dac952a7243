/*
 * fuzz.h - what every fuzz target in this folder shares.
 *
 * Each target is one .c file defining LLVMFuzzerTestOneInput. Built with
 * libFuzzer it is a fuzzer; built with replay_main.c (compilers without
 * libFuzzer) it runs the files of its corpus once. A failed check prints
 * what went wrong and aborts, which libFuzzer turns into a crash report
 * with the input saved, and which fails the replay.
 */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* Aborts with a message unless cond holds. */
#define FUZZ_CHECK(cond, ...) \
    do { \
        if (!(cond)) \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

/* data[0..size) in a heap buffer of exactly `size` bytes and no NUL
 * after it, as the node hands a frame or a Redis message to a parser: a
 * read past the end is an AddressSanitizer error. Never NULL. */
char *fuzz_copy(const uint8_t *data, size_t size);

/* data[0..size) up to its first NUL, as a NUL-terminated heap string of
 * exactly that length plus one. *used (may be NULL) gets the bytes taken,
 * the NUL included when there was one. */
char *fuzz_cstr(const uint8_t *data, size_t size, size_t *used);

/* The plain reading of an HTTP list: the next element of s[0..n) from
 * *pos, split at ',' and trimmed of spaces and tabs, as s[*a..*b). False
 * after the last element (an empty text is one empty element). */
bool fuzz_list_next(const char *s, size_t n, size_t *pos, size_t *a, size_t *b);

#endif
