/*
 * options.h - command line of switchboard-bench.
 *
 *   switchboard-bench relay|join|capacity [options]
 *   switchboard-bench ports N         print N free TCP ports on 127.0.0.1
 *
 * Every run is bounded: the mode's own length (duration, hold, count) and a
 * hard cap (--max-time) after which whatever is running is stopped and
 * reported as timed out.
 */
#ifndef BENCH_OPTIONS_H
#define BENCH_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define MAX_TARGETS 64
#define MAX_NODE_PIDS 64
#define MAX_SOURCE_IPS 250

typedef enum { MODE_RELAY, MODE_JOIN, MODE_CAPACITY, MODE_PORTS } bench_mode;

/* Where participant i of room r connects. */
typedef enum {
    PLACE_SPLIT, /* target (r + i) mod T: neighbours on different nodes */
    PLACE_ROOM   /* target r mod T: a whole room on one node */
} bench_placement;

typedef struct {
    char host[64];
    int port;
} bench_target;

typedef struct {
    bench_mode mode;
    const char *mode_name;

    bench_target targets[MAX_TARGETS];
    int n_targets;
    int source_ips;  /* 0: let the kernel choose; N: 127.0.0.2 .. 127.0.0.(N+1) */
    int concurrency; /* connection attempts in flight */
    bench_placement placement;

    /* relay */
    int rooms, participants;
    double rate;      /* messages/s per participant */
    int directed_pct; /* share of messages with "to" */
    int sdp_pct;      /* share of offers/answers (~4 KiB); the rest ICE (~200 B) */
    double duration, warmup, drain;

    /* join */
    int clients, room_size;

    /* capacity */
    int connections, min_room, max_room, sample_rooms;
    double hold;

    pid_t node_pids[MAX_NODE_PIDS];
    int n_node_pids;
    pid_t watch_pids[MAX_NODE_PIDS]; /* more processes to report CPU of (redis) */
    int n_watch_pids;

    double max_time; /* hard cap on the whole run, seconds */
    unsigned seed;
    bool json, quiet, require_clean;
    bool resume;         /* reconnect lost participants with their resume token */
    const char *cdf_out; /* latency CDFs for plotting, or NULL */
    int ports;           /* MODE_PORTS: how many */
} bench_opts;

/* 0 on success; on error prints to stderr and returns 2 (or 1 after
 * --help, which prints usage to stdout). */
int options_parse(bench_opts *o, int argc, char **argv);
void options_usage(FILE *out);

#endif
