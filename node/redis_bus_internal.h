/*
 * redis_bus_internal.h - what redis_bus.c (connections) and
 * redis_requests.c (the requests themselves) share. Not for other modules:
 * they use redis_bus.h.
 */
#ifndef SB_REDIS_BUS_INTERNAL_H
#define SB_REDIS_BUS_INTERNAL_H

#include <stddef.h>

#include "config.h"
#include "redis_bus.h"

#define BUS_KEY_MAX 256
#define BUS_MAX_ARGS 16

/* The Lua scripts of redis_scripts.h, loaded on every connect. */
enum bus_script {
    S_JOIN,
    S_LEAVE,
    S_CREATE,
    S_GET,
    S_LIST,
    S_BRIEF,
    S_DELETE,
    S_REFRESH,
    S_RESTORE,
    S_REAP_NODE,
    S_REAP_ROOM,
    S_REAP_FORGET,
    S_JOIN_AUTH,
    S_HOLD,
    S_RESUME,
    S_GAP,
    S_EXPIRE_AWAY,
    S_GAP_FRONT,
    S_COUNT
};

const sb_config *bus_config(void);
/* The command link's context while it is up, else NULL. */
struct redisAsyncContext *bus_command_link(void);
int bus_heartbeat_period_ms(void);
/* TTL of an occupied room's keys. */
int bus_occupied_ttl_ms(void);

/* Send argv on the command link, counted in flight until the reply; fn
 * may be NULL. -1 when the link is down. */
int bus_send(int argc, const char **argv, const size_t *argvlen, bus_reply_fn fn, void *privdata);
/* EVALSHA with nkeys keys then nargs args (at most BUS_MAX_ARGS in all);
 * lens may be NULL or hold 0 for NUL-terminated values. */
int bus_eval(int script, int nkeys, int nargs, const char *const *values, const size_t *lens,
             bus_reply_fn fn, void *privdata);

/* Keys (redis_scripts.h); out has BUS_KEY_MAX bytes. A room's channel has
 * its hash's name. */
void bus_key_room(char *out, const char *room_id);
void bus_key_members(char *out, const char *room_id);
/* A member's value in the members hash: {"node","joined_at","resume"},
 * with auth on also the members of its profile. Returns buf (256 bytes)
 * or a new string; free it with member_value_free. NULL on failure. */
char *bus_member_value(const json_t *profile, const char *resume_secret, long long now, char *buf);
void bus_member_value_free(char *value, const char *buf);
void bus_key_node(char *out, const char *node_id);
void bus_key_node_rooms(char *out, const char *node_id);
void bus_key_nodes(char *out);
/* SADD or SREM room_id in this node's rooms set (redis_requests.c). */
int bus_node_rooms_command(const char *verb, const char *room_id);
/* The away hash of a room's held members (redis_resume.c). */
void bus_key_away(char *out, const char *room_id);
/* Partition `partition` of the listing index, or the one of a room. */
void bus_key_index(char *out, unsigned partition);
void bus_key_index_of(char *out, const char *room_id);

/* redis_scripts.c: the S_COUNT script texts as loaded (SPUBLISH for
 * PUBLISH when cluster is set) and their SHA1s; 0, or -1 without memory. */
int bus_scripts_prepare(bool cluster);
const char *const *bus_script_texts(void);
const char *bus_script_sha(int script);
/* Rooms one REFRESH call may cover: `max` on one Redis; on Redis Cluster
 * 1, since each room is in a slot of its own. */
size_t bus_refresh_rooms_per_call(size_t max);

/* Heartbeat-period upkeep. */
void bus_send_heartbeat(void);
void bus_reap_dead_nodes(void);  /* redis_reaper.c */
void bus_sweep_index_step(void); /* redis_index.c */
/* Put a new room in its index partition (redis_index.c). */
int bus_index_add(const char *room_id, long long created_ms, bool only_new, bus_reply_fn fn,
                  void *privdata);
int bus_index_remove(const char *room_id);

#endif
