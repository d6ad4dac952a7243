/*
 * ws_session_input.c - what a WebSocket client sends (part of the
 * ws_session module; see ws_session.h).
 *
 * lws hands us a message in pieces (frames, and frames split by its read
 * size). A message that comes in one piece — nearly all signaling — is
 * handled in place. Otherwise we append text pieces to a buffer until the
 * final piece, refusing the message as soon as it passes
 * --max-message-bytes, and skip binary messages whole. Every text piece
 * must continue valid UTF-8, or the connection fails with 1007. A
 * complete message passes the rate limit, then protocol validation, then
 * goes to the message handler (relay.c's, wired in by main.c). Once the
 * client has sent its close frame, its input is ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "rfc6455.h"
#include "ws_session.h"
#include "ws_session_internal.h"

#define REFUSAL_WINDOW_MS 10000 /* sustained abuse is judged over this window */

static const sb_config *cfg;
static const ws_handlers *handlers;

void ws_session_input_init(const sb_config *config, const ws_handlers *h)
{
    cfg = config;
    handlers = h;
}

/* Count a refused message; true when the client has earned a 1008 close. */
static bool refusal_is_abuse(ws_session *s)
{
    uint64_t now = sb_clock_monotonic_ms();
    if (now - s->refusal_window_ms > REFUSAL_WINDOW_MS) {
        s->refusal_window_ms = now;
        s->refusals = 0;
    }
    return ++s->refusals > (unsigned)(cfg->rate_burst > 1 ? cfg->rate_burst : 1);
}

/* Every complete message, valid or not, spends a token: refusals must not
 * be a way around the limit. */
static bool admit_message(ws_session *s)
{
    if (sb_bucket_take(&s->bucket, sb_clock_monotonic_ms()))
        return true;
    if (refusal_is_abuse(s)) {
        sb_warn(s->room_id, s->user_id, "closed: sustained rate limit abuse");
        ws_session_refuse(s, SB_ERR_RATE_LIMITED, SB_CLOSE_POLICY);
    } else {
        ws_session_send_error(s, SB_ERR_RATE_LIMITED);
    }
    return false;
}

static void handle_message(ws_session *s, const char *buf, size_t len)
{
    metrics.messages_received++;
    if (!admit_message(s))
        return;
    sb_client_msg msg;
    const char *error;
    if (sb_protocol_read_client(buf, len, s->room_id, &msg, &error) != 0) {
        ws_session_send_error(s, error);
        return;
    }
    if (msg.kind == SB_MSG_PING) {
        sb_frame *f = frame_bare("pong");
        ws_session_send(s, f);
        frame_unref(f);
    } else {
        handlers->message(s, &msg);
    }
    sb_client_msg_clear(&msg);
}

static bool rx_append(ws_session *s, const void *in, size_t len)
{
    if (s->rx_len + len + 1 > s->rx_cap) {
        size_t cap = s->rx_cap ? s->rx_cap : 1024;
        while (cap < s->rx_len + len + 1)
            cap *= 2;
        char *rx = realloc(s->rx, cap);
        if (!rx)
            return false;
        s->rx = rx;
        s->rx_cap = cap;
    }
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    return true;
}

static void rx_reset(ws_session *s)
{
    s->rx_len = 0;
    s->rx_in_message = false;
    free(s->rx);
    s->rx = NULL;
    s->rx_cap = 0;
}

/* A text piece must continue valid UTF-8 (RFC 6455 §8.1); the state
 * carries a character split between pieces, and a message must not end
 * inside one. */
static bool text_piece_is_valid(ws_session *s, const void *in, size_t len, bool final)
{
    return sb_utf8_feed(&s->rx_utf8, in, len) == 0 && (!final || s->rx_utf8 == 0);
}

static int fail_invalid_text(ws_session *s)
{
    sb_info(s->room_id, s->user_id, "closed: text message is not valid UTF-8");
    rx_reset(s);
    return SB_CLOSE_INVALID_PAYLOAD;
}

int ws_session_on_receive(ws_session *s, const void *in, size_t len)
{
    ws_session_heard(s);
    /* Nothing the client sends after its close frame counts, not even the
     * end of a message begun before it. */
    if (s->peer_closed)
        return 0;
    bool final = lws_is_final_fragment(s->wsi);
    bool text = !lws_frame_is_binary(s->wsi);
    /* The usual case: a whole text message in one piece is handled where
     * it lies, without a copy or a buffer kept for the connection. */
    if (!s->rx_in_message && final && text && len <= cfg->max_message_bytes
        && ws_session_can_send(s)) {
        s->rx_utf8 = 0;
        if (!text_piece_is_valid(s, in, len, true))
            return fail_invalid_text(s);
        handle_message(s, in, len);
        return 0;
    }
    if (!s->rx_in_message) {
        s->rx_in_message = true;
        s->rx_binary = !text;
        s->rx_skip = s->rx_binary;
        s->rx_len = 0;
        s->rx_utf8 = 0;
    }
    if (!ws_session_can_send(s)) {
        if (final)
            rx_reset(s);
        return 0;
    }
    if (!s->rx_binary && !text_piece_is_valid(s, in, len, final))
        return fail_invalid_text(s);
    if (!s->rx_skip) {
        if (s->rx_len + len > cfg->max_message_bytes) {
            sb_info(s->room_id, s->user_id, "closed: message over %zu bytes",
                    cfg->max_message_bytes);
            ws_session_refuse(s, SB_ERR_TOO_LARGE, SB_CLOSE_TOO_BIG);
            s->rx_skip = true;
        } else if (!rx_append(s, in, len)) {
            ws_session_refuse(s, NULL, SB_CLOSE_INTERNAL);
            s->rx_skip = true;
        }
    }
    if (!final)
        return 0;
    if (!s->rx_skip)
        handle_message(s, s->rx, s->rx_len);
    else if (s->rx_binary && admit_message(s))
        ws_session_send_error(s, SB_ERR_BINARY);
    rx_reset(s);
    return 0;
}

void ws_session_on_peer_close(ws_session *s, int code)
{
    if (code == SB_CLOSE_NORMAL)
        s->leaving = true;
    s->peer_closed = true;
    rx_reset(s);
}
