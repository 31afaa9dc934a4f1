package redislayer

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each runs by SHA (EVALSHA, loading it with EVAL once per server). Scores are
// Unix times in float seconds, as channels_redis writes them; expiry trims use whole seconds,
// as channels_redis does.

// sendScript is channels_redis's send in one atomic round trip: drop expired messages, refuse
// when the key holds its capacity, add the message, refresh the key's TTL.
//
// KEYS[1] channel or inbox key. ARGV: member, score, expiry (s), capacity, trim bound (s).
// Returns 1 when added, 0 when full.
var sendScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[5])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`)

// membersScript drops expired members of a group and, when the registry key is given, the
// members whose inbox belongs to a Go process that stopped heartbeating (Python members have
// no registry entry and are never touched). Registry scores use the server clock.
//
// KEYS[1] group key, KEYS[2] (optional) registry key. ARGV: group trim bound (s), heartbeat
// timeout (s). Returns {members, pruned}.
var membersScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #KEYS < 2 then
  return {members, 0}
end
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[2])
local dead = {}
local kept = {}
local pruned = 0
for _, m in ipairs(members) do
  local bang = string.find(m, '!', 1, true)
  local d = false
  if bang then
    local inbox = string.sub(m, 1, bang)
    d = dead[inbox]
    if d == nil then
      local s = redis.call('ZSCORE', KEYS[2], inbox)
      d = (s and tonumber(s) < deadline) or false
      dead[inbox] = d
    end
  end
  if d then
    redis.call('ZREM', KEYS[1], m)
    pruned = pruned + 1
  else
    kept[#kept + 1] = m
  end
end
return {kept, pruned}
`)

// deliverScript is the per-shard half of a group send, as channels_redis's group_send script
// with the expiry trim folded in: for each key, drop expired messages and add the key's
// message unless the key holds its capacity.
//
// KEYS: n target keys. ARGV: n members, n capacities, score, expiry (s), trim bound (s).
// Returns the number of keys that were full.
var deliverScript = redis.NewScript(`
local n = #KEYS
local score = ARGV[2 * n + 1]
local expiry = ARGV[2 * n + 2]
local trim = ARGV[2 * n + 3]
local over = 0
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, trim)
  if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
    redis.call('ZADD', KEYS[i], score, ARGV[i])
    redis.call('EXPIRE', KEYS[i], expiry)
  else
    over = over + 1
  end
end
return over
`)

// groupSendScript is a whole group send in one round trip, for one shard without encryption
// or per-channel capacities: it prunes the group (as membersScript), coalesces the members by
// target key (one message per process inbox, listing that process's members, and one per
// normal channel) and adds each key's message as deliverScript does. The message is spliced
// from msgpack pieces: a map header for count+1 entries, the __asgi_channel__ entry (an array
// of str), then the message's own encoded entries.
//
// Group and target keys are computed inside the script, so this runs only on a single
// standalone server (not Redis Cluster).
//
// KEYS[1] group key, KEYS[2] registry key. ARGV: key prefix, score, group trim bound (s),
// message trim bound (s), expiry (s), capacity, heartbeat timeout (s, "" for none), 12 random
// bytes, entry count, encoded entries. Returns {keys written, keys full, members pruned}.
var groupSendScript = redis.NewScript(`
local prefix, score = ARGV[1], ARGV[2]
local expiry, capacity = ARGV[5], tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local deadline = nil
if ARGV[7] ~= '' then
  local t = redis.call('TIME')
  deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[7])
end
local dead = {}
local bykey = {}
local order = {}
local pruned = 0
for _, m in ipairs(members) do
  local target = m
  local skip = false
  local bang = string.find(m, '!', 1, true)
  if bang then
    target = string.sub(m, 1, bang)
    if deadline then
      local d = dead[target]
      if d == nil then
        local s = redis.call('ZSCORE', KEYS[2], target)
        d = (s and tonumber(s) < deadline) or false
        dead[target] = d
      end
      if d then
        redis.call('ZREM', KEYS[1], m)
        pruned = pruned + 1
        skip = true
      end
    end
  end
  if not skip then
    local k = prefix .. target
    local l = bykey[k]
    if not l then
      l = {}
      bykey[k] = l
      order[#order + 1] = k
    end
    l[#l + 1] = m
  end
end
local function hdr(n, fix, fixmax, c16, c32)
  if n <= fixmax then return string.char(fix + n) end
  if n < 65536 then return string.char(c16) .. struct.pack('>I2', n) end
  return string.char(c32) .. struct.pack('>I4', n)
end
local function str(s)
  local n = #s
  if n < 32 then return string.char(0xa0 + n) .. s end
  if n < 256 then return string.char(0xd9, n) .. s end
  return string.char(0xda) .. struct.pack('>I2', n) .. s
end
local head = ARGV[8] .. hdr(tonumber(ARGV[9]) + 1, 0x80, 15, 0xde, 0xdf) .. str('__asgi_channel__')
local body = ARGV[10]
local over = 0
for _, k in ipairs(order) do
  redis.call('ZREMRANGEBYSCORE', k, 0, ARGV[4])
  if redis.call('ZCARD', k) < capacity then
    local l = bykey[k]
    local parts = {head, hdr(#l, 0x90, 15, 0xdc, 0xdd)}
    for i = 1, #l do parts[#parts + 1] = str(l[i]) end
    parts[#parts + 1] = body
    redis.call('ZADD', k, score, table.concat(parts))
    redis.call('EXPIRE', k, expiry)
  else
    over = over + 1
  end
end
return {#order, over, pruned}
`)

// heartbeatScript records this process's inboxes in the registry with the server's time
// (minus ARGV[2], which marks them dead at once when the layer closes), forgets entries older
// than the group expiry, and keeps the registry alive as long as groups can be.
//
// KEYS[1] registry key. ARGV: group expiry (s), age offset (s), inbox names...
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], now - tonumber(ARGV[2]), ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`)
