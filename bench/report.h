/*
 * report.h - counting what went wrong, the progress line, the final output.
 *
 * A run ends with a table for people (stdout, or stderr under --json) and,
 * with --json, one JSON object on stdout. Both start with the same common
 * part (targets, limits, connections, errors, the generator's own CPU) that
 * this module writes; each mode adds its own figures.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "options.h"
#include "sysinfo.h"

#define TALLY_MAX 24

/* Counts by reason; reasons past TALLY_MAX share one line. */
typedef struct {
    struct {
        char what[112];
        uint64_t count;
    } e[TALLY_MAX];
    int n;
    uint64_t total;
} tally;

void tally_add(tally *t, const char *what);
/* The errors of the run: connection failures, unexpected closes, server
 * refusals, malformed or unexpected messages. */
extern tally bench_errors;
void bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CPU use of the generator, the nodes (--node-pid) and other watched
 * processes (--watch-pid) over the mode's measured window. */
typedef struct {
    bool begun, ended;
    uint64_t t0_us, t1_us;
    double self0, self1, machine0, machine1;
    double node0[MAX_NODE_PIDS], node1[MAX_NODE_PIDS];
    double watch0[MAX_NODE_PIDS], watch1[MAX_NODE_PIDS];
} cpu_window;

void cpu_window_begin(void);
void cpu_window_end(void);

/* Shared facts the common part reports. */
typedef struct {
    const bench_opts *opts;
    fd_limits fds;
    long fd_needed;  /* descriptors the run wanted */
    bool fd_limited; /* the run was made smaller to fit */
    uint64_t t_start_us, t_end_us;
    double cpu_start_s;
    bool timed_out;   /* --max-time, or interrupted */
    bool interrupted; /* by SIGINT or SIGTERM */
    const char *timeout_phase;
    cpu_window cpu;
} run_info;

extern run_info RUN;

/* The progress line: called a few times a second; mode text is appended. */
void progress_print(const char *mode_text, bool final);

void report_table_header(FILE *out);
void report_table_footer(FILE *out);
/* Table row helpers: "  label ........ value" */
void report_row(FILE *out, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report_latency_row(FILE *out, const char *label, const hist *h);

/* Writes `"common":{...}` (no surrounding braces, no trailing comma). */
void report_json_common(FILE *out);
/* A JSON string with escapes. */
void report_json_string(FILE *out, const char *s);

/* The process exit code: 0, or 3 under --require-clean when clean is false. */
int report_exit_code(bool clean);

#endif
