/*
 * wsconn.h - WebSocket client connections on one libwebsockets context.
 *
 * The context runs on the caller's libevent event_base as a foreign loop,
 * like the node does, so every connection, timer and the progress line
 * share one thread. A mode owns its bench_conn structs (lws is told to use
 * them as the per-connection user data, so it never allocates or frees
 * them) and gets four callbacks: open, message (reassembled, whole),
 * writeable and closed. Exactly one `closed` call ends every open attempt,
 * whether it failed to connect or was open.
 */
#ifndef BENCH_WSCONN_H
#define BENCH_WSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

struct event_base;
struct lws;

/* Bytes a caller leaves free in front of a payload given to wsconn_write
 * (libwebsockets writes the frame header there); at least LWS_PRE. */
#define WSCONN_PRE 32

typedef enum { CONN_IDLE, CONN_CONNECTING, CONN_OPEN, CONN_CLOSED } conn_state;

typedef struct bench_conn {
    struct lws *wsi;
    conn_state state;
    int target;
    uint64_t t_start_us; /* wsconn_open was called */
    uint64_t t_open_us;  /* the WebSocket handshake completed */
    int close_code;      /* from the server's close frame, 0 if none */
    bool close_requested;
    char *rx;
    size_t rx_len, rx_cap;
    void *owner; /* the mode's own record */
} bench_conn;

typedef struct {
    void (*on_open)(bench_conn *c);
    /* A whole text message; buf may be modified but not kept. */
    void (*on_message)(bench_conn *c, char *buf, size_t len);
    void (*on_writeable)(bench_conn *c);
    /* was_open: the handshake had completed. why: a short reason. */
    void (*on_closed)(bench_conn *c, bool was_open, const char *why);
} conn_handlers;

typedef struct {
    uint64_t attempts, opened, failed, closed;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t rx_dropped; /* messages lost to a failed allocation */
} conn_stats;

extern conn_stats wsconn_stats;

int wsconn_init(struct event_base *base, const bench_opts *o, const conn_handlers *h);
void wsconn_shutdown(void);

/* Start a connection to target index `target`, path "/ws/<room_id>", with
 * ?resume=<resume_token> when that is not NULL. Its source address rotates
 * over --source-ips. On an immediate failure the on_closed callback has
 * already run when this returns -1. */
int wsconn_open(bench_conn *c, int target, const char *room_id, const char *resume_token);

/* Ask for an on_writeable call. */
void wsconn_want_write(bench_conn *c);
/* Write one text message; payload has WSCONN_PRE free bytes in front and
 * is modified (masked) in place. Only from on_writeable. -1 on error. */
int wsconn_write(bench_conn *c, unsigned char *payload, size_t len);
/* True when the socket would not take more now. */
bool wsconn_choked(bench_conn *c);
/* Close with 1000 at the next writeable moment. */
void wsconn_close(bench_conn *c);

#endif
