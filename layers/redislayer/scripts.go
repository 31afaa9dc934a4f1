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
var membersScript = redis.NewScript(membersLua)

const membersLua = liveMembersLua + `
local kept, pruned = live_members(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return {kept, pruned}
`

// liveMembersLua defines live_members(group, registry, trim, hb), shared by the scripts that
// read a group's members: it drops memberships older than trim, then (when registry is not
// nil) the members whose process's registry entry is older than hb seconds by the server
// clock, and returns the members kept and how many it pruned.
const liveMembersLua = `
local function live_members(group, registry, trim, hb)
  redis.call('ZREMRANGEBYSCORE', group, 0, trim)
  local members = redis.call('ZRANGE', group, 0, -1)
  if not registry then
    return members, 0
  end
  local t = redis.call('TIME')
  local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(hb)
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
        local s = redis.call('ZSCORE', registry, inbox)
        d = (s and tonumber(s) < deadline) or false
        dead[inbox] = d
      end
    end
    if d then
      redis.call('ZREM', group, m)
      pruned = pruned + 1
    else
      kept[#kept + 1] = m
    end
  end
  return kept, pruned
end
`

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
// Reading a big group into Lua and re-encoding every member name is most of the cost of a
// group send (about 2 µs per member). So the script keeps a snapshot of the group next to it
// (gochannels' own keys, which channels_redis never reads): a copy of the member set and, per
// target, the encoded __asgi_channel__ array. When the group still has exactly the snapshot's
// members (same count, and ZINTERCARD of the two equals it: an exact set comparison done in C,
// whoever added or removed members, Go or Python), the send uses the stored arrays and touches
// no member in Lua; otherwise it does the full work and stores a new snapshot. Groups smaller
// than ARGV[11] members are not snapshotted (they are cheap anyway). Without ZINTERCARD
// (Redis < 7) it always does the full work (a snapshot stored by Redis 6.2 is never used).
//
// Group and target keys are computed inside the script, so this runs only on a single
// standalone server (not Redis Cluster).
//
// Moving the lists through Lua still costs (about 40 µs per 20 kB string), so the sender
// keeps a copy of them, named by the snapshot's id (the hash's "" field, new at every
// rebuild), builds the whole stored members itself and passes them with that id: when the
// snapshot matches the group and has that id, the script only checks the targets' processes
// and adds the given members. Otherwise it works from the snapshot or from scratch, and
// returns the lists with the current id for the sender to keep.
//
// KEYS[1] group key, KEYS[2] registry key, KEYS[3] snapshot member set, KEYS[4] snapshot
// (hash: target → encoded array, "" → id). ARGV: key prefix, score, group trim bound (s),
// message trim bound (s), expiry (s), capacity, heartbeat timeout (s, "" for none), 12 random
// bytes, entry count, encoded entries, snapshot threshold (members), group expiry (s), process
// inbox capacity, the sender's snapshot id ("" for none), nt, nt target names, nt members.
// Returns {keys written or full, keys full, members pruned, 1 if a snapshot was used,
// snapshot id ("" for none)}, followed, when the sender's id was not current, by target,
// encoded array pairs.
var groupSendScript = redis.NewScript(groupSendLua)

const groupSendLua = `
local suffix, hist_score = '', nil
local function hist_reply(r) return r end
local prefix, score = ARGV[1], hist_score or ARGV[2]
local expiry, capacity = ARGV[5], tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
  return hist_reply({0, 0, 0, 0, ''})
end
local deadline = nil
if ARGV[7] ~= '' then
  local t = redis.call('TIME')
  deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[7])
end
local dead = {}
local function isdead(inbox)
  local d = dead[inbox]
  if d == nil then
    local s = redis.call('ZSCORE', KEYS[2], inbox)
    d = (s and tonumber(s) < deadline) or false
    dead[inbox] = d
  end
  return d
end
local function hdr(c, fix, fixmax, c16, c32)
  if c <= fixmax then return string.char(fix + c) end
  if c < 65536 then return string.char(c16) .. struct.pack('>I2', c) end
  return string.char(c32) .. struct.pack('>I4', c)
end

local inboxcap = tonumber(ARGV[13])
local myid, nt = ARGV[14], tonumber(ARGV[15])
-- targets: list of {target, encoded __asgi_channel__ array, or nil and the whole member}
local targets = nil
local pruned, cached, prebuilt, snapid = 0, 0, false, ''
local cacheable = n >= tonumber(ARGV[11])
if cacheable and redis.call('ZCARD', KEYS[3]) == n then
  local same = redis.pcall('ZINTERCARD', 2, KEYS[1], KEYS[3])
  if type(same) ~= 'number' then
    cacheable = false -- no ZINTERCARD on this server
  elseif same == n then
    local stale = false
    if nt > 0 and redis.call('HGET', KEYS[4], '') == myid then
      -- The sender holds this snapshot's lists and sent the whole members.
      targets = {}
      for i = 1, nt do
        local target = ARGV[15 + i]
        if deadline and string.byte(target, -1) == 33 and isdead(target) then
          targets, stale = nil, true -- a member's process stopped: prune below
          break
        end
        targets[i] = {target, nil, ARGV[15 + nt + i]}
      end
      -- The reply names the snapshot the sender used, so that the sender keeps its copy.
      if targets then prebuilt, snapid = true, myid end
    end
    if not targets and not stale then
      local kv = redis.call('HGETALL', KEYS[4])
      targets = {}
      for i = 1, #kv, 2 do
        local target = kv[i]
        if target == '' then
          snapid = kv[i + 1]
        elseif deadline and string.byte(target, -1) == 33 and isdead(target) then
          targets = nil -- a member's process stopped: prune below
          break
        else
          targets[#targets + 1] = {target, kv[i + 1]}
        end
      end
      if targets and (#targets == 0 or snapid == '') then targets = nil end
    end
    if targets then cached = 1 end
  end
end

if not targets then
  snapid = '' -- set again below if a new snapshot is stored
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  local bytarget = {}
  local order = {}
  for _, m in ipairs(members) do
    local target = m
    local skip = false
    local bang = string.find(m, '!', 1, true)
    if bang then
      target = string.sub(m, 1, bang)
      if deadline and isdead(target) then
        redis.call('ZREM', KEYS[1], m)
        pruned = pruned + 1
        skip = true
      end
    end
    if not skip then
      local l = bytarget[target]
      if not l then
        l = {}
        bytarget[target] = l
        order[#order + 1] = target
      end
      local c = #m
      if c < 32 then
        l[#l + 1] = string.char(0xa0 + c)
      elseif c < 256 then
        l[#l + 1] = string.char(0xd9, c)
      else
        l[#l + 1] = string.char(0xda) .. struct.pack('>I2', c)
      end
      l[#l + 1] = m
    end
  end
  targets = {}
  local hset = {}
  for _, target in ipairs(order) do
    local l = bytarget[target]
    local arr = hdr(#l / 2, 0x90, 15, 0xdc, 0xdd) .. table.concat(l)
    targets[#targets + 1] = {target, arr}
    hset[#hset + 1] = target
    hset[#hset + 1] = arr
  end
  -- COPY (Redis 6.2+) is twice as fast as ZUNIONSTORE; without it there is no snapshot.
  if cacheable and #order > 0 and n - pruned >= tonumber(ARGV[11])
      and redis.pcall('COPY', KEYS[1], KEYS[3], 'REPLACE') == 1 then
    local t = redis.call('TIME')
    snapid = t[1] .. '.' .. t[2] .. '.' .. n
    hset[#hset + 1] = ''
    hset[#hset + 1] = snapid
    redis.call('DEL', KEYS[4])
    for i = 1, #hset, 256 do -- in slices: unpack has a stack limit
      redis.call('HSET', KEYS[4], unpack(hset, i, math.min(i + 255, #hset)))
    end
    redis.call('EXPIRE', KEYS[3], ARGV[12])
    redis.call('EXPIRE', KEYS[4], ARGV[12])
  end
end

local head = ARGV[8] .. hdr(tonumber(ARGV[9]) + 1, 0x80, 15, 0xde, 0xdf) .. string.char(0xb0) .. '__asgi_channel__'
local body = ARGV[10]
local over = 0
for _, t in ipairs(targets) do
  local k = prefix .. t[1]
  local cap = capacity
  if string.byte(t[1], -1) == 33 then cap = inboxcap end -- '!': a process inbox
  redis.call('ZREMRANGEBYSCORE', k, 0, ARGV[4])
  if redis.call('ZCARD', k) < cap then
    redis.call('ZADD', k, score, (t[3] or (head .. t[2] .. body)) .. suffix)
    redis.call('EXPIRE', k, expiry)
  else
    over = over + 1
  end
end
local res = {#targets, over, pruned, cached, snapid}
if not prebuilt and snapid ~= '' then
  -- The sender's copy of the lists is missing or stale: send them.
  for _, t in ipairs(targets) do
    res[#res + 1] = t[1]
    res[#res + 1] = t[2]
  end
end
return hist_reply(res)
`

// groupSendSuffixHook is where groupSendHistoryLua puts the history append: the entries
// added to every delivered message (suffix), their score (hist_score, nil: the sender's) and
// the reply's wrapper (hist_reply).
const groupSendSuffixHook = `
local suffix, hist_score = '', nil
local function hist_reply(r) return r end
`

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
