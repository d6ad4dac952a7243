/*
 * ws_session.c - WebSocket connections: lifetime, liveness and the join's
 * steps.
 *
 * The output queue is ws_session_output.c's, the input
 * ws_session_input.c's. The reassembly buffer is freed after each message,
 * so an idle connection holds no more than its session struct.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "ws_session.h"
#include "ws_session_internal.h"

#define LIVENESS_SWEEP_MAX_MS 5000

static const sb_config *cfg;
static const ws_handlers *handlers;
static ptr_array all_sessions; /* for draining and liveness; order does not matter */
static struct event *liveness_sweep;
static ptr_array doomed;  /* sessions to drop once the current callback returns */
static bool input_paused; /* client input paused (ws_sessions_pause_input) */
static struct event *drop_doomed;

/* Open, or closing but still writing: not yet being dropped. */
bool ws_session_socket_live(const ws_session *s)
{
    return s->link == WS_OPEN || s->link == WS_CLOSING;
}

/* Drop a connection without writing to it (dead, or not reading). It
 * cannot be closed on the spot: we may be inside a loop over its room.
 * lws's own asynchronous kill waits for a timer lws only re-arms from its
 * own callbacks, so the close runs from our event, made active now, which
 * the loop runs as soon as the current callback returns. */
void ws_session_doom(ws_session *s)
{
    if (!ws_session_socket_live(s))
        return;
    s->link = WS_DROPPING;
    if (!ptr_array_push(&doomed, s))
        return;
    ws_session_ref(s);
    event_active(drop_doomed, EV_TIMEOUT, 0);
}

static void on_drop_doomed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ptr_array list = doomed;
    memset(&doomed, 0, sizeof(doomed));
    for (size_t i = 0; i < list.count; i++) {
        ws_session *s = list.items[i];
        if (s->link == WS_DROPPING) /* the close runs ws_session_on_closed */
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        ws_session_unref(s);
    }
    ptr_array_free(&list);
}

static void add_to_all(ws_session *s)
{
    s->index = all_sessions.count;
    all_sessions.items[all_sessions.count++] = s;
}

/* O(1): the last session takes the removed one's place. */
static void remove_from_all(ws_session *s)
{
    ws_session *last = all_sessions.items[--all_sessions.count];
    all_sessions.items[s->index] = last;
    last->index = s->index;
}

/* One pass over every session instead of a timer per connection. */
static void check_liveness(ws_session *s, uint64_t now)
{
    if (!ws_session_socket_live(s))
        return;
    uint64_t silent = now - s->heard_ms;
    uint64_t ping_after = (uint64_t)cfg->ping_interval * 1000;
    if (silent >= ping_after + (uint64_t)cfg->ping_timeout * 1000) {
        sb_info(s->room_id, s->user_id, "dropped: silent for %llu s",
                (unsigned long long)(silent / 1000));
        ws_session_doom(s);
    } else if (silent >= ping_after && !s->ping_sent) {
        s->ping_due = s->ping_sent = true;
        ws_session_want_write(s);
    }
}

static void on_liveness_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (input_paused)
        return; /* their pongs wait unread too */
    uint64_t now = sb_clock_monotonic_ms();
    for (size_t i = 0; i < all_sessions.count; i++)
        check_liveness(all_sessions.items[i], now);
}

void ws_sessions_pause_input(bool pause)
{
    input_paused = pause;
    uint64_t now = sb_clock_monotonic_ms();
    for (size_t i = 0; i < all_sessions.count; i++) {
        ws_session *s = all_sessions.items[i];
        if (s->state != WS_JOINED || !ws_session_can_send(s))
            continue;
        if (!pause)
            s->heard_ms = now;
        lws_rx_flow_control(s->wsi, pause ? 0 : 1);
    }
}

int ws_sessions_init(struct event_base *base, const sb_config *config, const ws_handlers *h)
{
    cfg = config;
    handlers = h;
    ws_session_input_init(config, h);
    liveness_sweep = event_new(base, -1, EV_PERSIST, on_liveness_sweep, NULL);
    drop_doomed = event_new(base, -1, 0, on_drop_doomed, NULL);
    /* Sweep often enough that a ping or a drop is at most a quarter of an
     * interval late. */
    int sweep_ms = cfg->ping_interval * 1000 / 4;
    if (sweep_ms > LIVENESS_SWEEP_MAX_MS)
        sweep_ms = LIVENESS_SWEEP_MAX_MS;
    struct timeval tv = sb_clock_timeval((uint64_t)sweep_ms);
    return liveness_sweep && drop_doomed && ws_session_output_init(base, config) == 0
                   && event_add(liveness_sweep, &tv) == 0
               ? 0
               : -1;
}

void ws_sessions_stop(void)
{
    if (liveness_sweep)
        event_free(liveness_sweep);
    liveness_sweep = NULL;
    if (drop_doomed)
        event_free(drop_doomed);
    drop_doomed = NULL;
    ws_session_output_stop();
    for (size_t i = 0; i < doomed.count; i++)
        ws_session_unref(doomed.items[i]);
    ptr_array_free(&doomed);
    ptr_array_free(&all_sessions);
}

void ws_session_heard(ws_session *s)
{
    s->heard_ms = sb_clock_monotonic_ms();
    s->ping_sent = false;
}

/* ---- lifetime ------------------------------------------------------------ */

/* With auth on, the token is checked before anything about the room, so
 * a client without one learns nothing. Refusals are logged without ids:
 * the log's repeat suppression then folds a flood of them into one line. */
static bool admit_token(ws_session *s, const char *token)
{
    if (!access_enabled())
        return true;
    sb_token_claims claims;
    sb_token_result r = access_verify(token, token ? strlen(token) : 0, &claims);
    if (r != SB_TOKEN_OK) {
        sb_info(NULL, NULL, "refused a WebSocket: %s", sb_token_result_text(r));
        ws_session_refuse(s, SB_ERR_UNAUTHORIZED, SB_CLOSE_UNAUTHORIZED);
        return false;
    }
    if (!sb_token_allows(&claims, SB_GRANT_JOIN, s->room_id)) {
        sb_info(NULL, NULL, "refused a WebSocket: the token does not allow joining the room");
        ws_session_refuse(s, SB_ERR_FORBIDDEN, SB_CLOSE_FORBIDDEN);
        return false;
    }
    s->profile = sb_token_profile(&claims);
    if (!s->profile) {
        ws_session_refuse(s, NULL, SB_CLOSE_INTERNAL);
        return false;
    }
    return true;
}

ws_session *ws_session_open(struct lws *wsi, const char *path_room_id, const char *token,
                            const char *resume)
{
    ws_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (!ptr_array_reserve(&all_sessions, all_sessions.count + 1)) {
        free(s);
        return NULL;
    }
    add_to_all(s);
    s->wsi = wsi;
    s->refs = 1;
    s->state = WS_WAIT_CHANNEL;
    s->link = WS_OPEN;
    sb_id_generate(s->user_id);
    sb_resume_secret_generate(s->resume_secret);
    /* A resume token takes the user id it names while the resume is
     * tried; anything else given as one is no token. */
    if (cfg->resume_window > 0 && resume
        && sb_resume_token_parse(resume, strlen(resume), s->user_id, s->resume_presented))
        s->resuming = true;
    snprintf(s->room_id, sizeof(s->room_id), "%.*s", SB_UUID_LEN, path_room_id);
    s->heard_ms = sb_clock_monotonic_ms();
    sb_bucket_init(&s->bucket, cfg->rate_per_sec, cfg->rate_burst, s->heard_ms);
    metrics.connections_total++;

    if (!admit_token(s, token))
        return s;
    if (strlen(path_room_id) != SB_UUID_LEN || !sb_id_is_valid(path_room_id, SB_UUID_LEN)) {
        sb_info(NULL, s->user_id, "refused: malformed room id");
        ws_session_refuse(s, SB_ERR_ROOM_NOT_FOUND, SB_CLOSE_ROOM_NOT_FOUND);
        return s;
    }
    /* Hold the client's input until it is in the room: a browser may send
     * right after the socket opens, before `connected`. */
    lws_rx_flow_control(wsi, 0);
    handlers->join(s);
    return s;
}

static void free_join_bookkeeping(ws_session *s)
{
    for (size_t i = 0; i < s->n_participants; i++)
        free(s->participants[i]);
    free(s->participants);
    s->participants = NULL;
    s->n_participants = 0;
    for (size_t i = 0; i < s->early_frames.count; i++)
        frame_unref(s->early_frames.items[i]);
    ptr_array_free(&s->early_frames);
    for (size_t i = 0; i < s->left_early.count; i++)
        free(s->left_early.items[i]);
    ptr_array_free(&s->left_early);
    json_decref(s->participant_profiles);
    s->participant_profiles = NULL;
}

void ws_session_on_closed(ws_session *s)
{
    handlers->leave(s);
    s->wsi = NULL;
    s->link = WS_CLOSED;
    ws_session_queue_clear(s);
    free(s->rx);
    s->rx = NULL;
    s->rx_cap = s->rx_len = 0;
    remove_from_all(s);
    ws_session_unref(s);
}

void ws_session_ref(ws_session *s)
{
    s->refs++;
}

void ws_session_unref(ws_session *s)
{
    if (--s->refs)
        return;
    free_join_bookkeeping(s);
    json_decref(s->profile);
    free(s->q);
    free(s->rx);
    free(s);
}

ws_session *ws_session_find(const ptr_array *sessions, const char *user_id)
{
    for (size_t i = 0; i < sessions->count; i++) {
        ws_session *s = sessions->items[i];
        if (strcmp(s->user_id, user_id) == 0)
            return s;
    }
    return NULL;
}

size_t ws_session_count(void)
{
    return all_sessions.count;
}

void ws_sessions_send_all(const char *type)
{
    sb_frame *f = frame_bare(type);
    for (size_t i = 0; i < all_sessions.count; i++)
        ws_session_send(all_sessions.items[i], f);
    frame_unref(f);
}

void ws_sessions_close_all(const char *type, int code)
{
    sb_frame *f = type ? frame_bare(type) : NULL;
    /* A close can end another session's join: walk a snapshot. */
    ptr_array snap = ptr_array_copy(&all_sessions);
    for (size_t i = 0; i < snap.count; i++)
        ws_session_send_and_close(snap.items[i], f, code);
    ptr_array_free(&snap);
    frame_unref(f);
}

/* ---- the join ---------------------------------------------------------------- */

void ws_session_join_sent(ws_session *s)
{
    s->state = WS_JOIN_SENT;
}

bool ws_session_join_replied(ws_session *s)
{
    s->join_replied = true;
    return s->announced;
}

bool ws_session_join_announced(ws_session *s)
{
    s->announced = true;
    return s->join_replied;
}

void ws_session_hold_first(ws_session *s, sb_frame *const *frames, size_t n)
{
    ptr_array later = s->early_frames;
    memset(&s->early_frames, 0, sizeof(s->early_frames));
    if (!ptr_array_reserve(&s->early_frames, n + later.count)) {
        s->early_frames = later;
        s->missed = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        frame_ref(frames[i]);
        s->early_frames.items[s->early_frames.count++] = frames[i];
    }
    for (size_t i = 0; i < later.count; i++)
        s->early_frames.items[s->early_frames.count++] = later.items[i];
    ptr_array_free(&later);
}

void ws_session_take_unsent(ws_session *s, ptr_array *out)
{
    while (s->q_count) {
        sb_frame *f = s->q[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_count--;
        s->q_bytes -= f->len;
        if (!ptr_array_push(out, f))
            frame_unref(f);
    }
}

void ws_session_resume_refused(ws_session *s)
{
    s->resuming = false;
    s->state = WS_WAIT_CHANNEL;
    s->join_replied = s->announced = false;
    sb_id_generate(s->user_id);
    free_join_bookkeeping(s);
}

void ws_session_enter_room(ws_session *s, sb_frame *connected)
{
    s->state = WS_JOINED;
    ws_session_send(s, connected);
    for (size_t i = 0; i < s->early_frames.count; i++)
        ws_session_send(s, s->early_frames.items[i]);
    free_join_bookkeeping(s);
    if (!input_paused)
        lws_rx_flow_control(s->wsi, 1);
}
