/*
 * redis_events.h - hiredis connections on the node's libevent loop.
 *
 * Owns: the events of every hiredis connection of the node (the bus links,
 * the sentinels', the cluster's), in place of hiredis's libevent adapter.
 * The adapter's read event is one-shot, so every read of a busy link cost
 * an epoll_ctl to arm it again, and a command queued waited for the next
 * turn of the loop, with write interest turned on and off around it. Here
 * the read event persists, and the commands queued during one turn of the
 * loop are written at the end of that turn, all in one write, without
 * asking epoll whether the socket can take them; write interest is only
 * left on when the kernel took less than all of them.
 */
#ifndef SB_REDIS_EVENTS_H
#define SB_REDIS_EVENTS_H

#include <event2/event.h>
#include <hiredis/async.h>

/* Attach ac to base (as redisLibeventAttach does). 0, or -1 when memory
 * runs out or something is attached already. */
int redis_events_attach(redisAsyncContext *ac, struct event_base *base);

#endif
