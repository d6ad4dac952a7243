/*
 * harness_proc.c - starting, watching and stopping the processes a test
 * runs against, and the switchboard nodes in particular.
 *
 * Process hygiene: every child gets PR_SET_PDEATHSIG(SIGKILL), so a test
 * killed by criterion's timeout cannot leave servers behind; the teardown
 * signals only the pids this test process started (SIGTERM, a bounded
 * wait, then SIGKILL) and reaps them. A node is ready when GET /readyz
 * answers 200; h_finish() then asserts that every node still running is
 * alive, stops on SIGTERM with status 0 and printed no sanitizer report.
 */
#include "harness_internal.h"
#include "netutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

h_proc g_nodes[H_MAX_NODES];
int g_n_nodes;
h_proc g_extra[H_MAX_EXTRA];
int g_n_extra;
static int next_node_fd_limit; /* h_node_next_fd_limit */
static int child_fd_limit;     /* RLIMIT_NOFILE of the child spawned now */

/* ------------------------------------------------------------------ */
/* Processes                                                           */
/* ------------------------------------------------------------------ */

/* fork/exec argv; see harness_internal.h. out_path NULL: stdout shares
 * stderr's file. */
pid_t spawn_io(char *const argv[], char *const envp[], const char *out_path, const char *err_path,
               bool deathsig)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (deathsig) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
        }
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int out = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : err;
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0)
            dup2(out, 1);
        if (err >= 0)
            dup2(err, 2);
            /* Do not leak the test runner's descriptors into the servers. */
#ifdef SYS_close_range
        syscall(SYS_close_range, 3U, ~0U, 0U);
#else
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
#endif
        signal(SIGPIPE, SIG_DFL);
        if (child_fd_limit > 0) {
            struct rlimit rl = { (rlim_t)child_fd_limit, (rlim_t)child_fd_limit };
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(126);
        }
        execvpe(argv[0], argv, envp ? envp : environ);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

pid_t spawn(char *const argv[], const char *logpath)
{
    return spawn_io(argv, NULL, NULL, logpath, true);
}

/* Reap if exited. Returns true when the process is gone. */
bool proc_poll(h_proc *p)
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

bool proc_wait(h_proc *p, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    while (!proc_poll(p)) {
        if (h_now_ms() >= deadline)
            return false;
        h_sleep_ms(10);
    }
    return true;
}

void proc_kill_all(h_proc **procs, int n, int timeout_ms)
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

const char *describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, n, "status 0x%x", st);
    return buf;
}

h_proc *extra_proc_new(void)
{
    cr_assert(g_n_extra < H_MAX_EXTRA, "too many helper processes");
    h_proc *p = &g_extra[g_n_extra++];
    memset(p, 0, sizeof *p);
    p->pid = -1;
    return p;
}

/* SIGTERM the helper processes (HAProxy) and wait for them, bounded. */
static void stop_extras(void)
{
    h_proc *procs[H_MAX_EXTRA];
    int n = 0;
    for (int i = 0; i < g_n_extra; i++)
        procs[n++] = &g_extra[i];
    proc_kill_all(procs, n, H_STOP_TIMEOUT_MS);
    g_n_extra = 0;
}

/* ------------------------------------------------------------------ */
/* Nodes                                                               */
/* ------------------------------------------------------------------ */

/* Ready: our process listens on the port and answers GET /readyz 200
 * (another test's node on the port must not pass for ours). */
static bool node_ready(int port, pid_t pid)
{
    if (!h_port_listener_is(port, pid))
        return false;
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
    int fd_limit = next_node_fd_limit;
    next_node_fd_limit = 0;
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
        /* Tests open many connections and requests from 127.0.0.1: the
         * per-client limits are off unless a test sets them (a later flag
         * wins), as test_guard.c does. */
        argv[a++] = "--http-rate-limit";
        argv[a++] = "0";
        argv[a++] = "--max-connections-per-ip";
        argv[a++] = "0";
        /* A vanished client leaves at once, as the tests of drops, drains
         * and dead nodes expect; test_resume.c passes its own window. */
        argv[a++] = "--resume-window";
        argv[a++] = "0";
        for (int i = 0; i < n_extra; i++)
            argv[a++] = (char *)extra[i];
        argv[a] = NULL;
        child_fd_limit = fd_limit;
        p->pid = spawn(argv, p->log);
        child_fd_limit = 0;
        g_n_nodes = idx + 1;

        long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
        bool exited = false;
        while (h_now_ms() < deadline) {
            if (node_ready(p->port, p->pid))
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

void h_node_next_fd_limit(int n)
{
    next_node_fd_limit = n;
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

long long h_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which ends at the last ')': state is
     * field 3, utime 14 and stime 15. */
    char *p = strrchr(buf, ')');
    cr_assert_not_null(p);
    unsigned long long utime = 0, stime = 0;
    int got =
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
    cr_assert_eq(got, 2, "cannot parse %s", path);
    return (long long)((utime + stime) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
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

const char *h_node_log(int idx)
{
    cr_assert(idx >= 0 && idx < g_n_nodes);
    return g_nodes[idx].log;
}

void h_node_dump_log(int idx)
{
    if (idx >= 0 && idx < g_n_nodes)
        print_tail(g_nodes[idx].log, 8000);
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                  */
/* ------------------------------------------------------------------ */

void h_setup_none(void)
{
    signal(SIGPIPE, SIG_IGN);
    make_test_dir();
    g_n_nodes = 0;
    g_n_extra = 0;
}

void h_setup_redis(void)
{
    h_setup_none();
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

void h_finish(void)
{
    ws_drop_all();
    guards_release();
    stop_extras();
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
            cr_assert_fail("node %s did not exit within %d ms of SIGTERM", p->id,
                           H_STOP_TIMEOUT_MS);
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
    guards_release();
    stop_extras();
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
