/*
 * redis_bus.h - everything this node says to Redis, on the node's loop.
 *
 * Owns: two hiredis async connections attached to the node's event_base —
 * one for commands (membership scripts, REST queries, PUBLISH) and one in
 * subscriber mode for the room channels — their reconnection with backoff,
 * the node heartbeat, and the Lua scripts (loaded on every connect and
 * called by SHA).
 *
 * Requests return 0 when queued and -1 when Redis is not connected; in the
 * latter case the callback is never called, so callers answer "unavailable"
 * at once. A queued request's callback is always called exactly once, with
 * reply NULL if the connection dropped before the answer came.
 */
#ifndef SB_REDIS_BUS_H
#define SB_REDIS_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "config.h"

typedef void (*bus_reply_fn)(redisReply *reply, void *privdata);
/* The outcome of a request of several Redis calls: -1 Redis unavailable
 * (a call failed or a link dropped), else the request's own answer. */
typedef void (*bus_result_fn)(int result, void *privdata);

typedef struct {
    /* A payload published on a room channel by any node (including this one). */
    void (*on_message)(const char *room_id, const char *data, size_t len);
    void (*on_subscribed)(const char *room_id);
    void (*on_unsubscribed)(const char *room_id);
    /* The subscriber connection came (back) up with no subscriptions, or
     * went down (every subscription is gone). */
    void (*on_subscriber_up)(void);
    void (*on_subscriber_down)(void);
    /* The command connection came back after an outage. */
    void (*on_commands_up)(void);
    /* Redis has no heartbeat of this node: write the members back. */
    void (*on_membership_lost)(void);
    /* Every heartbeat period (a third of --heartbeat-ttl), Redis up or not:
     * one timer for all the node's periodic upkeep. */
    void (*on_heartbeat)(void);
} bus_handlers;

typedef struct {
    int max_participants;      /* 0 = unlimited */
    int empty_timeout;         /* s */
    int departure_timeout;     /* s */
    const char *metadata_json; /* "null" when none */
} bus_room_params;

int bus_start(struct event_base *base, const sb_config *cfg, const bus_handlers *handlers);
/* Close both connections; queued callbacks run with reply NULL. */
void bus_stop(void);
/* Remove this node's heartbeat and registry entries (on a clean stop). */
void bus_deregister(void);
/* Both connections are up. */
bool bus_is_ready(void);
/* Requests queued whose callbacks have not run yet. */
size_t bus_pending(void);

/* Create a room unless the index holds --max-rooms entries (counted over
 * its partitions; at the limit the 64 oldest entries are checked and the
 * stale ones dropped first). Result 1 created, 0 too many rooms. */
int bus_room_create(const char *room_id, const char *created_at, long long created_ms,
                    const bus_room_params *params, bus_result_fn fn, void *privdata);
int bus_room_get(const char *room_id, bus_reply_fn fn, void *privdata);
/* HKEYS of the room's members hash. */
int bus_room_members(const char *room_id, bus_reply_fn fn, void *privdata);
/* HGETALL of the room's members hash: user id, value, ... */
int bus_room_member_values(const char *room_id, bus_reply_fn fn, void *privdata);
/* SMEMBERS of this node's rooms set: the rooms where Redis has members of
 * this node. */
int bus_node_rooms(bus_reply_fn fn, void *privdata);
/* Rooms examined at most by one listing call: about a millisecond of
 * Redis time, so a long listing never stalls the other nodes' requests. */
#define BUS_LIST_PAGE_MAX 250
typedef struct {
    const char *room_id;
    const char *created_at;
    long long participant_count;
} bus_room_brief;

/* A page of the listing: the rooms still there, in index order; `more`
 * is false once the index ended; (last_score, last_id) is the last entry
 * examined, where the next page starts. */
typedef struct {
    bool more;
    const char *last_score;
    const char *last_id;
    size_t count;
    const bus_room_brief *rooms;
} bus_list_page;

/* page is NULL when Redis was unavailable; it lives for the call only. */
typedef void (*bus_list_fn)(const bus_list_page *page, void *privdata);

/* One page of the room index, oldest first: at most `count` (capped at
 * BUS_LIST_PAGE_MAX) entries past the first `start` ones when after_id is
 * NULL, else from just past the entry (after_score, after_id) that ended
 * the previous page. The index partitions are merged in the order of one
 * sorted set (score, then id bytes); stale entries met are dropped from
 * the index (redis_index.c). */
int bus_room_list_page(long long start, const char *after_score, const char *after_id,
                       long long count, bus_list_fn fn, void *privdata);
int bus_room_delete(const char *room_id, const char *envelope, size_t envelope_len, bus_reply_fn fn,
                    void *privdata);

/* Add a member (SCRIPT_JOIN). `profile` is NULL in open mode; with auth on
 * it is the member's {"identity","name","metadata"}, stored with it, and
 * the join replaces a member of the same identity (SCRIPT_JOIN_AUTH,
 * whose reply carries each member's stored value). */
int bus_member_join(const char *room_id, const char *user_id, const json_t *profile,
                    const char *resume_secret, const char *envelope, size_t envelope_len,
                    bus_reply_fn fn, void *privdata);
/* Write a member back after Redis lost it (see SCRIPT_RESTORE). */
int bus_member_restore(const char *room_id, const char *user_id, const json_t *profile,
                       const char *resume_secret, const char *envelope, size_t envelope_len,
                       bus_reply_fn fn, void *privdata);
int bus_member_leave(const char *room_id, const char *user_id, const char *envelope,
                     size_t envelope_len, bool last_local, bus_reply_fn fn, void *privdata);
/* Keep the keys of these rooms alive for another occupied period. */
int bus_rooms_refresh(const char *const *room_ids, size_t n);

/* Publish data on the room's channel (node/redis_bus_publish.c). */
int bus_publish(const char *room_id, const char *data, size_t len);
/* The same with the message in two pieces, head then body (an envelope's
 * header and the payload), written into the command without joining them
 * first. */
int bus_publish_parts(const char *room_id, const char *head, size_t head_len, const char *body,
                      size_t body_len);

/* ---- resuming (redis_resume.c, docs/design.md#resume) ---- */
/* Hold a member whose socket was lost until until_ms (SCRIPT_HOLD), a
 * resume waiting until front_ms at most for what this node puts in front
 * of the gap (bus_gap_front's last call); reply 1 held, 0 not that
 * connection any more. */
int bus_member_hold(const char *room_id, const char *user_id, const char *secret,
                    long long until_ms, long long front_ms, const char *envelope,
                    size_t envelope_len, bus_reply_fn fn, void *privdata);
/* Resume the member (SCRIPT_RESUME, whose reply it is) under a new secret;
 * no_wait: even if its holding node's front is not in yet. */
int bus_member_resume(const char *room_id, const char *user_id, const char *secret,
                      const json_t *profile, const char *new_secret, const char *envelope,
                      size_t envelope_len, bool no_wait, bus_reply_fn fn, void *privdata);
/* Relay an envelope in a room with held members (SCRIPT_GAP): the payload
 * (from payload_off on) goes to their gap lists; published when `publish`. */
int bus_gap_publish(const char *room_id, const char *envelope, size_t envelope_len,
                    size_t payload_off, const char *to, const char *sender, bool publish,
                    bus_reply_fn fn, void *privdata);
/* Put a payload (if not NULL) in front of a held member's gap
 * (SCRIPT_GAP_FRONT); end is "" for more to come, "done" for the last,
 * "lost" for the last when some were lost. */
int bus_gap_front(const char *room_id, const char *user_id, const char *payload, size_t len,
                  const char *end);
/* End the room's windows that ran out (SCRIPT_EXPIRE_AWAY). */
int bus_room_expire_away(const char *room_id, bus_reply_fn fn, void *privdata);
/* HGETALL of the room's away hash. */
int bus_room_away(const char *room_id, bus_reply_fn fn, void *privdata);
int bus_subscribe(const char *room_id);
/* The subscriber link is named SB_SUBSCRIBER_NAME_PREFIX<node id> in
 * Redis, so any node can see how far behind each node's subscriber is. */
#define SB_SUBSCRIBER_NAME_PREFIX "sbsub:"
/* CLIENT LIST TYPE pubsub (a bulk string, one line per link). */
int bus_client_list_pubsub(bus_reply_fn fn, void *privdata);
int bus_unsubscribe(const char *room_id);

#endif
