/*
 * harness_tools.c - the processes around the nodes that are not Redis:
 * HAProxy in front of a test's nodes (its config written by the project's
 * own scripts/haproxy-config.sh), external commands run to completion
 * with a bound (scripts/cluster.sh, docker-compose), and guards that run a
 * cleanup command however the test process ends.
 *
 * HAProxy runs as `haproxy -f cfg -db`: in the foreground, as our child,
 * stopped by pid like every other process of the test. Commands run in
 * their own process group; one that overruns its bound is killed with its
 * whole group and fails the test.
 *
 * A guard is a forked child blocked on a pipe whose write end only the
 * test process holds. When the test ends - by h_finish, h_teardown, a
 * failed assertion, a crash or criterion's timeout killing it - the pipe
 * reaches EOF and the guard runs its command (e.g. `cluster.sh down` for
 * processes a script daemonized, which PR_SET_PDEATHSIG cannot reach).
 */
#include "harness_internal.h"
#include "netutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#ifndef SB_SOURCE_DIR
#error "SB_SOURCE_DIR must be defined to the root of the source tree"
#endif

extern char **environ;

#define H_MAX_GUARDS 4
#define GUARD_WAIT_MS 60000

typedef struct {
    pid_t pid;
    int wfd;
} h_guard_proc;

static h_guard_proc g_guards[H_MAX_GUARDS];
static int g_n_guards;

const char *h_repo_root(void)
{
    return SB_SOURCE_DIR;
}

const char *h_which(const char *name, char *buf, size_t n)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (int guard = 0; *path && guard < 64; guard++) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && (size_t)snprintf(buf, n, "%.*s/%s", (int)len, path, name) < n
            && access(buf, X_OK) == 0)
            return buf;
        if (!colon)
            break;
        path = colon + 1;
    }
    return NULL;
}

/* environ plus `extra` ("NAME=value", NULL-terminated; a name in extra
 * replaces ours). Free the array (not the strings) with free(). */
static char **make_env(const char *const extra[])
{
    size_t n_env = 0, n_extra = 0;
    while (environ && environ[n_env])
        n_env++;
    while (extra && extra[n_extra])
        n_extra++;
    char **envp = calloc(n_env + n_extra + 1, sizeof(char *));
    cr_assert(envp);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < n_extra && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], name_len) == 0 && extra[j][name_len] == '=';
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        envp[k++] = (char *)extra[j];
    envp[k] = NULL;
    return envp;
}

int h_run(const char *const argv[], const char *const env[], const char *out_path,
          const char *log_name, int timeout_ms)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/%s", g_dir, log_name);
    char **envp = make_env(env);
    h_proc p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", argv[0]);
    p.pid = spawn_io((char *const *)argv, envp, out_path, log, true);
    free(envp);
    if (!proc_wait(&p, timeout_ms)) {
        kill(-p.pid, SIGKILL); /* the command and whatever it started in its group */
        kill(p.pid, SIGKILL);
        proc_wait(&p, 5000);
        char *text = read_file_text(log, 4000);
        cr_assert_fail("%s did not finish within %d ms; output:\n%s", argv[0], timeout_ms, text);
        free(text);
    }
    return p.status;
}

/* ------------------------------------------------------------------ */
/* Guards                                                              */
/* ------------------------------------------------------------------ */

void h_guard(const char *const argv[], const char *const env[], const char *log_name)
{
    cr_assert(g_n_guards < H_MAX_GUARDS, "too many guards");
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/%s", g_dir, log_name);
    char **envp = make_env(env);
    int fds[2];
    cr_assert(pipe(fds) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Its own group, so a signal to the test's group spares it; no
         * PR_SET_PDEATHSIG: it must outlive the test process. Keep only
         * the read end (on fd 3): another write end left open here (ours,
         * or an earlier guard's) would keep the pipe from reaching EOF. */
        setpgid(0, 0);
        if (fds[0] != 3) {
            dup2(fds[0], 3);
        }
#ifdef SYS_close_range
        syscall(SYS_close_range, 4U, ~0U, 0U);
#else
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
#endif
        signal(SIGPIPE, SIG_DFL);
        char c;
        for (int i = 0; i < 1000000; i++) {
            ssize_t r = read(3, &c, 1);
            if (r == 0 || (r < 0 && errno != EINTR))
                break;
        }
        close(3);
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    g_guards[g_n_guards].pid = pid;
    g_guards[g_n_guards].wfd = fds[1];
    g_n_guards++;
}

void guards_release(void)
{
    for (int i = 0; i < g_n_guards; i++)
        close(g_guards[i].wfd);
    for (int i = 0; i < g_n_guards; i++) {
        h_proc p;
        memset(&p, 0, sizeof p);
        p.pid = g_guards[i].pid;
        if (!proc_wait(&p, GUARD_WAIT_MS)) {
            fprintf(stderr, "[harness] cleanup guard (pid %d) still running after %d ms; SIGKILL\n",
                    (int)p.pid, GUARD_WAIT_MS);
            kill(-p.pid, SIGKILL);
            kill(p.pid, SIGKILL);
            proc_wait(&p, 5000);
        }
    }
    g_n_guards = 0;
}

/* ------------------------------------------------------------------ */
/* HAProxy                                                             */
/* ------------------------------------------------------------------ */

static h_proc *g_haproxy;

int h_haproxy_port(void)
{
    cr_assert(g_haproxy && g_haproxy->pid > 0, "HAProxy is not running (h_haproxy_start)");
    return g_haproxy->port;
}

/* tls_pem NULL: plain HTTP only. Otherwise HTTPS on a port of its own,
 * in *tls_port, where readiness is checked (the plain port may redirect). */
static int haproxy_start(const char *tls_pem, const char *ca, bool redirect, int *tls_port)
{
    cr_assert(g_n_nodes > 0, "h_haproxy_start needs nodes");
    char script[PATH_MAX], cfg[PATH_MAX], bind_addr[64], ports[H_MAX_NODES][16];
    snprintf(script, sizeof script, "%s/scripts/haproxy-config.sh", h_repo_root());
    snprintf(cfg, sizeof cfg, "%s/haproxy.cfg", g_dir);
    g_haproxy = extra_proc_new();
    h_proc *p = g_haproxy;
    char why[64] = "";
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        int port = h_free_port(), check_port = port;
        snprintf(bind_addr, sizeof bind_addr, "127.0.0.1:%d", port);
        char e_pem[PATH_MAX + 16], e_bind[64], e_redirect[48];
        const char *env[4] = { NULL };
        if (tls_pem) {
            do
                check_port = *tls_port = h_free_port();
            while (*tls_port == port);
            cr_assert(net_set_tls(*tls_port, ca) == 0, "cannot load %s", ca);
            snprintf(e_pem, sizeof e_pem, "SB_TLS_PEM=%s", tls_pem);
            snprintf(e_bind, sizeof e_bind, "SB_TLS_BIND=127.0.0.1:%d", *tls_port);
            snprintf(e_redirect, sizeof e_redirect, "SB_TLS_REDIRECT_PORT=%d", *tls_port);
            env[0] = e_pem;
            env[1] = e_bind;
            env[2] = redirect ? e_redirect : NULL;
        }
        const char *argv[4 + H_MAX_NODES] = { script, "loopback", bind_addr };
        int a = 3;
        for (int i = 0; i < g_n_nodes; i++) {
            snprintf(ports[i], sizeof ports[i], "%d", g_nodes[i].port);
            argv[a++] = ports[i];
        }
        argv[a] = NULL;
        int st = h_run(argv, env, cfg, "haproxy-config.log", 10000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (%s); see haproxy-config.log",
                  script, describe_status(st, why, sizeof why));

        memset(p, 0, sizeof *p);
        p->port = port;
        snprintf(p->id, sizeof p->id, "haproxy");
        snprintf(p->log, sizeof p->log, "%s/haproxy.log", g_dir);
        char *hargv[] = { H_HAPROXY_BIN, "-f", cfg, "-db", NULL };
        p->pid = spawn(hargv, p->log);
        long long deadline = h_now_ms() + H_READY_TIMEOUT_MS;
        bool exited = false;
        while (h_now_ms() < deadline) {
            http_resp r;
            if (h_port_listener_is(check_port, p->pid)
                && http_request(check_port, "GET", "/readyz", NULL, NULL, 0, 1000, &r, NULL, 0)
                       == 0) {
                int status = r.status;
                http_resp_free(&r);
                if (status == 200)
                    return port;
            }
            if (proc_poll(p)) {
                exited = true;
                break;
            }
            h_sleep_ms(50);
        }
        if (!exited) {
            kill(p->pid, SIGKILL);
            proc_wait(p, 5000);
            snprintf(why, sizeof why, "GET /readyz through it not 200 after %d ms",
                     H_READY_TIMEOUT_MS);
            break; /* it ran but never routed: retrying will not help */
        }
        describe_status(p->status, why, sizeof why);
        fprintf(stderr, "[harness] haproxy on port %d: %s (attempt %d)\n", port, why, attempt + 1);
    }
    char *log = read_file_text(p->log, 4000);
    char *conf = read_file_text(cfg, 4000);
    cr_assert_fail("HAProxy did not come up: %s; output:\n%s\nconfig:\n%s", why, log, conf);
    free(log);
    free(conf);
    return -1;
}

int h_haproxy_start(void)
{
    return haproxy_start(NULL, NULL, false, NULL);
}

int h_haproxy_start_tls(const char *pem, const char *ca, bool redirect, int *tls_port)
{
    return haproxy_start(pem, ca, redirect, tls_port);
}
