/*
 * report.c - error tally, progress line, and the common part of the
 * result (see report.h).
 *
 * The progress line goes to stderr: on a terminal it is rewritten in place
 * with '\r' (the caller's timer fires a few times a second); into a file or
 * a pipe it becomes one line every PROGRESS_LOG_EVERY_S, so logs of long
 * runs stay readable.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "util.h"
#include "wsconn.h"

#define PROGRESS_LOG_EVERY_S 5.0

tally bench_errors;
run_info RUN;

void tally_add(tally *t, const char *what)
{
    t->total++;
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->e[i].what, what) == 0) {
            t->e[i].count++;
            return;
        }
    }
    if (t->n < TALLY_MAX - 1) {
        snprintf(t->e[t->n].what, sizeof(t->e[0].what), "%s", what);
        t->e[t->n++].count = 1;
        return;
    }
    if (t->n == TALLY_MAX - 1)
        snprintf(t->e[t->n++].what, sizeof(t->e[0].what), "(other reasons)");
    t->e[TALLY_MAX - 1].count++;
}

void bench_error(const char *fmt, ...)
{
    char what[112];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    tally_add(&bench_errors, what);
}

/* ---- CPU over the measured window ------------------------------------------ */

static void read_cpu(double *self, double *machine, double *nodes, double *watched)
{
    const bench_opts *o = RUN.opts;
    *self = self_cpu_seconds();
    *machine = machine_busy_seconds();
    for (int i = 0; i < o->n_node_pids; i++)
        nodes[i] = proc_cpu_seconds(o->node_pids[i]);
    for (int i = 0; i < o->n_watch_pids; i++)
        watched[i] = proc_cpu_seconds(o->watch_pids[i]);
}

void cpu_window_begin(void)
{
    RUN.cpu.begun = true;
    RUN.cpu.ended = false;
    RUN.cpu.t0_us = now_us();
    read_cpu(&RUN.cpu.self0, &RUN.cpu.machine0, RUN.cpu.node0, RUN.cpu.watch0);
}

void cpu_window_end(void)
{
    if (!RUN.cpu.begun || RUN.cpu.ended)
        return;
    RUN.cpu.ended = true;
    RUN.cpu.t1_us = now_us();
    read_cpu(&RUN.cpu.self1, &RUN.cpu.machine1, RUN.cpu.node1, RUN.cpu.watch1);
}

static double pct(double a, double b, double wall)
{
    return a >= 0 && b >= 0 && wall > 0 ? 100.0 * (b - a) / wall : -1;
}

static void cpu_window_table(FILE *out)
{
    const cpu_window *c = &RUN.cpu;
    if (!c->ended)
        return;
    double wall = (double)(c->t1_us - c->t0_us) / 1e6;
    char text[512];
    size_t at =
        (size_t)snprintf(text, sizeof(text), "generator %.0f%%", pct(c->self0, c->self1, wall));
    for (int i = 0; i < RUN.opts->n_node_pids && at < sizeof(text) - 40; i++)
        at += (size_t)snprintf(text + at, sizeof(text) - at, ", node %d %.0f%%",
                               (int)RUN.opts->node_pids[i], pct(c->node0[i], c->node1[i], wall));
    for (int i = 0; i < RUN.opts->n_watch_pids && at < sizeof(text) - 40; i++)
        at += (size_t)snprintf(text + at, sizeof(text) - at, ", pid %d %.0f%%",
                               (int)RUN.opts->watch_pids[i], pct(c->watch0[i], c->watch1[i], wall));
    report_row(out, "CPU in window (% of a core)", "%s over %.1f s", text, wall);
    report_row(out, "whole machine busy", "%.0f%% of %ld cores' time (others' processes included)",
               pct(c->machine0, c->machine1, wall) / (double)sysconf(_SC_NPROCESSORS_ONLN),
               sysconf(_SC_NPROCESSORS_ONLN));
}

static void cpu_window_json(FILE *out)
{
    const cpu_window *c = &RUN.cpu;
    double wall = c->ended ? (double)(c->t1_us - c->t0_us) / 1e6 : 0;
    fprintf(out,
            "\"cpu_window\":{\"wall_s\":%.3f,\"generator_pct\":%.1f,\"machine_pct\":%.1f,"
            "\"cores\":%ld,\"nodes\":[",
            wall, c->ended ? pct(c->self0, c->self1, wall) : -1.0,
            c->ended ? pct(c->machine0, c->machine1, wall) : -1.0, sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < RUN.opts->n_node_pids; i++)
        fprintf(out, "%s{\"pid\":%d,\"pct\":%.1f}", i ? "," : "", (int)RUN.opts->node_pids[i],
                c->ended ? pct(c->node0[i], c->node1[i], wall) : -1.0);
    fprintf(out, "],\"watched\":[");
    for (int i = 0; i < RUN.opts->n_watch_pids; i++)
        fprintf(out, "%s{\"pid\":%d,\"pct\":%.1f}", i ? "," : "", (int)RUN.opts->watch_pids[i],
                c->ended ? pct(c->watch0[i], c->watch1[i], wall) : -1.0);
    fprintf(out, "]},");
}

/* ---- progress ------------------------------------------------------------ */

void progress_print(const char *mode_text, bool final)
{
    static int tty = -1;
    static uint64_t last_log_us;
    if (RUN.opts && RUN.opts->quiet)
        return;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    uint64_t now = now_us();
    double t = RUN.t_start_us ? (double)(now - RUN.t_start_us) / 1e6 : 0;
    if (tty) {
        fprintf(stderr, "\r[%s %5.1fs] %s\033[K%s", RUN.opts ? RUN.opts->mode_name : "bench", t,
                mode_text, final ? "\n" : "");
    } else if (final || now - last_log_us >= (uint64_t)(PROGRESS_LOG_EVERY_S * 1e6)) {
        fprintf(stderr, "[%s %5.1fs] %s\n", RUN.opts ? RUN.opts->mode_name : "bench", t, mode_text);
        last_log_us = now;
    }
    fflush(stderr);
}

/* ---- table ------------------------------------------------------------------ */

void report_row(FILE *out, const char *label, const char *fmt, ...)
{
    char value[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    char dots[40];
    size_t n = strlen(label);
    size_t fill = n < 30 ? 30 - n : 1;
    memset(dots, '.', fill);
    dots[fill] = '\0';
    fprintf(out, "  %s %s %s\n", label, dots, value);
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

void report_latency_row(FILE *out, const char *label, const hist *h)
{
    if (!h->count) {
        report_row(out, label, "(no samples)");
        return;
    }
    report_row(out, label, "p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (n=%llu)",
               ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)), ms(hist_percentile(h, 99)),
               ms(hist_percentile(h, 99.9)), ms(h->max_us), (unsigned long long)h->count);
}

void report_table_header(FILE *out)
{
    const bench_opts *o = RUN.opts;
    char targets[512] = "";
    size_t at = 0;
    for (int i = 0; i < o->n_targets && at < sizeof(targets) - 32; i++)
        at += (size_t)snprintf(targets + at, sizeof(targets) - at, "%s%s:%d", i ? ", " : "",
                               o->targets[i].host, o->targets[i].port);
    fprintf(out, "\n== switchboard-bench %s ", o->mode_name);
    for (size_t i = strlen(o->mode_name); i < 50; i++)
        fputc('=', out);
    fputc('\n', out);
    report_row(out, "targets", "%s", targets);
    if (o->source_ips)
        report_row(out, "source addresses", "127.0.0.2 .. 127.0.0.%d", o->source_ips + 1);
    else
        report_row(out, "source addresses", "kernel default");
    report_row(out, "fd limit (soft/hard)", "%ld / %ld%s", RUN.fds.soft, RUN.fds.hard,
               RUN.fd_limited ? "  -- LIMITED THIS RUN" : "");
}

void report_table_footer(FILE *out)
{
    double wall = (double)(RUN.t_end_us - RUN.t_start_us) / 1e6;
    double cpu = self_cpu_seconds() - RUN.cpu_start_s;
    report_row(out, "connections", "%llu attempted, %llu opened, %llu failed, %llu closed early",
               (unsigned long long)wsconn_stats.attempts, (unsigned long long)wsconn_stats.opened,
               (unsigned long long)wsconn_stats.failed, (unsigned long long)wsconn_stats.closed);
    report_row(out, "errors", "%llu", (unsigned long long)bench_errors.total);
    for (int i = 0; i < bench_errors.n; i++)
        fprintf(out, "      %8llu  %s\n", (unsigned long long)bench_errors.e[i].count,
                bench_errors.e[i].what);
    cpu_window_table(out);
    report_row(out, "generator CPU", "%.2f s in %.2f s wall = %.0f%% of one core, peak RSS %ld MiB",
               cpu, wall, wall > 0 ? 100.0 * cpu / wall : 0.0, self_max_rss_kib() / 1024);
    if (RUN.interrupted)
        report_row(out, "INTERRUPTED", "during %s",
                   RUN.timeout_phase ? RUN.timeout_phase : "the run");
    else if (RUN.timed_out)
        report_row(out, "TIMED OUT", "during %s (--max-time %.0f s)",
                   RUN.timeout_phase ? RUN.timeout_phase : "the run", RUN.opts->max_time);
    fputc('\n', out);
}

/* ---- JSON ---------------------------------------------------------------------- */

void report_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

void report_json_common(FILE *out)
{
    const bench_opts *o = RUN.opts;
    double wall = (double)(RUN.t_end_us - RUN.t_start_us) / 1e6;
    double cpu = self_cpu_seconds() - RUN.cpu_start_s;
    fprintf(out, "\"common\":{\"mode\":\"%s\",\"targets\":[", o->mode_name);
    for (int i = 0; i < o->n_targets; i++)
        fprintf(out, "%s\"%s:%d\"", i ? "," : "", o->targets[i].host, o->targets[i].port);
    fprintf(out, "],\"source_ips\":%d,\"seed\":%u,", o->source_ips, o->seed);
    fprintf(out, "\"fd_limit\":{\"soft\":%ld,\"hard\":%ld,\"needed\":%ld,\"limited\":%s},",
            RUN.fds.soft, RUN.fds.hard, RUN.fd_needed, RUN.fd_limited ? "true" : "false");
    fprintf(out,
            "\"wall_s\":%.3f,\"tool_cpu_s\":%.3f,\"tool_cpu_pct\":%.1f,\"tool_max_rss_kib\":%ld,",
            wall, cpu, wall > 0 ? 100.0 * cpu / wall : 0.0, self_max_rss_kib());
    fprintf(out,
            "\"connections\":{\"attempts\":%llu,\"opened\":%llu,\"failed\":%llu,\"closed_early\":%"
            "llu},",
            (unsigned long long)wsconn_stats.attempts, (unsigned long long)wsconn_stats.opened,
            (unsigned long long)wsconn_stats.failed, (unsigned long long)wsconn_stats.closed);
    fprintf(out, "\"ws_messages\":{\"in\":%llu,\"out\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu},",
            (unsigned long long)wsconn_stats.msgs_in, (unsigned long long)wsconn_stats.msgs_out,
            (unsigned long long)wsconn_stats.bytes_in, (unsigned long long)wsconn_stats.bytes_out);
    cpu_window_json(out);
    fprintf(out, "\"errors\":{\"total\":%llu,\"by_reason\":{",
            (unsigned long long)bench_errors.total);
    for (int i = 0; i < bench_errors.n; i++) {
        fputs(i ? "," : "", out);
        report_json_string(out, bench_errors.e[i].what);
        fprintf(out, ":%llu", (unsigned long long)bench_errors.e[i].count);
    }
    fprintf(out, "}},\"timed_out\":%s,\"interrupted\":%s,\"timeout_phase\":",
            RUN.timed_out ? "true" : "false", RUN.interrupted ? "true" : "false");
    report_json_string(out, RUN.timeout_phase ? RUN.timeout_phase : "");
    fputc('}', out);
}

int report_exit_code(bool clean)
{
    return RUN.opts->require_clean && !clean ? 3 : 0;
}
