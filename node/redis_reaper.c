/*
 * redis_reaper.c - removing the members of nodes that stopped
 * heartbeating (docs/design.md#dead-nodes).
 *
 * Every heartbeat period each node tries; a lock lets one do the work.
 * Each step is one-slot calls (redis_scripts.h), sent together:
 *
 *   1. lock      SET reaper:lock NX PX (a little under one period)
 *   2. registry  SMEMBERS nodes
 *   3. find      REAP_NODE per other node: nil if it is alive, else the
 *                rooms where it had members (the node's slot)
 *   4. members   REAP_ROOM per room of a dead node (the room's slot):
 *                what happens to each member of that node: removed, or
 *                with --resume-window held for a resume
 *   5. forget    REAP_FORGET per dead node whose rooms were all done (its
 *                slot; nothing if it came back meanwhile), then SREM nodes
 *
 * Reaping is idempotent: a member is announced as left only by the call
 * that removed it, and held only by the call that found it not held yet,
 * so two reapers (the lock expired mid-walk) say it once.
 * A step that fails leaves the node registered, for the next period.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "redis_bus.h"
#include "redis_bus_internal.h"
#include "redis_round.h"

typedef struct {
    char *id;
    char **rooms;
    size_t n_rooms;
    bool failed;
    long long reaped;
} dead_node;

/* One REAP_ROOM call: which dead node, which room. */
typedef struct {
    size_t node;
    const char *room_id;
} reap_item;

static struct {
    round r; /* first */
    bool busy;
    char **nodes; /* the registry, as read */
    size_t n_nodes;
    dead_node *dead;
    size_t n_dead;
    reap_item *items;
    size_t n_items;
} reaper;

static void reaper_reset(void)
{
    for (size_t i = 0; i < reaper.n_nodes; i++)
        free(reaper.nodes[i]);
    free(reaper.nodes);
    for (size_t i = 0; i < reaper.n_dead; i++) {
        for (size_t k = 0; k < reaper.dead[i].n_rooms; k++)
            free(reaper.dead[i].rooms[k]);
        free(reaper.dead[i].rooms);
        free(reaper.dead[i].id);
    }
    free(reaper.dead);
    free(reaper.items);
    round r = reaper.r;
    memset(&reaper, 0, sizeof(reaper));
    reaper.r = r;
}

static void reaper_finish(round *r)
{
    (void)r;
    reaper_reset();
}

/* Step 5 answered for dead node i. */
static void on_forget(round *r, size_t i, const redisReply *reply)
{
    (void)r;
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1)
        return; /* it came back */
    char nodes[BUS_KEY_MAX];
    bus_key_nodes(nodes);
    const char *argv[] = { "SREM", nodes, reaper.dead[i].id };
    bus_send(3, argv, NULL, NULL, NULL);
    sb_warn(NULL, NULL, "node %s stopped heartbeating: %s its members (%lld in all)",
            reaper.dead[i].id, bus_config()->resume_window > 0 ? "holding for a resume" : "removed",
            reaper.dead[i].reaped);
}

static void reaper_forget(round *r)
{
    (void)r;
    round_begin(&reaper.r, reaper_finish);
    for (size_t i = 0; i < reaper.n_dead; i++) {
        if (reaper.dead[i].failed)
            continue;
        char key[BUS_KEY_MAX], rooms[BUS_KEY_MAX];
        bus_key_node(key, reaper.dead[i].id);
        bus_key_node_rooms(rooms, reaper.dead[i].id);
        const char *argv[] = { "EVALSHA", bus_script_sha(S_REAP_FORGET), "2", key, rooms };
        round_send(&reaper.r, i, on_forget, 5, argv, NULL);
    }
    if (!round_end(&reaper.r))
        reaper_finish(&reaper.r);
}

/* Step 4 answered for one room of a dead node. */
static void on_reap_room(round *r, size_t i, const redisReply *reply)
{
    (void)r;
    dead_node *d = &reaper.dead[reaper.items[i].node];
    if (reply->type != REDIS_REPLY_INTEGER) {
        d->failed = true;
        return;
    }
    d->reaped += reply->integer;
    metrics.members_reaped += (uint64_t)reply->integer;
}

/* What happens to each member a dead node had in a room: one call per
 * room, in the room's slot (SCRIPT_REAP_ROOM). With --resume-window each
 * is held for the window from now (docs/design.md#resume), not removed. */
static void reap_room(size_t item)
{
    const reap_item *it = &reaper.items[item];
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], away[BUS_KEY_MAX], departure[16], window[24],
        now[24];
    bus_key_room(room, it->room_id);
    bus_key_members(members, it->room_id);
    bus_key_away(away, it->room_id);
    snprintf(departure, sizeof(departure), "%d", bus_config()->departure_timeout);
    snprintf(window, sizeof(window), "%lld", (long long)bus_config()->resume_window * 1000);
    snprintf(now, sizeof(now), "%lld", (long long)sb_clock_wall_ms());
    const char *argv[] = { "EVALSHA",
                           bus_script_sha(S_REAP_ROOM),
                           "3",
                           room,
                           members,
                           away,
                           reaper.dead[it->node].id,
                           bus_config()->node_id,
                           it->room_id,
                           departure,
                           window,
                           now };
    round_send(&reaper.r, item, on_reap_room, 12, argv, NULL);
}

static void reaper_members(round *r)
{
    (void)r;
    size_t total = 0;
    for (size_t i = 0; i < reaper.n_dead; i++)
        total += reaper.dead[i].n_rooms;
    reaper.items = calloc(total ? total : 1, sizeof(*reaper.items));
    if (!reaper.items) {
        reaper_finish(r);
        return;
    }
    for (size_t i = 0; i < reaper.n_dead; i++)
        for (size_t k = 0; k < reaper.dead[i].n_rooms; k++)
            reaper.items[reaper.n_items++] = (reap_item){ i, reaper.dead[i].rooms[k] };
    round_begin(&reaper.r, reaper_forget);
    for (size_t i = 0; i < reaper.n_items; i++)
        reap_room(i);
    /* A dead node with no rooms left goes straight to step 5. */
    if (!round_end(&reaper.r))
        reaper_forget(&reaper.r);
}

/* Step 3 answered for registered node i: nil if alive. */
static void on_reap_node(round *r, size_t i, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return;
    dead_node *d = &reaper.dead[reaper.n_dead];
    if (!(d->id = strdup(reaper.nodes[i]))
        || !(d->rooms = calloc(reply->elements + 1, sizeof(*d->rooms)))) {
        free(d->id);
        d->id = NULL;
        r->failed = true;
        return;
    }
    reaper.n_dead++;
    for (size_t k = 0; k < reply->elements; k++)
        if (reply->element[k]->type == REDIS_REPLY_STRING
            && (d->rooms[d->n_rooms] = strdup(reply->element[k]->str)))
            d->n_rooms++;
}

static void reaper_find(round *r)
{
    if (r->failed || !reaper.n_nodes) {
        reaper_finish(r);
        return;
    }
    reaper.dead = calloc(reaper.n_nodes, sizeof(*reaper.dead));
    if (!reaper.dead) {
        reaper_finish(r);
        return;
    }
    round_begin(&reaper.r, reaper_members);
    for (size_t i = 0; i < reaper.n_nodes; i++) {
        if (strcmp(reaper.nodes[i], bus_config()->node_id) == 0)
            continue;
        char key[BUS_KEY_MAX], rooms[BUS_KEY_MAX];
        bus_key_node(key, reaper.nodes[i]);
        bus_key_node_rooms(rooms, reaper.nodes[i]);
        const char *argv[] = { "EVALSHA", bus_script_sha(S_REAP_NODE), "2", key, rooms };
        round_send(&reaper.r, i, on_reap_node, 5, argv, NULL);
    }
    if (!round_end(&reaper.r))
        reaper_finish(&reaper.r);
}

static void on_registry(round *r, size_t i, const redisReply *reply)
{
    (void)i;
    if (reply->type != REDIS_REPLY_ARRAY
        || !(reaper.nodes = calloc(reply->elements + 1, sizeof(*reaper.nodes)))) {
        r->failed = true;
        return;
    }
    for (size_t k = 0; k < reply->elements; k++)
        if (reply->element[k]->type == REDIS_REPLY_STRING
            && (reaper.nodes[reaper.n_nodes] = strdup(reply->element[k]->str)))
            reaper.n_nodes++;
}

static void on_lock(round *r, size_t i, const redisReply *reply)
{
    (void)i;
    if (reply->type != REDIS_REPLY_STATUS)
        r->failed = true; /* nil: another node holds it */
}

static void reaper_registry(round *r)
{
    if (r->failed) {
        reaper_finish(r);
        return;
    }
    char nodes[BUS_KEY_MAX];
    bus_key_nodes(nodes);
    const char *argv[] = { "SMEMBERS", nodes };
    round_begin(&reaper.r, reaper_find);
    round_send(&reaper.r, 0, on_registry, 2, argv, NULL);
    if (!round_end(&reaper.r))
        reaper_finish(&reaper.r);
}

void bus_reap_dead_nodes(void)
{
    if (reaper.busy || !bus_is_ready())
        return;
    char lock[BUS_KEY_MAX], lock_ms[16];
    snprintf(lock, sizeof(lock), "%sreaper:lock", bus_config()->key_prefix);
    snprintf(lock_ms, sizeof(lock_ms), "%d", bus_heartbeat_period_ms() - 100);
    const char *argv[] = { "SET", lock, bus_config()->node_id, "NX", "PX", lock_ms };
    round_begin(&reaper.r, reaper_registry);
    round_send(&reaper.r, 0, on_lock, 6, argv, NULL);
    reaper.busy = round_end(&reaper.r);
}
