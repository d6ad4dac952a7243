/*
 * redis_resume.c - what resuming asks of Redis (redis_bus.h, "resuming";
 * the scripts are in redis_scripts_resume.h): part of the Redis module,
 * with redis_bus.c and redis_requests.c.
 *
 * Every key here is one of a room's, carrying the room's hash tag: the
 * away hash `<prefix>room:{<id>}:away` and the gap lists
 * `<prefix>room:{<id>}:gap:<user_id>`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "redis_bus.h"
#include "redis_bus_internal.h"

static const sb_config *cfg(void)
{
    return bus_config();
}

void bus_key_away(char *out, const char *room_id)
{
    snprintf(out, BUS_KEY_MAX, "%sroom:{%s}:away", cfg()->key_prefix, room_id);
}

/* The gap list of user_id, or with user_id "" the prefix of them all. */
static void key_gap(char *out, const char *room_id, const char *user_id)
{
    snprintf(out, BUS_KEY_MAX, "%sroom:{%s}:gap:%s", cfg()->key_prefix, room_id, user_id);
}

/* Keys of a room with held members live at least the window and a
 * heartbeat period more, so the expiry always finds them. */
static long long keep_ms(void)
{
    long long occupied = bus_occupied_ttl_ms();
    long long held = (long long)cfg()->resume_window * 1000 + bus_heartbeat_period_ms();
    return occupied > held ? occupied : held;
}

int bus_member_hold(const char *room_id, const char *user_id, const char *secret,
                    long long until_ms, long long front_ms, const char *envelope,
                    size_t envelope_len, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], away[BUS_KEY_MAX], channel[BUS_KEY_MAX];
    char until[24], keep[24], front[24];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_away(away, room_id);
    bus_key_room(channel, room_id);
    snprintf(until, sizeof(until), "%lld", until_ms);
    snprintf(keep, sizeof(keep), "%lld", keep_ms());
    snprintf(front, sizeof(front), "%lld", front_ms);
    const char *values[] = { room,  members, away,     user_id, secret,
                             until, channel, envelope, keep,    front };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, envelope_len, 0, 0 };
    return bus_eval(S_HOLD, 3, 7, values, lens, fn, privdata);
}

int bus_member_resume(const char *room_id, const char *user_id, const char *secret,
                      const json_t *profile, const char *new_secret, const char *envelope,
                      size_t envelope_len, bool no_wait, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], away[BUS_KEY_MAX], gap[BUS_KEY_MAX],
        channel[BUS_KEY_MAX];
    char ttl[16], now[24], plain[256];
    long long now_ms = (long long)sb_clock_wall_ms();
    char *member = bus_member_value(profile, new_secret, now_ms, plain);
    if (!member)
        return -1;
    const char *identity = profile ? json_string_value(json_object_get(profile, "identity")) : "";
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_away(away, room_id);
    key_gap(gap, room_id, user_id);
    bus_key_room(channel, room_id);
    snprintf(ttl, sizeof(ttl), "%d", bus_occupied_ttl_ms());
    snprintf(now, sizeof(now), "%lld", now_ms);
    /* The room under this node, for the reaper should it die, as a join
     * notes it (a command of its own: the script keeps to the room's
     * keys, and the node's rooms set is in the node's slot). */
    bus_node_rooms_command("SADD", room_id);
    const char *values[] = { room,
                             members,
                             away,
                             gap,
                             user_id,
                             secret,
                             member,
                             ttl,
                             channel,
                             envelope,
                             identity ? identity : "",
                             now,
                             no_wait ? "1" : "0" };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, envelope_len, 0, 0, 0 };
    int rc = bus_eval(S_RESUME, 4, 9, values, lens, fn, privdata);
    bus_member_value_free(member, plain);
    return rc;
}

int bus_gap_publish(const char *room_id, const char *envelope, size_t envelope_len,
                    size_t payload_off, const char *to, const char *sender, bool publish,
                    bus_reply_fn fn, void *privdata)
{
    char away[BUS_KEY_MAX], channel[BUS_KEY_MAX], gap[BUS_KEY_MAX];
    char off[24], max_n[16], max_b[24], now[24];
    bus_key_away(away, room_id);
    bus_key_room(channel, room_id);
    key_gap(gap, room_id, "");
    snprintf(off, sizeof(off), "%zu", payload_off);
    snprintf(max_n, sizeof(max_n), "%d", cfg()->resume_buffer_count);
    snprintf(max_b, sizeof(max_b), "%ld", cfg()->resume_buffer_bytes);
    snprintf(now, sizeof(now), "%lld", (long long)sb_clock_wall_ms());
    const char *values[] = { away,   channel, envelope, off,   to ? to : "",
                             sender, gap,     max_n,    max_b, publish ? "1" : "0",
                             now };
    const size_t lens[] = { 0, 0, envelope_len, 0, 0, 0, 0, 0, 0, 0, 0 };
    return bus_eval(S_GAP, 1, 10, values, lens, fn, privdata);
}

int bus_gap_front(const char *room_id, const char *user_id, const char *payload, size_t len,
                  const char *end)
{
    char away[BUS_KEY_MAX], gap[BUS_KEY_MAX], max_n[16], max_b[24];
    bus_key_away(away, room_id);
    key_gap(gap, room_id, user_id);
    snprintf(max_n, sizeof(max_n), "%d", cfg()->resume_buffer_count);
    snprintf(max_b, sizeof(max_b), "%ld", cfg()->resume_buffer_bytes);
    const char *values[] = { away, gap, user_id, max_n, max_b, end, payload };
    const size_t lens[] = { 0, 0, 0, 0, 0, 0, len };
    return bus_eval(S_GAP_FRONT, 2, payload ? 5 : 4, values, lens, NULL, NULL);
}

int bus_room_expire_away(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char room[BUS_KEY_MAX], members[BUS_KEY_MAX], away[BUS_KEY_MAX], channel[BUS_KEY_MAX],
        gap[BUS_KEY_MAX];
    char now[24], departure[16];
    bus_key_room(room, room_id);
    bus_key_members(members, room_id);
    bus_key_away(away, room_id);
    bus_key_room(channel, room_id);
    key_gap(gap, room_id, "");
    snprintf(now, sizeof(now), "%lld", (long long)sb_clock_wall_ms());
    snprintf(departure, sizeof(departure), "%d", cfg()->departure_timeout);
    const char *values[] = { room,           members, away, now,      channel,
                             cfg()->node_id, room_id, gap,  departure };
    return bus_eval(S_EXPIRE_AWAY, 3, 6, values, NULL, fn, privdata);
}

int bus_room_away(const char *room_id, bus_reply_fn fn, void *privdata)
{
    char away[BUS_KEY_MAX];
    bus_key_away(away, room_id);
    const char *argv[] = { "HGETALL", away };
    return bus_send(2, argv, NULL, fn, privdata);
}
