/*
 * redis_cluster_internal.h - what redis_cluster.c (links, requests, shard
 * subscriptions) and redis_cluster_map.c (the slot map) share. Not for
 * other modules: they use redis_cluster.h.
 */
#ifndef SB_REDIS_CLUSTER_INTERNAL_H
#define SB_REDIS_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/async.h>

#include "config.h"
#include "redis_cluster.h"
#include "redis_shard_link.h"
#include "redis_slots.h"

#define MASTERS_MAX 64
#define NO_MASTER 0xFF
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define REDIRECTS_MAX 5

typedef struct {
    bool used; /* named by the map */
    char host[256];
    int port;
    redisAsyncContext *ac;
    bool up, closing;
    int backoff_ms;
    struct event *retry;
    shard_link sub;
    int sub_backoff_ms;
    /* SUNSUBSCRIBEs sent on sub and not answered yet: a "sunsubscribe"
     * beyond them is the master giving a slot's channels away. */
    unsigned unsub_asked;
    struct event *sub_retry;
} master;

struct cluster_state {
    struct event_base *base;
    const sb_config *cfg;
    cluster_events ev;
    const char *const *scripts;
    size_t n_scripts;
    master m[MASTERS_MAX];
    uint8_t owner[SB_SLOT_COUNT];
    bool map_ok;    /* every slot has a master */
    bool map_moved; /* a MOVED patched the map since it was last read */
    /* The map link: one async context to a seed or a known node. */
    redisAsyncContext *map_ac;
    bool map_up, refreshing, refresh_again;
    size_t next_candidate;
    struct event *refresh_timer;
    bool commands_ready, commands_were_ready;
    bool sub_ready;
    bool stopping;
};
extern struct cluster_state cl;

/* redis_cluster.c */
void master_connect(master *m);
void sub_connect(master *m);
/* Both of its links closed (redis_cluster.c). */
void master_close_links(master *m);
/* Every subscription is gone: close every shard link and open them again. */
void subscriber_reset(void);
void check_commands_ready(void);
void check_subscriber_ready(void);
master *master_find(const char *host, int port);
void backoff_add(struct event *ev, int *backoff_ms);

/* redis_cluster_map.c: the timer that asks for the map again after a
 * failed attempt. */
void cluster_map_on_timer(evutil_socket_t fd, short what, void *arg);

#endif
