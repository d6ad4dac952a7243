/*
 * redis_requests.c - what the node asks of Redis, one function per
 * question (see redis_bus.h): rooms, members, the node registry, and the
 * upkeep that runs with the heartbeat (reaping dead nodes, sweeping the
 * room index).
 *
 * Every key is built here from the configured prefix; a room's keys carry
 * its id as a hash tag ({<id>}) so they share one Redis Cluster slot.
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

#define SWEEP_BATCH 500

static long long sweep_cursor;

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

void bus_key_node_rooms(char *out)
{
    snprintf(out, BUS_KEY_MAX, "%snode:%s:rooms", cfg()->key_prefix, cfg()->node_id);
}

void bus_key_index(char *out)
{
    snprintf(out, BUS_KEY_MAX, "%srooms", cfg()->key_prefix);
}

void bus_key_node(char *out)
{
    snprintf(out, BUS_KEY_MAX, "%snode:%s", cfg()->key_prefix, cfg()->node_id);
}

void bus_key_nodes(char *out)
{
    snprintf(out, BUS_KEY_MAX, "%snodes", cfg()->key_prefix);
}

/* ---- node registry and upkeep ------------------------------------------------ */

static void on_sweep_reply(redisReply *r, void *privdata)
{
    (void)privdata;
    if (r && r->type == REDIS_REPLY_INTEGER)
        sweep_cursor = r->integer;
}

void bus_sweep_index_step(void)
{
    char index[BUS_KEY_MAX], cursor[32], count[16];
    bus_key_index(index);
    snprintf(cursor, sizeof(cursor), "%lld", sweep_cursor);
    snprintf(count, sizeof(count), "%d", SWEEP_BATCH);
    const char *values[] = { index, cfg()->key_prefix, cursor, count };
    bus_eval(S_SWEEP, 1, 3, values, NULL, on_sweep_reply, NULL);
}

static void on_reap_reply(redisReply *r, void *privdata)
{
    (void)privdata;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer < 0)
        return;
    metrics.members_reaped += (uint64_t)r->element[0]->integer;
    for (size_t i = 1; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            sb_warn(NULL, NULL, "node %s stopped heartbeating: %s its members (%lld in all)",
                    r->element[i]->str,
                    cfg()->resume_window > 0 ? "holding for a resume" : "removed",
                    r->element[0]->integer);
}

/* Any node may reap; the lock inside the script makes it one per period. */
void bus_reap_dead_nodes(void)
{
    char nodes[BUS_KEY_MAX], lock[BUS_KEY_MAX], lock_ms[16], departure[16], window[24], now[24];
    snprintf(nodes, sizeof(nodes), "%snodes", cfg()->key_prefix);
    snprintf(lock, sizeof(lock), "%sreaper:lock", cfg()->key_prefix);
    snprintf(lock_ms, sizeof(lock_ms), "%d", bus_heartbeat_period_ms() - 100);
    snprintf(departure, sizeof(departure), "%d", cfg()->departure_timeout);
    snprintf(window, sizeof(window), "%lld", (long long)cfg()->resume_window * 1000);
    snprintf(now, sizeof(now), "%lld", (long long)sb_clock_wall_ms());
    const char *values[] = { nodes,  lock, cfg()->key_prefix, cfg()->node_id, lock_ms, departure,
                             window, now };
    bus_eval(S_REAP, 2, 6, values, NULL, on_reap_reply, NULL);
}

void bus_deregister(void)
{
    char key[BUS_KEY_MAX], nodes[BUS_KEY_MAX], node_rooms[BUS_KEY_MAX];
    bus_key_node(key);
    bus_key_nodes(nodes);
    bus_key_node_rooms(node_rooms);
    const char *del[] = { "DEL", key, node_rooms };
    const char *srem[] = { "SREM", nodes, cfg()->node_id };
    bus_send(3, del, NULL, NULL, NULL);
    bus_send(3, srem, NULL, NULL, NULL);
}

/* ---- rooms and members --------------------------------------------------------- */

int bus_room_create(const char *room_id, const char *created_at, long long created_ms,
                    const bus_room_params *p, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], index[BUS_KEY_MAX], ms[32], max[16], empty[16], departure[16];
    char max_rooms[16];
    bus_key_room(room, room_id);
    bus_key_index(index);
    snprintf(ms, sizeof(ms), "%lld", created_ms);
    snprintf(max, sizeof(max), "%d", p->max_participants);
    snprintf(empty, sizeof(empty), "%d", p->empty_timeout);
    snprintf(departure, sizeof(departure), "%d", p->departure_timeout);
    snprintf(max_rooms, sizeof(max_rooms), "%d", cfg()->max_rooms);
    const char *values[] = { room,    index,     created_at,       ms,
                             max,     empty,     departure,        p->metadata_json,
                             room_id, max_rooms, cfg()->key_prefix };
    return bus_eval(S_CREATE, 2, 9, values, NULL, fn, privdata);
}

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
    bus_key_node_rooms(node_rooms);
    const char *argv[] = { "SMEMBERS", node_rooms };
    return bus_send(2, argv, NULL, fn, privdata);
}

int bus_room_list_page(long long start, const char *after_score, const char *after_id,
                       long long count, bus_reply_fn fn, void *privdata)
{
    char index[BUS_KEY_MAX], from[32], n[32];
    bus_key_index(index);
    if (count > BUS_LIST_PAGE_MAX)
        count = BUS_LIST_PAGE_MAX;
    snprintf(from, sizeof(from), "%lld", start);
    snprintf(n, sizeof(n), "%lld", count);
    const char *score = after_id ? after_score : "", *id = after_id ? after_id : "";
    const char *values[] = { index, cfg()->key_prefix, from, n, score, id };
    return bus_eval(S_LIST, 1, 5, values, NULL, fn, privdata);
}

int bus_room_delete(const char *room_id, const char *envelope, size_t envelope_len, bus_reply_fn fn,
                    void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], index[BUS_KEY_MAX], channel[BUS_KEY_MAX];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_index(index);
    bus_key_room(channel, room_id);
    const char *values[] = { room, members, index, room_id, channel, envelope };
    const size_t lens[] = { 0, 0, 0, 0, 0, envelope_len };
    return bus_eval(S_DELETE, 3, 3, values, lens, fn, privdata);
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
    const char *all[] = { values[0], values[1], values[2], values[3], values[4],      values[5],
                          values[6], values[7], values[8], identity,  cfg()->node_id, replaced };
    const size_t all_lens[] = { 0, 0, 0, 0, 0, 0, 0, lens[7], 0, 0, 0, plen };
    int rc = bus_eval(S_JOIN_AUTH, 3, 9, all, all_lens, fn, privdata);
    free(replaced);
    return rc;
}

int bus_member_join(const char *room_id, const char *user_id, const json_t *profile,
                    const char *resume_secret, const char *envelope, size_t envelope_len,
                    bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], node_rooms[BUS_KEY_MAX], channel[BUS_KEY_MAX];
    char ttl[16], plain[256];
    char *member = bus_member_value(profile, resume_secret, (long long)sb_clock_wall_ms(), plain);
    if (!member)
        return -1;
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_node_rooms(node_rooms);
    bus_key_room(channel, room_id);
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    const char *values[] = { room, members, node_rooms, user_id, member,
                             ttl,  channel, envelope,   room_id };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, envelope_len, 0 };
    int rc = profile ? member_join_auth(values, lens, profile, fn, privdata)
                     : bus_eval(S_JOIN, 3, 6, values, lens, fn, privdata);
    bus_member_value_free(member, plain);
    return rc;
}

int bus_member_restore(const char *room_id, const char *user_id, const json_t *profile,
                       const char *resume_secret, const char *envelope, size_t envelope_len,
                       bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], node_rooms[BUS_KEY_MAX], index[BUS_KEY_MAX],
        channel[BUS_KEY_MAX];
    char ttl[16], created[SB_ISO8601_SIZE], ms[32], empty[16], departure[16], max[16], plain[256];
    long long now = (long long)sb_clock_wall_ms();
    char *member = bus_member_value(profile, resume_secret, now, plain);
    if (!member)
        return -1;
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_node_rooms(node_rooms);
    bus_key_index(index);
    bus_key_room(channel, room_id);
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    sb_clock_iso8601(now, created);
    snprintf(ms, sizeof(ms), "%lld", now);
    snprintf(empty, sizeof(empty), "%d", cfg()->empty_timeout);
    snprintf(departure, sizeof(departure), "%d", cfg()->departure_timeout);
    snprintf(max, sizeof(max), "%d", cfg()->max_participants);
    const char *values[] = { room,     members, node_rooms, index, user_id, member,    ttl, channel,
                             envelope, room_id, created,    ms,    empty,   departure, max };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, 0, envelope_len, 0, 0, 0, 0, 0, 0 };
    int rc = bus_eval(S_RESTORE, 4, 11, values, lens, fn, privdata);
    bus_member_value_free(member, plain);
    return rc;
}

int bus_member_leave(const char *room_id, const char *user_id, const char *envelope,
                     size_t envelope_len, bool last_local, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], node_rooms[BUS_KEY_MAX], channel[BUS_KEY_MAX],
        departure[16];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_node_rooms(node_rooms);
    bus_key_room(channel, room_id);
    snprintf(departure, sizeof(departure), "%d", cfg()->departure_timeout);
    const char *values[] = { room,     members,  node_rooms, user_id,
                             channel,  envelope, room_id,    last_local ? "1" : "0",
                             departure };
    const size_t lens[] = { 0, 0, 0, 0, 0, envelope_len, 0, 0, 0 };
    return bus_eval(S_LEAVE, 3, 6, values, lens, fn, privdata);
}

int bus_rooms_refresh(const char *const *room_ids, size_t n)
{
    enum { ROOMS_PER_CALL = 200 };
    char ttl[16], nkeys[16];
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    for (size_t start = 0; start < n; start += ROOMS_PER_CALL) {
        size_t count = n - start < ROOMS_PER_CALL ? n - start : ROOMS_PER_CALL;
        size_t argc = 3 + 2 * count + 1;
        const char **argv = malloc(argc * sizeof(*argv));
        size_t *lens = malloc(argc * sizeof(*lens));
        char(*keys)[BUS_KEY_MAX] = malloc(2 * count * BUS_KEY_MAX);
        if (!argv || !lens || !keys) {
            free(argv);
            free(lens);
            free(keys);
            return -1;
        }
        snprintf(nkeys, sizeof(nkeys), "%zu", 2 * count);
        argv[0] = "EVALSHA";
        argv[1] = bus_script_sha(S_REFRESH);
        argv[2] = nkeys;
        for (size_t i = 0; i < count; i++) {
            bus_key_room(keys[2 * i], room_ids[start + i]);
            bus_key_members(keys[2 * i + 1], room_ids[start + i]);
            argv[3 + 2 * i] = keys[2 * i];
            argv[4 + 2 * i] = keys[2 * i + 1];
        }
        argv[argc - 1] = ttl;
        for (size_t i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        int rc = bus_send((int)argc, argv, lens, NULL, NULL);
        free(argv);
        free(lens);
        free(keys);
        if (rc != 0)
            return -1;
    }
    return 0;
}
