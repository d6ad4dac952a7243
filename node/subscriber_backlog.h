/*
 * subscriber_backlog.h - how far behind the nodes' subscribers are, read
 * from Redis's CLIENT LIST: a pure function, for node/overload.c.
 */
#ifndef SB_SUBSCRIBER_BACKLOG_H
#define SB_SUBSCRIBER_BACKLOG_H

#include <stddef.h>

/* The largest omem (bytes Redis holds for the link, unread) of the links
 * named SB_SUBSCRIBER_NAME_PREFIX<node> in a CLIENT LIST reply of `len`
 * bytes, or -1 when there is none. */
long long sb_subscriber_backlog(const char *client_list, size_t len);

#endif
