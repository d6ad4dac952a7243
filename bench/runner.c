/*
 * runner.c - the loop of a run (see runner.h).
 *
 * Order matters in two places. The descriptor limit is raised before the
 * libwebsockets context is created, because lws sizes its descriptor
 * table from the limit it sees then. And the context is destroyed (closing
 * every connection) only after the report, so closing thousands of
 * sockets is not part of any measurement.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "fleet.h"
#include "httpc.h"
#include "msg.h"
#include "report.h"
#include "runner.h"
#include "util.h"
#include "wsconn.h"

#define PROGRESS_PERIOD_MS 250
#define READY_WAIT_S 15
#define MAX_TIMERS 64

typedef struct {
    struct event *ev;
    void (*fn)(void *arg);
    void *arg;
} one_shot;

static struct {
    struct event_base *base;
    const bench_mode_ops *mode;
    struct event *progress, *deadline, *sigint, *sigterm;
    one_shot timers[MAX_TIMERS];
    int n_timers;
    const char *phase;
    bool finished;
} rn;

struct event_base *runner_base(void)
{
    return rn.base;
}

void runner_phase(const char *phase)
{
    rn.phase = phase;
}

const char *runner_phase_name(void)
{
    return rn.phase ? rn.phase : "setup";
}

void runner_finish(void)
{
    if (rn.finished)
        return;
    rn.finished = true;
    RUN.t_end_us = now_us();
    event_base_loopbreak(rn.base);
}

static void on_one_shot(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    one_shot *t = arg;
    if (!rn.finished)
        t->fn(t->arg);
}

struct event *runner_after(double seconds, void (*fn)(void *arg), void *arg)
{
    if (rn.n_timers == MAX_TIMERS)
        return NULL;
    one_shot *t = &rn.timers[rn.n_timers++];
    t->fn = fn;
    t->arg = arg;
    t->ev = evtimer_new(rn.base, on_one_shot, t);
    if (!t->ev)
        return NULL;
    if (seconds < 0)
        seconds = 0;
    struct timeval tv = { (time_t)seconds,
                          (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6) };
    evtimer_add(t->ev, &tv);
    return t->ev;
}

long runner_fit_fds(long wanted, long reserve)
{
    RUN.fd_needed = wanted + reserve;
    if (RUN.fds.soft > 0 && wanted + reserve > RUN.fds.soft) {
        long fit = RUN.fds.soft - reserve;
        RUN.fd_limited = true;
        fprintf(
            stderr,
            "switchboard-bench: the file descriptor limit is %ld (hard %ld); this run needs %ld, "
            "so it uses %ld connections instead of %ld. Raise the hard limit (as root: "
            "prlimit --nofile=N:N, or ulimit -Hn N) for more.\n",
            RUN.fds.soft, RUN.fds.hard, wanted + reserve, fit, wanted);
        return fit > 0 ? fit : 0;
    }
    return wanted;
}

/* ---- loop events --------------------------------------------------------- */

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    char text[256] = "";
    if (rn.mode->progress)
        rn.mode->progress(text, sizeof(text));
    progress_print(text, false);
}

static void abort_run(bool interrupted)
{
    if (rn.finished)
        return;
    RUN.timed_out = true;
    RUN.interrupted = interrupted;
    RUN.timeout_phase = runner_phase_name();
    if (rn.mode->on_abort)
        rn.mode->on_abort();
    runner_finish();
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    abort_run(false);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    abort_run(true);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    rn.mode->start();
}

/* ---- setup ------------------------------------------------------------------- */

/* GET /readyz on every target, retrying for a while: a script may start
 * the bench right after the nodes. */
static int wait_targets_ready(const bench_opts *o)
{
    for (int i = 0; i < o->n_targets; i++) {
        httpc c;
        char body[256], err[256] = "";
        int status = -1;
        httpc_init(&c, o->targets[i].host, o->targets[i].port);
        for (uint64_t deadline = now_us() + READY_WAIT_S * 1000000ull; now_us() < deadline;) {
            status =
                httpc_request(&c, "GET", "/readyz", NULL, body, sizeof(body), err, sizeof(err));
            if (status == 200)
                break;
            httpc_close(&c);
            usleep(100000);
        }
        httpc_close(&c);
        if (status != 200) {
            fprintf(stderr, "switchboard-bench: target %s:%d is not ready (%s)\n",
                    o->targets[i].host, o->targets[i].port, status < 0 ? err : "503 or other");
            return -1;
        }
    }
    return 0;
}

/* A timerfd-backed loop: epoll's millisecond timeouts would make the
 * senders' schedule late by ~1 ms on average. */
static struct event_base *new_precise_base(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base ? base : event_base_new();
}

static int start_loop(const bench_opts *o)
{
    rn.base = new_precise_base();
    if (!rn.base || wsconn_init(rn.base, o, fleet_conn_handlers()) != 0)
        return -1;
    rn.progress = event_new(rn.base, -1, EV_PERSIST, on_progress, NULL);
    rn.deadline = evtimer_new(rn.base, on_deadline, NULL);
    rn.sigint = evsignal_new(rn.base, SIGINT, on_signal, NULL);
    rn.sigterm = evsignal_new(rn.base, SIGTERM, on_signal, NULL);
    if (!rn.progress || !rn.deadline || !rn.sigint || !rn.sigterm)
        return -1;
    struct timeval period = { 0, PROGRESS_PERIOD_MS * 1000 };
    struct timeval cap = { (time_t)o->max_time, 0 };
    event_add(rn.progress, &period);
    evtimer_add(rn.deadline, &cap);
    evsignal_add(rn.sigint, NULL);
    evsignal_add(rn.sigterm, NULL);
    return event_base_once(rn.base, -1, EV_TIMEOUT, on_start, NULL, NULL);
}

static void stop_loop(void)
{
    fleet_stop();
    wsconn_shutdown();
    if (rn.mode && rn.mode->cleanup)
        rn.mode->cleanup();
    struct event **evs[] = { &rn.progress, &rn.deadline, &rn.sigint, &rn.sigterm };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (*evs[i])
            event_free(*evs[i]);
        *evs[i] = NULL;
    }
    for (int i = 0; i < rn.n_timers; i++)
        if (rn.timers[i].ev)
            event_free(rn.timers[i].ev);
    rn.n_timers = 0;
    if (rn.base)
        event_base_free(rn.base);
    rn.base = NULL;
}

int runner_run(const bench_opts *o, const bench_mode_ops *mode)
{
    memset(&rn, 0, sizeof(rn));
    rn.mode = mode;
    RUN.opts = o;
    fd_limit_raise(&RUN.fds);
    signal(SIGPIPE, SIG_IGN);
    rng_seed(o->seed);
    msg_init();
    RUN.t_start_us = now_us();
    RUN.cpu_start_s = self_cpu_seconds();
    if (wait_targets_ready(o) != 0)
        return 2;
    int rc = mode->prepare(o);
    if (rc != 0) {
        if (mode->cleanup)
            mode->cleanup();
        fleet_free();
        return rc;
    }
    if (start_loop(o) != 0) {
        fprintf(stderr, "switchboard-bench: cannot start the event loop\n");
        stop_loop();
        fleet_free();
        return 1;
    }
    event_base_dispatch(rn.base);
    if (!rn.finished)
        RUN.t_end_us = now_us();
    cpu_window_end();
    char text[256] = "";
    if (mode->progress)
        mode->progress(text, sizeof(text));
    progress_print(text, true);
    rc = mode->report(o->json ? stderr : stdout, o->json ? stdout : NULL);
    fflush(stdout);
    stop_loop();
    fleet_free();
    return rc;
}
