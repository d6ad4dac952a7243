/*
 * redis_shard_link.c - a pub/sub link for shard channels, on the node's
 * loop (see redis_shard_link.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "redis_shard_link.h"

/* Close, and tell: whether it was up or still connecting, the owner
 * decides when to try again. */
static void link_fail(shard_link *l, const char *why)
{
    sb_warn(NULL, NULL, "redis shard link %s:%d: %s", l->host, l->port, why);
    shard_link_close(l);
    if (l->ev->on_down)
        l->ev->on_down(l);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    shard_link *l = arg;
    if (redisBufferRead(l->c) != REDIS_OK) {
        link_fail(l, l->c->errstr[0] ? l->c->errstr : "disconnected");
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(l->c, &reply) != REDIS_OK) {
            link_fail(l, "protocol error");
            return;
        }
        if (!reply)
            return;
        redisContext *c = l->c;
        l->ev->on_reply(l, reply);
        freeReplyObject(reply);
        /* The callback may have closed the link. */
        if (l->c != c)
            return;
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    shard_link *l = arg;
    int done = 0;
    if (redisBufferWrite(l->c, &done) != REDIS_OK) {
        link_fail(l, "write failed");
        return;
    }
    if (done)
        event_del(l->wr);
}

/* The non-blocking connect ended: the socket's pending error says how. */
static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    shard_link *l = arg;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        link_fail(l, err ? strerror(err) : "connect failed");
        return;
    }
    event_free(l->wr);
    l->rd = event_new(l->base, fd, EV_READ | EV_PERSIST, on_readable, l);
    l->wr = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_writable, l);
    if (!l->rd || !l->wr) {
        link_fail(l, "out of memory");
        return;
    }
    event_add(l->rd, NULL);
    l->up = true;
    if (l->password && l->password[0]) {
        const char *with_user[] = { "AUTH", l->username, l->password };
        const char *plain[] = { "AUTH", l->password };
        if (l->username && l->username[0])
            shard_link_command(l, 3, with_user);
        else
            shard_link_command(l, 2, plain);
    }
    if (l->ev->on_up)
        l->ev->on_up(l);
}

void shard_link_open(shard_link *l, struct event_base *base, const char *host, int port,
                     const char *username, const char *password, const shard_link_events *ev)
{
    shard_link_close(l);
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    l->base = base;
    l->ev = ev;
    l->username = username;
    l->password = password;
    l->c = redisConnectNonBlock(host, port);
    if (!l->c || l->c->err) {
        link_fail(l, l->c ? l->c->errstr : "out of memory");
        return;
    }
    l->wr = event_new(base, l->c->fd, EV_WRITE, on_connected, l);
    if (!l->wr) {
        link_fail(l, "out of memory");
        return;
    }
    event_add(l->wr, NULL);
}

void shard_link_close(shard_link *l)
{
    if (l->rd)
        event_free(l->rd);
    if (l->wr)
        event_free(l->wr);
    if (l->c)
        redisFree(l->c);
    l->rd = l->wr = NULL;
    l->c = NULL;
    l->up = false;
}

int shard_link_command(shard_link *l, int argc, const char **argv)
{
    if (!l->up || redisAppendCommandArgv(l->c, argc, argv, NULL) != REDIS_OK)
        return -1;
    event_add(l->wr, NULL);
    return 0;
}
