/*
 * harness_internal.h - what the harness_*.c files share with each other
 * and nothing else: the record of one started process, the per-test state
 * (log directory, Redis, nodes, helper processes) and the process
 * primitives. Test files include harness.h only.
 *
 *   harness_run.c    runner hooks (run directory, logs of failed tests),
 *                    per-test directory, clocks, free ports, log files
 *   harness_proc.c   fork/exec, bounded waits and kills, the nodes,
 *                    setups, h_finish and h_teardown
 *   harness_redis.c  the redis-server process and a raw RESP client
 *   harness_tools.c  HAProxy, external commands (scripts, docker-compose)
 *                    and guards that clean up after a killed test
 *   harness_check.c  format checks, JSON, REST and WebSocket assertions
 */
#ifndef SB_IT_HARNESS_INTERNAL_H
#define SB_IT_HARNESS_INTERNAL_H

#include "harness.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define REDIS_BIN "/usr/bin/redis-server"
#define START_ATTEMPTS 3
#define H_MAX_EXTRA 4   /* helper processes (HAProxy) per test */

typedef struct {
    pid_t pid;          /* -1 when not running (or reaped) */
    int port;
    char id[64];
    char log[PATH_MAX];
    int status;         /* waitpid status once reaped */
    bool reaped;
    bool signalled;     /* the test itself signalled it (h_node_signal) */
} h_proc;

/* ---- per-test state ---- */
extern char g_dir[1024];                 /* harness_run.c */
extern h_proc g_redis;                   /* harness_redis.c */
extern h_proc g_nodes[H_MAX_NODES];      /* harness_proc.c */
extern int g_n_nodes;
extern h_proc g_extra[H_MAX_EXTRA];      /* harness_proc.c: HAProxy & co */
extern int g_n_extra;

/* ---- harness_run.c ---- */
void make_test_dir(void);
/* Up to the last `max` bytes of a file as a NUL-terminated string ("" when
 * it cannot be read). Caller frees. */
char *read_file_text(const char *path, size_t max);
/* Print the tail of a file to stderr between marker lines. */
void print_tail(const char *path, size_t max);
bool log_has_sanitizer_report(const char *path);

/* ---- harness_proc.c ---- */
/* fork/exec argv with stdout and stderr appended to logpath; the child
 * dies with us (PR_SET_PDEATHSIG) and leads its own process group. */
pid_t spawn(char *const argv[], const char *logpath);
/* Same with stdout to out_path (truncated) and stderr to err_path
 * (appended), envp (NULL: ours) and an optional PATH search
 * (argv[0] without a slash). */
pid_t spawn_io(char *const argv[], char *const envp[], const char *out_path,
               const char *err_path, bool deathsig);
/* Reap if exited. Returns true when the process is gone. */
bool proc_poll(h_proc *p);
bool proc_wait(h_proc *p, int timeout_ms);
/* SIGTERM each, wait for all until one shared deadline, SIGKILL stragglers. */
void proc_kill_all(h_proc **procs, int n, int timeout_ms);
const char *describe_status(int st, char *buf, size_t n);
/* Register a started helper process so teardown stops it. */
h_proc *extra_proc_new(void);

/* ---- harness_redis.c ---- */
void redis_start_on(int fixed_port);

/* ---- harness_tools.c ---- */
/* Release the cleanup guards (they run their command now) and wait for
 * them, bounded. Called by h_finish and h_teardown. */
void guards_release(void);

#endif
