"""The Redis store's Lua scripts. Each touches only keys of one store, which share a hash tag
(one Cluster slot); keys a script finds (an install's attempts) are in that slot too."""

from __future__ import annotations

# Compare-and-set. A write whose reply was lost and that is sent again (a failover, a retry)
# finds its own version and data already there and succeeds instead of conflicting.
PUT = """
local cur = redis.call('HGET', KEYS[1], 'v')
if cur == ARGV[2] and redis.call('HGET', KEYS[1], 'd') == ARGV[3] then return {1, ARGV[2]} end
if ARGV[1] == '' then
  if cur then return {0, cur} end
elseif cur ~= ARGV[1] then
  return {0, cur or ''}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return {1, ARGV[2]}
"""

# KEYS: the records' keys, then the index; ARGV: version, data, install for each record.
IMPORT = """
local index = KEYS[#KEYS]
for i = 1, #KEYS - 1 do
  redis.call('HSET', KEYS[i], 'v', ARGV[3 * i - 2], 'd', ARGV[3 * i - 1])
  redis.call('ZADD', index, 0, ARGV[3 * i])
end
return #KEYS - 1
"""

TAKE = """
local value = redis.call('GETDEL', KEYS[1])
if value then redis.call('ZREM', KEYS[2], KEYS[1]) end
return value
"""

DELETE = """
if ARGV[2] ~= '' then
  local cur = redis.call('HGET', KEYS[1], 'v')
  if not cur then return 0 end
  if cur ~= ARGV[2] then return -1 end
end
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local attempts = redis.call('SMEMBERS', KEYS[3])
for _, key in ipairs(attempts) do
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[4], key)
end
redis.call('DEL', KEYS[3])
return existed
"""

PURGE = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = 0
for _, key in ipairs(old) do
  count = count + redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], key)
end
return count
"""

ACQUIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# claim_once: the caller's clock decides expiry (the value is expires_at); the key's own TTL
# only cleans up, like an attempt's.
CLAIM = """
local until_at = redis.call('GET', KEYS[1])
if until_at and tonumber(until_at) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# The layout before hash tags (``<prefix>rec:<install>``) to the tagged one
# (``{<prefix>}rec:<install>``), in one atomic script on a single server (an untagged store
# could not run on a Cluster). ARGV: the old prefix, the new one, then the glob patterns
# of the old keys. Attempt keys are also members of ``att_exp`` and ``att_by:*``: renamed there too.
MIGRATE_UNTAGGED = """
local old, new = ARGV[1], ARGV[2]
local function renamed(key) return new .. string.sub(key, #old + 1) end
local moved, sets = 0, {}
for i = 3, #ARGV do
  local cursor = '0'
  repeat
    local page = redis.call('SCAN', cursor, 'MATCH', ARGV[i], 'COUNT', 1000)
    cursor = page[1]
    for _, key in ipairs(page[2]) do
      local to = renamed(key)
      redis.call('RENAME', key, to)
      moved = moved + 1
      if string.sub(key, #old + 1, #old + 7) == 'att_by:' then sets[#sets + 1] = to end
    end
  until cursor == '0'
end
local exp = new .. 'att_exp'
local members = redis.call('ZRANGE', exp, 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  redis.call('ZREM', exp, members[i])
  redis.call('ZADD', exp, members[i + 1], renamed(members[i]))
end
for _, set in ipairs(sets) do
  for _, member in ipairs(redis.call('SMEMBERS', set)) do
    redis.call('SREM', set, member)
    redis.call('SADD', set, renamed(member))
  end
end
return moved
"""
