/*
 * redis_scripts_resume.h - the Lua scripts of resuming (docs/design.md#resume):
 * holding a member whose socket was lost, resuming it, keeping the gap's
 * messages, and ending windows that ran out.
 *
 * Every script touches the keys of one room only (the room's hash tag),
 * the gap lists included, whose names it builds from a prefix that already
 * carries the tag: so each runs in one Redis Cluster slot.
 *
 * A held member stays in the members hash, so nobody is told anything; it
 * is also in the room's away hash, user_id -> {"t": end of its window in
 * ms, "n" and "b": messages and bytes in its gap list, "m": 1 once the
 * gap overflowed, "f": while the holding node's front of the gap is not
 * in yet, the ms until which a resume waits for it}. Only the expiry removes it from the members hash, and
 * only the script whose HDEL removed it publishes its leave: one leave,
 * however many nodes run the expiry.
 */
#ifndef SB_REDIS_SCRIPTS_RESUME_H
#define SB_REDIS_SCRIPTS_RESUME_H

/* The socket of a connected member was lost: hold it, unless the member is
 * no longer that connection (resumed elsewhere, replaced, removed). "f"
 * says the holding node still has messages to put in front of the gap
 * (SCRIPT_GAP_FRONT ends it): a resume waits for them until then.
 * KEYS: room, members, away
 * ARGV: user_id, resume secret of the lost connection, window end ms,
 *       channel, "away" envelope, ms the keys must live at least,
 *       ms until which a resume waits for the front
 * -> 1 held | 0 not that member any more */
#define SCRIPT_HOLD \
    "local v = redis.call('HGET', KEYS[2], ARGV[1])\n" \
    "if not v then return 0 end\n" \
    "local ok, m = pcall(cjson.decode, v)\n" \
    "if not ok or type(m) ~= 'table' or m.resume ~= ARGV[2] then return 0 end\n" \
    "local h = {t = tonumber(ARGV[3]), n = 0, b = 0, m = 0}\n" \
    "local a = redis.call('HGET', KEYS[3], ARGV[1])\n" \
    "if a then\n" \
    "  local ok2, old = pcall(cjson.decode, a)\n" \
    "  if ok2 and type(old) == 'table' then h = old end\n" \
    "end\n" \
    "h.f = tonumber(ARGV[7])\n" \
    "redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(h))\n" \
    "for i = 1, 3 do\n" \
    "  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[6]) then redis.call('PEXPIRE', KEYS[i], ARGV[6]) end\n" \
    "end\n" \
    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n" \
    "return 1\n"

/* Messages the holding node had for the member but did not deliver: sent
 * to it before the hold (its socket's unsent queue, or on the channel
 * before the node heard its own "away"), so no sender kept them. Each call
 * puts one (if given) in front of the gap list; the node sends them last
 * first, and its last call ends the front ("done"), or ends it with the
 * member marked missed when the node lost some ("lost").
 * KEYS: away, gap list of the member
 * ARGV: user_id, most messages, most bytes, '' | 'done' | 'lost',
 *       [payload] -> 1 | 0 not held */
#define SCRIPT_GAP_FRONT \
    "local a = redis.call('HGET', KEYS[1], ARGV[1])\n" \
    "if not a then return 0 end\n" \
    "local ok, h = pcall(cjson.decode, a)\n" \
    "if not ok or type(h) ~= 'table' then return 0 end\n" \
    "local p = ARGV[5]\n" \
    "if p and h.m ~= 1 then\n" \
    "  if h.n + 1 > tonumber(ARGV[2]) or h.b + #p > tonumber(ARGV[3]) then\n" \
    "    h.m = 1\n" \
    "  else\n" \
    "    redis.call('LPUSH', KEYS[2], p)\n" \
    "    redis.call('PEXPIREAT', KEYS[2], h.t)\n" \
    "    h.n = h.n + 1\n" \
    "    h.b = h.b + #p\n" \
    "  end\n" \
    "end\n" \
    "if ARGV[4] == 'lost' then h.m = 1 end\n" \
    "if ARGV[4] ~= '' then h.f = nil end\n" \
    "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(h))\n" \
    "return 1\n"

/* Resume a member by its token: the secret must be the member's current
 * one (a used token is dead: the member now has the new secret), with auth
 * on the identity must match, and a held member's window must not have
 * ended. While its holding node has not yet put in front of the gap what
 * it kept ("f", SCRIPT_HOLD), a held member is not resumed ({-4}: the node
 * asks again shortly), unless "f" has passed or the node asks to go on
 * anyway; then the resume says "missed". A member that was not held (its
 * node died unnoticed, or its socket is half open) is taken over, with
 * "missed": nobody kept what was sent to it since its old connection
 * stopped reading. The member's value is replaced (new node, new secret),
 * its hold and its gap list end, and "back" is published, all in one step:
 * a message to the member is either in the gap list returned here or
 * published after "back", never both, never neither.
 * KEYS: room, members, away, gap list of the member
 * ARGV: user_id, secret, new member value, occupied ttl ms, channel,
 *       "back" envelope, identity ('' with auth off), now ms,
 *       '1' not to wait for the front
 * -> {0, missed (0|1), n, n x (user_id, value, window end ms or 0), gap
 *     payloads...} | {-1} no such room | {-3} nothing to resume | {-4} the
 *     front is not in yet */
#define SCRIPT_RESUME \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n" \
    "local v = redis.call('HGET', KEYS[2], ARGV[1])\n" \
    "if not v then return {-3} end\n" \
    "local ok, m = pcall(cjson.decode, v)\n" \
    "if not ok or type(m) ~= 'table' or m.resume ~= ARGV[2] then return {-3} end\n" \
    "if ARGV[7] ~= '' and m.identity ~= ARGV[7] then return {-3} end\n" \
    "local missed = 1\n" \
    "local a = redis.call('HGET', KEYS[3], ARGV[1])\n" \
    "if a then\n" \
    "  local ok2, h = pcall(cjson.decode, a)\n" \
    "  if ok2 and type(h) == 'table' then\n" \
    "    local now = tonumber(ARGV[8])\n" \
    "    if (tonumber(h.t) or 0) <= now then return {-3} end\n" \
    "    if h.f and tonumber(h.f) > now and ARGV[9] ~= '1' then return {-4} end\n" \
    "    if h.m ~= 1 and not h.f then missed = 0 end\n" \
    "  end\n" \
    "  redis.call('HDEL', KEYS[3], ARGV[1])\n" \
    "end\n" \
    "local gap = redis.call('LRANGE', KEYS[4], 0, -1)\n" \
    "redis.call('DEL', KEYS[4])\n" \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])\n" \
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n" \
    "redis.call('PEXPIRE', KEYS[2], ARGV[4])\n" \
    "local held = {}\n" \
    "local aw = redis.call('HGETALL', KEYS[3])\n" \
    "for i = 1, #aw, 2 do\n" \
    "  local ok3, h = pcall(cjson.decode, aw[i + 1])\n" \
    "  held[aw[i]] = ok3 and type(h) == 'table' and tonumber(h.t) or 0\n" \
    "end\n" \
    "local out = {0, missed, 0}\n" \
    "local all = redis.call('HGETALL', KEYS[2])\n" \
    "for i = 1, #all, 2 do\n" \
    "  if all[i] ~= ARGV[1] then\n" \
    "    out[#out + 1] = all[i]\n" \
    "    out[#out + 1] = all[i + 1]\n" \
    "    out[#out + 1] = held[all[i]] or 0\n" \
    "    out[3] = out[3] + 1\n" \
    "  end\n" \
    "end\n" \
    "for _, g in ipairs(gap) do out[#out + 1] = g end\n" \
    "redis.call('PUBLISH', ARGV[5], ARGV[6])\n" \
    "return out\n"

/* Relay a message in a room with held members: append its payload to the
 * gap list of every held member it is for (all but the sender, or the one
 * `to` names) within the bound, or mark that member's gap overflowed; then
 * publish the envelope if asked, unless it was for a held member only.
 * KEYS: away
 * ARGV: channel, envelope, payload offset in it, to ('' = all), sender,
 *       gap key prefix ("...:gap:"), most messages, most bytes,
 *       publish (0|1), now ms
 * -> members held now */
#define SCRIPT_GAP \
    "local payload = string.sub(ARGV[2], tonumber(ARGV[3]) + 1)\n" \
    "local to, now = ARGV[4], tonumber(ARGV[10])\n" \
    "local max_n, max_b = tonumber(ARGV[7]), tonumber(ARGV[8])\n" \
    "local all = redis.call('HGETALL', KEYS[1])\n" \
    "local held, for_held = 0, false\n" \
    "for i = 1, #all, 2 do\n" \
    "  local uid = all[i]\n" \
    "  local ok, h = pcall(cjson.decode, all[i + 1])\n" \
    "  if ok and type(h) == 'table' and (tonumber(h.t) or 0) > now then\n" \
    "    held = held + 1\n" \
    "    if (to == '' and uid ~= ARGV[5]) or to == uid then\n" \
    "      if to == uid then for_held = true end\n" \
    "      if h.m ~= 1 then\n" \
    "        if h.n + 1 > max_n or h.b + #payload > max_b then\n" \
    "          h.m = 1\n" \
    "        else\n" \
    "          local g = ARGV[6] .. uid\n" \
    "          redis.call('RPUSH', g, payload)\n" \
    "          redis.call('PEXPIREAT', g, h.t)\n" \
    "          h.n = h.n + 1\n" \
    "          h.b = h.b + #payload\n" \
    "        end\n" \
    "        redis.call('HSET', KEYS[1], uid, cjson.encode(h))\n" \
    "      end\n" \
    "    end\n" \
    "  end\n" \
    "end\n" \
    "if ARGV[9] == '1' and not for_held then redis.call('PUBLISH', ARGV[1], ARGV[2]) end\n" \
    "return held\n"

/* End the windows that ran out: remove each such member, its hold and its
 * gap, announce its leave (only if this call removed it), and start the
 * room's departure timeout if it is now empty. Any node may run it, any
 * number of times. The leave envelope is spelled out as in SCRIPT_REAP_ROOM.
 * KEYS: room, members, away
 * ARGV: now ms, channel, node id, room id, gap key prefix, default departure s
 * -> {members removed, earliest window end still running (0 = none)} */
#define SCRIPT_EXPIRE_AWAY \
    "local now = tonumber(ARGV[1])\n" \
    "local all = redis.call('HGETALL', KEYS[3])\n" \
    "local removed, nxt = 0, 0\n" \
    "for i = 1, #all, 2 do\n" \
    "  local uid = all[i]\n" \
    "  local ok, h = pcall(cjson.decode, all[i + 1])\n" \
    "  local t = ok and type(h) == 'table' and tonumber(h.t) or 0\n" \
    "  if t <= now then\n" \
    "    redis.call('HDEL', KEYS[3], uid)\n" \
    "    redis.call('DEL', ARGV[5] .. uid)\n" \
    "    if redis.call('HDEL', KEYS[2], uid) == 1 then\n" \
    "      redis.call('PUBLISH', ARGV[2], 'SB1 ' .. ARGV[3] .. ' leave ' .. uid .. '\\n' ..\n" \
    "        '{\"type\":\"user-left\",\"user_id\":\"' .. uid .. '\",\"room_id\":\"' .. ARGV[4] .. '\"}')\n" \
    "      removed = removed + 1\n" \
    "    end\n" \
    "  elseif nxt == 0 or t < nxt then\n" \
    "    nxt = t\n" \
    "  end\n" \
    "end\n" \
    "if removed > 0 and redis.call('HLEN', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[1]) == 1 then\n" \
    "  local d = tonumber(redis.call('HGET', KEYS[1], 'departure_timeout')) or tonumber(ARGV[6])\n" \
    "  redis.call('PEXPIRE', KEYS[1], d * 1000)\n" \
    "end\n" \
    "return {removed, nxt}\n"

#endif
