/*
 * redis_sentinel.h - where the Redis master is, according to Redis
 * Sentinel (--redis-sentinels, --redis-master-name).
 *
 * Owns: the node's connections to the sentinels, on the node's loop. It
 * asks SENTINEL get-master-addr-by-name of the sentinels in turn, and
 * listens to +switch-master on one of them. It owns no Redis link:
 * redis_bus calls it and hears the answers through the handlers it
 * registered (docs/design.md#sentinel).
 */
#ifndef SB_REDIS_SENTINEL_H
#define SB_REDIS_SENTINEL_H

#include <event2/event.h>

#include "config.h"

typedef struct {
    /* The master is at host:port: the answer to an ask, or a failover
     * announced by +switch-master (which may come at any time). */
    void (*on_master)(const char *host, int port);
} sentinel_handlers;

/* Start watching +switch-master; cfg has at least one sentinel. */
int sentinel_start(struct event_base *base, const sb_config *cfg, const sentinel_handlers *h);
/* Ask the sentinels where the master is. Sentinels are tried in turn, the
 * last one that answered first; when none answers, the round is repeated
 * with a backoff (100 ms doubling to 5 s) until one does. A call while an
 * ask is under way joins it: one answer, one on_master. */
void sentinel_ask(void);
/* Close every sentinel connection; no handler is called after it. */
void sentinel_stop(void);

#endif
