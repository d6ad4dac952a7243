/*
 * fleet.c - rooms, participants and the events that move them (see fleet.h).
 *
 * Events come from wsconn: a whole message is first checked for a stamp
 * (a relayed benchmark message, the common case, found with one memmem);
 * anything else is a server message and parsed with jansson. `connected`
 * sets the participant's user id and node; `user-joined` and `user-left`
 * keep its count of known peers. The mode's hooks run after this
 * bookkeeping, so they see it up to date.
 *
 * A close that the generator did not ask for, a failed connection, an
 * error message from the server and a message that cannot be read are
 * errors of the run, counted by reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fleet.h"
#include "httpc.h"
#include "report.h"
#include "runner.h"
#include "util.h"

fleet F;

static struct {
    const bench_opts *opts;
    fleet_hooks hooks;
    bool stopping;
    struct event *retry_tick; /* --resume: reconnects due */
} fl;

static struct {
    int concurrency, in_flight;
    participant *(*next)(void);
} launcher;

/* ---- setup ---------------------------------------------------------------- */

int fleet_alloc(const bench_opts *o, uint32_t n_rooms, const uint16_t *sizes, uint16_t size,
                const fleet_hooks *hooks)
{
    memset(&F, 0, sizeof(F));
    hist_reset(&F.resume_time);
    hist_reset(&F.reconnect_time);
    fl.opts = o;
    fl.hooks = *hooks;
    fl.stopping = false;
    uint64_t n_parts = 0;
    for (uint32_t r = 0; r < n_rooms; r++)
        n_parts += sizes ? sizes[r] : size;
    F.rooms = calloc(n_rooms, sizeof(room));
    F.parts = calloc(n_parts ? n_parts : 1, sizeof(participant));
    if (!F.rooms || !F.parts) {
        fprintf(stderr, "switchboard-bench: out of memory for %llu participants\n",
                (unsigned long long)n_parts);
        return -1;
    }
    F.n_rooms = n_rooms;
    F.n_parts = (uint32_t)n_parts;
    uint32_t next = 0;
    for (uint32_t r = 0; r < n_rooms; r++) {
        room *rm = &F.rooms[r];
        rm->first = next;
        rm->size = sizes ? sizes[r] : size;
        for (uint16_t s = 0; s < rm->size; s++) {
            participant *p = &F.parts[next];
            p->index = next++;
            p->room = r;
            p->slot = s;
            p->node = -1;
            p->conn.owner = p;
        }
    }
    return 0;
}

void fleet_stop(void)
{
    fl.stopping = true;
    if (fl.retry_tick)
        event_free(fl.retry_tick);
    fl.retry_tick = NULL;
}

void fleet_free(void)
{
    for (uint32_t i = 0; i < F.n_parts; i++)
        free(F.parts[i].conn.rx);
    free(F.rooms);
    free(F.parts);
    memset(&F, 0, sizeof(F));
}

int fleet_create_rooms(void)
{
    const bench_opts *o = fl.opts;
    httpc *clients = calloc((size_t)o->n_targets, sizeof(httpc));
    char err[256];
    int rc = 0;
    if (!clients)
        return -1;
    for (int t = 0; t < o->n_targets; t++)
        httpc_init(&clients[t], o->targets[t].host, o->targets[t].port);
    uint64_t t0 = now_us();
    for (uint32_t r = 0; r < F.n_rooms && rc == 0; r++) {
        if (httpc_create_room(&clients[r % (uint32_t)o->n_targets], F.rooms[r].id, err, sizeof(err))
            != 0) {
            fprintf(stderr, "\nswitchboard-bench: creating room %u: %s\n", r, err);
            rc = -1;
        }
        if (!o->quiet && (r % 500 == 499 || r + 1 == F.n_rooms)) {
            char line[96];
            snprintf(line, sizeof(line), "creating rooms %u/%u", r + 1, F.n_rooms);
            progress_print(line, false);
        }
    }
    F.create_s = (double)(now_us() - t0) / 1e6;
    for (int t = 0; t < o->n_targets; t++)
        httpc_close(&clients[t]);
    free(clients);
    return rc;
}

int fleet_target_of(uint32_t room, uint16_t slot)
{
    uint32_t t = (uint32_t)fl.opts->n_targets;
    if (fl.opts->placement == PLACE_ROOM)
        return (int)(room % t);
    return (int)((room + slot) % t);
}

void fleet_connect(participant *p)
{
    room *r = &F.rooms[p->room];
    r->launched++;
    wsconn_open(&p->conn, fleet_target_of(p->room, p->slot), r->id, NULL);
}

/* ---- resuming (--resume) -------------------------------------------------------- */

#define RESUME_MAX_TRIES 40
#define RESUME_FIRST_DELAY_US 50000 /* about a browser's first retry */
#define RESUME_RETRY_DELAY_US 250000
#define RESUME_TICK_US 10000

/* The next target: the one it was on is draining or dead. */
static void reconnect(participant *p)
{
    p->retry_at_us = 0;
    int target = (p->conn.target + 1) % fl.opts->n_targets;
    wsconn_open(&p->conn, target, F.rooms[p->room].id, p->token);
}

/* One timer for every participant waiting to reconnect. */
static void on_retry_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = now_us();
    for (uint32_t i = 0; i < F.n_parts && !fl.stopping; i++) {
        participant *p = &F.parts[i];
        if (p->away && p->retry_at_us && p->retry_at_us <= now)
            reconnect(p);
    }
}

/* The socket ended during the run: reconnect with the token. */
static bool start_resume(participant *p)
{
    if (!fl.opts->resume || fl.stopping || !p->token[0] || (!p->joined && !p->away))
        return false;
    if (!fl.retry_tick) {
        fl.retry_tick = event_new(runner_base(), -1, EV_PERSIST, on_retry_tick, NULL);
        struct timeval tv = { 0, RESUME_TICK_US };
        if (!fl.retry_tick || event_add(fl.retry_tick, &tv) != 0)
            return false;
    }
    if (!p->away) {
        p->away = true;
        p->draining = false;
        p->tries = 0;
        p->t_lost_us = now_us();
        p->joined = false;
        F.rooms[p->room].joined--;
        F.joined--;
        F.per_node[p->node]--;
    }
    if (++p->tries > RESUME_MAX_TRIES) {
        p->away = false;
        F.gave_up++;
        bench_error("gave up resuming after %d attempts", RESUME_MAX_TRIES);
        return false;
    }
    p->retry_at_us = now_us() + (p->tries == 1 ? RESUME_FIRST_DELAY_US : RESUME_RETRY_DELAY_US);
    return true;
}

static void note_resume(participant *p, const ctl_msg *m)
{
    if (!p->away)
        return;
    p->away = false;
    if (m->resumed) {
        F.resumed++;
        hist_record(&F.resume_time, now_us() - p->t_lost_us);
        hist_record(&F.reconnect_time, now_us() - p->conn.t_start_us);
    } else {
        F.refused++;
        bench_error("a resume was refused: a new participant");
    }
    if (m->missed) {
        p->missed = true;
        F.missed++;
    }
}

/* ---- launcher ----------------------------------------------------------------- */

void launcher_init(int concurrency, participant *(*next)(void))
{
    launcher.concurrency = concurrency;
    launcher.in_flight = 0;
    launcher.next = next;
}

void launcher_pump(void)
{
    while (!fl.stopping && launcher.next && launcher.in_flight < launcher.concurrency) {
        participant *p = launcher.next();
        if (!p)
            return;
        launcher.in_flight++;
        fleet_connect(p);
    }
}

void launcher_done(void)
{
    if (launcher.in_flight > 0)
        launcher.in_flight--;
}

int launcher_in_flight(void)
{
    return launcher.in_flight;
}

/* ---- events --------------------------------------------------------------------- */

static int intern_node(const char *node_id)
{
    for (int i = 0; i < F.n_nodes; i++)
        if (strcmp(F.node_names[i], node_id) == 0)
            return i;
    if (F.n_nodes == MAX_NODES)
        return MAX_NODES - 1;
    snprintf(F.node_names[F.n_nodes], sizeof(F.node_names[0]), "%s", node_id);
    return F.n_nodes++;
}

static void on_connected(participant *p, const ctl_msg *m)
{
    if (p->joined) {
        bench_error("a second `connected` on one connection");
        return;
    }
    note_resume(p, m);
    if (m->resume_token)
        snprintf(p->token, sizeof(p->token), "%s", m->resume_token);
    memcpy(p->user_id, m->user_id, USER_ID_LEN + 1);
    p->node = (int16_t)intern_node(m->node_id);
    p->joined = true;
    p->t_connected_us = now_us();
    p->peers_known = (uint16_t)json_array_size(m->participants);
    F.rooms[p->room].joined++;
    F.joined++;
    F.per_node[p->node]++;
    if (fl.hooks.on_connected)
        fl.hooks.on_connected(p, m);
}

static void on_control(participant *p, const char *buf, size_t len)
{
    ctl_msg m;
    msg_parse_ctl(buf, len, &m);
    switch (m.type) {
    case CTL_CONNECTED:
        on_connected(p, &m);
        break;
    case CTL_USER_JOINED:
        p->peers_known++;
        if (fl.hooks.on_user_joined)
            fl.hooks.on_user_joined(p, m.user_id);
        break;
    case CTL_USER_LEFT:
        if (p->peers_known)
            p->peers_known--;
        if (fl.hooks.on_user_left)
            fl.hooks.on_user_left(p, m.user_id);
        break;
    case CTL_ERROR:
        bench_error("server error: %s", m.message ? m.message : "(no message)");
        break;
    case CTL_PONG:
        break;
    case CTL_ROOM_CLOSED:
        bench_error("room closed by the server");
        break;
    case CTL_RECONNECT:
        /* Its close follows; a client sends nothing more meanwhile. */
        if (fl.opts->resume)
            p->draining = true;
        else
            bench_error("server asked to reconnect (node draining)");
        break;
    case CTL_OTHER:
        bench_error("relayed message without a stamp");
        break;
    case CTL_INVALID:
        bench_error("unreadable server message");
        break;
    }
    msg_ctl_clear(&m);
}

static void conn_message(bench_conn *c, char *buf, size_t len)
{
    participant *p = c->owner;
    if (fl.stopping)
        return;
    msg_stamp st;
    if (msg_find_stamp(buf, len, &st)) {
        if (st.sender >= F.n_parts)
            bench_error("stamp names an unknown sender");
        else if (fl.hooks.on_stamp)
            fl.hooks.on_stamp(p, &st, buf, len);
        return;
    }
    on_control(p, buf, len);
}

static void conn_writeable(bench_conn *c)
{
    if (!fl.stopping && fl.hooks.on_writeable)
        fl.hooks.on_writeable(c->owner);
}

static void conn_closed(bench_conn *c, bool was_open, const char *why)
{
    participant *p = c->owner;
    if (start_resume(p))
        return;
    p->gone = true;
    F.gone++;
    if (fl.stopping)
        return;
    if (why)
        bench_error("%s", why);
    if (fl.hooks.on_closed)
        fl.hooks.on_closed(p, was_open, why);
}

static const conn_handlers handlers = {
    .on_open = NULL,
    .on_message = conn_message,
    .on_writeable = conn_writeable,
    .on_closed = conn_closed,
};

const conn_handlers *fleet_conn_handlers(void)
{
    return &handlers;
}
