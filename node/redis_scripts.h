/*
 * redis_scripts.h - the Lua scripts that make every membership change one
 * atomic round trip (docs/design.md#scripts).
 *
 * Key layout (P = key prefix, default "sb:"), the same on one Redis and on
 * Redis Cluster (docs/design.md#keys):
 *   P room:{<id>}            hash: created_at, max_participants, empty_timeout,
 *                            departure_timeout, metadata
 *   P room:{<id>}:members    hash: user_id -> {"node":...,"joined_at":...,
 *                            "resume":...}, with auth on also "identity",
 *                            "name", "metadata"
 *   P room:{<id>}:away       hash: user_id -> {"t":window end ms,"n":messages,
 *                            "b":bytes,"m":1 when the gap overflowed,"f":
 *                            front awaited until ms}, held members
 *                            (redis_scripts_resume.h)
 *   P room:{<id>}:gap:<uid>  list: the payloads sent to a held member
 *   P rooms:{<tag>}          zset: room_id -> created_at (ms), one of the 16
 *                            partitions of the listing index (redis_slots.h)
 *   P node:{<id>}            heartbeat string with TTL
 *   P node:{<id>}:rooms      set of rooms where that node has members
 *   P nodes                  set of node ids
 * and the channel P room:{<id>} carries the room's cross-node traffic.
 *
 * Every script touches the keys of one hash tag only, so of one Cluster
 * slot: a room's, a node's or an index partition's. What spans several
 * (the listing, the room limit, the sweep, the reaper) is a sequence of
 * such calls driven by the node (redis_index.c, redis_reaper.c).
 *
 * Join and leave PUBLISH their envelope from inside the script, so the
 * announcement is ordered exactly with the membership change: a node that
 * subscribed before its own join sees every later change, in order, and
 * never one that its join snapshot already contains as missing. On Redis
 * Cluster the node loads them with SPUBLISH instead (the room's channel is
 * a shard channel, in the room's slot).
 */
#ifndef SB_REDIS_SCRIPTS_H
#define SB_REDIS_SCRIPTS_H

/* The end of both join scripts: write the member, keep the room's keys
 * alive, announce the join, reply. (The node notes the room in its own
 * rooms set, a key of another slot, just before: redis_requests.c.) */
#define JOIN_WRITE \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n" \
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n" \
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n" \
    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n" \
    "return out\n"

/* KEYS: room, members
 * ARGV: user_id, member_json, occupied_ttl_ms, channel, envelope, room_id
 * -> {0, user ids already present...} | {-1} no such room | {-2} full */
#define SCRIPT_JOIN \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n" \
    "local max = tonumber(redis.call('HGET', KEYS[1], 'max_participants')) or 0\n" \
    "if max > 0 and redis.call('HLEN', KEYS[2]) >= max then return {-2} end\n" \
    "local out = redis.call('HKEYS', KEYS[2])\n" \
    "table.insert(out, 1, 0)\n" JOIN_WRITE

/* The join with auth on (docs/design.md#access-control): as SCRIPT_JOIN,
 * but a member of the same identity is replaced, in the same atomic step:
 * it is removed, a "replace" envelope tells its node to close it (4001),
 * and its leave is published before our join. The reply carries each
 * member's stored value, so `connected` can show identities. A member
 * being replaced does not count against the capacity. The leave envelope
 * is spelled out as in SCRIPT_REAP_ROOM.
 * KEYS: room, members
 * ARGV: user_id, member_json, occupied_ttl_ms, channel, envelope, room_id,
 *       identity, node_id, replace payload
 * -> {0, user_id, member_json, ...} | {-1} no such room | {-2} full */
#define SCRIPT_JOIN_AUTH \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n" \
    "local all = redis.call('HGETALL', KEYS[2])\n" \
    "local out, replaced = {0}, {}\n" \
    "for i = 1, #all, 2 do\n" \
    "  local ok, m = pcall(cjson.decode, all[i + 1])\n" \
    "  if ok and type(m) == 'table' and m.identity == ARGV[7] then\n" \
    "    replaced[#replaced + 1] = all[i]\n" \
    "  else\n" \
    "    out[#out + 1] = all[i]\n" \
    "    out[#out + 1] = all[i + 1]\n" \
    "  end\n" \
    "end\n" \
    "local max = tonumber(redis.call('HGET', KEYS[1], 'max_participants')) or 0\n" \
    "if max > 0 and (#out - 1) / 2 >= max then return {-2} end\n" \
    "for _, old in ipairs(replaced) do\n" \
    "  redis.call('HDEL', KEYS[2], old)\n" \
    "  redis.call('PUBLISH', ARGV[4], 'SB1 ' .. ARGV[8] .. ' replace ' .. old .. '\\n' .. " \
    "ARGV[9])\n" \
    "  redis.call('PUBLISH', ARGV[4], 'SB1 ' .. ARGV[8] .. ' leave ' .. old .. '\\n' ..\n" \
    "    '{\"type\":\"user-left\",\"user_id\":\"' .. old .. '\",\"room_id\":\"' .. ARGV[6] .. " \
    "'\"}')\n" \
    "end\n" JOIN_WRITE

/* KEYS: room, members
 * ARGV: user_id, channel, envelope, default departure s
 * -> 1 removed | 0 was not a member */
#define SCRIPT_LEAVE \
    "local removed = redis.call('HDEL', KEYS[2], ARGV[1])\n" \
    "if removed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end\n" \
    "if redis.call('HLEN', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[1]) == 1 then\n" \
    "  local d = tonumber(redis.call('HGET', KEYS[1], 'departure_timeout')) or " \
    "tonumber(ARGV[4])\n" \
    "  redis.call('PEXPIRE', KEYS[1], d * 1000)\n" \
    "end\n" \
    "return removed\n"

/* Write a new room's hash. The limit on rooms and the index entry are the
 * node's steps around it (redis_index.c).
 * KEYS: room
 * ARGV: created_at (ISO), max_participants, empty_timeout,
 *       departure_timeout, metadata json -> 1 */
#define SCRIPT_CREATE \
    "redis.call('HSET', KEYS[1], 'created_at', ARGV[1], 'max_participants', ARGV[2],\n" \
    "  'empty_timeout', ARGV[3], 'departure_timeout', ARGV[4], 'metadata', ARGV[5])\n" \
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n" \
    "return 1\n"

/* KEYS: room, members -> nil | {room hash flat, members hash flat} */
#define SCRIPT_GET \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n" \
    "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}\n"

/* One partition's share of a listing page: at most `count` index entries,
 * oldest first, from the start or just past the entry (after_score,
 * after_id) that ended the previous page, found again by its place in the
 * order rather than by rank: entries removed meanwhile before it (a sweep,
 * a DELETE, another listing) shift nothing. Members of equal score are
 * compared byte by byte, as Redis orders them (Lua's < follows the locale).
 * The node merges the partitions' shares (redis_index.c).
 * KEYS: index partition; ARGV: count, after_score, after_id ('' = none)
 * -> {room_id, score, room_id, score, ...} */
#define SCRIPT_LIST \
    "local start, count = 0, tonumber(ARGV[1])\n" \
    "if ARGV[3] ~= '' then\n" \
    "  start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[2])\n" \
    "  local a = ARGV[3]\n" \
    "  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do\n" \
    "    local i = 1\n" \
    "    while i <= #id and i <= #a and id:byte(i) == a:byte(i) do i = i + 1 end\n" \
    "    if i > #id or (i <= #a and id:byte(i) < a:byte(i)) then start = start + 1 end\n" \
    "  end\n" \
    "end\n" \
    "return redis.call('ZRANGE', KEYS[1], start, start + count - 1, 'WITHSCORES')\n"

/* What a listing shows of one room. KEYS: room, members
 * -> nil (the room expired) | {created_at, participant_count} */
#define SCRIPT_BRIEF \
    "local created = redis.call('HGET', KEYS[1], 'created_at')\n" \
    "if not created then return false end\n" \
    "return {created, redis.call('HLEN', KEYS[2])}\n"

/* KEYS: room, members; ARGV: channel, envelope -> 1 | 0 */
#define SCRIPT_DELETE \
    "local existed = redis.call('DEL', KEYS[1])\n" \
    "redis.call('DEL', KEYS[2])\n" \
    "if existed == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end\n" \
    "return existed\n"

/* KEYS: room1, members1, room2, members2, ... of one slot on Redis
 * Cluster, up to 200 rooms on one Redis; ARGV: ttl_ms */
#define SCRIPT_REFRESH \
    "for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end\n" \
    "return #KEYS\n"

/* Write back a member that Redis lost (restart, or this node was taken for
 * dead), re-creating the room with defaults if it is gone. The node also
 * puts the room back in its rooms set and in the index.
 * KEYS: room, members
 * ARGV: user_id, member_json, occupied_ttl_ms, channel, envelope,
 *       created_at, empty_timeout, departure_timeout, max */
#define SCRIPT_RESTORE \
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n" \
    "  redis.call('HSET', KEYS[1], 'created_at', ARGV[6], 'max_participants', ARGV[9],\n" \
    "    'empty_timeout', ARGV[7], 'departure_timeout', ARGV[8], 'metadata', 'null')\n" \
    "end\n" \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n" \
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n" \
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n" \
    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n" \
    "return 1\n"

/* The reaper, in three kinds of call (redis_reaper.c, docs/design.md#dead-nodes).
 *
 * REAP_NODE: is the node dead, and where did it have members?
 * KEYS: node heartbeat, node rooms -> nil (alive) | {room ids...} */
#define SCRIPT_REAP_NODE \
    "if redis.call('EXISTS', KEYS[1]) == 1 then return false end\n" \
    "return redis.call('SMEMBERS', KEYS[2])\n"

/* What the reaper does with one member of a dead node (room, members,
 * away, all[i] and rid as in SCRIPT_REAP_ROOM): with --resume-window
 * (ARGV[5] ms > 0, ARGV[6] the time now) its window starts as if its socket
 * had been lost (docs/design.md#resume): it is held in the room's away
 * hash (redis_scripts_resume.h), announced "away", and the room's keys live at least
 * as long as the window. Without, it is removed and announced as left. The
 * leave envelope is spelled out here because the script makes one per
 * member: it must match sb_envelope_encode and sb_protocol_build_user_event. */
#define REAP_MEMBER \
    "    local win = tonumber(ARGV[5])\n" \
    "    if win > 0 then\n" \
    "      if redis.call('HEXISTS', away, all[i]) == 0 then\n" \
    "        redis.call('HSET', away, all[i],\n" \
    "          cjson.encode({t = tonumber(ARGV[6]) + win, n = 0, b = 0, m = 0}))\n" \
    "        for _, k in ipairs({room, members, away}) do\n" \
    "          if redis.call('PTTL', k) < win + 1000 then redis.call('PEXPIRE', k, win + 1000) end\n" \
    "        end\n" \
    "        redis.call('PUBLISH', room, 'SB1 ' .. ARGV[2] .. ' away ' .. all[i] .. '\\n')\n" \
    "      end\n" \
    "    else\n" \
    "      redis.call('HDEL', members, all[i])\n" \
    "      redis.call('PUBLISH', room, 'SB1 ' .. ARGV[2] .. ' leave ' .. all[i] .. '\\n' ..\n" \
    "        '{\"type\":\"user-left\",\"user_id\":\"' .. all[i] .. '\",\"room_id\":\"' .. rid .. '\"}')\n" \
    "    end\n"

/* REAP_ROOM: what happens to the members a dead node had in one room:
 * each goes through REAP_MEMBER, and a room left empty gets its departure
 * timeout. The room's channel is the room's key. HGETALL and the changes
 * are one script, so two reapers never take a member twice.
 * KEYS: room, members, away
 * ARGV: dead node id, this node id, room_id, default departure s, resume
 *       window ms (0 = off), now ms
 * -> members of the dead node found */
#define SCRIPT_REAP_ROOM \
    "local room, members, away, rid = KEYS[1], KEYS[2], KEYS[3], ARGV[3]\n" \
    "local n = 0\n" \
    "local all = redis.call('HGETALL', members)\n" \
    "for i = 1, #all, 2 do\n" \
    "  local ok, m = pcall(cjson.decode, all[i + 1])\n" \
    "  if ok and type(m) == 'table' and m.node == ARGV[1] then\n" \
    REAP_MEMBER \
    "    n = n + 1\n" \
    "  end\n" \
    "end\n" \
    "if n > 0 and redis.call('HLEN', members) == 0 and redis.call('EXISTS', room) == 1 then\n" \
    "  local d = tonumber(redis.call('HGET', room, 'departure_timeout')) or tonumber(ARGV[4])\n" \
    "  redis.call('PEXPIRE', room, d * 1000)\n" \
    "end\n" \
    "return n\n"

/* REAP_FORGET: once every room is done, drop the dead node's rooms set,
 * unless the node came back meanwhile (its heartbeat is there again).
 * KEYS: node heartbeat, node rooms -> 1 forgotten | 0 alive */
#define SCRIPT_REAP_FORGET \
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n" \
    "redis.call('DEL', KEYS[2])\n" \
    "return 1\n"

#include "redis_scripts_resume.h"

#endif
