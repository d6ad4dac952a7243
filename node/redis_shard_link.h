/*
 * redis_shard_link.h - one pub/sub connection to a Redis Cluster master,
 * for its shard channels (SSUBSCRIBE, SUNSUBSCRIBE, and the "smessage"
 * pushes that follow).
 *
 * hiredis 0.14's async context knows SUBSCRIBE but not SSUBSCRIBE: a push
 * on a context it does not take for subscribed fails its assertion that
 * every reply has a callback. So this link drives a plain non-blocking
 * redisContext from the loop itself: hiredis connects, writes and parses,
 * and every reply goes to one callback, in order.
 */
#ifndef SB_REDIS_SHARD_LINK_H
#define SB_REDIS_SHARD_LINK_H

#include <stdbool.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

typedef struct shard_link shard_link;

typedef struct {
    void (*on_up)(shard_link *l);
    /* The connection failed or dropped: every subscription is gone. */
    void (*on_down)(shard_link *l);
    void (*on_reply)(shard_link *l, const redisReply *r);
} shard_link_events;

struct shard_link {
    char host[256];
    int port;
    bool up;
    void *owner; /* the caller's */
    /* private */
    struct event_base *base;
    const shard_link_events *ev;
    const char *username, *password;
    redisContext *c;
    struct event *rd, *wr;
};

/* Connect (asynchronously; on_up or on_down follows). AUTH with password
 * (and username) when password is not empty; both must outlive the link. */
void shard_link_open(shard_link *l, struct event_base *base, const char *host, int port,
                     const char *username, const char *password, const shard_link_events *ev);
/* Close without calling on_down. */
void shard_link_close(shard_link *l);
/* Queue a command; -1 when the link is not up. */
int shard_link_command(shard_link *l, int argc, const char **argv);

#endif
