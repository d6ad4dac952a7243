/*
 * harness_run.c - the test run's bookkeeping: where server output goes and
 * what a failed test prints, plus the small utilities every other harness
 * file uses (clocks, reading log files).
 *
 * Logs: the runner process creates one directory for the whole run
 * (SB_IT_RUN_DIR) and every test writes its servers' output to
 * <run dir>/<suite>.<test>/. When a test fails, the runner prints the tail
 * of those files; the directory is removed at the end of the run unless
 * SB_IT_KEEP is set in the environment.
 */
#include "harness_internal.h"
#include "netutil.h"

#include <criterion/hooks.h>

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

char g_dir[1024];

/* ------------------------------------------------------------------ */
/* Runner-side hooks: one directory per run, logs of failed tests.      */
/* ------------------------------------------------------------------ */

void print_tail(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > (long)max ? size - (long)max : 0;
    fseek(f, start, SEEK_SET);
    fprintf(stderr, "----- %s (%ld bytes%s) -----\n", path, size, start ? ", tail" : "");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "----- end of %s -----\n", path);
    fclose(f);
}

static void print_logs_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0) {
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
                continue;
            struct stat st;
            /* Redis only matters when it failed; keep its part short. */
            bool is_redis = strcmp(e->d_name, "redis.log") == 0;
            if (stat(path, &st) == 0 && st.st_size > 0)
                print_tail(path, is_redis ? 800 : 8000);
        }
    }
    closedir(d);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    if (getenv("SB_IT_RUN_DIR"))
        return;
    char tmpl[] = "/tmp/sb-it.XXXXXX";
    if (mkdtemp(tmpl))
        setenv("SB_IT_RUN_DIR", tmpl, 1);
}

ReportHook(POST_FINI)(struct criterion_test_stats *stats)
{
    const char *run = getenv("SB_IT_RUN_DIR");
    if (!run || !stats || !stats->test)
        return;
    if (stats->test_status != CR_STATUS_FAILED)
        return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s.%s", run, stats->test->category, stats->test->name);
    fprintf(stderr, "[logs] %s::%s failed; server output from %s:\n", stats->test->category,
            stats->test->name, dir);
    print_logs_in(dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *run = getenv("SB_IT_RUN_DIR");
    if (!run || getenv("SB_IT_KEEP"))
        return;
    if (strncmp(run, "/tmp/sb-it.", 11) == 0)
        nftw(run, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

long long h_now_ms(void)
{
    return net_now_ms();
}

void h_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

const char *h_test_dir(void)
{
    return g_dir;
}

void make_test_dir(void)
{
    const char *run = getenv("SB_IT_RUN_DIR");
    if (run && criterion_current_test && criterion_current_suite) {
        snprintf(g_dir, sizeof g_dir, "%s/%s.%s", run, criterion_current_suite->name,
                 criterion_current_test->name);
        if (mkdir(g_dir, 0755) == 0 || errno == EEXIST)
            return;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/sb-it-test.XXXXXX");
    cr_assert(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

char *read_file_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > (long)max ? size - (long)max : 0;
    fseek(f, start, SEEK_SET);
    char *buf = malloc((size_t)(size - start) + 1);
    size_t n = fread(buf, 1, (size_t)(size - start), f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

char *h_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fclose(f);
    return read_file_text(path, (size_t)LONG_MAX);
}

bool log_has_sanitizer_report(const char *path)
{
    char *text = read_file_text(path, 1 << 20);
    bool bad = strstr(text, "ERROR: AddressSanitizer") || strstr(text, "ERROR: LeakSanitizer")
               || strstr(text, "runtime error:");
    free(text);
    return bad;
}
