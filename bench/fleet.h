/*
 * fleet.h - the rooms and participants of a run, and what happens to them.
 *
 * Every mode works on the same model: rooms created over REST, each with a
 * fixed number of participant slots; a participant is one WebSocket. The
 * fleet owns both arrays, decides which target a participant connects to,
 * starts connections with bounded concurrency, and turns what arrives into
 * calls to the mode: `connected` (with the user id and node id the server
 * gave), `user-joined`, `user-left`, stamped relayed messages, errors.
 * It keeps the bookkeeping every mode needs (who is joined, on which
 * node, how many peers each participant knows of) so the modes only keep
 * what they measure.
 */
#ifndef BENCH_FLEET_H
#define BENCH_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "msg.h"
#include "options.h"
#include "wsconn.h"

#define MAX_NODES 64

typedef struct participant {
    bench_conn conn; /* first: a bench_conn * is a participant * */
    uint32_t index;  /* in the fleet */
    uint32_t room;
    uint16_t slot; /* in the room */
    int16_t node;  /* interned node_id, -1 until `connected` */
    bool joined;   /* got `connected` */
    bool gone;     /* the connection ended */
    /* --resume: the socket ended and the participant is reconnecting with
     * its token (not sending meanwhile); `missed`: a resume said messages
     * of the gap were lost to the node's bound. */
    bool away, missed, draining;
    uint8_t tries;
    uint64_t t_lost_us, retry_at_us;
    char token[80];
    uint16_t peers_known; /* others it knows are in the room */
    uint64_t t_connected_us;
    char user_id[USER_ID_LEN + 1];
    /* relay mode's sending state */
    uint32_t seq;
    uint32_t pending;
    uint32_t heap_pos;
    uint16_t next_peer;
    uint64_t next_send_us;
} participant;

typedef struct {
    char id[USER_ID_LEN + 1];
    uint32_t first; /* index of slot 0 */
    uint16_t size;
    uint16_t joined;    /* slots with `connected` */
    uint16_t in_flight; /* join mode: connections being set up */
    uint16_t launched;  /* slots whose connection was started */
} room;

typedef struct {
    /* every hook is optional */
    void (*on_connected)(participant *p, const ctl_msg *m);
    void (*on_user_joined)(participant *p, const char *user_id);
    void (*on_user_left)(participant *p, const char *user_id);
    void (*on_stamp)(participant *p, const msg_stamp *st, const char *buf, size_t len);
    void (*on_writeable)(participant *p);
    void (*on_closed)(participant *p, bool was_open, const char *why);
} fleet_hooks;

typedef struct {
    room *rooms;
    uint32_t n_rooms;
    participant *parts;
    uint32_t n_parts;
    uint32_t joined, gone;
    char node_names[MAX_NODES][64];
    int n_nodes;
    uint32_t per_node[MAX_NODES]; /* joined participants per node */
    double create_s;              /* time spent creating rooms */
    /* --resume: socket lost -> resumed `connected`, and how resumes went */
    hist resume_time, reconnect_time; /* from the loss; from the new socket's start */
    uint32_t resumed, refused, missed, gave_up;
} fleet;

extern fleet F;

/* Allocate n_rooms rooms with the given sizes (sizes NULL: all of size
 * `size`). 0 on success. */
int fleet_alloc(const bench_opts *o, uint32_t n_rooms, const uint16_t *sizes, uint16_t size,
                const fleet_hooks *hooks);
void fleet_free(void);
/* The run is over: connections closing from now on call no hooks and
 * start nothing new. */
void fleet_stop(void);

/* POST /create-room for every room, spread over the targets. */
int fleet_create_rooms(void);

int fleet_target_of(uint32_t room, uint16_t slot);
/* Start participant p's connection. */
void fleet_connect(participant *p);
/* The conn_handlers that route lws events here. */
const conn_handlers *fleet_conn_handlers(void);

static inline participant *fleet_peer(const room *r, uint16_t slot)
{
    return &F.parts[r->first + slot];
}

/* Bounded concurrency: `next` is asked for a participant to start until it
 * returns NULL or K are in flight; finish one with launcher_done. */
void launcher_init(int concurrency, participant *(*next)(void));
void launcher_pump(void);
void launcher_done(void);
int launcher_in_flight(void);

#endif
