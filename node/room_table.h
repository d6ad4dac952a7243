/*
 * room_table.h - the rooms this node takes part in, in memory.
 *
 * Owns: one sb_room per room with at least one local participant (or one
 * waiting to join), keyed by room id. A room knows its local sessions, the
 * user ids of its members on other nodes, and the state of this node's
 * subscription to the room's Redis channel.
 *
 * The remote member list is a cache kept exact by the room channel: the
 * join and leave scripts publish inside Redis, atomically with the change,
 * and this node subscribes before its first member joins, so every change
 * after the join snapshot arrives in order. It lets a node answer "is this
 * `to` target in the room?" and "does anyone elsewhere need this message?"
 * without a round trip.
 *
 * Rooms are meant for calls (a handful to a few hundred participants), so
 * members are kept in flat arrays and searched linearly; rooms themselves
 * are in a hash table so 100k connections in small rooms stay O(1).
 *
 * The table holds sessions without looking into them (ws_session_find()
 * searches a room's lists by user id), so it depends on no other module
 * of node/ and is unit-tested alone.
 */
#ifndef SB_ROOM_TABLE_H
#define SB_ROOM_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "ids.h"

struct ws_session;

typedef enum {
    ROOM_UNSUBSCRIBED,
    ROOM_SUBSCRIBING,
    ROOM_SUBSCRIBED,
    ROOM_UNSUBSCRIBING
} room_sub_state;

typedef struct {
    void **items;
    size_t count, cap;
} ptr_array;

typedef struct sb_room {
    char id[SB_UUID_LEN + 1];
    ptr_array locals;  /* struct ws_session *: joined on this node */
    ptr_array waiting; /* struct ws_session *: join not finished yet */
    ptr_array remotes; /* char *user_id (owned): members on other nodes */
    /* char *user_id (owned): members whose socket was lost, held for the
     * resume window on no node (docs/design.md#resume). While it is empty,
     * relaying costs what it did before resuming existed. */
    ptr_array held;
    room_sub_state sub;
    struct sb_room *hash_next;
} sb_room;

sb_room *room_table_find(const char *id);
/* NULL only when memory runs out. */
sb_room *room_table_get_or_create(const char *id);
/* Free the room when nothing refers to it any more: no local or waiting
 * session and no subscription. Returns true if it was freed. */
bool room_table_release_if_unused(sb_room *room);
size_t room_table_count(void);
/* Rooms with at least one local member. */
size_t room_table_count_occupied(void);
/* Call fn for every room; fn must not add or free rooms. */
void room_table_foreach(void (*fn)(sb_room *room, void *arg), void *arg);
/* The rooms as they are now, to act on one by one when acting may free a
 * room (ptr_array_free it). */
ptr_array room_table_snapshot(void);
/* Free every room (at shutdown). */
void room_table_clear(void);

bool ptr_array_push(ptr_array *a, void *item);
/* Room for at least n items; false when memory runs out. */
bool ptr_array_reserve(ptr_array *a, size_t n);
/* Remove the first occurrence (order is not kept); true if found. */
bool ptr_array_remove(ptr_array *a, const void *item);
void ptr_array_free(ptr_array *a);
/* A copy to iterate over while the original may change; on allocation
 * failure the copy is empty. */
ptr_array ptr_array_copy(const ptr_array *a);

bool room_has_remote(const sb_room *room, const char *user_id);
bool room_add_remote(sb_room *room, const char *user_id);
bool room_remove_remote(sb_room *room, const char *user_id);
bool room_has_held(const sb_room *room, const char *user_id);
bool room_add_held(sb_room *room, const char *user_id);
bool room_remove_held(sb_room *room, const char *user_id);

#endif
