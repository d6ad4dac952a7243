/*
 * room_table.c - rooms with local participants, in a chained hash table.
 *
 * The bucket array doubles when the load factor passes 1 and never shrinks:
 * a node that once held many rooms is likely to again, and the array is
 * only 8 bytes a bucket. Room ids are random UUIDs, so FNV-1a over the
 * string spreads them well.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "room_table.h"

static sb_room **buckets;
static size_t n_buckets;
static size_t n_rooms;

static uint32_t hash_id(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h;
}

static bool grow_buckets(void)
{
    size_t n = n_buckets ? n_buckets * 2 : 64;
    sb_room **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return false;
    for (size_t i = 0; i < n_buckets; i++) {
        sb_room *r = buckets[i];
        while (r) {
            sb_room *next = r->hash_next;
            size_t slot = hash_id(r->id) & (n - 1);
            r->hash_next = nb[slot];
            nb[slot] = r;
            r = next;
        }
    }
    free(buckets);
    buckets = nb;
    n_buckets = n;
    return true;
}

sb_room *room_table_find(const char *id)
{
    if (!n_buckets)
        return NULL;
    for (sb_room *r = buckets[hash_id(id) & (n_buckets - 1)]; r; r = r->hash_next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

sb_room *room_table_get_or_create(const char *id)
{
    sb_room *room = room_table_find(id);
    if (room)
        return room;
    if (n_rooms >= n_buckets && !grow_buckets() && !n_buckets)
        return NULL;
    room = calloc(1, sizeof(*room));
    if (!room)
        return NULL;
    snprintf(room->id, sizeof(room->id), "%s", id);
    room->sub = ROOM_UNSUBSCRIBED;
    size_t slot = hash_id(id) & (n_buckets - 1);
    room->hash_next = buckets[slot];
    buckets[slot] = room;
    n_rooms++;
    return room;
}

static void room_free(sb_room *room)
{
    ptr_array_free(&room->locals);
    ptr_array_free(&room->waiting);
    for (size_t i = 0; i < room->remotes.count; i++)
        free(room->remotes.items[i]);
    ptr_array_free(&room->remotes);
    for (size_t i = 0; i < room->held.count; i++)
        free(room->held.items[i]);
    ptr_array_free(&room->held);
    free(room);
}

bool room_table_release_if_unused(sb_room *room)
{
    if (room->locals.count || room->waiting.count || room->sub != ROOM_UNSUBSCRIBED)
        return false;
    sb_room **link = &buckets[hash_id(room->id) & (n_buckets - 1)];
    while (*link && *link != room)
        link = &(*link)->hash_next;
    if (*link)
        *link = room->hash_next;
    n_rooms--;
    room_free(room);
    return true;
}

size_t room_table_count(void)
{
    return n_rooms;
}

void room_table_foreach(void (*fn)(sb_room *room, void *arg), void *arg)
{
    for (size_t i = 0; i < n_buckets; i++)
        for (sb_room *r = buckets[i]; r; r = r->hash_next)
            fn(r, arg);
}

static void count_occupied(sb_room *room, void *arg)
{
    if (room->locals.count)
        ++*(size_t *)arg;
}

size_t room_table_count_occupied(void)
{
    size_t n = 0;
    room_table_foreach(count_occupied, &n);
    return n;
}

static void collect_room(sb_room *room, void *arg)
{
    ptr_array_push(arg, room);
}

ptr_array room_table_snapshot(void)
{
    ptr_array rooms = { 0 };
    room_table_foreach(collect_room, &rooms);
    return rooms;
}

void room_table_clear(void)
{
    for (size_t i = 0; i < n_buckets; i++) {
        sb_room *r = buckets[i];
        while (r) {
            sb_room *next = r->hash_next;
            room_free(r);
            r = next;
        }
    }
    free(buckets);
    buckets = NULL;
    n_buckets = n_rooms = 0;
}

bool ptr_array_reserve(ptr_array *a, size_t n)
{
    if (n <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 4;
    while (cap < n)
        cap *= 2;
    void **items = realloc(a->items, cap * sizeof(*items));
    if (!items)
        return false;
    a->items = items;
    a->cap = cap;
    return true;
}

bool ptr_array_push(ptr_array *a, void *item)
{
    if (!ptr_array_reserve(a, a->count + 1))
        return false;
    a->items[a->count++] = item;
    return true;
}

bool ptr_array_remove(ptr_array *a, const void *item)
{
    for (size_t i = 0; i < a->count; i++) {
        if (a->items[i] == item) {
            a->items[i] = a->items[--a->count];
            return true;
        }
    }
    return false;
}

void ptr_array_free(ptr_array *a)
{
    free(a->items);
    a->items = NULL;
    a->count = a->cap = 0;
}

ptr_array ptr_array_copy(const ptr_array *a)
{
    ptr_array copy = { 0 };
    if (!a->count || !(copy.items = malloc(a->count * sizeof(*copy.items))))
        return copy;
    memcpy(copy.items, a->items, a->count * sizeof(*copy.items));
    copy.count = copy.cap = a->count;
    return copy;
}

static ssize_t find_id(const ptr_array *ids, const char *user_id)
{
    for (size_t i = 0; i < ids->count; i++)
        if (strcmp(ids->items[i], user_id) == 0)
            return (ssize_t)i;
    return -1;
}

static bool add_id(ptr_array *ids, const char *user_id)
{
    if (find_id(ids, user_id) >= 0)
        return true;
    char *copy = strdup(user_id);
    if (!copy || !ptr_array_push(ids, copy)) {
        free(copy);
        return false;
    }
    return true;
}

static bool remove_id(ptr_array *ids, const char *user_id)
{
    ssize_t i = find_id(ids, user_id);
    if (i < 0)
        return false;
    free(ids->items[i]);
    ids->items[i] = ids->items[--ids->count];
    return true;
}

bool room_has_remote(const sb_room *room, const char *user_id)
{
    return find_id(&room->remotes, user_id) >= 0;
}

bool room_add_remote(sb_room *room, const char *user_id)
{
    return add_id(&room->remotes, user_id);
}

bool room_remove_remote(sb_room *room, const char *user_id)
{
    return remove_id(&room->remotes, user_id);
}

bool room_has_held(const sb_room *room, const char *user_id)
{
    return find_id(&room->held, user_id) >= 0;
}

bool room_add_held(sb_room *room, const char *user_id)
{
    return add_id(&room->held, user_id);
}

bool room_remove_held(sb_room *room, const char *user_id)
{
    return remove_id(&room->held, user_id);
}
