/*
 * redis_cluster.h - the Redis layer's links when the node uses Redis
 * Cluster (--redis-cluster), behind redis_bus.c.
 *
 * Owns: the slot map (read with CLUSTER SLOTS from a seed or a known
 * node, refreshed on every heartbeat, on MOVED and when a link drops), one
 * hiredis async command link per master, with the Lua scripts loaded on
 * each, MOVED/ASK redirections, and one shard pub/sub link per master
 * (redis_shard_link.h). A command goes to the master of its key's slot
 * (redis_slots.h); a shard channel is subscribed on the master of its
 * slot.
 *
 * The shard links count as one subscriber, as the single Redis's: it is
 * up when every master's link is, and when one drops, or the map moves a
 * slot, all are closed and opened again, so "every subscription is gone"
 * stays true and the node subscribes its rooms again on the way up.
 */
#ifndef SB_REDIS_CLUSTER_H
#define SB_REDIS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <hiredis/async.h>

#include "config.h"

typedef struct {
    /* Every master's command link is up; `again` after one was down. */
    void (*on_commands_up)(bool again);
    /* A reply on a shard link: {"ssubscribe"|"sunsubscribe"|"smessage",
     * channel, count or payload}. */
    void (*on_shard_reply)(const redisReply *r);
    void (*on_subscriber_up)(void);
    void (*on_subscriber_down)(void);
} cluster_events;

/* scripts: the n script texts to load on every command link. */
int cluster_start(struct event_base *base, const sb_config *cfg, const char *const *scripts,
                  size_t n, const cluster_events *ev);
/* Close every link; queued callbacks run with reply NULL. */
void cluster_stop(void);
bool cluster_commands_ready(void);
bool cluster_subscriber_ready(void);
/* A command to the master of its key's slot (the key is argv[1], or
 * argv[3] for EVALSHA); fn gets the final answer after any redirection,
 * NULL if a link dropped first. -1 (fn never called) when that master's
 * link is not up. argvlen may be NULL. */
int cluster_send(int argc, const char **argv, const size_t *argvlen, redisCallbackFn *fn,
                 void *privdata);
/* SSUBSCRIBE (on) or SUNSUBSCRIBE a shard channel; -1 when its shard's
 * link is not up. */
int cluster_subscribe(const char *channel, bool on);
/* Ask for the slot map again (at most one request in flight). */
void cluster_refresh(void);

#endif
