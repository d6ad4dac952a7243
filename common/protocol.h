/*
 * protocol.h - the Switchboard WebSocket protocol as pure functions.
 *
 * Owns: parsing and validating what a client sends (docs/design.md#websocket), building
 * every message the server sends, and the envelope that carries a message
 * between nodes over Redis pub/sub (docs/design.md#envelope).
 *
 * Nothing here does I/O. Every builder returns one heap buffer that the
 * caller owns (free() it) whose payload starts `headroom` bytes in, so the
 * node can hand the same bytes to libwebsockets (which needs LWS_PRE bytes
 * in front of a frame) for every recipient without copying or
 * re-serializing.
 */
#ifndef SB_PROTOCOL_H
#define SB_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* Error texts sent to clients in {"type":"error","message":...}. They are
 * part of the interface: tests and clients match on them. */
#define SB_ERR_INVALID_JSON "Invalid JSON"
#define SB_ERR_NOT_OBJECT "Message must be a JSON object"
#define SB_ERR_BAD_TYPE "Message must have a string 'type'"
#define SB_ERR_RESERVED_TYPE "Message type is reserved for the server"
#define SB_ERR_ROOM_MISMATCH "room_id does not match this connection"
#define SB_ERR_BAD_TO "'to' must be a user id string"
#define SB_ERR_UNKNOWN_TARGET "Unknown target user"
#define SB_ERR_BINARY "Binary frames are not supported"
#define SB_ERR_TOO_LARGE "Message too large"
#define SB_ERR_RATE_LIMITED "Rate limit exceeded"
#define SB_ERR_ROOM_NOT_FOUND "Room not found"
#define SB_ERR_ROOM_FULL "Room is full"
#define SB_ERR_UNAVAILABLE "Service unavailable"
#define SB_ERR_UNAUTHORIZED "Unauthorized"
#define SB_ERR_FORBIDDEN "Forbidden"
#define SB_ERR_REPLACED "Replaced by a newer connection"

/* Close codes (RFC 6455 and the 4xxx application range). */
#define SB_CLOSE_NORMAL 1000
#define SB_CLOSE_POLICY 1008
#define SB_CLOSE_TOO_BIG 1009
#define SB_CLOSE_INTERNAL 1011
#define SB_CLOSE_RESTART 1012
#define SB_CLOSE_TRY_AGAIN 1013
#define SB_CLOSE_REPLACED 4001 /* same identity joined the room again */
#define SB_CLOSE_UNAUTHORIZED 4401
#define SB_CLOSE_FORBIDDEN 4403
#define SB_CLOSE_ROOM_NOT_FOUND 4404
#define SB_CLOSE_ROOM_FULL 4409

typedef enum {
    SB_MSG_RELAY, /* relay to the room (or to `to` only) */
    SB_MSG_PING   /* answer with pong, do not relay */
} sb_msg_kind;

/* Decoded `type` and `to` up to these lengths are kept inside the message;
 * longer ones (no user id or server type is) on the heap. */
#define SB_MSG_TYPE_INLINE 32
#define SB_MSG_TO_INLINE 48

/* A validated client message. `type` and `to` are NUL-terminated: from
 * sb_protocol_read_client they point into the struct itself (or the heap
 * it owns), so it must not be copied; from sb_protocol_parse_client they
 * point into `root`. */
typedef struct {
    sb_msg_kind kind;
    json_t *root; /* the document: sb_protocol_parse_client, or NULL */
    const char *type;
    const char *to;  /* NULL when the message is for the whole room */
    const char *raw; /* the bytes parsed (borrowed: valid while the caller's buffer is) */
    size_t raw_len;
    bool names_server_key; /* a top-level sender_id or room_id, in any spelling */
    char *heap[2];         /* a long type or to */
    char type_buf[SB_MSG_TYPE_INLINE];
    char to_buf[SB_MSG_TO_INLINE];
} sb_client_msg;

/* True when `type` is one the server sends and a client may not. */
int sb_protocol_type_is_reserved(const char *type);

/* Validate one text frame received on the connection to `room_id`, in
 * one pass and without a tree (common/json_scan.h): what the node does
 * with every message. Numbers jansson cannot hold (integers beyond 64
 * bits, reals beyond double range), strings containing \u0000, raw NUL
 * bytes and repeated keys count as invalid JSON. On success returns 0 and
 * fills *msg (release it with sb_client_msg_clear; root stays NULL but
 * for the rare text the scanner leaves to jansson). On refusal returns -1
 * and sets *error to one of the SB_ERR_* texts; *msg is left empty. */
int sb_protocol_read_client(const char *buf, size_t len, const char *room_id, sb_client_msg *msg,
                            const char **error);
/* The same verdict, with the document parsed into msg->root (for tests
 * and tools that want the values). */
int sb_protocol_parse_client(const char *buf, size_t len, const char *room_id, sb_client_msg *msg,
                             const char **error);
void sb_client_msg_clear(sb_client_msg *msg);

/* Serialize `json` compactly into a new buffer with `headroom` free bytes in
 * front. Returns NULL on allocation failure. *len is the payload length. */
char *sb_json_dump_headroom(const json_t *json, size_t headroom, size_t *len);

/* The relayed form of a client message: the client's object with
 * `sender_id` and `room_id` set by the server (overwriting whatever the
 * client put there); other fields, `to` included, pass through. It is
 * built from the client's own bytes (msg->raw), never re-serialized, so
 * numbers and escapes keep the client's spelling: the server's two keys
 * go in front, and any top-level member whose key names one of them (in
 * any spelling, "room\u005fid" too) is cut out. */
char *sb_protocol_build_relay(const sb_client_msg *msg, const char *room_id, const char *sender_id,
                              size_t headroom, size_t *len);

/* What `connected` says about resuming: the token for the next resume
 * (NULL: none), whether this connection resumed a held participant, and
 * whether messages of the gap were lost to the buffer's bound. */
typedef struct {
    const char *resume_token;
    bool resumed;
    bool missed;
} sb_connected_resume;

/* {"type":"connected","user_id","room_id","message":"Successfully connected
 * to room","participants":[...],"node_id"}, then "resume_token" and
 * "resumed" (and "missed": true) when `resume` is not NULL. */
char *sb_protocol_build_connected(const char *user_id, const char *room_id,
                                  const char *const *participants, size_t n_participants,
                                  const char *node_id, const sb_connected_resume *resume,
                                  size_t headroom, size_t *len);

/* The same with `participants` any JSON array (with auth on, objects
 * {"user_id","identity","name","metadata"}); it is not consumed. */
char *sb_protocol_build_connected_list(const char *user_id, const char *room_id,
                                       const json_t *participants, const char *node_id,
                                       const sb_connected_resume *resume, size_t headroom,
                                       size_t *len);

/* {"type":<"user-joined"|"user-left">,"user_id","room_id"} */
char *sb_protocol_build_user_event(const char *type, const char *user_id, const char *room_id,
                                   size_t headroom, size_t *len);
/* The same followed by the members of `profile` (an object, or NULL): with
 * auth on, user-joined carries {"identity","name","metadata"}. */
char *sb_protocol_build_member_event(const char *type, const char *user_id, const char *room_id,
                                     const json_t *profile, size_t headroom, size_t *len);

/* {"type":"error","message":...} */
char *sb_protocol_build_error(const char *message, size_t headroom, size_t *len);

/* {"type":<type>} for pong, reconnect and room-closed. */
char *sb_protocol_build_bare(const char *type, size_t headroom, size_t *len);

/*
 * Envelope between nodes: one text line of header, then the payload bytes
 * exactly as local recipients receive them, so a receiving node forwards
 * them without parsing JSON:
 *
 *   "SB1 <origin-node-id> <event> <to-or-*>\n<payload>"
 *
 * <event> is "msg" for a relayed message, "join" or "leave" for membership
 * changes (then <to> is the user id that joined or left), "rejoin" for a
 * member written back after Redis lost it (receivers announce it only if
 * they did not know the member), "close" for a closed room, "replace" for
 * a member replaced by a newer connection of the same identity (<to> is
 * the old member; its node sends it the payload, an error, and closes it),
 * "away" for a member whose socket was lost and who is held for the resume
 * window, "back" for a member that resumed on the origin node (its old
 * connection, if any, is closed by its node without a leave). Node ids and
 * user ids never contain spaces or newlines.
 */
typedef enum {
    SB_ENV_MSG,
    SB_ENV_JOIN,
    SB_ENV_LEAVE,
    SB_ENV_CLOSE,
    SB_ENV_REJOIN,
    SB_ENV_REPLACE,
    SB_ENV_AWAY, /* a member lost its socket and is held for the resume window */
    SB_ENV_BACK  /* a held (or still connected) member resumed on the origin node */
} sb_env_event;

typedef struct {
    sb_env_event event;
    const char *origin;
    size_t origin_len; /* point into the input */
    const char *subject;
    size_t subject_len; /* target user, or joined/left user; len 0 = none */
    const char *payload;
    size_t payload_len;
} sb_envelope;

/* Encode into a new NUL-terminated heap string; *len excludes the NUL.
 * `subject` may be NULL. Returns NULL, besides on allocation failure, when
 * the header would be ambiguous: an empty origin, an origin or subject
 * with a space or newline, a subject of "*", or a join/leave without a
 * subject. */
char *sb_envelope_encode(const char *origin, sb_env_event event, const char *subject,
                         const char *payload, size_t payload_len, size_t *len);
/* The header alone, "SB1 <origin> <event> <to-or-*>\n", into out (cap
 * bytes, NUL-terminated): its length, or 0 when encode would refuse it or
 * it does not fit. A header with the node's ids fits SB_ENV_HEADER_MAX. */
#define SB_ENV_HEADER_MAX 512
size_t sb_envelope_header(const char *origin, sb_env_event event, const char *subject, char *out,
                          size_t cap);
/* Returns 0 and fills *env with pointers into buf, or -1 if malformed
 * (which includes a join/leave without a subject). */
int sb_envelope_decode(const char *buf, size_t len, sb_envelope *env);

#endif
