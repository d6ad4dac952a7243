/*
 * wsclient.h - a minimal blocking WebSocket client (RFC 6455) for the
 * integration tests.
 *
 * It behaves like a browser's plain `new WebSocket(url)`: no
 * Sec-WebSocket-Protocol header, masked client frames, and it checks the
 * server's 101 answer and Sec-WebSocket-Accept. Beyond that it can do what
 * a browser will not, to test the server's refusals: binary frames,
 * fragmented messages, oversized messages, and vanishing without a close
 * frame. Receiving is bounded by a timeout; server pings are answered with
 * pongs automatically; a close frame is reported with its code.
 */
#ifndef SB_IT_WSCLIENT_H
#define SB_IT_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xA

typedef enum {
    WS_TEXT,        /* a complete text message */
    WS_BINARY,      /* a complete binary message */
    WS_CLOSED,      /* a close frame arrived; see close_code */
    WS_EOF,         /* the TCP connection ended without a close frame */
    WS_TIMEOUT,     /* nothing complete within the timeout */
    WS_ERROR        /* protocol or socket error */
} ws_event;

typedef struct ws_client {
    int fd;
    unsigned char *buf;     /* bytes received, not yet parsed */
    size_t len, cap;
    unsigned char *msg;     /* message being reassembled from fragments */
    size_t msg_len, msg_cap;
    int msg_op;             /* opcode of the message being reassembled, -1 none */
    int close_code;         /* code of the received close frame, -1 none, 1005 when empty */
    bool closed;            /* close frame or EOF seen */
    int pings_answered;
    char user_id[64];       /* filled by h_join */
    char room_id[64];
    char node_id[64];       /* node named in "connected" (h_join) */
    struct ws_client *next_open;  /* registry of open clients (for teardown) */
} ws_client;

/*
 * Connect to 127.0.0.1:port and upgrade `path` (e.g. "/ws/<room>"). With
 * rcvbuf > 0, SO_RCVBUF is set to it before connecting (a slow reader).
 * Returns the client, or NULL with a reason in err.
 */
ws_client *ws_connect(int port, const char *path, int rcvbuf, int timeout_ms,
                      char *err, size_t errlen);

/* Send a close frame (code 1000), shut the socket, free. NULL is fine. */
void ws_close(ws_client *c);
/* Close the TCP connection without a close frame (a vanished client), free. */
void ws_drop(ws_client *c);
/* Free every client still open (harness teardown). */
void ws_drop_all(void);

/* Send one frame (client frames are always masked). 0 on success. */
int ws_send_frame(ws_client *c, bool fin, int opcode, const void *data, size_t len);

/* A frame as the test wants it, rules broken included. */
typedef struct {
    bool fin;
    int opcode;
    unsigned rsv;  /* RSV1..3 as bits 2..0: RSV1 = 4, RSV2 = 2, RSV3 = 1 */
    bool unmasked; /* a client must mask every frame; this one does not */
} ws_frame_opts;

#define WS_FRAME_MAX_HEADER 14
/* Encode one frame into out (at least len + WS_FRAME_MAX_HEADER bytes);
 * returns its size, 0 when cap is too small. Frames encoded one after the
 * other and sent with one ws_send_raw reach the server together. */
size_t ws_frame_encode(unsigned char *out, size_t cap, const ws_frame_opts *o, const void *data,
                       size_t len);
int ws_send_frame_opts(ws_client *c, const ws_frame_opts *o, const void *data, size_t len);
/* Write bytes as they are (frames from ws_frame_encode). 0 on success. */
int ws_send_raw(ws_client *c, const void *bytes, size_t len);

/*
 * Send `request` (a whole HTTP request head) on a new connection to
 * 127.0.0.1:port and read the answer's head into head[cap]. Returns the
 * status, 0 when the server closed without answering, -1 on timeout or
 * error.
 */
int ws_raw_handshake(int port, const char *request, int timeout_ms, char *head, size_t cap);
int ws_send_text(ws_client *c, const char *text);
int ws_send_textn(ws_client *c, const char *text, size_t len);
int ws_send_json(ws_client *c, const json_t *j);
int ws_send_binary(ws_client *c, const void *data, size_t len);
/* One text message split into frames of at most `chunk` bytes. */
int ws_send_fragmented(ws_client *c, const char *text, size_t len, size_t chunk);

/*
 * Wait up to timeout_ms for the next complete message. For WS_TEXT and
 * WS_BINARY, *data (NUL-terminated, caller frees) and *len are set.
 */
ws_event ws_recv(ws_client *c, int timeout_ms, char **data, size_t *len);

/* Next message parsed as JSON; NULL on timeout, close, or a message that
 * is not JSON (reason in the optional `why`, static text). */
json_t *ws_recv_json(ws_client *c, int timeout_ms, const char **why);

/* Read messages until one whose "type" is `type` arrives (others are
 * discarded) or timeout_ms pass; NULL when none did. */
json_t *ws_expect_type(ws_client *c, const char *type, int timeout_ms);

/* True when no message arrives for `ms` (pings are still answered). When a
 * message does arrive, false, and *got (if non-NULL) holds its text. */
bool ws_expect_silence(ws_client *c, int ms, char **got);

/* Read (discarding messages) until a close frame or EOF, up to timeout_ms.
 * Returns the close code, 1006 for EOF without a close frame, -1 on
 * timeout. */
int ws_wait_close(ws_client *c, int timeout_ms);

const char *ws_event_name(ws_event e);

#endif
