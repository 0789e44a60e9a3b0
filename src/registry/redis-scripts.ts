/**
 * Lua scripts of the Redis store. Every change is one script: the data write, the revision bump
 * and the feed entry happen atomically. All scripts receive the same KEYS (see REDIS_KEY_NAMES),
 * which share the prefix's hash tag, so they also run on Redis Cluster.
 *
 * Stored encodings (no JSON re-encoding inside Lua, which would turn `[]` into `{}`):
 *   workloads hash: id  -> "<revision>:<workload JSON>"
 *   kv hash:        key -> "<version>:<raw value>"
 *   policies:             "<revision>:<docs JSON>"
 *
 * ARGV[1] is the epoch the caller knows. A write against a store whose epoch differs (or is gone:
 * Redis restarted empty) is refused with {'EPOCH', current} so the caller recovers first.
 */

export const REDIS_KEY_NAMES = [
  'rev',
  'epoch',
  'workloads',
  'leases',
  'policies',
  'kv',
  'feed',
  'reaper',
  'restored',
  'presence',
] as const;

const PRELUDE = `
local K_REV, K_EPOCH, K_W, K_LEASES, K_POL, K_KV, K_FEED, K_LOCK, K_RESTORED, K_PRESENCE =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local KNOWN_EPOCH, MAXLEN = ARGV[1], ARGV[2]

local function epoch_mismatch()
  local current = redis.call('GET', K_EPOCH)
  if current == KNOWN_EPOCH then return nil end
  return {'EPOCH', current or ''}
end

local function prefix_number(record)
  if not record then return 0 end
  return tonumber(string.match(record, '^(%d+):'))
end

local function publish(...)
  local rev = redis.call('INCR', K_REV)
  redis.call('XADD', K_FEED, 'MAXLEN', '~', MAXLEN, '*', 'r', rev, ...)
  return rev
end
`;

/** ARGV[3] id, [4] workload JSON, [5] expected revision or '', [6] lease deadline or ''. */
export const PUT_WORKLOAD = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local id, json, expected, deadline = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local current = prefix_number(redis.call('HGET', K_W, id))
if expected ~= '' and tonumber(expected) ~= current then return {'CONFLICT', current} end
local rev = publish('k', 'workload', 'o', 'put', 'i', id, 'v', json)
redis.call('HSET', K_W, id, rev .. ':' .. json)
if deadline ~= '' then redis.call('ZADD', K_LEASES, deadline, id) else redis.call('ZREM', K_LEASES, id) end
return {'OK', rev}
`;

/** ARGV[3] id, [4] expected revision or ''. */
export const DELETE_WORKLOAD = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local id, expected = ARGV[3], ARGV[4]
local current = prefix_number(redis.call('HGET', K_W, id))
if current == 0 then return {'NOTFOUND', 0} end
if expected ~= '' and tonumber(expected) ~= current then return {'CONFLICT', current} end
redis.call('HDEL', K_W, id)
redis.call('ZREM', K_LEASES, id)
return {'OK', publish('k', 'workload', 'o', 'delete', 'i', id, 'why', 'deleted')}
`;

/** ARGV[3] id, [4] now (ms). Returns the new deadline, or -1 for a workload without a lease. */
export const RENEW_LEASE = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local id, now = ARGV[3], tonumber(ARGV[4])
local record = redis.call('HGET', K_W, id)
if not record then return {'NOTFOUND', 0} end
local workload = cjson.decode(string.sub(record, #string.match(record, '^%d+:') + 1))
local lease = tonumber(workload['leaseMs'])
if not lease then return {'OK', -1} end
local deadline = now + lease
redis.call('ZADD', K_LEASES, deadline, id)
return {'OK', deadline}
`;

/**
 * ARGV[3] now, [4] lock token, [5] lock ttl ms, [6] max removals, then the replica's presence
 * (see ReapPresence in store.ts): [7] absent-after ms ('' = plain deadlines), [8] reconnect window
 * ms, [9] '1' to rejoin. The presence hash holds token -> "<joined at>:<last heartbeat>:<decided>".
 *
 * A joining replica reaps nothing. When its joining time is up it decides once: if no other replica
 * joined before it and was still beating after it joined, nobody was up to renew leases before it
 * came, so every lease is moved to at least now + lease + reconnect window. Then it takes or extends
 * the reaper lock and removes expired workloads, each removal with its own revision and feed entry.
 */
export const REAP_EXPIRED = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local now, token, ttl, limit = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local extended = -1
if ARGV[7] ~= '' then
  local t, absent, window = tonumber(now), tonumber(ARGV[7]), tonumber(ARGV[8])
  local joined, decided = t, false
  local mine = redis.call('HGET', K_PRESENCE, token)
  if mine and ARGV[9] ~= '1' then
    local j, last, d = string.match(mine, '^(%-?%d+):(%-?%d+):(%d)$')
    if t - tonumber(last) <= absent then joined, decided = tonumber(j), d == '1' end
  end
  if not decided and t - joined >= absent then
    local continuous = false
    local all = redis.call('HGETALL', K_PRESENCE)
    for i = 1, #all, 2 do
      if all[i] ~= token then
        local j, last = string.match(all[i + 1], '^(%-?%d+):(%-?%d+):')
        if tonumber(j) < joined and tonumber(last) >= joined then continuous = true end
      end
    end
    if not continuous then
      extended = 0
      for _, id in ipairs(redis.call('ZRANGE', K_LEASES, 0, -1)) do
        local record = redis.call('HGET', K_W, id)
        if record then
          local lease = tonumber(cjson.decode(string.sub(record, #string.match(record, '^%d+:') + 1))['leaseMs'])
          if lease then
            local floor = t + lease + window
            if tonumber(redis.call('ZSCORE', K_LEASES, id)) < floor then redis.call('ZADD', K_LEASES, floor, id) end
            extended = extended + 1
          end
        end
      end
    end
    decided = true
  end
  redis.call('HSET', K_PRESENCE, token, joined .. ':' .. now .. ':' .. (decided and '1' or '0'))
  -- Forget replicas silent for long: they matter only around a joining replica's join time.
  local all = redis.call('HGETALL', K_PRESENCE)
  for i = 1, #all, 2 do
    local last = tonumber(string.match(all[i + 1], '^%-?%d+:(%-?%d+):'))
    if t - last > 3 * absent then redis.call('HDEL', K_PRESENCE, all[i]) end
  end
  if not decided then return {'JOINING'} end
end
local holder = redis.call('GET', K_LOCK)
if not holder then
  redis.call('SET', K_LOCK, token, 'PX', ttl)
elseif holder ~= token then
  return {'FOLLOWER', extended}
else
  redis.call('PEXPIRE', K_LOCK, ttl)
end
local result = {'LEADER', extended}
local ids = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  redis.call('ZREM', K_LEASES, id)
  if redis.call('HDEL', K_W, id) == 1 then
    publish('k', 'workload', 'o', 'delete', 'i', id, 'why', 'expired')
    result[#result + 1] = id
  end
end
return result
`;

/** ARGV[3] lock token. A replica leaving releases the lock and its presence. */
export const RELEASE_REAPER_LOCK = `${PRELUDE}
if redis.call('GET', K_LOCK) == ARGV[3] then redis.call('DEL', K_LOCK) end
redis.call('HDEL', K_PRESENCE, ARGV[3])
return {'OK'}
`;

/** ARGV[3] docs JSON, [4] expected revision or ''. */
export const PUT_POLICIES = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local json, expected = ARGV[3], ARGV[4]
local current = prefix_number(redis.call('GET', K_POL))
if expected ~= '' and tonumber(expected) ~= current then return {'CONFLICT', current} end
local rev = publish('k', 'policies', 'o', 'put', 'v', json)
redis.call('SET', K_POL, rev .. ':' .. json)
return {'OK', rev}
`;

/** ARGV[3] key, [4] value, [5] expected version or '' (must not exist). */
export const KV_PUT_IF_VERSION = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local key, value, expected = ARGV[3], ARGV[4], ARGV[5]
local current = redis.call('HGET', K_KV, key)
if expected == '' then
  if current then return {'CONFLICT', prefix_number(current)} end
elseif not current or prefix_number(current) ~= tonumber(expected) then
  return {'CONFLICT', prefix_number(current)}
end
local version = prefix_number(current) + 1
redis.call('HSET', K_KV, key, version .. ':' .. value)
publish('k', 'kv', 'o', 'put', 'i', key, 'v', value, 'ver', version)
return {'OK', version}
`;

/**
 * Reads, guarded like writes so a replica never answers from a store it knows lost its data
 * (the CA must never read "no root" and mint a new one). ARGV[3] what, [4] key.
 */
export const GUARDED_READ = `${PRELUDE}
local bad = epoch_mismatch() if bad then return bad end
local what, key = ARGV[3], ARGV[4]
local value
if what == 'workload' then value = redis.call('HGET', K_W, key)
elseif what == 'workloads' then return {'OK', redis.call('HVALS', K_W)}
elseif what == 'policies' then value = redis.call('GET', K_POL)
elseif what == 'revision' then value = redis.call('GET', K_REV) or '0'
elseif what == 'kv' then value = redis.call('HGET', K_KV, key)
else return redis.error_reply('unknown read ' .. what) end
if not value then return {'OK'} end
return {'OK', value}
`;

/** ARGV[3] candidate epoch: gives a fresh store its epoch. Returns the store's epoch. */
export const INIT_EPOCH = `${PRELUDE}
redis.call('SET', K_EPOCH, ARGV[3], 'NX')
return {'OK', redis.call('GET', K_EPOCH)}
`;

/**
 * Everything, atomically: {revision, epoch, workloads (flat id/record pairs), policies record,
 * kv (flat key/record pairs), id of the last feed entry}.
 */
export const READ_SNAPSHOT = `${PRELUDE}
local last = redis.call('XREVRANGE', K_FEED, '+', '-', 'COUNT', 1)
local last_id = '0-0'
if last[1] then last_id = last[1][1] end
return {
  redis.call('GET', K_REV) or '0',
  redis.call('GET', K_EPOCH) or '',
  redis.call('HGETALL', K_W),
  redis.call('GET', K_POL) or '',
  redis.call('HGETALL', K_KV),
  last_id,
}
`;

/**
 * Re-seeds a store that lost its data from a replica's last known state.
 * ARGV[3] candidate epoch, [4] known revision, [5] policies JSON or '', [6] workload count n,
 * then n triples (id, workload JSON, lease deadline or ''), then key/value/version triples.
 * Anything written since the loss wins over the restored copy. Runs once per lost epoch:
 * the store remembers which epoch it was restored from.
 */
export const RESTORE = `${PRELUDE}
local epoch = redis.call('GET', K_EPOCH)
if epoch == KNOWN_EPOCH then return {'SAME', epoch} end
if redis.call('GET', K_RESTORED) == KNOWN_EPOCH then return {'ALREADY', epoch or ''} end
local rev = math.max(tonumber(redis.call('GET', K_REV) or '0'), tonumber(ARGV[4])) + 1
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', K_EPOCH, epoch)
end
if ARGV[5] ~= '' and redis.call('EXISTS', K_POL) == 0 then redis.call('SET', K_POL, rev .. ':' .. ARGV[5]) end
local n = tonumber(ARGV[6])
local i = 7
for _ = 1, n do
  local id, json, deadline = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HSETNX', K_W, id, rev .. ':' .. json) == 1 and deadline ~= '' then
    redis.call('ZADD', K_LEASES, deadline, id)
  end
  i = i + 3
end
while i <= #ARGV do
  redis.call('HSETNX', K_KV, ARGV[i], ARGV[i + 2] .. ':' .. ARGV[i + 1])
  i = i + 3
end
redis.call('SET', K_RESTORED, KNOWN_EPOCH)
redis.call('SET', K_REV, rev)
redis.call('XADD', K_FEED, 'MAXLEN', '~', MAXLEN, '*', 'r', rev, 'k', 'restored')
return {'RESTORED', epoch}
`;
