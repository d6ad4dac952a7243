/*
 * msg.h - the messages the generator sends and how it reads what arrives.
 *
 * Sent: WebRTC signaling as a browser would send it — offers and answers
 * carrying a ~4 KiB SDP, ICE candidates of ~200 bytes — each with a stamp
 * in `data`: "bench":"<sender>-<seq>-<send time us>" in fixed-width
 * decimal. The node relays `data` untouched, so the stamp comes back as
 * it was sent.
 *
 * Received: a relayed message is recognised by its stamp without parsing
 * the JSON (the generator must stay cheap next to the node it measures);
 * everything else the server sends (connected, user-joined, errors, ...)
 * is rare and parsed with jansson.
 */
#ifndef BENCH_MSG_H
#define BENCH_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define USER_ID_LEN 36
/* Room for the largest message msg_build writes. */
#define MSG_MAX 6144

typedef enum { SIG_OFFER, SIG_ANSWER, SIG_ICE } sig_kind;

typedef struct {
    uint32_t sender;  /* the generator's participant index */
    uint32_t seq;     /* per sender, from 1 */
    uint64_t sent_us; /* now_us() when written */
} msg_stamp;

/* Build the signaling messages' templates; call once. */
void msg_init(void);

/* Write a message of `kind` (to may be NULL: broadcast) into buf;
 * returns its length (at most MSG_MAX). */
size_t msg_build(char *buf, sig_kind kind, const char *to, const msg_stamp *stamp);

/* True when buf holds a stamped (relayed) message; fills *out. */
bool msg_find_stamp(const char *buf, size_t len, msg_stamp *out);

/* True when the relayed message names sender_id as its sender. */
bool msg_has_sender(const char *buf, size_t len, const char *sender_id);

typedef enum {
    CTL_CONNECTED,
    CTL_USER_JOINED,
    CTL_USER_LEFT,
    CTL_ERROR,
    CTL_PONG,
    CTL_ROOM_CLOSED,
    CTL_RECONNECT,
    CTL_OTHER,
    CTL_INVALID
} ctl_type;

typedef struct {
    ctl_type type;
    json_t *root;
    const char *user_id;      /* connected, user-joined, user-left */
    const char *node_id;      /* connected */
    json_t *participants;     /* connected: array of user ids */
    const char *message;      /* error */
    const char *resume_token; /* connected */
    bool resumed, missed;     /* connected */
} ctl_msg;

/* Parse a server message that carries no stamp. Release with msg_ctl_clear. */
void msg_parse_ctl(const char *buf, size_t len, ctl_msg *out);
void msg_ctl_clear(ctl_msg *m);

#endif
