/*
 * redis_bus_publish.c - every PUBLISH of the node, in one place.
 *
 * The relay's hot path: a message for members on other nodes is one
 * publish on its room's channel. The command is written as RESP straight
 * into a buffer reused from one publish to the next, the envelope's header
 * and the payload copied once, and handed to hiredis already formatted
 * (redisAsyncFormattedCommand), instead of a format string that hiredis
 * would parse, size and copy again. hiredis appends it to the link's
 * output buffer, written at the end of the loop's turn (redis_events.c),
 * so all the publishes of one loop iteration leave in one write.
 *
 * On Redis Cluster a room's channel is a shard channel, published with
 * SPUBLISH through the slot routing instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "redis_bus.h"
#include "redis_bus_internal.h"

static struct {
    char *buf;
    size_t cap;
} scratch;

/* The RESP of `<verb> <channel> <head><body>` in scratch: its length, or 0
 * when memory runs out. */
static size_t format_publish(const char *verb, const char *channel, size_t channel_len,
                             const char *head, size_t head_len, const char *body, size_t body_len)
{
    char prefix[128 + BUS_KEY_MAX];
    int n = snprintf(prefix, sizeof(prefix), "*3\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(verb), verb,
                     channel_len);
    if (n <= 0 || (size_t)n >= sizeof(prefix))
        return 0;
    char mid[32];
    int m = snprintf(mid, sizeof(mid), "\r\n$%zu\r\n", head_len + body_len);
    size_t need = (size_t)n + channel_len + (size_t)m + head_len + body_len + 2;
    /* One more for a NUL after the command: hiredis reads the command's
     * first arguments with strchr (to spot a SUBSCRIBE), which must find
     * the end of a string inside the buffer. */
    if (need + 1 > scratch.cap) {
        size_t cap = need < 4096 ? 4096 : need * 2;
        char *buf = realloc(scratch.buf, cap);
        if (!buf)
            return 0;
        scratch.buf = buf;
        scratch.cap = cap;
    }
    char *p = scratch.buf;
    memcpy(p, prefix, (size_t)n);
    p += n;
    memcpy(p, channel, channel_len);
    p += channel_len;
    memcpy(p, mid, (size_t)m);
    p += m;
    memcpy(p, head, head_len);
    p += head_len;
    if (body_len)
        memcpy(p, body, body_len);
    p += body_len;
    memcpy(p, "\r\n", 3); /* and the NUL */
    return need;
}

/* On Redis Cluster the room's channel is a shard channel: SPUBLISH, routed
 * to the shard owning the room's slot (and sent again after a MOVED) by
 * bus_send, with the two pieces joined in scratch. */
static int publish_sharded(const char *channel, const char *head, size_t head_len,
                           const char *body, size_t body_len)
{
    size_t len = head_len + body_len;
    if (len > scratch.cap) {
        char *buf = realloc(scratch.buf, len * 2);
        if (!buf)
            return -1;
        scratch.buf = buf;
        scratch.cap = len * 2;
    }
    memcpy(scratch.buf, head, head_len);
    if (body_len)
        memcpy(scratch.buf + head_len, body, body_len);
    const char *argv[] = { "SPUBLISH", channel, scratch.buf };
    const size_t lens[] = { 8, strlen(channel), len };
    return bus_send(3, argv, lens, NULL, NULL);
}

int bus_publish_parts(const char *room_id, const char *head, size_t head_len, const char *body,
                      size_t body_len)
{
    char channel[BUS_KEY_MAX];
    bus_key_room(channel, room_id);
    if (bus_config()->cluster.count > 0)
        return publish_sharded(channel, head, head_len, body, body_len);
    redisAsyncContext *ac = bus_command_link();
    if (!ac)
        return -1;
    size_t len =
        format_publish("PUBLISH", channel, strlen(channel), head, head_len, body, body_len);
    /* No reply is needed, so none is tracked. */
    return len && redisAsyncFormattedCommand(ac, NULL, NULL, scratch.buf, len) == REDIS_OK ? 0 : -1;
}

int bus_publish(const char *room_id, const char *data, size_t len)
{
    return bus_publish_parts(room_id, data, len, NULL, 0);
}
