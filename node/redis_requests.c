/*
 * redis_requests.c - what the node asks of Redis, one function per
 * question (see redis_bus.h): rooms, members and the node registry. The
 * listing index is redis_index.c's, the reaper redis_reaper.c's.
 *
 * Every key is built here from the configured prefix (redis_scripts.h): a
 * room's keys carry its id as a hash tag ({<id>}), a node's its node id,
 * an index partition its tag, so each script's keys share one Redis
 * Cluster slot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "redis_bus.h"
#include "redis_bus_internal.h"
#include "redis_slots.h"

static const sb_config *cfg(void)
{
    return bus_config();
}

/* ---- keys ------------------------------------------------------------------ */

void bus_key_room(char *out, const char *room_id)
{
    snprintf(out, BUS_KEY_MAX, "%sroom:{%s}", cfg()->key_prefix, room_id);
}

void bus_key_members(char *out, const char *room_id)
{
    snprintf(out, BUS_KEY_MAX, "%sroom:{%s}:members", cfg()->key_prefix, room_id);
}

void bus_key_node(char *out, const char *node_id)
{
    snprintf(out, BUS_KEY_MAX, "%snode:{%s}", cfg()->key_prefix, node_id);
}

void bus_key_node_rooms(char *out, const char *node_id)
{
    snprintf(out, BUS_KEY_MAX, "%snode:{%s}:rooms", cfg()->key_prefix, node_id);
}

void bus_key_index(char *out, unsigned partition)
{
    snprintf(out, BUS_KEY_MAX, "%srooms:{%s}", cfg()->key_prefix,
             sb_index_partition_tag(partition % SB_INDEX_PARTITIONS));
}

void bus_key_index_of(char *out, const char *room_id)
{
    bus_key_index(out, sb_index_partition(room_id));
}

void bus_key_nodes(char *out)
{
    snprintf(out, BUS_KEY_MAX, "%snodes", cfg()->key_prefix);
}

/* ---- node registry ------------------------------------------------------------ */

/* The rooms set of this node lives in the node's slot, not the room's, so
 * it is written by a command of its own. Before a join it holds the room
 * already: a node that dies in between leaves an entry with no member
 * behind it, which the reaper passes over, never a member the reaper
 * cannot find. */
int bus_node_rooms_command(const char *verb, const char *room_id)
{
    char key[BUS_KEY_MAX];
    bus_key_node_rooms(key, cfg()->node_id);
    const char *argv[] = { verb, key, room_id };
    return bus_send(3, argv, NULL, NULL, NULL);
}

void bus_deregister(void)
{
    char key[BUS_KEY_MAX], nodes[BUS_KEY_MAX], node_rooms[BUS_KEY_MAX];
    bus_key_node(key, cfg()->node_id);
    bus_key_nodes(nodes);
    bus_key_node_rooms(node_rooms, cfg()->node_id);
    const char *del[] = { "DEL", key, node_rooms };
    const char *srem[] = { "SREM", nodes, cfg()->node_id };
    bus_send(3, del, NULL, NULL, NULL);
    bus_send(3, srem, NULL, NULL, NULL);
}

/* ---- rooms and members --------------------------------------------------------- */

int bus_room_get(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    const char *values[] = { room, members };
    return bus_eval(S_GET, 2, 0, values, NULL, fn, privdata);
}

int bus_client_list_pubsub(bus_reply_fn fn, void *privdata)
{
    const char *argv[] = { "CLIENT", "LIST", "TYPE", "pubsub" };
    return bus_send(4, argv, NULL, fn, privdata);
}

int bus_room_members(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char members[BUS_KEY_MAX];
    bus_key_members(members, room_id);
    const char *argv[] = { "HKEYS", members };
    return bus_send(2, argv, NULL, fn, privdata);
}

int bus_room_member_values(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char members[BUS_KEY_MAX];
    bus_key_members(members, room_id);
    const char *argv[] = { "HGETALL", members };
    return bus_send(2, argv, NULL, fn, privdata);
}

int bus_node_rooms(bus_reply_fn fn, void *privdata)
{
    char node_rooms[BUS_KEY_MAX];
    bus_key_node_rooms(node_rooms, cfg()->node_id);
    const char *argv[] = { "SMEMBERS", node_rooms };
    return bus_send(2, argv, NULL, fn, privdata);
}

int bus_room_delete(const char *room_id, const char *envelope, size_t envelope_len, bus_reply_fn fn,
                    void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], channel[BUS_KEY_MAX];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_room(channel, room_id);
    const char *values[] = { room, members, channel, envelope };
    const size_t lens[] = { 0, 0, 0, envelope_len };
    /* The index entry first: a create that follows the answer counts
     * without it (both go, in order, to the partition's connection). */
    if (bus_index_remove(room_id) != 0)
        return -1;
    return bus_eval(S_DELETE, 2, 2, values, lens, fn, privdata);
}

/* A member's value in the members hash (redis_bus_internal.h): in open
 * mode written into buf, with auth on a new string. The resume secret is
 * what a resume must present (docs/design.md#resume). */
char *bus_member_value(const json_t *profile, const char *resume_secret, long long now, char *buf)
{
    if (!profile) {
        int n = snprintf(buf, 256, "{\"node\":\"%s\",\"joined_at\":%lld,\"resume\":\"%s\"}",
                         cfg()->node_id, now, resume_secret);
        return n > 0 && n < 256 ? buf : NULL;
    }
    json_t *m = json_pack("{s:s,s:I,s:s}", "node", cfg()->node_id, "joined_at", (json_int_t)now,
                          "resume", resume_secret);
    char *out =
        m && json_object_update(m, (json_t *)profile) == 0 ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return out;
}

void bus_member_value_free(char *value, const char *buf)
{
    if (value != buf)
        free(value);
}

/* With auth on: SCRIPT_JOIN_AUTH, which replaces a member of the same
 * identity and answers with the members' values. */
static int member_join_auth(const char *const *values, const size_t *lens, const json_t *profile,
                            bus_reply_fn fn, void *privdata)
{
    size_t plen = 0;
    char *replaced = sb_protocol_build_error(SB_ERR_REPLACED, 0, &plen);
    const char *identity = json_string_value(json_object_get(profile, "identity"));
    if (!replaced || !identity) {
        free(replaced);
        return -1;
    }
    const char *all[] = { values[0], values[1], values[2], values[3],      values[4], values[5],
                          values[6], values[7], identity,  cfg()->node_id, replaced };
    const size_t all_lens[] = { 0, 0, 0, 0, 0, 0, lens[6], 0, 0, 0, plen };
    int rc = bus_eval(S_JOIN_AUTH, 2, 9, all, all_lens, fn, privdata);
    free(replaced);
    return rc;
}

int bus_member_join(const char *room_id, const char *user_id, const json_t *profile,
                    const char *resume_secret, const char *envelope, size_t envelope_len,
                    bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], channel[BUS_KEY_MAX];
    char ttl[16], plain[256];
    if (bus_node_rooms_command("SADD", room_id) != 0)
        return -1;
    char *member = bus_member_value(profile, resume_secret, (long long)sb_clock_wall_ms(), plain);
    if (!member)
        return -1;
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_room(channel, room_id);
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    const char *values[] = { room, members, user_id, member, ttl, channel, envelope, room_id };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, envelope_len, 0 };
    int rc = profile ? member_join_auth(values, lens, profile, fn, privdata)
                     : bus_eval(S_JOIN, 2, 6, values, lens, fn, privdata);
    bus_member_value_free(member, plain);
    return rc;
}

int bus_member_restore(const char *room_id, const char *user_id, const json_t *profile,
                       const char *resume_secret, const char *envelope, size_t envelope_len,
                       bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], channel[BUS_KEY_MAX];
    char ttl[16], created[SB_ISO8601_SIZE], empty[16], departure[16], max[16], plain[256];
    long long now = (long long)sb_clock_wall_ms();
    if (bus_node_rooms_command("SADD", room_id) != 0)
        return -1;
    char *member = bus_member_value(profile, resume_secret, now, plain);
    if (!member)
        return -1;
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_room(channel, room_id);
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    sb_clock_iso8601(now, created);
    snprintf(empty, sizeof(empty), "%d", cfg()->empty_timeout);
    snprintf(departure, sizeof(departure), "%d", cfg()->departure_timeout);
    snprintf(max, sizeof(max), "%d", cfg()->max_participants);
    const char *values[] = { room,     members, user_id, member,    ttl, channel,
                             envelope, created, empty,   departure, max };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, envelope_len, 0, 0, 0, 0 };
    int rc = bus_eval(S_RESTORE, 2, 9, values, lens, fn, privdata);
    bus_member_value_free(member, plain);
    /* Back in the listing, unless it is there (its first created_at). */
    if (rc == 0)
        bus_index_add(room_id, now, true, NULL, NULL);
    return rc;
}

int bus_member_leave(const char *room_id, const char *user_id, const char *envelope,
                     size_t envelope_len, bool last_local, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], channel[BUS_KEY_MAX], departure[16];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_room(channel, room_id);
    snprintf(departure, sizeof(departure), "%d", cfg()->departure_timeout);
    const char *values[] = { room, members, user_id, channel, envelope, departure };
    const size_t lens[] = { 0, 0, 0, 0, envelope_len, 0 };
    int rc = bus_eval(S_LEAVE, 2, 4, values, lens, fn, privdata);
    /* After the leave: a node that dies in between leaves an entry with no
     * member behind it, which the reaper passes over. */
    if (rc == 0 && last_local)
        bus_node_rooms_command("SREM", room_id);
    return rc;
}

/* Argument vectors of one batched command, sized for `count` items. */
typedef struct {
    const char **argv;
    size_t *lens;
    char (*keys)[BUS_KEY_MAX];
} batch_args;

static bool batch_alloc(batch_args *b, size_t argc, size_t nkeys)
{
    b->argv = malloc(argc * sizeof(*b->argv));
    b->lens = malloc(argc * sizeof(*b->lens));
    b->keys = malloc((nkeys ? nkeys : 1) * BUS_KEY_MAX);
    return b->argv && b->lens && b->keys;
}

static void batch_free(batch_args *b)
{
    free(b->argv);
    free(b->lens);
    free(b->keys);
}

static int batch_send(batch_args *b, size_t argc)
{
    for (size_t i = 0; i < argc; i++)
        b->lens[i] = strlen(b->argv[i]);
    int rc = bus_send((int)argc, b->argv, b->lens, NULL, NULL);
    batch_free(b);
    return rc;
}

/* REFRESH of rooms [start, start + count): keys of one slot per call on
 * Redis Cluster (bus_refresh_rooms_per_call). */
static int refresh_call(const char *const *room_ids, size_t count, const char *ttl)
{
    char nkeys[16];
    size_t argc = 3 + 2 * count + 1;
    batch_args b;
    if (!batch_alloc(&b, argc, 2 * count)) {
        batch_free(&b);
        return -1;
    }
    snprintf(nkeys, sizeof(nkeys), "%zu", 2 * count);
    b.argv[0] = "EVALSHA";
    b.argv[1] = bus_script_sha(S_REFRESH);
    b.argv[2] = nkeys;
    for (size_t i = 0; i < count; i++) {
        bus_key_room(b.keys[2 * i], room_ids[i]);
        bus_key_members(b.keys[2 * i + 1], room_ids[i]);
        b.argv[3 + 2 * i] = b.keys[2 * i];
        b.argv[4 + 2 * i] = b.keys[2 * i + 1];
    }
    b.argv[argc - 1] = ttl;
    return batch_send(&b, argc);
}

/* The rooms are also put in this node's rooms set again: an entry its
 * join could not write (that key's Redis was away) is back within a
 * period, so the reaper finds every member. */
static int node_rooms_assert(const char *const *room_ids, size_t count)
{
    size_t argc = 2 + count;
    batch_args b;
    if (!batch_alloc(&b, argc, 1)) {
        batch_free(&b);
        return -1;
    }
    bus_key_node_rooms(b.keys[0], cfg()->node_id);
    b.argv[0] = "SADD";
    b.argv[1] = b.keys[0];
    for (size_t i = 0; i < count; i++)
        b.argv[2 + i] = room_ids[i];
    return batch_send(&b, argc);
}

int bus_rooms_refresh(const char *const *room_ids, size_t n)
{
    enum { ROOMS_PER_CALL = 200 };
    size_t per_refresh = bus_refresh_rooms_per_call(ROOMS_PER_CALL);
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    for (size_t start = 0; start < n; start += ROOMS_PER_CALL) {
        size_t count = n - start < ROOMS_PER_CALL ? n - start : ROOMS_PER_CALL;
        for (size_t i = 0; i < count; i += per_refresh) {
            size_t k = count - i < per_refresh ? count - i : per_refresh;
            if (refresh_call(room_ids + start + i, k, ttl) != 0)
                return -1;
        }
        if (node_rooms_assert(room_ids + start, count) != 0)
            return -1;
    }
    return 0;
}
