/*
 * redis_events.c - hiredis connections on the node's libevent loop (see
 * redis_events.h).
 *
 * hiredis asks for write interest whenever it queues a command
 * (addWrite) and drops it once its buffer is written (delWrite). Here
 * addWrite also makes a flush event active: libevent runs it in the same
 * turn of the loop, after the callbacks already due (the client reads that
 * queued the commands), and it writes hiredis's buffer at once. When
 * everything went, hiredis drops the write interest it asked for in the
 * same turn, and libevent's change list folds the two into no system call.
 */
#include <stdlib.h>

#include "redis_events.h"

typedef struct {
    redisAsyncContext *ac;
    struct event *rev, *wev, *flush;
} redis_events;

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redisAsyncHandleRead(((redis_events *)arg)->ac);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redisAsyncHandleWrite(((redis_events *)arg)->ac);
}

/* Only once connected: before that, a write is how hiredis learns that
 * the connect completed, which must wait for the socket. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_events *e = arg;
    if (e->ac->c.flags & REDIS_CONNECTED)
        redisAsyncHandleWrite(e->ac);
}

/* The read event persists: hiredis asks for it again after every read,
 * which costs nothing while it is still on. */
static void add_read(void *data)
{
    event_add(((redis_events *)data)->rev, NULL);
}

static void del_read(void *data)
{
    event_del(((redis_events *)data)->rev);
}

static void add_write(void *data)
{
    redis_events *e = data;
    event_add(e->wev, NULL);
    if (e->ac->c.flags & REDIS_CONNECTED)
        event_active(e->flush, EV_TIMEOUT, 0);
}

static void del_write(void *data)
{
    event_del(((redis_events *)data)->wev);
}

static void cleanup(void *data)
{
    redis_events *e = data;
    event_free(e->rev);
    event_free(e->wev);
    event_free(e->flush);
    free(e);
}

int redis_events_attach(redisAsyncContext *ac, struct event_base *base)
{
    if (ac->ev.data)
        return -1;
    redis_events *e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    e->ac = ac;
    int fd = ac->c.fd;
    e->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, e);
    e->wev = event_new(base, fd, EV_WRITE, on_write, e);
    e->flush = event_new(base, -1, 0, on_flush, e);
    if (!e->rev || !e->wev || !e->flush) {
        if (e->rev)
            event_free(e->rev);
        if (e->wev)
            event_free(e->wev);
        if (e->flush)
            event_free(e->flush);
        free(e);
        return -1;
    }
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = e;
    event_add(e->rev, NULL);
    event_add(e->wev, NULL);
    return 0;
}
