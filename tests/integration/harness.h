/*
 * harness.h - real processes for the integration tests.
 *
 * Every test runs in its own process (criterion forks one per test) and
 * gets its own redis-server and switchboard nodes on free loopback ports,
 * so tests can run in parallel without sharing anything. This file starts
 * and stops those processes (fork/exec, readiness polling, bounded waits,
 * SIGTERM then SIGKILL of exactly the pids it started), keeps their output
 * in a per-test directory (printed by the runner when a test fails), talks
 * raw RESP to Redis for checks the REST API cannot make, and offers small
 * helpers the test files share (clocks, id and timestamp format checks,
 * joining a room over a WebSocket).
 *
 * Usage: give a test `.init = h_setup_redis` (Redis only; the test starts
 * its nodes with its own flags), `h_setup_one` (Redis + node-a) or
 * `h_setup_two` (Redis + node-a + node-b), or `h_setup_none` (only the
 * per-test directory), and always `.fini = h_teardown`. IT_TEST() does
 * that for you. HAProxy in front of the nodes, external commands and
 * cleanup guards are in the last section.
 *
 * The implementation is split by concern (see harness_internal.h):
 * harness_run.c, harness_proc.c, harness_redis.c, harness_tools.c and
 * harness_check.c.
 */
#ifndef SB_IT_HARNESS_H
#define SB_IT_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "httpclient.h"
#include "wsclient.h"

#ifndef SB_NODE_BIN
#error "SB_NODE_BIN must be defined to the path of the switchboard binary"
#endif

/* Per-test time limit in seconds (criterion kills the test process after
 * it; the started servers die with it through PR_SET_PDEATHSIG). Keep
 * one limit for every test: with one test at a longer limit running in
 * parallel, criterion 2.4's runner itself leaked 48 bytes at exit and
 * LeakSanitizer failed the Asan run. */
#define IT_TIMEOUT 120

/*
 * IT_TEST(suite, name, setup) { body }: a criterion test whose body is
 * followed by h_finish(), so a node that crashed during the test, does not
 * stop cleanly on SIGTERM, or printed a sanitizer report fails the test
 * itself (criterion cannot fail a test from .fini).
 */
#define IT_TEST(suite, name, setup) \
    static void it_body_##suite##_##name(void); \
    Test(suite, name, .init = setup, .fini = h_teardown, .timeout = IT_TIMEOUT) \
    { \
        it_body_##suite##_##name(); \
        h_finish(); \
    } \
    static void it_body_##suite##_##name(void)

/* Generous bounds: nodes run much slower under ASan. */
#define H_READY_TIMEOUT_MS 15000 /* node or redis becoming ready */
#define H_STOP_TIMEOUT_MS 10000  /* SIGTERM to exit before SIGKILL */
#define H_MSG_TIMEOUT_MS 5000    /* a message that must arrive */
#define H_SILENCE_MS 400         /* "nothing else arrives" windows */

#define H_MAX_NODES 4

/* ---- setups for .init / .fini ---- */
void h_setup_none(void);
void h_setup_redis(void);
void h_setup_one(void);
void h_setup_two(void);
void h_teardown(void);
/* End of a passing test body: close clients, assert every node still
 * running is alive, stop it with SIGTERM and assert it exits with status 0
 * within H_STOP_TIMEOUT_MS, and assert no node printed a sanitizer
 * report. */
void h_finish(void);
/* The whole of a file as a string (free it); the test fails if it cannot
 * be read. */
char *h_read_file(const char *path);

/* ---- processes ---- */
/* A loopback port reserved for this test (see harness_ports.c). */
int h_free_port(void);
/* True when the TCP socket listening on port belongs to process pid. */
bool h_port_listener_is(int port, pid_t pid);
const char *h_test_dir(void);

int h_redis_port(void);
/* SIGTERM redis and wait for it to exit (bounded). */
void h_redis_stop(void);
/* Start redis again on the same port it had (empty). */
void h_redis_restart(void);

/* Start a node with the standard flags plus extra ones (NULL-terminated
 * list of argv strings), wait until GET /readyz answers 200. Fails the
 * test (with the node's output) if it does not. Returns the node index. */
int h_node_start(const char *node_id, ...) __attribute__((sentinel));
/* Run the next node started with RLIMIT_NOFILE n (soft and hard, so the
 * node cannot raise it). */
void h_node_next_fd_limit(int n);
int h_node_port(int idx);
const char *h_node_id(int idx);
pid_t h_node_pid(int idx);
/* User + system CPU time of a process so far, in ms (/proc/<pid>/stat). */
long long h_cpu_ms(pid_t pid);
/* Send a signal to a node. */
void h_node_signal(int idx, int sig);
/* Wait up to timeout_ms for the node to exit; returns true and fills
 * *status (waitpid status) when it did. */
bool h_node_wait_exit(int idx, int timeout_ms, int *status);
/* Print a node's output so far to stderr (for diagnostics). */
void h_node_dump_log(int idx);
/* Path of the file holding a node's stdout and stderr. */
const char *h_node_log(int idx);

/* ---- raw Redis ---- */
typedef struct {
    char type;         /* '+', '-', ':', '$', '*', or 0 on I/O error */
    long long integer; /* ':' */
    char *str;         /* '+', '-', '$' (NULL for a nil bulk) */
    size_t len;
    size_t n;     /* '*': number of elements (-1 nil array gives 0) */
    char **elems; /* '*': elements as strings (NULL for nil); nested arrays
                           are flattened into it */
} h_redis_reply;

/* Send one command (NULL-terminated arguments) to the test's Redis and
 * read one reply. Returns 0 on success. Free with h_redis_reply_free. */
int h_redis_cmd(h_redis_reply *out, const char *arg0, ...) __attribute__((sentinel));
void h_redis_reply_free(h_redis_reply *r);
/* Integer reply of a command, or LLONG_MIN when the reply is not one. */
long long h_redis_int(const char *arg0, ...) __attribute__((sentinel));
/* Many commands on one connection, written at once and then answered:
 * zero-initialise, add commands, run. Run frees the batch and returns the
 * number of error replies, or -1 when the replies did not all come within
 * timeout_ms. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t n; /* commands added */
} h_redis_batch;
void h_redis_batch_add(h_redis_batch *b, const char *arg0, ...) __attribute__((sentinel));
int h_redis_batch_run(h_redis_batch *b, int timeout_ms);
/* Cut every node's subscriber link and keep it down: the default user is
 * turned off (the harness keeps a user of its own, "harness") and every
 * pub/sub client killed, so reconnects are refused. The command links,
 * already logged in, stay. h_redis_links_restore turns the default user
 * on again. Each returns 0 on success. */
int h_redis_subscribers_cut(void);
int h_redis_links_restore(void);
/* As h_redis_batch_run, but logged in as the harness's own user, which
 * works while h_redis_subscribers_cut holds. */
int h_redis_batch_run_as_harness(h_redis_batch *b, int timeout_ms);

/* ---- time ---- */
long long h_now_ms(void);
void h_sleep_ms(int ms);

/* ---- format checks ---- */
/* Canonical lowercase UUID version 4. */
bool h_is_uuid4(const char *s);
/* "YYYY-MM-DDTHH:MM:SS[.fff...]Z": returns milliseconds since the epoch,
 * or -1 when the text does not have that shape. */
long long h_parse_iso8601_utc(const char *s);

/* ---- JSON ---- */
/* obj[key] as a string, or NULL when missing or not a string. */
const char *h_jstr(const json_t *obj, const char *key);
/* strcmp that is false (not a crash) when either side is NULL. */
bool h_streq(const char *a, const char *b);
/* True when obj is {"type":"error","message":<text>}. */
bool h_is_error(const json_t *obj, const char *text);
/* True when obj["type"] is the string `type`. */
bool h_type_is(const json_t *obj, const char *type);
/* Parse text; NULL on error. */
json_t *h_json_parse(const char *text, size_t len);
/* Compact text of a JSON value for messages (static buffer, truncated). */
const char *h_jdump(const json_t *j);

/* ---- REST shortcuts (fail the test on transport errors) ---- */
/* One request; `headers` NULL-terminated "Name: value" list or NULL;
 * `body` NULL for none. Free the answer with http_resp_free. */
http_resp h_http(int port, const char *method, const char *path, const char *const *headers,
                 const char *body);
/* Assert r has `status` and a JSON body {"detail": <non-empty string>},
 * equal to `detail` when that is non-NULL. */
void h_expect_detail(const http_resp *r, int status, const char *detail, const char *what);
/* A fresh random uuid4 (never a created room). */
void h_random_uuid4(char out[37]);

/* POST /create-room with `body` (NULL: no body); returns the new room id
 * (static storage overwritten by the next call, copy it) after asserting
 * a 200 answer. */
const char *h_create_room(int port, const char *body);
/* Copy of the created room id into out[37]. */
void h_create_room_into(int port, const char *body, char out[37]);
/* GET /rooms/<id>: returns the parsed body when 200, NULL when 404; any
 * other status fails the test. Caller decrefs. */
json_t *h_get_room(int port, const char *room_id);
/* participant_count of a room, or -1 when it is not found. */
int h_room_count(int port, const char *room_id);
/* Poll h_room_count until it equals `want`, up to timeout_ms. Returns the
 * last count seen. */
int h_wait_room_count(int port, const char *room_id, int want, int timeout_ms);
/* The value of the /metrics sample `name` (with its trailing space, or its
 * labels) on the port, -1 when the node does not show it. */
long long h_metric(int port, const char *name);
/* The most a TCP socket may buffer for sending (tcp_wmem's maximum, 4 MiB
 * when unreadable): sending twice that to a client that does not read is
 * sure to leave frames in the node's own queue. */
long h_tcp_wmem_max(void);
/* Poll GET `path` (every 100 ms) until it answers `want`, up to
 * timeout_ms. Returns the last status seen (0: no answer at all). */
int h_wait_http_status(int port, const char *path, int want, int timeout_ms);

/* ---- WebSocket shortcuts ---- */
/* Open /ws/<room_id> on the port, read the first message, assert it is a
 * well-formed "connected" for that room and remember the user id in
 * c->user_id and the node it names in c->node_id. If `participants` is
 * non-NULL it receives a new reference to the "participants" array. */
ws_client *h_join(int port, const char *room_id, json_t **participants);
/* Like h_join, but returns NULL (reason in err) instead of failing when
 * the upgrade is refused or no first message arrives - for clients that
 * retry, e.g. through HAProxy while a node goes away. A first message
 * that arrives must still be a well-formed "connected". */
ws_client *h_join_try(int port, const char *room_id, char *err, size_t errlen);
/* The common start of a test: a new room (created on port_a), client *a
 * joined through port_a, then *b through port_b, and a told that b joined. */
void h_room_of_two(int port_a, int port_b, char room[37], ws_client **a, ws_client **b);
/* Read until an error message arrives (skipping nothing: the next message
 * must be it) and assert its text. */
void h_expect_error(ws_client *c, const char *text);
/* Next message must be of `type` about `user_id` (user-joined/user-left). */
void h_expect_user_event(ws_client *c, const char *type, const char *user_id, const char *room_id);
/* Assert nothing arrives for `ms`. */
void h_expect_silence(ws_client *c, int ms);
/* Send {"type":"ping"} and assert the next message is {"type":"pong"}. */
void h_ping_pong(ws_client *c);
/* Send a printf-formatted text message; fails the test if it cannot. */
void h_sendf(ws_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next message, which must arrive within H_MSG_TIMEOUT_MS and be JSON.
 * Caller decrefs. */
json_t *h_recv(ws_client *c, const char *what);
/* The next message must be a relayed message: `type`, the room, sender_id
 * `from`, "data" equal to the JSON text `data` (NULL: not checked), and
 * "to" equal to `to` (NULL: must be absent). */
void h_expect_relay(ws_client *c, const char *type, const ws_client *from, const char *data,
                    const char *to);
/* The next message must be {"type":"chat","text":text} relayed from the
 * user id `sender`. */
void h_expect_chat(ws_client *c, const char *sender, const char *text);

/* ---- HAProxy, external commands, guards (harness_tools.c) ---- */
#define H_HAPROXY_BIN "/usr/sbin/haproxy"
/* Root of the source tree (scripts/, docker-compose.yml). */
const char *h_repo_root(void);
/* Full path of an executable found in PATH into buf, or NULL. */
const char *h_which(const char *name, char *buf, size_t n);
/* First of n consecutive loopback ports that are free now. */
int h_free_port_range(int n);
/* Write HAProxy's config with `scripts/haproxy-config.sh loopback
 * 127.0.0.1:<port> <node ports...>` for every node started so far, start
 * `haproxy -f <cfg> -db` as a child and wait until GET /readyz through it
 * answers 200. Returns its port; teardown stops it. */
int h_haproxy_start(void);
/* The same with HAProxy also serving HTTPS with the PEM file pem
 * (certificate and key) on *tls_port, which net_set_tls then verifies
 * against ca. redirect: the plain port answers 301 to HTTPS. */
int h_haproxy_start_tls(const char *pem, const char *ca, bool redirect, int *tls_port);
int h_haproxy_port(void);
/* Run argv (argv[0] a path, or a name looked up in PATH) to completion in
 * its own process group, with `env` ("NAME=value", NULL-terminated, or
 * NULL) added to ours, stdout to out_path (NULL: with stderr) and stderr
 * appended to <test dir>/<log_name>. Past timeout_ms the group is killed
 * and the test fails. Returns the waitpid status. */
int h_run(const char *const argv[], const char *const env[], const char *out_path,
          const char *log_name, int timeout_ms);
/* Run argv (a path) with env when this test process ends, however it
 * ends: at h_finish/h_teardown, or after a crash or criterion's timeout
 * killed it. For cleaning up processes a script daemonized. Output goes
 * to <test dir>/<log_name>. */
void h_guard(const char *const argv[], const char *const env[], const char *log_name);

#endif
