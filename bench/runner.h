/*
 * runner.h - one run of one mode on one libevent loop.
 *
 * The runner raises the descriptor limit, checks that every target is
 * ready, creates the loop and the libwebsockets context on it, lets the
 * mode prepare (rooms are created over REST before the loop runs), starts
 * it, draws the progress line, enforces --max-time and Ctrl-C, and prints
 * the result once the mode says it is done.
 */
#ifndef BENCH_RUNNER_H
#define BENCH_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "options.h"

struct event_base;
struct event;

typedef struct {
    /* Blocking setup before the loop: allocate the fleet, create rooms.
     * Returns 0, or an exit status. */
    int (*prepare)(const bench_opts *o);
    /* First thing on the loop: start connecting. */
    void (*start)(void);
    /* Mode part of the progress line. */
    void (*progress)(char *buf, size_t cap);
    /* --max-time or a signal stopped the run; called before report. */
    void (*on_abort)(void);
    /* Print the table to `table` and, if json is not NULL, the JSON object
     * to it. Returns the exit status. */
    int (*report)(FILE *table, FILE *json);
    /* Free what the mode holds; the loop still exists, lws is gone. */
    void (*cleanup)(void);
} bench_mode_ops;

/* The mode is done: leave the loop and report. */
void runner_finish(void);
/* Name the phase, for the progress line and a timeout report. */
void runner_phase(const char *phase);
const char *runner_phase_name(void);
/* A one-shot timer on the loop; returns it so it can be freed early
 * (runner frees the rest at the end). */
struct event *runner_after(double seconds, void (*fn)(void *arg), void *arg);
struct event_base *runner_base(void);

/* The descriptors the mode wants; when over the soft limit, returns how
 * many it may use and marks the run as limited. */
long runner_fit_fds(long wanted, long reserve);

int runner_run(const bench_opts *o, const bench_mode_ops *mode);

#endif
