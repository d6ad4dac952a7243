/*
 * frame.h - an outgoing WebSocket message, serialized once and shared.
 *
 * A message that goes to many participants is built into one buffer and
 * every recipient's queue holds a reference to it; the buffer is freed when
 * the last recipient has written it. The payload starts LWS_PRE bytes into
 * the buffer because lws_write() writes the frame header in front of it;
 * writes happen one at a time on the single loop, and lws copies whatever
 * it cannot send at once, so sharing the bytes is safe.
 */
#ifndef SB_FRAME_H
#define SB_FRAME_H

#include <stddef.h>

#include <libwebsockets.h>

#include "protocol.h"

typedef struct sb_frame {
    unsigned refs;
    size_t len; /* payload bytes */
    char *buf;  /* LWS_PRE bytes of headroom, then the payload */
} sb_frame;

/* Take ownership of `buf` (from an sb_protocol_build_* call with LWS_PRE
 * headroom). Returns a frame with one reference, or NULL (buf is freed). */
sb_frame *frame_adopt(char *buf, size_t len);
/* Copy `len` payload bytes into a new frame with one reference. */
sb_frame *frame_copy(const char *data, size_t len);

static inline char *frame_payload(sb_frame *f)
{
    return f->buf + LWS_PRE;
}
/* The server's own messages, built straight into frames (NULL when memory
 * runs out; every frame function accepts NULL). */
sb_frame *frame_error(const char *message);
sb_frame *frame_bare(const char *type);
sb_frame *frame_user_event(const char *type, const char *user_id, const char *room_id);

/* The envelope carrying f's payload to other nodes (see protocol.h), from
 * node `origin`; free() it. NULL when memory runs out. */
char *frame_envelope(const sb_frame *f, const char *origin, sb_env_event event, const char *subject,
                     size_t *len);
/* The envelope of a membership event of user_id: its `user-joined` (JOIN,
 * REJOIN) or `user-left` (LEAVE) message, with user_id as the subject. */
char *frame_member_envelope(const char *origin, sb_env_event event, const char *user_id,
                            const char *room_id, size_t *len);
/* The same with the members of `profile` (NULL: none) in the message: with
 * auth on, user-joined shows the identity, name and metadata. */
char *frame_joined_envelope(const char *origin, sb_env_event event, const char *user_id,
                            const char *room_id, const json_t *profile, size_t *len);

/* A participant as `connected` lists it with auth on: {"user_id"} plus the
 * identity, name and metadata of the member value `stored` (len bytes,
 * NULL: none) that Redis keeps (docs/design.md#access-control). */
json_t *frame_participant(const char *user_id, const char *stored, size_t len);

/* The most a server frame's header takes (RFC 6455 5.2: 2 bytes, a 64-bit
 * length, no mask). */
#define FRAME_HEADER_MAX 10
/* Write f as a complete WebSocket text frame, header then payload, at out
 * (cap bytes): several frames written back to back go out in one send.
 * Returns the bytes written, or 0 when the frame does not fit. */
size_t frame_pack(const sb_frame *f, unsigned char *out, size_t cap);

void frame_ref(sb_frame *f);
void frame_unref(sb_frame *f);

#endif
