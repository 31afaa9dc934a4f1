package redislayer

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The history scripts. A group with history keeps, beside its member set and in the same
// Redis Cluster slot (the keys' hash tag is the group key itself):
//
//   - a stream, prefix+":gochannels:hist:{"+group key+"}", one entry per message, with the
//     explicit id <offset>-0 and the fields "m" (the stored message: 12 random bytes and the
//     msgpack map of the message without its position, or a Fernet token of it, as a channel
//     message is stored) and "t" (the server's time in ms, for the TTL);
//   - a hash, prefix+":gochannels:histmeta:{"+group key+"}", with "e" (the epoch: random,
//     set when the hash is missing) and "o" (the last offset given).
//
// A missing hash means the stream was lost (a Redis restarted without persistence, an
// expired key): the next send or read starts a new epoch from the sender's random candidate
// and drops any stream left behind, so offsets count from 1 again.

// historyLua defines hist_append, which a group-send script calls before delivering, and
// the msgpack helpers it needs. hist_append(stream, meta, group, candidate epoch, size, ttl
// (ms), stream expiry (s), meta expiry (s), stored entry) appends the entry, trims the
// stream to size entries and to the TTL, refreshes both keys' TTLs and returns the offset,
// the epoch, the msgpack entries (__group__, __offset__, __epoch__) to add to each
// delivered message, and the score to deliver it with: the server's time, but above the
// group's previous one (meta field "s", in µs), so that a member's inbox (popped lowest score
// first) orders the group's messages by offset even when two arrive in one microsecond or
// when the sender's clock differs.
const historyLua = `
local function hist_str(s)
  local c = #s
  if c < 32 then return string.char(0xa0 + c) .. s end
  if c < 256 then return string.char(0xd9, c) .. s end
  if c < 65536 then return string.char(0xda) .. struct.pack('>I2', c) .. s end
  return string.char(0xdb) .. struct.pack('>I4', c) .. s
end
local function hist_uint(n)
  if n < 128 then return string.char(n) end
  if n < 65536 then return string.char(0xcd) .. struct.pack('>I2', n) end
  if n < 4294967296 then return string.char(0xce) .. struct.pack('>I4', n) end
  return string.char(0xcf) .. struct.pack('>I4', math.floor(n / 4294967296)) .. struct.pack('>I4', n % 4294967296)
end
local function hist_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function hist_epoch(sk, mk, cand, mexp)
  local epoch = redis.call('HGET', mk, 'e')
  if not epoch then
    epoch = cand
    redis.call('DEL', sk)
    redis.call('HSET', mk, 'e', epoch, 'o', 0)
    redis.call('EXPIRE', mk, mexp)
  end
  return epoch
end
-- Drops the entries older than ttl ms (a prefix of the stream: entries are added in time
-- order), 32 per XRANGE; bounded by the stream's length (at most MaxHistoryLimit entries),
-- and each entry is dropped once, so a send pays O(1) for it on average.
local function hist_expire(sk, ttl, now)
  if ttl <= 0 then return end
  local bound = now - ttl
  for _ = 1, 320 do
    local first = redis.call('XRANGE', sk, '-', '+', 'COUNT', 32)
    if #first == 0 then return end
    for _, e in ipairs(first) do
      if tonumber(e[2][4]) >= bound then
        redis.call('XTRIM', sk, 'MINID', e[1])
        return
      end
    end
    local last = first[#first][1]
    redis.call('XTRIM', sk, 'MINID', (tonumber(string.match(last, '^%d+')) + 1) .. '-0')
  end
end
local function hist_append(sk, mk, group, cand, size, ttl, sexp, mexp, entry)
  local epoch = hist_epoch(sk, mk, cand, mexp)
  local off = redis.call('HINCRBY', mk, 'o', 1)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local sc = math.max(tonumber(t[1]) + tonumber(t[2]) / 1000000,
    (tonumber(redis.call('HGET', mk, 's') or '0') or 0) + 0.000001)
  sc = string.format('%.6f', sc)
  redis.call('HSET', mk, 's', sc)
  if size > 0 then
    redis.call('XADD', sk, 'MAXLEN', size, off .. '-0', 'm', entry, 't', now)
  else
    redis.call('XADD', sk, off .. '-0', 'm', entry, 't', now)
  end
  hist_expire(sk, ttl, now)
  redis.call('EXPIRE', sk, sexp)
  redis.call('EXPIRE', mk, mexp)
  return off, epoch, hist_str('__group__') .. hist_str(group) .. hist_str('__offset__') ..
    hist_uint(off) .. hist_str('__epoch__') .. hist_str(epoch), sc
end
`

// historyArgs is the number of arguments groupSendHistoryScript takes after
// groupSendScript's: group, candidate epoch, size, TTL (ms), stream expiry (s), meta expiry (s).
const historyArgs = 6

// groupSendHistoryScript is groupSendScript for a group with history: before anything else
// it appends the message to the group's stream (hist_append; the stored entry is built from
// ARGV[8], the entry count and ARGV[10]), then delivers as groupSendScript does with the
// position entries added to every delivered message (the sender counts them in ARGV[9] and
// in the headers of the members it builds). KEYS[5] stream, KEYS[6] meta; the history
// arguments follow all of groupSendScript's. The reply is groupSendScript's with the offset
// and epoch first.
var groupSendHistoryScript = redis.NewScript(groupSendHistoryLua)

var groupSendHistoryLua = historyLua + mustReplace(groupSendLua, groupSendSuffixHook, `
local ha = #ARGV - `+strconv.Itoa(historyArgs)+`
local hoff, hepoch, suffix, hist_score = hist_append(KEYS[5], KEYS[6], ARGV[ha + 1], ARGV[ha + 2],
  tonumber(ARGV[ha + 3]), tonumber(ARGV[ha + 4]), ARGV[ha + 5], ARGV[ha + 6],
  ARGV[8] .. (function(c)
    if c <= 15 then return string.char(0x80 + c) end
    if c < 65536 then return string.char(0xde) .. struct.pack('>I2', c) end
    return string.char(0xdf) .. struct.pack('>I4', c)
  end)(tonumber(ARGV[9]) - 3) .. ARGV[10])
local function hist_reply(r)
  table.insert(r, 1, hepoch)
  table.insert(r, 1, hoff)
  return r
end
`)

// historyMembersScript is membersScript for a group with history, for the group sends that
// read the members first (several shards, Redis Cluster, encryption, per-channel
// capacities): it appends the stored entry the sender built (hist_append) and returns the
// position with the members; the sender then adds the position to the messages it delivers.
//
// KEYS[1] group key, KEYS[2] stream, KEYS[3] meta, KEYS[4] (optional) registry key. ARGV:
// group trim bound (s), heartbeat timeout (s), group, candidate epoch, size, TTL (ms), stream
// expiry (s), meta expiry (s), stored entry. Returns {members, pruned, offset, epoch, score}.
var historyMembersScript = redis.NewScript(historyMembersLua)

var historyMembersLua = historyLua + liveMembersLua + `
local off, epoch, _, score = hist_append(KEYS[2], KEYS[3], ARGV[3], ARGV[4], tonumber(ARGV[5]),
  tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9])
local kept, pruned = live_members(KEYS[1], KEYS[4], ARGV[1], ARGV[2])
return {kept, pruned, off, epoch, score}
`

// historyReadScript reads a group's history: the epoch (creating it from the candidate
// when the meta hash is missing, so that a reader and the next sender agree), the last
// offset, the oldest kept offset and up to limit entries after an offset, skipping expired
// ones.
//
// KEYS[1] stream, KEYS[2] meta. ARGV: first offset wanted, limit, TTL (ms, 0 for none),
// candidate epoch, meta expiry (s). Returns {epoch, top, oldest, id1, m1, id2, m2, ...}.
//
// A recovery's read (a few messages after a recent offset) costs four commands: HMGET,
// XRANGE for the oldest entry, one XRANGE for the entries (a reply shorter than asked ends
// the read) and the script call itself.
var historyReadScript = redis.NewScript(historyLua + `
local meta = redis.call('HMGET', KEYS[2], 'e', 'o')
local epoch, top = meta[1], tonumber(meta[2] or '0') or 0
if not epoch then
  epoch = hist_epoch(KEYS[1], KEYS[2], ARGV[4], ARGV[5])
  top = 0
end
local ttl = tonumber(ARGV[3])
local bound = 0
if ttl > 0 then
  local now = hist_now()
  hist_expire(KEYS[1], ttl, now)
  bound = now - ttl
end
local oldest = 0
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 and tonumber(first[1][2][4]) >= bound then
  oldest = tonumber(string.match(first[1][1], '^%d+'))
end
local res = {epoch, top, oldest}
local want = tonumber(ARGV[2])
local from = ARGV[1] .. '-0'
while want > 0 do
  local asked = want
  local es = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', asked)
  for _, e in ipairs(es) do
    if tonumber(e[2][4]) >= bound then
      res[#res + 1] = e[1]
      res[#res + 1] = e[2][2]
      want = want - 1
    end
  end
  if #es < asked then break end
  from = '(' .. es[#es][1]
end
return res
`)

// mustReplace replaces the one occurrence of old in s, and panics when there is none (the
// scripts are built at init: a test run catches it).
func mustReplace(s, old, repl string) string {
	if strings.Count(s, old) != 1 {
		panic("redislayer: script hook " + old + " not found once")
	}
	return strings.Replace(s, old, repl, 1)
}
