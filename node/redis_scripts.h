/*
 * redis_scripts.h - the Lua scripts that make every membership change one
 * atomic round trip (docs/design.md#scripts).
 *
 * Key layout (P = key prefix, default "sb:"):
 *   P room:{<id>}          hash: created_at, max_participants, empty_timeout,
 *                          departure_timeout, metadata
 *   P room:{<id>}:members  hash: user_id -> {"node":...,"joined_at":...}, with
 *                          auth on also "identity", "name", "metadata"
 *   P rooms                zset: room_id -> created_at (ms), the listing index
 *   P node:<id>            heartbeat string with TTL; P nodes: set of nodes
 *   P node:<id>:rooms      set of rooms where that node has members
 *   P room:{<id>}:away     hash: user_id -> {"t":window end ms,"n":messages,
 *                          "b":bytes,"m":1 when the gap overflowed}, held members
 *   P room:{<id>}:gap:<user_id>  list: the payloads sent to a held member
 * and the channel P room:{<id>} carries the room's cross-node traffic.
 *
 * Join and leave PUBLISH their envelope from inside the script, so the
 * announcement is ordered exactly with the membership change: a node that
 * subscribed before its own join sees every later change, in order, and
 * never one that its join snapshot already contains as missing.
 *
 * The listing, sweep and create scripts read room keys they compute themselves;
 * that is fine on a single Redis and is the one place to change for Redis
 * Cluster, where the index would be read per slot instead.
 */
#ifndef SB_REDIS_SCRIPTS_H
#define SB_REDIS_SCRIPTS_H

/* The end of both join scripts: write the member, keep the room's keys
 * alive, note the room under this node, announce the join, reply. */
#define JOIN_WRITE \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n" \
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n" \
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n" \
    "redis.call('SADD', KEYS[3], ARGV[6])\n" \
    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n" \
    "return out\n"

/* KEYS: room, members, node_rooms
 * ARGV: user_id, member_json, occupied_ttl_ms, channel, envelope, room_id
 * -> {0, user ids already present...} | {-1} no such room | {-2} full */
#define SCRIPT_JOIN \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n" \
    "local max = tonumber(redis.call('HGET', KEYS[1], 'max_participants')) or 0\n" \
    "if max > 0 and redis.call('HLEN', KEYS[2]) >= max then return {-2} end\n" \
    "local out = redis.call('HKEYS', KEYS[2])\n" \
    "table.insert(out, 1, 0)\n" \
    JOIN_WRITE

/* The join with auth on (docs/design.md#access-control): as SCRIPT_JOIN,
 * but a member of the same identity is replaced, in the same atomic step:
 * it is removed, a "replace" envelope tells its node to close it (4001),
 * and its leave is published before our join. The reply carries each
 * member's stored value, so `connected` can show identities. A member
 * being replaced does not count against the capacity. The leave envelope
 * is spelled out as in SCRIPT_REAP.
 * KEYS: room, members, node_rooms
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
    "  redis.call('PUBLISH', ARGV[4], 'SB1 ' .. ARGV[8] .. ' replace ' .. old .. '\\n' .. ARGV[9])\n" \
    "  redis.call('PUBLISH', ARGV[4], 'SB1 ' .. ARGV[8] .. ' leave ' .. old .. '\\n' ..\n" \
    "    '{\"type\":\"user-left\",\"user_id\":\"' .. old .. '\",\"room_id\":\"' .. ARGV[6] .. '\"}')\n" \
    "end\n" \
    JOIN_WRITE

/* KEYS: room, members, node_rooms
 * ARGV: user_id, channel, envelope, room_id, last_local (0|1), default departure s
 * -> 1 removed | 0 was not a member */
#define SCRIPT_LEAVE \
    "local removed = redis.call('HDEL', KEYS[2], ARGV[1])\n" \
    "if ARGV[5] == '1' then redis.call('SREM', KEYS[3], ARGV[4]) end\n" \
    "if removed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end\n" \
    "if redis.call('HLEN', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[1]) == 1 then\n" \
    "  local d = tonumber(redis.call('HGET', KEYS[1], 'departure_timeout')) or tonumber(ARGV[6])\n" \
    "  redis.call('PEXPIRE', KEYS[1], d * 1000)\n" \
    "end\n" \
    "return removed\n"

/* Create a room unless the index holds --max-rooms entries. The index
 * also holds entries of rooms that expired and are not yet swept; at the
 * limit, the oldest CREATE_PRUNE of them are checked and the stale ones
 * dropped before counting again: rooms nobody joined expire oldest first,
 * so those are where the stale entries are.
 * KEYS: room, index
 * ARGV: created_at (ISO), created_ms, max_participants, empty_timeout,
 *       departure_timeout, metadata json, room_id, max_rooms (0 = none),
 *       prefix -> 1 created | 0 too many rooms */
#define CREATE_PRUNE "64"
#define SCRIPT_CREATE \
    "local max = tonumber(ARGV[8])\n" \
    "if max > 0 and redis.call('ZCARD', KEYS[2]) >= max then\n" \
    "  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, " CREATE_PRUNE " - 1)) do\n" \
    "    if redis.call('EXISTS', ARGV[9] .. 'room:{' .. id .. '}') == 0 then\n" \
    "      redis.call('ZREM', KEYS[2], id)\n" \
    "    end\n" \
    "  end\n" \
    "  if redis.call('ZCARD', KEYS[2]) >= max then return 0 end\n" \
    "end\n" \
    "redis.call('HSET', KEYS[1], 'created_at', ARGV[1], 'max_participants', ARGV[3],\n" \
    "  'empty_timeout', ARGV[4], 'departure_timeout', ARGV[5], 'metadata', ARGV[6])\n" \
    "redis.call('EXPIRE', KEYS[1], ARGV[4])\n" \
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[7])\n" \
    "return 1\n"

/* KEYS: room, members -> nil | {room hash flat, members hash flat} */
#define SCRIPT_GET \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n" \
    "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}\n"

/* One page of the listing: examine at most `count` index entries, keep the
 * rooms that still exist and drop the stale entries. The node chains pages
 * (redis_bus.h, bus_room_list_page) so that no single call holds Redis for
 * more than a page's worth of work, whatever the client's limit.
 * The first page starts at rank `start`; the next ones just past the last
 * entry examined, (after_score, after_id), found again by its place in the
 * order rather than by rank: entries removed meanwhile before it (a sweep,
 * a DELETE, another listing) shift nothing. Members of equal score are
 * compared byte by byte, as Redis orders them (Lua's < follows the locale).
 * KEYS: index; ARGV: prefix, start, count, after_score, after_id ('' = none)
 * -> {more (0|1), last_score, last_id, room_id, created_at, participant_count, ...} */
#define SCRIPT_LIST \
    "local start, count = tonumber(ARGV[2]), tonumber(ARGV[3])\n" \
    "if ARGV[5] ~= '' then\n" \
    "  start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[4])\n" \
    "  local a = ARGV[5]\n" \
    "  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], ARGV[4])) do\n" \
    "    local i = 1\n" \
    "    while i <= #id and i <= #a and id:byte(i) == a:byte(i) do i = i + 1 end\n" \
    "    if i > #id or (i <= #a and id:byte(i) < a:byte(i)) then start = start + 1 end\n" \
    "  end\n" \
    "end\n" \
    "local ids = redis.call('ZRANGE', KEYS[1], start, start + count - 1, 'WITHSCORES')\n" \
    "local out = { #ids < 2 * count and 0 or 1, '', '' }\n" \
    "for i = 1, #ids, 2 do\n" \
    "  local room = ARGV[1] .. 'room:{' .. ids[i] .. '}'\n" \
    "  local created = redis.call('HGET', room, 'created_at')\n" \
    "  if created then\n" \
    "    out[#out + 1] = ids[i]\n" \
    "    out[#out + 1] = created\n" \
    "    out[#out + 1] = redis.call('HLEN', room .. ':members')\n" \
    "  else\n" \
    "    redis.call('ZREM', KEYS[1], ids[i])\n" \
    "  end\n" \
    "end\n" \
    "if #ids > 0 then out[2], out[3] = ids[#ids], ids[#ids - 1] end\n" \
    "return out\n"

/* KEYS: room, members, index; ARGV: room_id, channel, envelope -> 1 | 0 */
#define SCRIPT_DELETE \
    "local existed = redis.call('DEL', KEYS[1])\n" \
    "redis.call('DEL', KEYS[2])\n" \
    "redis.call('ZREM', KEYS[3], ARGV[1])\n" \
    "if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end\n" \
    "return existed\n"

/* KEYS: room1, members1, room2, members2, ...; ARGV: ttl_ms */
#define SCRIPT_REFRESH \
    "for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end\n" \
    "return #KEYS\n"

/* KEYS: index; ARGV: prefix, cursor, count -> next cursor (0 = done) */
#define SCRIPT_SWEEP \
    "local start, count = tonumber(ARGV[2]), tonumber(ARGV[3])\n" \
    "local ids = redis.call('ZRANGE', KEYS[1], start, start + count - 1)\n" \
    "local kept = 0\n" \
    "for _, id in ipairs(ids) do\n" \
    "  if redis.call('EXISTS', ARGV[1] .. 'room:{' .. id .. '}') == 1 then\n" \
    "    kept = kept + 1\n" \
    "  else\n" \
    "    redis.call('ZREM', KEYS[1], id)\n" \
    "  end\n" \
    "end\n" \
    "if #ids < count then return 0 end\n" \
    "return start + kept\n"

/* Write back a member that Redis lost (restart, or this node was taken for
 * dead), re-creating the room with defaults if it is gone.
 * KEYS: room, members, node_rooms, index
 * ARGV: user_id, member_json, occupied_ttl_ms, channel, envelope, room_id,
 *       created_at, created_ms, empty_timeout, departure_timeout, max */
#define SCRIPT_RESTORE \
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n" \
    "  redis.call('HSET', KEYS[1], 'created_at', ARGV[7], 'max_participants', ARGV[11],\n" \
    "    'empty_timeout', ARGV[9], 'departure_timeout', ARGV[10], 'metadata', 'null')\n" \
    "end\n" \
    "redis.call('ZADD', KEYS[4], 'NX', ARGV[8], ARGV[6])\n" \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n" \
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n" \
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n" \
    "redis.call('SADD', KEYS[3], ARGV[6])\n" \
    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n" \
    "return 1\n"

/* What the reaper does with one member of a dead node (room, members,
 * all[i] and rid as in SCRIPT_REAP): with --resume-window (ARGV[5] ms > 0,
 * ARGV[6] the time now) its window starts as if its socket had been lost
 * (docs/design.md#resume): it is held in the room's away hash, announced
 * "away", and the room's keys live at least as long as the window.
 * Without, it is removed and announced as left. */
#define REAP_MEMBER \
    "          local win = tonumber(ARGV[5])\n" \
    "          if win > 0 then\n" \
    "            if redis.call('HEXISTS', room .. ':away', all[i]) == 0 then\n" \
    "              redis.call('HSET', room .. ':away', all[i],\n" \
    "                cjson.encode({t = tonumber(ARGV[6]) + win, n = 0, b = 0, m = 0}))\n" \
    "              for _, k in ipairs({room, members, room .. ':away'}) do\n" \
    "                if redis.call('PTTL', k) < win + 1000 then redis.call('PEXPIRE', k, win + 1000) end\n" \
    "              end\n" \
    "              redis.call('PUBLISH', room, 'SB1 ' .. ARGV[2] .. ' away ' .. all[i] .. '\\n')\n" \
    "            end\n" \
    "          else\n" \
    "            redis.call('HDEL', members, all[i])\n" \
    "            redis.call('PUBLISH', room, 'SB1 ' .. ARGV[2] .. ' leave ' .. all[i] .. '\\n' ..\n" \
    "              '{\"type\":\"user-left\",\"user_id\":\"' .. all[i] .. '\",\"room_id\":\"' .. rid .. '\"}')\n" \
    "          end\n"

/* Remove the members of every node whose heartbeat has expired, announce
 * each as left, and let rooms left empty expire. Guarded by a lock so one
 * node reaps at a time. The envelope is spelled out here because the
 * script makes one per member: it must match sb_envelope_encode and
 * sb_protocol_build_user_event.
 * KEYS: nodes, lock
 * ARGV: prefix, this node id, lock ttl ms, default departure s, resume window
 *       ms (0 = off), now ms
 * -> {-1} lock held elsewhere | {members reaped, dead node ids...} */
#define SCRIPT_REAP \
    "if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {-1} end\n" \
    "local out = {0}\n" \
    "for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n" \
    "  if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then\n" \
    "    local rooms_key = ARGV[1] .. 'node:' .. node .. ':rooms'\n" \
    "    for _, rid in ipairs(redis.call('SMEMBERS', rooms_key)) do\n" \
    "      local room = ARGV[1] .. 'room:{' .. rid .. '}'\n" \
    "      local members = room .. ':members'\n" \
    "      local all = redis.call('HGETALL', members)\n" \
    "      for i = 1, #all, 2 do\n" \
    "        local ok, m = pcall(cjson.decode, all[i + 1])\n" \
    "        if ok and type(m) == 'table' and m.node == node then\n" \
    REAP_MEMBER \
    "          out[1] = out[1] + 1\n" \
    "        end\n" \
    "      end\n" \
    "      if redis.call('HLEN', members) == 0 and redis.call('EXISTS', room) == 1 then\n" \
    "        local d = tonumber(redis.call('HGET', room, 'departure_timeout')) or tonumber(ARGV[4])\n" \
    "        redis.call('PEXPIRE', room, d * 1000)\n" \
    "      end\n" \
    "    end\n" \
    "    redis.call('DEL', rooms_key)\n" \
    "    redis.call('SREM', KEYS[1], node)\n" \
    "    out[#out + 1] = node\n" \
    "  end\n" \
    "end\n" \
    "return out\n"

#include "redis_scripts_resume.h"

#endif
