/*
 * metrics.h - counters for GET /metrics, in Prometheus text format.
 *
 * Owns: one process-wide set of counters and gauges, bumped on the hot
 * path with a plain increment (one thread, so no atomics), and the
 * rendering of them as Prometheus exposition text.
 */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t connections_total; /* WebSockets accepted */
    uint64_t messages_received; /* complete client messages */
    uint64_t messages_sent;     /* frames written to clients */
    uint64_t ws_writes;         /* writes that carried them (several frames can share one) */
    uint64_t relay_published;   /* envelopes published to other nodes */
    uint64_t relay_received;    /* envelopes from other nodes delivered here */
    uint64_t redis_reconnects;
    uint64_t http_requests;
    uint64_t members_reaped;  /* members of dead nodes removed (or held) by this node */
    uint64_t members_held;    /* participants held for a resume by this node */
    uint64_t resumes;         /* participants resumed on this node */
    uint64_t overload_pauses; /* times client input was paused (node/overload.h) */
} sb_metrics;

extern sb_metrics metrics;

/* Refusals of the per-client limits, counted by these names. */
#define METRICS_HTTP_RATE_LIMITED "http_rate_limited"
#define METRICS_TOO_MANY_ROOMS "too_many_rooms"
#define METRICS_ORIGIN_REFUSED "origin_refused"
#define METRICS_CLIENT_CONNECTIONS "client_connections"

/* Count an error sent to a client, by its SB_ERR_* text, a slow reader
 * dropped (message "slow_reader"), or a refusal named above. */
void metrics_count_error(const char *message);
/* Record one Redis round trip. */
void metrics_observe_redis(double seconds);

/* Gauges whose truth lives in other modules. The caller of metrics_render
 * reads them, so this module depends on none of them. */
typedef struct {
    size_t connections; /* open WebSockets */
    size_t rooms_local; /* rooms with members on this node */
    bool redis_up;      /* both Redis connections are up */
    bool draining;      /* the node is shutting down */
    bool input_paused;  /* client input paused: a subscriber is behind */
} sb_gauges;

/* The exposition text; the caller frees it. NULL when memory runs out. */
char *metrics_render(const sb_gauges *gauges, size_t *len);

#endif
