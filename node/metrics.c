/*
 * metrics.c - Prometheus counters (see metrics.h).
 *
 * Gauges that other modules already know (connections, rooms, Redis
 * state, draining) are passed in at render time rather than tracked twice.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "protocol.h"

sb_metrics metrics;

static const struct {
    const char *message;
    const char *kind;
} error_kinds[] = {
    { SB_ERR_INVALID_JSON, "invalid_json" },
    { SB_ERR_NOT_OBJECT, "not_object" },
    { SB_ERR_BAD_TYPE, "bad_type" },
    { SB_ERR_RESERVED_TYPE, "reserved_type" },
    { SB_ERR_ROOM_MISMATCH, "room_mismatch" },
    { SB_ERR_BAD_TO, "bad_to" },
    { SB_ERR_UNKNOWN_TARGET, "unknown_target" },
    { SB_ERR_BINARY, "binary" },
    { SB_ERR_TOO_LARGE, "too_large" },
    { SB_ERR_RATE_LIMITED, "rate_limited" },
    { SB_ERR_ROOM_NOT_FOUND, "room_not_found" },
    { SB_ERR_ROOM_FULL, "room_full" },
    { SB_ERR_UNAVAILABLE, "unavailable" },
    { SB_ERR_UNAUTHORIZED, "unauthorized" },
    { SB_ERR_FORBIDDEN, "forbidden" },
    { SB_ERR_REPLACED, "replaced" },
    { "slow_reader", "slow_reader" },
    { METRICS_HTTP_RATE_LIMITED, METRICS_HTTP_RATE_LIMITED },
    { METRICS_TOO_MANY_ROOMS, METRICS_TOO_MANY_ROOMS },
    { METRICS_ORIGIN_REFUSED, METRICS_ORIGIN_REFUSED },
    { METRICS_CLIENT_CONNECTIONS, METRICS_CLIENT_CONNECTIONS },
};
#define N_ERROR_KINDS (sizeof(error_kinds) / sizeof(error_kinds[0]))
static uint64_t error_counts[N_ERROR_KINDS];

static const double latency_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};
#define N_BOUNDS (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
static uint64_t latency_buckets[N_BOUNDS]; /* non-cumulative; summed when rendered */
static uint64_t latency_count;
static double latency_sum;

void metrics_count_error(const char *message)
{
    for (size_t i = 0; i < N_ERROR_KINDS; i++) {
        if (strcmp(error_kinds[i].message, message) == 0) {
            error_counts[i]++;
            return;
        }
    }
}

void metrics_observe_redis(double seconds)
{
    for (size_t i = 0; i < N_BOUNDS; i++) {
        if (seconds <= latency_bounds[i]) {
            latency_buckets[i]++;
            break;
        }
    }
    latency_count++;
    latency_sum += seconds;
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *buf = realloc(t->buf, cap);
        if (!buf) {
            t->failed = true;
            return;
        }
        t->buf = buf;
        t->cap = cap;
    }
}

static void put_metric(text *t, const char *name, const char *type, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
        (unsigned long long)v);
}

char *metrics_render(const sb_gauges *g, size_t *len)
{
    text t = { malloc(4096), 0, 4096, false };
    if (!t.buf)
        return NULL;

    put_metric(&t, "switchboard_connections", "gauge", "Open WebSocket connections.",
               g->connections);
    put_metric(&t, "switchboard_connections_total", "counter", "WebSocket connections accepted.",
               metrics.connections_total);
    put_metric(&t, "switchboard_rooms_local", "gauge", "Rooms with members on this node.",
               g->rooms_local);
    put_metric(&t, "switchboard_messages_received_total", "counter",
               "Messages received from clients.", metrics.messages_received);
    put_metric(&t, "switchboard_messages_sent_total", "counter", "Messages written to clients.",
               metrics.messages_sent);
    put_metric(&t, "switchboard_ws_writes_total", "counter",
               "Writes to clients; the frames queued for one client go out in one.",
               metrics.ws_writes);
    put_metric(&t, "switchboard_relay_published_total", "counter",
               "Messages published for other nodes.", metrics.relay_published);
    put_metric(&t, "switchboard_relay_received_total", "counter",
               "Messages from other nodes delivered here.", metrics.relay_received);
    put_metric(&t, "switchboard_http_requests_total", "counter", "HTTP requests answered.",
               metrics.http_requests);
    put_metric(&t, "switchboard_members_reaped_total", "counter",
               "Members of dead nodes removed, or held for a resume, by this node.",
               metrics.members_reaped);
    put_metric(&t, "switchboard_members_held_total", "counter",
               "Participants whose socket was lost, held by this node for a resume.",
               metrics.members_held);
    put_metric(&t, "switchboard_resumes_total", "counter", "Participants resumed on this node.",
               metrics.resumes);
    put_metric(&t, "switchboard_redis_up", "gauge", "1 while both Redis connections are up.",
               g->redis_up ? 1 : 0);
    put_metric(&t, "switchboard_redis_reconnects_total", "counter", "Redis connections re-opened.",
               metrics.redis_reconnects);
    put_metric(&t, "switchboard_draining", "gauge", "1 while the node is shutting down.",
               g->draining ? 1 : 0);
    put_metric(&t, "switchboard_input_paused", "gauge",
               "1 while client input is paused because a subscriber is behind in Redis.",
               g->input_paused ? 1 : 0);
    put_metric(&t, "switchboard_overload_pauses_total", "counter",
               "Times client input was paused because a subscriber was behind in Redis.",
               metrics.overload_pauses);

    put(&t, "# HELP switchboard_errors_total Errors sent to clients, by kind.\n"
            "# TYPE switchboard_errors_total counter\n");
    for (size_t i = 0; i < N_ERROR_KINDS; i++)
        put(&t, "switchboard_errors_total{kind=\"%s\"} %llu\n", error_kinds[i].kind,
            (unsigned long long)error_counts[i]);

    put(&t, "# HELP switchboard_redis_latency_seconds Redis request round-trip time.\n"
            "# TYPE switchboard_redis_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cumulative += latency_buckets[i];
        put(&t, "switchboard_redis_latency_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds[i],
            (unsigned long long)cumulative);
    }
    put(&t,
        "switchboard_redis_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
        "switchboard_redis_latency_seconds_sum %.6f\n"
        "switchboard_redis_latency_seconds_count %llu\n",
        (unsigned long long)latency_count, latency_sum, (unsigned long long)latency_count);

    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
