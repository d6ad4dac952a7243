/*
 * test_room_table.c - the in-memory room table and its pointer arrays,
 * linked alone (node_core): no sessions, no Redis, no lws.
 *
 * Members are opaque pointers to the table, so plain ints stand in for
 * sessions here.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "room_table.h"

/* A well-formed room id that differs for every n. */
static void room_id(char out[SB_UUID_LEN + 1], unsigned n)
{
    snprintf(out, SB_UUID_LEN + 1, "%08x-0000-4000-8000-000000000000", n);
}

static void clear_table(void)
{
    room_table_clear();
}

TestSuite(room_table, .fini = clear_table);

Test(room_table, create_find_and_release)
{
    char id[SB_UUID_LEN + 1];
    room_id(id, 1);
    cr_assert_null(room_table_find(id));
    sb_room *room = room_table_get_or_create(id);
    cr_assert_not_null(room);
    cr_assert_str_eq(room->id, id);
    cr_assert_eq(room->sub, ROOM_UNSUBSCRIBED);
    cr_assert_eq(room_table_get_or_create(id), room, "a second create finds the same room");
    cr_assert_eq(room_table_find(id), room);
    cr_assert_eq(room_table_count(), 1);
    cr_assert(room_table_release_if_unused(room));
    cr_assert_null(room_table_find(id));
    cr_assert_eq(room_table_count(), 0);
}

Test(room_table, a_room_in_use_is_kept)
{
    char id[SB_UUID_LEN + 1];
    room_id(id, 2);
    sb_room *room = room_table_get_or_create(id);
    int local, waiting;

    cr_assert(ptr_array_push(&room->locals, &local));
    cr_assert_not(room_table_release_if_unused(room), "a local member keeps the room");
    cr_assert(ptr_array_remove(&room->locals, &local));

    cr_assert(ptr_array_push(&room->waiting, &waiting));
    cr_assert_not(room_table_release_if_unused(room), "a joining session keeps the room");
    cr_assert(ptr_array_remove(&room->waiting, &waiting));

    room_sub_state busy[] = { ROOM_SUBSCRIBING, ROOM_SUBSCRIBED, ROOM_UNSUBSCRIBING };
    for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
        room->sub = busy[i];
        cr_assert_not(room_table_release_if_unused(room), "subscription state %d keeps it",
                      (int)busy[i]);
    }
    cr_assert_eq(room_table_find(id), room);
    room->sub = ROOM_UNSUBSCRIBED;
    cr_assert(room_table_release_if_unused(room));
}

/* Enough rooms to double the bucket array several times: every room stays
 * findable through each rehash, and releasing every other one leaves the
 * rest in place. */
Test(room_table, growth_keeps_every_room)
{
    enum { N = 5000 };
    static sb_room *rooms[N];
    char id[SB_UUID_LEN + 1];
    for (unsigned i = 0; i < N; i++) {
        room_id(id, i);
        rooms[i] = room_table_get_or_create(id);
        cr_assert_not_null(rooms[i]);
    }
    cr_assert_eq(room_table_count(), N);
    for (unsigned i = 0; i < N; i++) {
        room_id(id, i);
        cr_assert_eq(room_table_find(id), rooms[i], "room %u", i);
    }
    for (unsigned i = 0; i < N; i += 2)
        cr_assert(room_table_release_if_unused(rooms[i]));
    cr_assert_eq(room_table_count(), N / 2);
    for (unsigned i = 0; i < N; i++) {
        room_id(id, i);
        cr_assert_eq(room_table_find(id), i % 2 ? rooms[i] : NULL, "room %u", i);
    }
}

static void count_rooms(sb_room *room, void *arg)
{
    (void)room;
    ++*(size_t *)arg;
}

Test(room_table, foreach_snapshot_and_occupied)
{
    char id[SB_UUID_LEN + 1];
    int member;
    for (unsigned i = 0; i < 10; i++) {
        room_id(id, i);
        sb_room *room = room_table_get_or_create(id);
        if (i < 3)
            cr_assert(ptr_array_push(&room->locals, &member));
    }
    size_t seen = 0;
    room_table_foreach(count_rooms, &seen);
    cr_assert_eq(seen, 10);
    cr_assert_eq(room_table_count_occupied(), 3);

    /* A snapshot stays valid while the rooms it lists are released. */
    ptr_array snap = room_table_snapshot();
    cr_assert_eq(snap.count, 10);
    size_t released = 0;
    for (size_t i = 0; i < snap.count; i++)
        released += room_table_release_if_unused(snap.items[i]);
    ptr_array_free(&snap);
    cr_assert_eq(released, 7);
    cr_assert_eq(room_table_count(), 3);
}

Test(room_table, remote_members)
{
    char id[SB_UUID_LEN + 1];
    room_id(id, 3);
    sb_room *room = room_table_get_or_create(id);
    const char *alice = "a1a1a1a1-0000-4000-8000-000000000000";
    const char *bob = "b2b2b2b2-0000-4000-8000-000000000000";
    cr_assert_not(room_has_remote(room, alice));
    cr_assert(room_add_remote(room, alice));
    cr_assert(room_add_remote(room, alice), "adding twice succeeds");
    cr_assert_eq(room->remotes.count, 1, "but keeps one entry");
    cr_assert(room_add_remote(room, bob));
    cr_assert(room_has_remote(room, alice) && room_has_remote(room, bob));
    cr_assert(room_remove_remote(room, alice));
    cr_assert_not(room_remove_remote(room, alice));
    cr_assert_not(room_has_remote(room, alice));
    cr_assert(room_has_remote(room, bob));
    /* Remote members alone do not keep the room: the table frees them
     * with it (leaks show in the sanitizer build). */
    cr_assert(room_table_release_if_unused(room));
}

Test(ptr_array, push_remove_copy)
{
    ptr_array a = { 0 };
    int v[100];
    for (int i = 0; i < 100; i++)
        cr_assert(ptr_array_push(&a, &v[i]));
    cr_assert_eq(a.count, 100);
    cr_assert_geq(a.cap, 100);

    ptr_array copy = ptr_array_copy(&a);
    cr_assert_eq(copy.count, 100);
    cr_assert_neq(copy.items, a.items);

    /* Removal does not keep order but keeps every other item. */
    for (int i = 0; i < 100; i += 3)
        cr_assert(ptr_array_remove(&a, &v[i]));
    cr_assert_not(ptr_array_remove(&a, &v[0]), "already removed");
    cr_assert_eq(a.count, 100 - 34);
    for (int i = 0; i < 100; i++) {
        bool found = false;
        for (size_t j = 0; j < a.count; j++)
            found |= a.items[j] == &v[i];
        cr_assert_eq(found, i % 3 != 0, "item %d", i);
    }
    cr_assert_eq(copy.count, 100, "the copy does not change with the original");

    cr_assert(ptr_array_reserve(&a, 1000));
    cr_assert_geq(a.cap, 1000);
    ptr_array_free(&a);
    ptr_array_free(&copy);
    cr_assert_null(a.items);
    cr_assert_eq(a.count + a.cap, 0);

    ptr_array empty = { 0 };
    ptr_array none = ptr_array_copy(&empty);
    cr_assert_null(none.items);
    cr_assert_eq(none.count, 0);
}
