/*
 * httpc.h - a small blocking HTTP/1.1 client for setting up a run.
 *
 * Creating rooms and checking that targets are ready is setup, not the
 * measured path, so it uses plain blocking sockets with timeouts. One
 * connection per target is kept alive across requests.
 */
#ifndef BENCH_HTTPC_H
#define BENCH_HTTPC_H

#include <stddef.h>

typedef struct {
    char host[64];
    int port;
    int fd;
} httpc;

void httpc_init(httpc *c, const char *host, int port);
void httpc_close(httpc *c);

/* Send one request (body may be NULL) and read the answer into body_out
 * (NUL-terminated, truncated to cap). Returns the status code, or -1 on a
 * network error (err says which). Retries once on a fresh connection when
 * a kept-alive one turns out closed. */
int httpc_request(httpc *c, const char *method, const char *path, const char *body, char *body_out,
                  size_t cap, char *err, size_t errlen);

/* POST /create-room; fills room_id (37 bytes). 0 on success. */
int httpc_create_room(httpc *c, char room_id[37], char *err, size_t errlen);

#endif
