/*
 * ws_session_output.c - a connection's outgoing queue and its writes.
 *
 * Every frame is queued in a ring of shared frames and written from lws's
 * writeable callback, which the node asks lws for at the end of the turn
 * of the loop that queued it (ws_session_want_write): the frames queued by
 * then go out in one send, as many as fit a 64 KiB batch. A session whose
 * queue passes --max-queued-bytes is dropped (docs/design.md#limits, Slow
 * readers).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "ws_session.h"
#include "ws_session_internal.h"

static const sb_config *cfg;
static ptr_array write_due; /* sessions with output to write before the loop sleeps */
static struct event *write_due_event;

static void on_write_due(evutil_socket_t fd, short what, void *arg);

int ws_session_output_init(struct event_base *base, const sb_config *config)
{
    cfg = config;
    write_due_event = event_new(base, -1, 0, on_write_due, NULL);
    return write_due_event ? 0 : -1;
}

void ws_session_output_stop(void)
{
    if (write_due_event)
        event_free(write_due_event);
    write_due_event = NULL;
    for (size_t i = 0; i < write_due.count; i++)
        ws_session_unref(write_due.items[i]);
    ptr_array_free(&write_due);
}

void ws_session_queue_clear(ws_session *s)
{
    while (s->q_count) {
        frame_unref(s->q[s->q_head]);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_count--;
    }
    s->q_bytes = 0;
}

static void kill_slow_reader(ws_session *s)
{
    s->leaving = true;
    sb_warn(s->room_id, s->user_id, "dropped: outgoing queue over %zu bytes",
            cfg->max_queued_bytes);
    metrics_count_error("slow_reader");
    ws_session_queue_clear(s);
    ws_session_doom(s);
}

static bool queue_push(ws_session *s, sb_frame *f)
{
    if (s->q_count == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 4;
        sb_frame **q = malloc(cap * sizeof(*q));
        if (!q)
            return false;
        for (size_t i = 0; i < s->q_count; i++)
            q[i] = s->q[(s->q_head + i) % s->q_cap];
        free(s->q);
        s->q = q;
        s->q_head = 0;
        s->q_cap = cap;
    }
    frame_ref(f);
    s->q[(s->q_head + s->q_count) % s->q_cap] = f;
    s->q_count++;
    s->q_bytes += f->len;
    return true;
}

/* Output is written before the loop sleeps, without asking epoll first,
 * as Redis writes its replies: a socket is nearly always writeable, and
 * asking costs two epoll_ctl and another turn of the loop per recipient.
 * At the end of the turn lws is told, as the loop would tell it, that each
 * session's socket is writeable, so the write still happens in
 * LWS_CALLBACK_SERVER_WRITEABLE. What the socket does not take, lws keeps
 * and finishes when epoll says so; the frames left in the queue then wait
 * for a real WRITEABLE. */
void ws_session_want_write(ws_session *s)
{
    if (s->write_due)
        return;
    if (!ptr_array_push(&write_due, s)) {
        lws_callback_on_writable(s->wsi);
        return;
    }
    s->write_due = true;
    ws_session_ref(s);
    event_active(write_due_event, EV_TIMEOUT, 0);
}

static void write_now(ws_session *s)
{
    struct lws_pollfd writeable = {
        .fd = lws_get_socket_fd(s->wsi), .events = LWS_POLLOUT, .revents = LWS_POLLOUT
    };
    lws_service_fd(lws_get_context(s->wsi), &writeable);
    /* Not written: lws had a partial send of its own to finish first. */
    if (s->wsi && ws_session_socket_live(s) && (s->q_count || s->ping_due))
        lws_callback_on_writable(s->wsi);
}

static void on_write_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ptr_array list = write_due;
    memset(&write_due, 0, sizeof(write_due));
    for (size_t i = 0; i < list.count; i++) {
        ws_session *s = list.items[i];
        s->write_due = false;
        if (s->wsi && ws_session_socket_live(s))
            write_now(s);
        ws_session_unref(s);
    }
    ptr_array_free(&list);
}

void ws_session_send(ws_session *s, sb_frame *f)
{
    if (!f || !ws_session_can_send(s))
        return;
    if (s->state != WS_JOINED) {
        frame_ref(f);
        if (!ptr_array_push(&s->early_frames, f))
            frame_unref(f);
        return;
    }
    if (!queue_push(s, f) || s->q_bytes > cfg->max_queued_bytes) {
        kill_slow_reader(s);
        return;
    }
    ws_session_want_write(s);
}

void ws_session_broadcast(const ptr_array *sessions, sb_frame *f, const ws_session *except)
{
    for (size_t i = 0; i < sessions->count; i++) {
        ws_session *s = sessions->items[i];
        if (s != except)
            ws_session_send(s, f);
    }
}

void ws_session_send_error(ws_session *s, const char *message)
{
    metrics_count_error(message);
    sb_frame *f = frame_error(message);
    ws_session_send(s, f);
    frame_unref(f);
}

void ws_session_send_and_close(ws_session *s, sb_frame *f, int code)
{
    if (!ws_session_can_send(s))
        return;
    /* A drain holds the participant for a resume; any other close the
     * node decides is a leave. */
    if (code != SB_CLOSE_RESTART)
        s->leaving = true;
    /* The last frame skips the early buffer of a session still joining. */
    if (f)
        queue_push(s, f);
    s->link = WS_CLOSING;
    s->close_code = code;
    ws_session_want_write(s);
}

void ws_session_refuse(ws_session *s, const char *message, int code)
{
    if (!ws_session_can_send(s))
        return;
    sb_frame *f = NULL;
    if (message) {
        metrics_count_error(message);
        f = frame_error(message);
    }
    ws_session_send_and_close(s, f, code);
    frame_unref(f);
}

/* Frames waiting for one connection go out together: a batch of whole
 * frames, built back to back in one buffer, is one lws_write (one send)
 * instead of one per frame. lws copies what the socket does not take and
 * finishes it before it calls WRITEABLE again, so the buffer is free once
 * lws_write returns and the frames stay in order. Every connection shares
 * it: writes happen one at a time on the single loop. */
#define BATCH_BYTES 65536
static unsigned char batch[LWS_PRE + BATCH_BYTES];

/* Take the n frames at the head of the queue, written (a failed write
 * leaves them for queue_clear when the connection closes). */
static void queue_pop(ws_session *s, size_t n)
{
    for (; n; n--) {
        sb_frame *f = s->q[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_count--;
        s->q_bytes -= f->len;
        frame_unref(f);
        metrics.messages_sent++;
    }
}

/* Frames from the head of the queue packed into `batch` while they fit;
 * returns how many, their size in *used. */
static size_t batch_fill(const ws_session *s, size_t *used)
{
    size_t n = 0, at = 0;
    for (; n < s->q_count; n++) {
        const sb_frame *f = s->q[(s->q_head + n) % s->q_cap];
        size_t w = frame_pack(f, batch + LWS_PRE + at, BATCH_BYTES - at);
        if (!w)
            break;
        at += w;
    }
    *used = at;
    return n;
}

/* One write of what is queued: several frames as one batch, or the head
 * frame alone (framed by lws, no copy) when it is the only one or too
 * large to share a batch. Returns -1 when the connection is to close. */
static int write_queued(ws_session *s)
{
    size_t used = 0, n = s->q_count > 1 ? batch_fill(s, &used) : 0;
    if (n > 1) {
        if (lws_write(s->wsi, batch + LWS_PRE, used, LWS_WRITE_RAW) < (int)used)
            return -1;
        metrics.ws_writes++;
        queue_pop(s, n);
        return 0;
    }
    sb_frame *f = s->q[s->q_head];
    if (lws_write(s->wsi, (unsigned char *)frame_payload(f), f->len, LWS_WRITE_TEXT) < (int)f->len)
        return -1;
    metrics.ws_writes++;
    queue_pop(s, 1);
    return 0;
}

int ws_session_on_writeable(ws_session *s)
{
    if (s->link == WS_DROPPING)
        return -1;
    if (s->ping_due) {
        /* A payload, because lws hides an empty pong from us. */
        unsigned char ping[LWS_PRE + 2] = { [LWS_PRE] = 's', [LWS_PRE + 1] = 'b' };
        s->ping_due = false;
        if (lws_write(s->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0)
            return -1;
        if (s->q_count && lws_send_pipe_choked(s->wsi)) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
    }
    /* One write per call: what is left waits for the next. lws turns the
     * write interest off before this call and on again here, which the
     * loop's change list folds into no system call. */
    if (s->q_count && write_queued(s) < 0)
        return -1;
    if (s->q_count) {
        lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->link == WS_CLOSING) {
        lws_close_reason(s->wsi, (enum lws_close_status)s->close_code, NULL, 0);
        return -1;
    }
    return 0;
}
