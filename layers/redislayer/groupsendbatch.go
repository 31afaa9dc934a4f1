package redislayer

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// groupSendBatchScript runs several one-call group sends (groupSendScript or
// groupSendHistoryScript, the send pipeline's batch) in one script call, in order. Behind the
// rejoin gate (gatedGroupSendBatchScript) the window is checked once for the whole batch:
// either every send of the batch runs or none does, so a batch retried after the gate held it
// cannot have a later send overtake an earlier one.
//
// The batch makes the delivery scores strictly increasing, from floor up, across its sends:
// a send without history is written with its own score (the sender's clock when GroupSend
// was called) only if that is above the previous send's, and a group with history gets its
// meta hash's score ("s", which hist_append goes above) raised to the previous send's. So a
// member's inbox (popped lowest score first) holds the pipeline's messages in its order,
// whichever mix of groups with and without history they went to, although the pipeline writes
// a send later than GroupSend accepted it.
//
// KEYS: each send's keys, one after the other. ARGV: the number of sends, floor (the last
// score of the previous batch, "0" for none), then per send its kind ("p" groupSendScript,
// "h" groupSendHistoryScript), its number of keys, its number of arguments and its
// arguments. Returns the batch's last score, then one reply per send: that script's reply,
// or {-2, message} when it raised an error (the sends before and after it still run).
var groupSendBatchScript = redis.NewScript(groupSendBatchLua)

var groupSendBatchLua = `
local function gs_plain(KEYS, ARGV)
` + groupSendLua + `
end
local function gs_hist(KEYS, ARGV)
` + groupSendHistoryLua + `
end
local res = {}
local last = tonumber(ARGV[2])
local ki, ai = 1, 3
for i = 1, tonumber(ARGV[1]) do
  local kind, nk, na = ARGV[ai], tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
  ai = ai + 3
  local k, a = {}, {}
  for j = 1, nk do k[j] = KEYS[ki]; ki = ki + 1 end
  for j = 1, na do a[j] = ARGV[ai]; ai = ai + 1 end
  local f = gs_plain
  if kind == 'h' then
    f = gs_hist
    local s = tonumber(redis.call('HGET', k[6], 's') or '0') or 0
    if s < last then redis.call('HSET', k[6], 's', string.format('%.6f', last)) end
  elseif tonumber(a[2]) <= last then
    a[2] = string.format('%.6f', last + 0.000001)
  end
  local ok, r = pcall(f, k, a)
  if ok then
    res[i + 1] = r
    if kind == 'h' then
      last = math.max(last, tonumber(redis.call('HGET', k[6], 's') or '0') or 0)
    else
      last = math.max(last, tonumber(a[2]))
    end
  else
    if type(r) == 'table' then r = r.err or r.msg or 'script error' end
    res[i + 1] = {-2, tostring(r)}
  end
end
res[1] = string.format('%.6f', last)
return res
`

// runBatch runs sends as one batch script call behind the rejoin gate, with scores above
// *floor, which it raises to the batch's last, and returns one reply (or one error: a script
// error of that send) per send. Inside a rejoin window it returns errRejoining without having
// run any of them.
func (l *Layer) runBatch(ctx context.Context, sends []*fusedSend, floor *string) ([][]any, []error, error) {
	nk, na := 0, 1
	for _, s := range sends {
		nk += len(s.keys)
		na += 3 + len(s.args)
	}
	keys := make([]string, 0, nk+1)
	args := make([]any, 0, na)
	args = append(args, len(sends), *floor)
	for _, s := range sends {
		kind := "p"
		if s.hist {
			kind = "h"
		}
		keys = append(keys, s.keys...)
		args = append(args, kind, len(s.keys), len(s.args))
		args = append(args, s.args...)
	}
	res, err := l.runGated(ctx, l.shards[0].client, groupSendBatchScript, keys, args...)
	if err != nil {
		return nil, nil, err
	}
	if len(res) != len(sends)+1 {
		return nil, nil, fmt.Errorf("redislayer: group send batch: %d replies for %d sends", len(res)-1, len(sends))
	}
	if last, ok := res[0].(string); ok {
		*floor = last
	}
	res = res[1:]
	replies := make([][]any, len(sends))
	errs := make([]error, len(sends))
	for i, r := range res {
		rr, _ := r.([]any)
		if len(rr) == 2 {
			if code, ok := rr[0].(int64); ok && code == -2 {
				msg, _ := rr[1].(string)
				errs[i] = fmt.Errorf("redislayer: group send to %q: script error: %s", sends[i].group, msg)
				continue
			}
		}
		replies[i] = rr
	}
	return replies, errs, nil
}
