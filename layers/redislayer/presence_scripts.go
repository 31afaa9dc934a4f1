package redislayer

import "github.com/redis/go-redis/v9"

// The presence scripts. A group's presence information is a hash beside its member set,
// prefix+":gochannels:presence:{"+group key+"}" (in the group's Redis Cluster slot), from
// member channel to its stored info: one flag byte ('e': the member wants presence events,
// '-': it does not) then the msgpack map of the info (a Fernet token of it with encryption).
// The member set stays channels_redis's, so Python's group_send and group_discard work on a
// group with presence; a member that leaves without this layer (group_discard from Python,
// pruning, expiry) leaves a stale field, which Presence removes. The field "" holds the
// dead-process signature (see presenceScript).

// presenceAddScript adds a member with its info: GroupAdd's ZADD and EXPIRE, and the info.
//
// KEYS[1] group key, KEYS[2] presence hash. ARGV: score, group expiry (s), channel, stored
// info. Returns 1 when the channel had no presence information before (a join), else 0.
var presenceAddScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local new = redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return new
`)

// discardScript is GroupDiscard: it removes the member and its presence information, and
// returns that information ("" when there was none) for the leave event.
//
// KEYS[1] group key, KEYS[2] presence hash. ARGV: channel.
var discardScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return '' end
redis.call('HDEL', KEYS[2], ARGV[1])
return v
`)

// presenceScript prepares a read of a group's live members and counts them: it drops
// expired members (as a group send does) and, when the registry key is given, the members of
// Go processes silent for longer than the heartbeat timeout. That last pass reads every
// member, so it runs only when the set of dead registered processes differs from the one
// this group was last checked against (its signature is kept in the hash's "" field): once
// per process death per group, not per call. It returns {ZCARD, pruned}: O(log n) when
// nothing is pruned. Presence pipelines ZRANGE and HGETALL after it (no member goes through
// Lua).
//
// KEYS[1] group key, KEYS[2] presence hash, KEYS[3] (optional) registry key. ARGV: group
// trim bound (s), heartbeat timeout (s), unused, group expiry (s), then, in Redis Cluster
// where the registry is in another slot, the dead registry entries as deadScript returns
// them (inbox, score, ...).
var presenceScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
local pruned = 0
local deadl = {}
if #KEYS > 2 then
  local t = redis.call('TIME')
  local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[2])
  deadl = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. deadline, 'WITHSCORES')
else
  for i = 5, #ARGV do deadl[#deadl + 1] = ARGV[i] end
end
do
  if #deadl > 0 then
    local sig = table.concat(deadl, ' ')
    if redis.call('HGET', KEYS[2], '') ~= sig then
      local dead = {}
      for i = 1, #deadl, 2 do dead[deadl[i]] = true end
      for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
        local bang = string.find(m, '!', 1, true)
        if bang and dead[string.sub(m, 1, bang)] then
          redis.call('ZREM', KEYS[1], m)
          redis.call('HDEL', KEYS[2], m)
          pruned = pruned + 1
        end
      end
      redis.call('HSET', KEYS[2], '', sig)
      if redis.call('TTL', KEYS[2]) < 0 then
        redis.call('EXPIRE', KEYS[2], ARGV[4])
      end
    end
  end
end
return {redis.call('ZCARD', KEYS[1]), pruned}
`)

// deadScript returns the registry entries of the Go processes silent for longer than the
// heartbeat timeout, with their scores, by the server's clock: Presence's first call in
// Redis Cluster.
//
// KEYS[1] registry key. ARGV: heartbeat timeout (s).
var deadScript = redis.NewScript(`
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. deadline, 'WITHSCORES')
`)

// staleScript deletes the presence information of channels that are not in the group (left
// without this layer: Python's group_discard, pruning by a group send, expiry), checking each
// again, so that a channel that joined again since Presence read the group keeps its
// information.
//
// KEYS[1] group key, KEYS[2] presence hash. ARGV: channels. Returns the number deleted.
var staleScript = redis.NewScript(`
local n = 0
for _, ch in ipairs(ARGV) do
  if not redis.call('ZSCORE', KEYS[1], ch) then
    n = n + redis.call('HDEL', KEYS[2], ch)
  end
end
return n
`)
