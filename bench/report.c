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
    report_row(out, "generator CPU", "%.2f s in %.2f s wall = %.0f%% of one core, peak RSS %ld MiB",
               cpu, wall, wall > 0 ? 100.0 * cpu / wall : 0.0, self_max_rss_kib() / 1024);
    if (RUN.timed_out)
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
    fprintf(out, "\"wall_s\":%.3f,\"tool_cpu_s\":%.3f,\"tool_cpu_pct\":%.1f,\"tool_max_rss_kib\":%ld,",
            wall, cpu, wall > 0 ? 100.0 * cpu / wall : 0.0, self_max_rss_kib());
    fprintf(out, "\"connections\":{\"attempts\":%llu,\"opened\":%llu,\"failed\":%llu,\"closed_early\":%llu},",
            (unsigned long long)wsconn_stats.attempts, (unsigned long long)wsconn_stats.opened,
            (unsigned long long)wsconn_stats.failed, (unsigned long long)wsconn_stats.closed);
    fprintf(out, "\"ws_messages\":{\"in\":%llu,\"out\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu},",
            (unsigned long long)wsconn_stats.msgs_in, (unsigned long long)wsconn_stats.msgs_out,
            (unsigned long long)wsconn_stats.bytes_in, (unsigned long long)wsconn_stats.bytes_out);
    fprintf(out, "\"errors\":{\"total\":%llu,\"by_reason\":{", (unsigned long long)bench_errors.total);
    for (int i = 0; i < bench_errors.n; i++) {
        fputs(i ? "," : "", out);
        report_json_string(out, bench_errors.e[i].what);
        fprintf(out, ":%llu", (unsigned long long)bench_errors.e[i].count);
    }
    fprintf(out, "}},\"timed_out\":%s,\"timeout_phase\":", RUN.timed_out ? "true" : "false");
    report_json_string(out, RUN.timeout_phase ? RUN.timeout_phase : "");
    fputc('}', out);
}

int report_exit_code(bool clean)
{
    return RUN.opts->require_clean && !clean ? 3 : 0;
}
