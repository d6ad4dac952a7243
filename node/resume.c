/*
 * resume.c - held participants and their resume (see resume.h and
 * docs/design.md#resume).
 *
 * A member whose socket was lost stays in the room for everyone; Redis
 * marks it held until its window ends (SCRIPT_HOLD), and every node in
 * the room hears "away" and puts it in the room's `held` list. While a
 * room has held members, relay.c sends its messages through SCRIPT_GAP,
 * which appends each to the gap list of the held members it is for; a
 * room without any relays as it always did.
 *
 * A resume (SCRIPT_RESUME) checks the token against the member's current
 * secret, takes the member over for this connection under a new secret,
 * hands back the gap and publishes "back"; the participant's session then
 * joins the way a fresh one does (its own envelope, then the reply), with
 * `connected` saying "resumed". The holding node puts in front of the gap
 * what no sender kept (the lost socket's unsent queue, and what it heard
 * on the channel until its own "away"); until it has, the script answers
 * "not yet" and the resume is asked again a little later.
 *
 * Windows end by expiry: every node that knows of a held member keeps its
 * deadline here, under one timer, and then runs SCRIPT_EXPIRE_AWAY for
 * the room. The script removes the member and publishes its leave only if
 * it is still held and due, so however many nodes run it, the others see
 * one `user-left`; a member that came back is not touched.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "resume.h"

#define RETRY_MS 1000      /* an expiry Redis could not run is tried again */
#define SLACK_MS 50        /* run the expiry a little after the deadline */
#define MAX_WATCHES 100000 /* deadlines kept; past it, the keys' TTL ends a hold */
/* A resume waits for the holding node's front of the gap this long at
 * most (that node's own "away" normally comes back within a round trip;
 * this bounds the wait should it die first), asking again every
 * FRONT_RETRY_MS; past FRONT_TRIES, it goes on without (clocks apart). */
#define FRONT_WAIT_MS 5000
#define FRONT_RETRY_MS 20
#define FRONT_TRIES (2 * FRONT_WAIT_MS / FRONT_RETRY_MS)

typedef struct {
    char room_id[SB_UUID_LEN + 1];
    char user_id[SB_UUID_LEN + 1];
    long long until_ms; /* wall clock */
    bool running;       /* its room's expiry is in flight */
} watch;

/* A member this node just held, and what it had for it meanwhile. */
typedef struct {
    char room_id[SB_UUID_LEN + 1];
    char user_id[SB_UUID_LEN + 1];
    ptr_array frames; /* sb_frame *, oldest first */
} capture;

/* A resume to ask again once the holding node's front is in. */
typedef struct {
    ws_session *s; /* a reference of its own */
    bus_reply_fn fn;
} later;

static const sb_config *cfg;
static struct event *timer;
static struct event *later_timer;
static ptr_array watches;  /* watch * */
static ptr_array captures; /* capture * */
static ptr_array laters;   /* later * */

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_later_timer(evutil_socket_t fd, short what, void *arg);
static void captures_free(void);

void resume_init(struct event_base *base, const sb_config *config)
{
    cfg = config;
    timer = evtimer_new(base, on_timer, NULL);
    later_timer = evtimer_new(base, on_later_timer, NULL);
}

void resume_stop(void)
{
    captures_free();
    for (size_t i = 0; i < watches.count; i++)
        free(watches.items[i]);
    ptr_array_free(&watches);
    for (size_t i = 0; i < laters.count; i++) {
        later *l = laters.items[i];
        ws_session_unref(l->s);
        free(l);
    }
    ptr_array_free(&laters);
    if (timer)
        event_free(timer);
    timer = NULL;
    if (later_timer)
        event_free(later_timer);
    later_timer = NULL;
}

bool resume_enabled(void)
{
    return cfg && cfg->resume_window > 0;
}

void resume_token(const ws_session *s, char out[SB_RESUME_TOKEN_LEN + 1])
{
    snprintf(out, SB_RESUME_TOKEN_LEN + 1, "%s%s", s->user_id, s->resume_secret);
}

/* ---- deadlines ------------------------------------------------------------------ */

static long long now_ms(void)
{
    return (long long)sb_clock_wall_ms();
}

static void arm_timer(void)
{
    long long first = 0;
    for (size_t i = 0; i < watches.count; i++) {
        watch *w = watches.items[i];
        if (!w->running && (!first || w->until_ms < first))
            first = w->until_ms;
    }
    if (!timer || !first)
        return;
    long long wait = first + SLACK_MS - now_ms();
    struct timeval tv = sb_clock_timeval((uint64_t)(wait > 0 ? wait : 0));
    evtimer_add(timer, &tv);
}

static ssize_t find_watch(const char *room_id, const char *user_id)
{
    for (size_t i = 0; i < watches.count; i++) {
        watch *w = watches.items[i];
        if (strcmp(w->room_id, room_id) == 0 && strcmp(w->user_id, user_id) == 0)
            return (ssize_t)i;
    }
    return -1;
}

static void watch_member(const char *room_id, const char *user_id, long long until_ms)
{
    ssize_t i = find_watch(room_id, user_id);
    if (i >= 0) {
        watch *w = watches.items[i];
        if (until_ms < w->until_ms)
            w->until_ms = until_ms;
    } else if (watches.count < MAX_WATCHES) {
        watch *w = calloc(1, sizeof(*w));
        if (!w)
            return;
        snprintf(w->room_id, sizeof(w->room_id), "%s", room_id);
        snprintf(w->user_id, sizeof(w->user_id), "%s", user_id);
        w->until_ms = until_ms;
        if (!ptr_array_push(&watches, w))
            free(w);
    }
    arm_timer();
}

static void unwatch_member(const char *room_id, const char *user_id)
{
    ssize_t i = find_watch(room_id, user_id);
    if (i < 0)
        return;
    free(watches.items[i]);
    watches.items[i] = watches.items[--watches.count];
}

typedef struct {
    char room_id[SB_UUID_LEN + 1];
    long long ran_at;
} expiry_call;

/* The room's due windows were ended (or Redis could not say): forget
 * the deadlines that were due, retry them later if the script did not run. */
static void on_expiry_reply(redisReply *r, void *privdata)
{
    expiry_call *call = privdata;
    bool ran = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
               && r->element[1]->type == REDIS_REPLY_INTEGER;
    /* A window Redis still runs (set by a node whose clock is behind
     * ours) is looked at again when Redis says it ends. */
    long long next = ran ? r->element[1]->integer : 0;
    for (size_t i = watches.count; i-- > 0;) {
        watch *w = watches.items[i];
        if (strcmp(w->room_id, call->room_id) != 0 || !w->running)
            continue;
        w->running = false;
        if (!ran) {
            w->until_ms = call->ran_at + RETRY_MS;
        } else if (w->until_ms <= call->ran_at && next > call->ran_at) {
            w->until_ms = next;
        } else if (w->until_ms <= call->ran_at) {
            free(w);
            watches.items[i] = watches.items[--watches.count];
        }
    }
    free(call);
    arm_timer();
}

static void run_expiry(const char *room_id, long long now)
{
    expiry_call *call = malloc(sizeof(*call));
    if (!call)
        return;
    snprintf(call->room_id, sizeof(call->room_id), "%s", room_id);
    call->ran_at = now;
    for (size_t i = 0; i < watches.count; i++) {
        watch *w = watches.items[i];
        if (strcmp(w->room_id, room_id) == 0)
            w->running = true;
    }
    if (bus_room_expire_away(room_id, on_expiry_reply, call) != 0)
        on_expiry_reply(NULL, call);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    long long now = now_ms();
    /* One call per room with a due deadline; a call marks its room's
     * watches running, so the scan skips them. */
    for (size_t i = 0; i < watches.count; i++) {
        watch *w = watches.items[i];
        if (!w->running && w->until_ms <= now)
            run_expiry(w->room_id, now);
    }
    arm_timer();
}

/* ---- what the channel says ------------------------------------------------------ */

void resume_note_away(sb_room *room, const char *user_id, long long until_ms)
{
    if (!until_ms)
        until_ms = now_ms() + (long long)cfg->resume_window * 1000;
    room_remove_remote(room, user_id);
    room_add_held(room, user_id);
    watch_member(room->id, user_id, until_ms);
}

void resume_note_back(sb_room *room, const char *user_id)
{
    room_remove_held(room, user_id);
    unwatch_member(room->id, user_id);
}

void resume_note_left(sb_room *room, const char *user_id)
{
    room_remove_held(room, user_id);
    unwatch_member(room->id, user_id);
}

/* HGETALL of the away hash: user_id, {"t":...}, ... */
static void on_away_reply(redisReply *r, void *privdata)
{
    char *room_id = privdata;
    sb_room *room = room_table_find(room_id);
    long long now = now_ms();
    for (size_t i = 0; room && r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i], *v = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || !sb_id_is_valid(id->str, id->len) || ws_session_find(&room->locals, id->str))
            continue;
        json_error_t err;
        json_t *h = json_loads(v->str, 0, &err);
        long long until = (long long)json_number_value(json_object_get(h, "t"));
        json_decref(h);
        if (until > now)
            resume_note_away(room, id->str, until);
    }
    free(room_id);
}

void resume_learn_room(sb_room *room)
{
    char *room_id = strdup(room->id);
    if (room_id && bus_room_away(room->id, on_away_reply, room_id) != 0)
        free(room_id);
}

/* ---- holding --------------------------------------------------------------------- */

typedef struct {
    char room_id[SB_UUID_LEN + 1];
    char user_id[SB_UUID_LEN + 1];
} member_ref;

static ssize_t find_capture(const char *room_id, const char *user_id)
{
    for (size_t i = 0; i < captures.count; i++) {
        capture *c = captures.items[i];
        if (strcmp(c->room_id, room_id) == 0 && (!user_id || strcmp(c->user_id, user_id) == 0))
            return (ssize_t)i;
    }
    return -1;
}

static void capture_free(size_t i)
{
    capture *c = captures.items[i];
    for (size_t j = 0; j < c->frames.count; j++)
        frame_unref(c->frames.items[j]);
    ptr_array_free(&c->frames);
    free(c);
    captures.items[i] = captures.items[--captures.count];
}

/* What the capture kept goes in front of the gap, the newest first; the
 * last call ends the front, so that a resume waiting for it goes on. */
static void capture_flush(size_t i, const char *end)
{
    capture *c = captures.items[i];
    if (!c->frames.count)
        bus_gap_front(c->room_id, c->user_id, NULL, 0, end);
    for (size_t j = c->frames.count; j-- > 0;) {
        sb_frame *f = c->frames.items[j];
        bus_gap_front(c->room_id, c->user_id, frame_payload(f), f->len, j ? "" : end);
    }
    capture_free(i);
}

static void captures_free(void)
{
    while (captures.count)
        capture_free(captures.count - 1);
    ptr_array_free(&captures);
}

void resume_capture_drop_all(void)
{
    /* What came on the channel since is lost: the members are marked
     * missed, and what was kept still goes in front. */
    while (captures.count)
        capture_flush(captures.count - 1, "lost");
    ptr_array_free(&captures);
}

bool resume_capturing(const char *room_id)
{
    return captures.count && (!room_id || find_capture(room_id, NULL) >= 0);
}

void resume_capture(const sb_room *room, const char *to, sb_frame *f)
{
    for (size_t i = 0; i < captures.count; i++) {
        capture *c = captures.items[i];
        if (strcmp(c->room_id, room->id) != 0 || (to && to[0] && strcmp(to, c->user_id) != 0)
            || c->frames.count >= (size_t)cfg->resume_buffer_count)
            continue;
        if (ptr_array_push(&c->frames, f))
            frame_ref(f);
    }
}

void resume_capture_end(const sb_room *room, const char *user_id)
{
    ssize_t i = find_capture(room->id, user_id);
    if (i < 0)
        return;
    capture_flush((size_t)i, "done");
}

static void start_capture(ws_session *s, bool take_unsent)
{
    capture *c = calloc(1, sizeof(*c));
    if (!c) {
        bus_gap_front(s->room_id, s->user_id, NULL, 0, "lost");
        return;
    }
    snprintf(c->room_id, sizeof(c->room_id), "%s", s->room_id);
    snprintf(c->user_id, sizeof(c->user_id), "%s", s->user_id);
    if (take_unsent)
        ws_session_take_unsent(s, &c->frames);
    if (!ptr_array_push(&captures, c)) {
        for (size_t j = 0; j < c->frames.count; j++)
            frame_unref(c->frames.items[j]);
        ptr_array_free(&c->frames);
        free(c);
        bus_gap_front(s->room_id, s->user_id, NULL, 0, "lost");
    }
}

/* 0: the member was no longer this connection (resumed or replaced
 * meanwhile): nothing is held, and no "away" will come. */
static void on_hold_reply(redisReply *r, void *privdata)
{
    member_ref *m = privdata;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        sb_room *room = room_table_find(m->room_id);
        if (room)
            room_remove_held(room, m->user_id);
        unwatch_member(m->room_id, m->user_id);
        ssize_t i = find_capture(m->room_id, m->user_id);
        if (i >= 0)
            capture_free((size_t)i);
    }
    free(m);
}

int resume_hold(ws_session *s, bool take_unsent)
{
    if (!resume_enabled() || !s->room)
        return -1;
    long long until = now_ms() + (long long)cfg->resume_window * 1000;
    size_t len;
    char *env = sb_envelope_encode(cfg->node_id, SB_ENV_AWAY, s->user_id, NULL, 0, &len);
    member_ref *m = malloc(sizeof(*m));
    int rc = -1;
    if (env && m) {
        snprintf(m->room_id, sizeof(m->room_id), "%s", s->room_id);
        snprintf(m->user_id, sizeof(m->user_id), "%s", s->user_id);
        rc = bus_member_hold(s->room_id, s->user_id, s->resume_secret, until,
                             now_ms() + FRONT_WAIT_MS, env, len, on_hold_reply, m);
    }
    free(env);
    if (rc != 0) {
        free(m);
        return -1;
    }
    metrics.members_held++;
    room_add_held(s->room, s->user_id);
    watch_member(s->room_id, s->user_id, until);
    start_capture(s, take_unsent);
    /* Its own "away" ends the capture when it comes back on the room's
     * channel. Unsubscribed (the subscriber link is down or just back),
     * it may never come: what was kept goes in front now, and the member
     * is marked missed, as when the link drops during a capture. */
    ssize_t i = s->room->sub == ROOM_SUBSCRIBED ? -1 : find_capture(s->room_id, s->user_id);
    if (i >= 0)
        capture_flush((size_t)i, "lost");
    return 0;
}

/* ---- resuming -------------------------------------------------------------------- */

/* The "back" envelope names the attempt by a serial of this node: two
 * sockets may try the same user id here at once (one with a wrong
 * secret), and only the one that resumed may enter the room. */
int resume_send(ws_session *s, bus_reply_fn fn, void *privdata)
{
    static uint64_t serials;
    s->resume_serial = ++serials;
    char serial[24];
    int n = snprintf(serial, sizeof(serial), "%llu", (unsigned long long)s->resume_serial);
    size_t len;
    char *env = sb_envelope_encode(cfg->node_id, SB_ENV_BACK, s->user_id, serial, (size_t)n, &len);
    int rc = env ? bus_member_resume(s->room_id, s->user_id, s->resume_presented, s->profile,
                                     s->resume_secret, env, len, s->resume_tries >= FRONT_TRIES, fn,
                                     privdata)
                 : -1;
    free(env);
    return rc;
}

/* Ask again for the resumes that waited for a front; one whose socket
 * went meanwhile, or that cannot be asked, gets fn with no reply. */
static void on_later_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ptr_array due = laters;
    memset(&laters, 0, sizeof(laters));
    for (size_t i = 0; i < due.count; i++) {
        later *l = due.items[i];
        ws_session *s = l->s;
        bool sent = ws_session_can_send(s) && s->state == WS_JOIN_SENT && s->resuming
                    && resume_send(s, l->fn, s) == 0;
        if (!sent)
            l->fn(NULL, s); /* it drops the reference */
        free(l);
    }
    ptr_array_free(&due);
}

int resume_send_later(ws_session *s, bus_reply_fn fn)
{
    later *l = malloc(sizeof(*l));
    if (!l || !ptr_array_push(&laters, l)) {
        free(l);
        return -1;
    }
    ws_session_ref(s);
    l->s = s;
    l->fn = fn;
    s->resume_tries++;
    if (!evtimer_pending(later_timer, NULL)) {
        struct timeval tv = sb_clock_timeval(FRONT_RETRY_MS);
        evtimer_add(later_timer, &tv);
    }
    return 0;
}

long long resume_reply_code(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_INTEGER)
        return -100;
    long long code = r->element[0]->integer;
    if (code == 0
        && (r->elements < 3 || r->element[1]->type != REDIS_REPLY_INTEGER
            || r->element[2]->type != REDIS_REPLY_INTEGER || r->element[2]->integer < 0
            || (size_t)r->element[2]->integer > (r->elements - 3) / 3))
        return -100;
    return code;
}

static bool left_early(const ws_session *s, const char *user_id)
{
    for (size_t i = 0; i < s->left_early.count; i++)
        if (strcmp(s->left_early.items[i], user_id) == 0)
            return true;
    return false;
}

/* One participant of the reply: for `connected`, and where it is. */
static bool take_participant(ws_session *s, const redisReply *id, const redisReply *value,
                             const redisReply *until)
{
    if (id->type != REDIS_REPLY_STRING || !sb_id_is_valid(id->str, id->len))
        return true;
    char *copy = strdup(id->str);
    if (!copy)
        return false;
    s->participants[s->n_participants++] = copy;
    bool stored = value->type == REDIS_REPLY_STRING;
    if (s->profile
        && json_array_append_new(
               s->participant_profiles,
               frame_participant(copy, stored ? value->str : NULL, stored ? value->len : 0))
               != 0)
        return false;
    if (ws_session_find(&s->room->locals, copy) || left_early(s, copy))
        return true;
    long long t = until->type == REDIS_REPLY_INTEGER ? until->integer : 0;
    if (t > 0)
        resume_note_away(s->room, copy, t);
    else
        room_add_remote(s->room, copy);
    return true;
}

static bool take_gap(ws_session *s, const redisReply *r, size_t first)
{
    size_t n = r->elements - first;
    if (!n)
        return true;
    sb_frame **frames = calloc(n, sizeof(*frames));
    if (!frames)
        return false;
    size_t got = 0;
    for (size_t i = first; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING && (frames[got] = frame_copy(e->str, e->len)))
            got++;
        else
            s->missed = true;
    }
    ws_session_hold_first(s, frames, got);
    for (size_t i = 0; i < got; i++)
        frame_unref(frames[i]);
    free(frames);
    return true;
}

ws_session *resume_attempt_find(const sb_room *room, const char *user_id, const char *payload,
                                size_t len)
{
    char serial[24];
    if (len == 0 || len >= sizeof(serial))
        return NULL;
    memcpy(serial, payload, len);
    serial[len] = '\0';
    unsigned long long want = strtoull(serial, NULL, 10);
    for (size_t i = 0; i < room->waiting.count; i++) {
        ws_session *s = room->waiting.items[i];
        if (s->resuming && s->resume_serial == want && strcmp(s->user_id, user_id) == 0)
            return s;
    }
    return NULL;
}

bool resume_apply_reply(ws_session *s, const redisReply *r)
{
    size_t n = (size_t)r->element[2]->integer;
    s->resumed = true;
    s->missed = r->element[1]->integer != 0;
    metrics.resumes++;
    s->participants = calloc(n + 1, sizeof(char *));
    if (!s->participants || (s->profile && !(s->participant_profiles = json_array())))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!take_participant(s, r->element[3 + 3 * i], r->element[4 + 3 * i],
                              r->element[5 + 3 * i]))
            return false;
    sb_info(s->room_id, s->user_id, "resumed (%zu messages of the gap%s)", r->elements - 3 - 3 * n,
            s->missed ? ", some missed" : "");
    return take_gap(s, r, 3 + 3 * n);
}

/* ---- relaying ---------------------------------------------------------------------- */

int resume_relay(const sb_room *room, const sb_frame *f, const char *env, size_t env_len,
                 const char *to, const char *sender, bool publish)
{
    return bus_gap_publish(room->id, env, env_len, env_len - f->len, to, sender, publish, NULL,
                           NULL);
}
