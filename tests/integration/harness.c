/*
 * harness.c - starts, watches and stops the real processes each
 * integration test runs against (one redis-server, one or more switchboard
 * nodes), keeps their output per test, and gives the tests raw Redis
 * access plus shared assertion helpers. See harness.h for the contract.
 *
 * Process hygiene: every child gets PR_SET_PDEATHSIG(SIGKILL), so a test
 * killed by criterion's timeout cannot leave servers behind; the teardown
 * signals only the pids this test process started (SIGTERM, a bounded
 * wait, then SIGKILL) and reaps them.
 *
 * Logs: the runner process creates one directory for the whole run
 * (SB_IT_RUN_DIR) and every test writes its servers' output to
 * <run dir>/<suite>.<test>/. When a test fails, the runner prints the tail
 * of those files; the directory is removed at the end of the run unless
 * SB_IT_KEEP is set in the environment.
 */
#include "harness.h"
#include "netutil.h"

#include <criterion/hooks.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#define REDIS_BIN "/usr/bin/redis-server"
#define START_ATTEMPTS 3

typedef struct {
    pid_t pid;          /* -1 when not running (or reaped) */
    int port;
    char id[64];
    char log[PATH_MAX];
    int status;         /* waitpid status once reaped */
    bool reaped;
    bool signalled;     /* the test itself signalled it (h_node_signal) */
} h_proc;

static char g_dir[1024];
static h_proc g_redis = { .pid = -1 };
static h_proc g_nodes[H_MAX_NODES];
static int g_n_nodes;

/* ------------------------------------------------------------------ */
/* Runner-side hooks: one directory per run, logs of failed tests.      */
/* ------------------------------------------------------------------ */

static void print_tail(const char *path, size_t max)
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
    fprintf(stderr, "[logs] %s::%s failed; server output from %s:\n",
            stats->test->category, stats->test->name, dir);
    print_logs_in(dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
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

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    socklen_t sl = sizeof sa;
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void make_test_dir(void)
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

static char *read_file_text(const char *path, size_t max)
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

/* fork/exec argv with output to logpath; the child dies with us. */
static pid_t spawn(char *const argv[], const char *logpath)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        /* Do not leak the test runner's descriptors into the servers. */
#ifdef SYS_close_range
        syscall(SYS_close_range, 3U, ~0U, 0U);
#else
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
#endif
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Reap if exited. Returns true when the process is gone. */
static bool proc_poll(h_proc *p)
{
    if (p->pid <= 0 || p->reaped)
        return true;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->status = st;
        p->reaped = true;
        return true;
    }
    return false;
}

static bool proc_wait(h_proc *p, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    while (!proc_poll(p)) {
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(10);
    }
    return true;
}

static void proc_kill_all(h_proc **procs, int n, int timeout_ms)
{
    for (int i = 0; i < n; i++)
        if (procs[i]->pid > 0 && !proc_poll(procs[i]))
            kill(procs[i]->pid, SIGTERM);
    long long deadline = h_now_ms() + timeout_ms;
    for (int i = 0; i < n; i++) {
        long long left = deadline - h_now_ms();
        if (procs[i]->pid <= 0)
            continue;
        if (!proc_wait(procs[i], left > 0 ? (int)left : 0)) {
            fprintf(stderr, "[harness] %s (pid %d) ignored SIGTERM for %d ms; SIGKILL\n",
                    procs[i]->id, (int)procs[i]->pid, timeout_ms);
            kill(procs[i]->pid, SIGKILL);
            proc_wait(procs[i], 5000);
        }
    }
}

static const char *describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, n, "status 0x%x", st);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Redis                                                               */
/* ------------------------------------------------------------------ */

static bool redis_ping(int port)
{
    int fd = net_connect(port, 0);
    if (fd < 0)
        return false;
    long long deadline = h_now_ms() + 1000;
    bool ok = false;
    if (net_write_all(fd, "PING\r\n", 6, deadline) == 0) {
        char buf[64];
        size_t got = 0;
        while (got < 7) {
            ssize_t n = net_read_some(fd, buf + got, sizeof buf - 1 - got, deadline);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        buf[got] = '\0';
        ok = strncmp(buf, "+PONG", 5) == 0;
    }
    close(fd);
    return ok;
}

static void redis_start_on(int fixed_port)
{
    char last_log[PATH_MAX] = "";
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        int port = fixed_port > 0 ? fixed_port : h_free_port();
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        memset(&g_redis, 0, sizeof g_redis);
        g_redis.port = port;
        snprintf(g_redis.id, sizeof g_redis.id, "redis-server");
        snprintf(g_redis.log, sizeof g_redis.log, "%s/redis.log", g_dir);
        snprintf(last_log, sizeof last_log, "%s", g_redis.log);
        char *argv[] = { REDIS_BIN, "--port", ports, "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--daemonize", "no",
                         "--dir", g_dir, "--loglevel", "warning", NULL };
        g_redis.pid = spawn(argv, g_redis.log);
        long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
        while (h_now_ms() < deadline) {
            if (redis_ping(port))
                return;
            if (proc_poll(&g_redis))
                break;
            h_sleep_ms(20);
        }
        if (!proc_poll(&g_redis)) {
            kill(g_redis.pid, SIGKILL);
            proc_wait(&g_redis, 5000);
        }
        if (fixed_port > 0)
            h_sleep_ms(200); /* the port may still be in use: retry the same */
    }
    char *log = read_file_text(last_log, 4000);
    cr_assert_fail("redis-server did not answer PING within %d ms (%d attempts); log:\n%s",
                   H_READY_TIMEOUT_MS, START_ATTEMPTS, log);
    free(log);
}

int h_redis_port(void)
{
    return g_redis.port;
}

void h_redis_stop(void)
{
    h_proc *p = &g_redis;
    proc_kill_all(&p, 1, H_STOP_TIMEOUT_MS);
    g_redis.pid = -1;
}

void h_redis_restart(void)
{
    cr_assert(g_redis.port > 0);
    redis_start_on(g_redis.port);
}

static void append_resp_arg(char **buf, size_t *len, size_t *cap, const char *a)
{
    size_t al = strlen(a);
    size_t need = *len + al + 32;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc(*buf, *cap);
    }
    *len += (size_t)sprintf(*buf + *len, "$%zu\r\n", al);
    memcpy(*buf + *len, a, al);
    *len += al;
    memcpy(*buf + *len, "\r\n", 2);
    *len += 2;
}

/* Parse one RESP value at *pos. 1 complete, 0 need more, -1 error. For
 * arrays, elements are flattened into out->elems. */
static int resp_parse(const char *b, size_t len, size_t *pos, h_redis_reply *out, bool element)
{
    const char *eol = memmem(b + *pos, len - *pos, "\r\n", 2);
    if (!eol)
        return 0;
    char t = b[*pos];
    const char *line = b + *pos + 1;
    size_t llen = (size_t)(eol - line);
    size_t after = (size_t)(eol - b) + 2;
    char *s = NULL;
    switch (t) {
    case '+':
    case '-':
    case ':':
        s = strndup(line, llen);
        *pos = after;
        if (element) {
            out->elems[out->n++] = s;
            return 1;
        }
        out->type = t;
        if (t == ':') {
            out->integer = strtoll(s, NULL, 10);
            free(s);
        } else {
            out->str = s;
            out->len = llen;
        }
        return 1;
    case '$': {
        long n = strtol(line, NULL, 10);
        if (n < 0) {
            *pos = after;
            if (element)
                out->elems[out->n++] = NULL;
            else
                out->type = '$';
            return 1;
        }
        if (len - after < (size_t)n + 2)
            return 0;
        s = strndup(b + after, (size_t)n);
        *pos = after + (size_t)n + 2;
        if (element) {
            out->elems[out->n++] = s;
        } else {
            out->type = '$';
            out->str = s;
            out->len = (size_t)n;
        }
        return 1;
    }
    case '*': {
        if (element)
            return -1; /* nested arrays are not needed by the tests */
        long n = strtol(line, NULL, 10);
        out->type = '*';
        out->n = 0;
        if (n <= 0) {
            *pos = after;
            return 1;
        }
        out->elems = calloc((size_t)n, sizeof(char *));
        size_t p = after;
        for (long i = 0; i < n; i++) {
            int r = resp_parse(b, len, &p, out, true);
            if (r <= 0) {
                for (size_t k = 0; k < out->n; k++)
                    free(out->elems[k]);
                free(out->elems);
                out->elems = NULL;
                out->n = 0;
                return r;
            }
        }
        *pos = p;
        return 1;
    }
    default:
        return -1;
    }
}

static int redis_cmd_v(h_redis_reply *out, const char *arg0, va_list ap)
{
    memset(out, 0, sizeof *out);
    const char *args[64];
    int argc = 0;
    for (const char *a = arg0; a && argc < 64; a = va_arg(ap, const char *))
        args[argc++] = a;
    char *req = NULL;
    size_t len = 0, cap = 0;
    req = malloc(64);
    cap = 64;
    len = (size_t)sprintf(req, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        append_resp_arg(&req, &len, &cap, args[i]);

    int fd = net_connect(g_redis.port, 0);
    if (fd < 0) {
        free(req);
        return -1;
    }
    long long deadline = h_now_ms() + 5000;
    int rc = net_write_all(fd, req, len, deadline);
    free(req);
    char *in = NULL;
    size_t ilen = 0, icap = 0;
    int result = -1;
    while (rc == 0) {
        if (ilen + 4096 > icap) {
            icap = (ilen + 4096) * 2;
            in = realloc(in, icap);
        }
        ssize_t n = net_read_some(fd, in + ilen, icap - ilen, deadline);
        if (n <= 0)
            break;
        ilen += (size_t)n;
        size_t pos = 0;
        h_redis_reply tmp;
        memset(&tmp, 0, sizeof tmp);
        int r = resp_parse(in, ilen, &pos, &tmp, false);
        if (r < 0)
            break;
        if (r == 1) {
            *out = tmp;
            result = 0;
            break;
        }
    }
    free(in);
    close(fd);
    return result;
}

int h_redis_cmd(h_redis_reply *out, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int rc = redis_cmd_v(out, arg0, ap);
    va_end(ap);
    return rc;
}

void h_redis_reply_free(h_redis_reply *r)
{
    if (!r)
        return;
    free(r->str);
    for (size_t i = 0; i < r->n; i++)
        free(r->elems[i]);
    free(r->elems);
    memset(r, 0, sizeof *r);
}

long long h_redis_int(const char *arg0, ...)
{
    h_redis_reply r;
    va_list ap;
    va_start(ap, arg0);
    int rc = redis_cmd_v(&r, arg0, ap);
    va_end(ap);
    long long v = (rc == 0 && r.type == ':') ? r.integer : LLONG_MIN;
    h_redis_reply_free(&r);
    return v;
}

/* ------------------------------------------------------------------ */
/* Nodes                                                               */
/* ------------------------------------------------------------------ */

static bool node_ready(int port)
{
    http_resp r;
    if (http_request(port, "GET", "/readyz", NULL, NULL, 0, 1000, &r, NULL, 0) < 0)
        return false;
    bool ok = r.status == 200;
    http_resp_free(&r);
    return ok;
}

int h_node_start(const char *node_id, ...)
{
    cr_assert(g_redis.pid > 0, "h_node_start needs redis (use h_setup_redis)");
    cr_assert(g_n_nodes < H_MAX_NODES, "too many nodes");
    const char *extra[32];
    int n_extra = 0;
    va_list ap;
    va_start(ap, node_id);
    for (const char *a = va_arg(ap, const char *); a && n_extra < 32; a = va_arg(ap, const char *))
        extra[n_extra++] = a;
    va_end(ap);

    int idx = g_n_nodes;
    h_proc *p = &g_nodes[idx];
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", g_redis.port);

    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        memset(p, 0, sizeof *p);
        p->pid = -1;
        p->port = h_free_port();
        snprintf(p->id, sizeof p->id, "%s", node_id);
        snprintf(p->log, sizeof p->log, "%s/%s.log", g_dir, node_id);
        char ports[16];
        snprintf(ports, sizeof ports, "%d", p->port);
        char *argv[48];
        int a = 0;
        argv[a++] = SB_NODE_BIN;
        argv[a++] = "--host";
        argv[a++] = "127.0.0.1";
        argv[a++] = "--port";
        argv[a++] = ports;
        argv[a++] = "--redis-url";
        argv[a++] = url;
        argv[a++] = "--node-id";
        argv[a++] = (char *)node_id;
        argv[a++] = "--log-level";
        argv[a++] = "warn";
        for (int i = 0; i < n_extra; i++)
            argv[a++] = (char *)extra[i];
        argv[a] = NULL;
        p->pid = spawn(argv, p->log);
        g_n_nodes = idx + 1;

        long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
        bool exited = false;
        while (h_now_ms() < deadline) {
            if (node_ready(p->port))
                return idx;
            if (proc_poll(p)) {
                exited = true;
                break;
            }
            h_sleep_ms(30);
        }
        char why[64];
        if (exited)
            describe_status(p->status, why, sizeof why);
        else
            snprintf(why, sizeof why, "not ready after %d ms", H_READY_TIMEOUT_MS);
        fprintf(stderr, "[harness] node %s on port %d: %s (attempt %d)\n", node_id, p->port, why,
                attempt + 1);
        if (!exited) {
            kill(p->pid, SIGKILL);
            proc_wait(p, 5000);
            break; /* it ran but never got ready: retrying will not help */
        }
    }
    char *log = read_file_text(p->log, 4000);
    cr_assert_fail("node %s did not become ready (GET /readyz 200) on port %d; output:\n%s",
                   node_id, p->port, log);
    free(log);
    return -1;
}

int h_node_port(int idx)
{
    cr_assert(idx >= 0 && idx < g_n_nodes);
    return g_nodes[idx].port;
}

const char *h_node_id(int idx)
{
    cr_assert(idx >= 0 && idx < g_n_nodes);
    return g_nodes[idx].id;
}

pid_t h_node_pid(int idx)
{
    cr_assert(idx >= 0 && idx < g_n_nodes);
    return g_nodes[idx].pid;
}

void h_node_signal(int idx, int sig)
{
    cr_assert(idx >= 0 && idx < g_n_nodes);
    h_proc *p = &g_nodes[idx];
    p->signalled = true;
    if (p->pid > 0 && !proc_poll(p))
        kill(p->pid, sig);
}

bool h_node_wait_exit(int idx, int timeout_ms, int *status)
{
    cr_assert(idx >= 0 && idx < g_n_nodes);
    h_proc *p = &g_nodes[idx];
    if (!proc_wait(p, timeout_ms))
        return false;
    if (status)
        *status = p->status;
    return true;
}

void h_node_dump_log(int idx)
{
    if (idx >= 0 && idx < g_n_nodes)
        print_tail(g_nodes[idx].log, 8000);
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                  */
/* ------------------------------------------------------------------ */

void h_setup_redis(void)
{
    signal(SIGPIPE, SIG_IGN);
    make_test_dir();
    g_n_nodes = 0;
    redis_start_on(0);
}

void h_setup_one(void)
{
    h_setup_redis();
    h_node_start("node-a", NULL);
}

void h_setup_two(void)
{
    h_setup_redis();
    h_node_start("node-a", NULL);
    h_node_start("node-b", NULL);
}

static bool log_has_sanitizer_report(const char *path)
{
    char *text = read_file_text(path, 1 << 20);
    bool bad = strstr(text, "ERROR: AddressSanitizer") || strstr(text, "ERROR: LeakSanitizer") ||
               strstr(text, "runtime error:");
    free(text);
    return bad;
}

void h_finish(void)
{
    ws_drop_all();
    char why[64];
    for (int i = 0; i < g_n_nodes; i++) {
        h_proc *p = &g_nodes[i];
        if (p->signalled || p->pid <= 0)
            continue; /* stopped by the test itself */
        if (proc_poll(p)) {
            char *log = read_file_text(p->log, 6000);
            cr_assert_fail("node %s died during the test (%s); output:\n%s", p->id,
                           describe_status(p->status, why, sizeof why), log);
            free(log);
        }
        kill(p->pid, SIGTERM);
    }
    long long deadline = h_now_ms() + H_STOP_TIMEOUT_MS;
    for (int i = 0; i < g_n_nodes; i++) {
        h_proc *p = &g_nodes[i];
        if (p->pid <= 0)
            continue;
        long long left = deadline - h_now_ms();
        bool exited = p->reaped || proc_wait(p, left > 0 ? (int)left : 0);
        if (!exited) {
            kill(p->pid, SIGKILL);
            proc_wait(p, 5000);
            cr_assert_fail("node %s did not exit within %d ms of SIGTERM", p->id, H_STOP_TIMEOUT_MS);
        }
    }
    for (int i = 0; i < g_n_nodes; i++) {
        h_proc *p = &g_nodes[i];
        if (log_has_sanitizer_report(p->log)) {
            char *log = read_file_text(p->log, 12000);
            cr_assert_fail("node %s printed a sanitizer report:\n%s", p->id, log);
            free(log);
        }
    }
    for (int i = 0; i < g_n_nodes; i++) {
        h_proc *p = &g_nodes[i];
        if (p->signalled)
            continue;
        cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
                  "node %s did not exit cleanly on SIGTERM (%s)", p->id,
                  describe_status(p->status, why, sizeof why));
    }
}

void h_teardown(void)
{
    /* After h_finish this only reaps what is left; after a failed
     * assertion it stops everything. Server output (sanitizer reports
     * included) of a failed test is printed by the runner's POST_FINI hook. */
    ws_drop_all();
    h_proc *procs[H_MAX_NODES];
    int n = 0;
    for (int i = 0; i < g_n_nodes; i++)
        procs[n++] = &g_nodes[i];
    proc_kill_all(procs, n, H_STOP_TIMEOUT_MS);
    if (g_redis.pid > 0) {
        h_proc *r = &g_redis;
        proc_kill_all(&r, 1, H_STOP_TIMEOUT_MS);
    }
    g_n_nodes = 0;
}

/* ------------------------------------------------------------------ */
/* Format checks and JSON                                              */
/* ------------------------------------------------------------------ */

static bool is_lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool h_is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_lhex(s[i])) {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

long long h_parse_iso8601_utc(const char *s)
{
    if (!s || strlen(s) < 20)
        return -1;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    int Y = digits(s, 4), M = digits(s + 5, 2), D = digits(s + 8, 2);
    int h = digits(s + 11, 2), m = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 ||
        sec < 0 || sec > 60)
        return -1;
    const char *p = s + 19;
    long long ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        long long frac = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (int i = nd; i < 3; i++)
            frac *= 10;
        ms = frac;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    struct tm tm = { 0 };
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    return (long long)t * 1000 + ms;
}

const char *h_jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool h_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool h_is_error(const json_t *obj, const char *text)
{
    return h_streq(h_jstr(obj, "type"), "error") && h_streq(h_jstr(obj, "message"), text);
}

bool h_type_is(const json_t *obj, const char *type)
{
    const char *t = h_jstr(obj, "type");
    return t && strcmp(t, type) == 0;
}

json_t *h_json_parse(const char *text, size_t len)
{
    json_error_t e;
    return json_loadb(text, len, JSON_DECODE_ANY, &e);
}

const char *h_jdump(const json_t *j)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    if (!j) {
        snprintf(b, 1024, "(null)");
        return b;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(b, 1024, "%s", s ? s : "(unprintable)");
    if (s && strlen(s) >= 1024)
        memcpy(b + 1019, "...", 4);
    free(s);
    return b;
}

/* ------------------------------------------------------------------ */
/* REST shortcuts                                                      */
/* ------------------------------------------------------------------ */

http_resp h_http(int port, const char *method, const char *path,
                 const char *const *headers, const char *body)
{
    http_resp r;
    char err[256];
    int rc = http_request(port, method, path, headers, body, body ? strlen(body) : 0,
                          HTTP_TIMEOUT_MS, &r, err, sizeof err);
    cr_assert(rc == 0, "%s %s: %s", method, path, err);
    return r;
}

void h_expect_detail(const http_resp *r, int status, const char *detail, const char *what)
{
    cr_assert(r->status == status, "%s: expected status %d, got %d: %s", what, status, r->status,
              r->body);
    json_t *j = http_json(r);
    cr_assert(json_is_object(j), "%s: body is not a JSON object: %s", what, r->body);
    const char *d = h_jstr(j, "detail");
    cr_assert(d && *d, "%s: no non-empty string \"detail\": %s", what, r->body);
    if (detail)
        cr_assert(strcmp(d, detail) == 0, "%s: detail is \"%s\", expected \"%s\"", what, d, detail);
    json_decref(j);
}

void h_random_uuid4(char out[37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    cr_assert(read(fd, b, sizeof b) == (ssize_t)sizeof b);
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

void h_create_room_into(int port, const char *body, char out[37])
{
    http_resp r;
    char err[256];
    int rc = http_request(port, "POST", "/create-room", NULL, body, body ? strlen(body) : 0,
                          HTTP_TIMEOUT_MS, &r, err, sizeof err);
    cr_assert(rc == 0, "POST /create-room: %s", err);
    cr_assert(r.status == 200, "POST /create-room (body %s) answered %d: %s", body ? body : "none",
              r.status, r.body);
    json_t *j = http_json(&r);
    const char *id = h_jstr(j, "room_id");
    cr_assert(id && h_is_uuid4(id), "create-room gave no uuid4 room_id: %s", r.body);
    snprintf(out, 37, "%s", id);
    json_decref(j);
    http_resp_free(&r);
}

const char *h_create_room(int port, const char *body)
{
    static char id[37];
    h_create_room_into(port, body, id);
    return id;
}

json_t *h_get_room(int port, const char *room_id)
{
    char path[256];
    snprintf(path, sizeof path, "/rooms/%s", room_id);
    http_resp r;
    char err[256];
    int rc = http_request(port, "GET", path, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r, err, sizeof err);
    cr_assert(rc == 0, "GET %s: %s", path, err);
    if (r.status == 404) {
        http_resp_free(&r);
        return NULL;
    }
    cr_assert(r.status == 200, "GET %s answered %d: %s", path, r.status, r.body);
    json_t *j = http_json(&r);
    cr_assert(json_is_object(j), "GET %s: body is not an object: %s", path, r.body);
    http_resp_free(&r);
    return j;
}

int h_room_count(int port, const char *room_id)
{
    json_t *j = h_get_room(port, room_id);
    if (!j)
        return -1;
    json_t *c = json_object_get(j, "participant_count");
    cr_assert(json_is_integer(c), "participant_count missing or not an integer: %s", h_jdump(j));
    int n = (int)json_integer_value(c);
    json_decref(j);
    return n;
}

int h_wait_room_count(int port, const char *room_id, int want, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int n;
    for (;;) {
        n = h_room_count(port, room_id);
        if (n == want || h_now_ms() >= deadline)
            return n;
        h_sleep_ms(50);
    }
}

/* ------------------------------------------------------------------ */
/* WebSocket shortcuts                                                 */
/* ------------------------------------------------------------------ */

ws_client *h_join(int port, const char *room_id, json_t **participants)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "/ws/%s", room_id);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c != NULL, "WebSocket to %s on port %d: %s", path, port, err);
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "no first message after joining %s: %s (close code %d)", room_id,
              why ? why : "?", c->close_code);
    cr_assert_str_eq(h_jstr(j, "type") ? h_jstr(j, "type") : "(none)", "connected",
                     "first message is not 'connected': %s", h_jdump(j));
    cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), room_id) == 0,
              "connected.room_id wrong: %s", h_jdump(j));
    const char *uid = h_jstr(j, "user_id");
    cr_assert(uid && h_is_uuid4(uid), "connected.user_id is not a uuid4: %s", h_jdump(j));
    cr_assert(h_jstr(j, "message") && strcmp(h_jstr(j, "message"), "Successfully connected to room") == 0,
              "connected.message wrong: %s", h_jdump(j));
    cr_assert(h_jstr(j, "node_id") && *h_jstr(j, "node_id"), "connected.node_id missing: %s",
              h_jdump(j));
    json_t *parts = json_object_get(j, "participants");
    cr_assert(json_is_array(parts), "connected.participants is not an array: %s", h_jdump(j));
    size_t i;
    json_t *v;
    json_array_foreach(parts, i, v) {
        cr_assert(json_is_string(v), "participants holds a non-string: %s", h_jdump(j));
        cr_assert(strcmp(json_string_value(v), uid) != 0,
                  "participants lists the joining user itself: %s", h_jdump(j));
    }
    snprintf(c->user_id, sizeof c->user_id, "%s", uid);
    snprintf(c->room_id, sizeof c->room_id, "%s", room_id);
    if (participants)
        *participants = json_incref(parts);
    json_decref(j);
    return c;
}

void h_expect_error(ws_client *c, const char *text)
{
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "expected error '%s', got %s (close code %d)", text, why ? why : "?",
              c->close_code);
    const char *t = h_jstr(j, "type");
    const char *m = h_jstr(j, "message");
    cr_assert(t && strcmp(t, "error") == 0 && m && strcmp(m, text) == 0,
              "expected {\"type\":\"error\",\"message\":\"%s\"}, got %s", text, h_jdump(j));
    json_decref(j);
}

void h_expect_user_event(ws_client *c, const char *type, const char *user_id, const char *room_id)
{
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "expected %s for %s, got %s", type, user_id, why ? why : "?");
    cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), type) == 0,
              "expected %s for %s, got %s", type, user_id, h_jdump(j));
    cr_assert(h_jstr(j, "user_id") && strcmp(h_jstr(j, "user_id"), user_id) == 0,
              "%s names the wrong user (want %s): %s", type, user_id, h_jdump(j));
    cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), room_id) == 0,
              "%s names the wrong room (want %s): %s", type, room_id, h_jdump(j));
    json_decref(j);
}

void h_expect_silence(ws_client *c, int ms)
{
    char *got = NULL;
    bool quiet = ws_expect_silence(c, ms, &got);
    char shown[600];
    snprintf(shown, sizeof shown, "%.590s", got ? got : "");
    free(got);
    cr_assert(quiet, "user %s expected no message within %d ms, got: %s", c->user_id, ms, shown);
}

void h_ping_pong(ws_client *c)
{
    cr_assert(ws_send_text(c, "{\"type\":\"ping\"}") == 0, "sending ping failed");
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "no pong: %s (close code %d)", why ? why : "?", c->close_code);
    cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), "pong") == 0,
              "expected pong, got %s", h_jdump(j));
    json_decref(j);
}

void h_sendf(ws_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0);
    int rc = ws_send_textn(c, text, (size_t)n);
    cr_assert(rc == 0, "user %s could not send %.200s (connection closed? code %d)", c->user_id, text,
              c->close_code);
    free(text);
}

json_t *h_recv(ws_client *c, const char *what)
{
    const char *why = NULL;
    json_t *j = ws_recv_json(c, H_MSG_TIMEOUT_MS, &why);
    cr_assert(j != NULL, "user %s waited for %s, got %s (close code %d)", c->user_id, what,
              why ? why : "?", c->close_code);
    return j;
}

void h_expect_relay(ws_client *c, const char *type, const ws_client *from, const char *data,
                    const char *to)
{
    char what[128];
    snprintf(what, sizeof what, "a relayed '%s' from %s", type, from->user_id);
    json_t *j = h_recv(c, what);
    cr_assert(json_is_object(j), "%s: not an object: %s", what, h_jdump(j));
    cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), type) == 0, "%s: got %s", what, h_jdump(j));
    cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), from->room_id) == 0,
              "%s: room_id wrong: %s", what, h_jdump(j));
    cr_assert(h_jstr(j, "sender_id") && strcmp(h_jstr(j, "sender_id"), from->user_id) == 0,
              "%s: sender_id is not the sender's user id: %s", what, h_jdump(j));
    if (data) {
        json_t *want = h_json_parse(data, strlen(data));
        cr_assert(want, "bad expected data in test: %s", data);
        cr_assert(json_equal(json_object_get(j, "data"), want), "%s: data changed, want %s: %s", what,
                  data, h_jdump(j));
        json_decref(want);
    }
    if (to)
        cr_assert(h_jstr(j, "to") && strcmp(h_jstr(j, "to"), to) == 0, "%s: 'to' should be %s: %s",
                  what, to, h_jdump(j));
    else
        cr_assert_null(json_object_get(j, "to"), "%s: unexpected 'to': %s", what, h_jdump(j));
    json_decref(j);
}
