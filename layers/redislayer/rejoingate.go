package redislayer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRejoinGrace is how long group sends to a Redis server that restarted (or failed
// over) wait, counted from the moment each process notices the new server, so that every
// live process has time to notice it too and add its channels back to their groups. Receive
// loops reconnect at most maxBackoff (200 ms) after the server answers again, and each
// process's rejoin is one pipeline per shard, so one second leaves ample margin.
const DefaultRejoinGrace = time.Second

// errRejoining is returned (and retried by outage.do within the send bound) by a group send
// that found its group's server inside a rejoin window.
var errRejoining = errors.New("redislayer: the Redis server was replaced and its groups are being rejoined; group sends wait")

// rejoinGate holds what the layer needs to open and close rejoin windows. A window is the
// sorted set rejoinKey on one server, read only by this package (channels_redis never sees
// it): members "floor:<process>" scored with the server time (ms) until which that process's
// grace runs, and "rejoin:<process>" until that process has rejoined its groups on the
// server (or, if it died first, until the hold bound). Group sends on the server wait while
// it has an entry in the future.
type rejoinGate struct {
	grace time.Duration // 0: DefaultRejoinGrace; negative: no windows
}

func (g *rejoinGate) graceOrDefault() time.Duration {
	if g.grace == 0 {
		return DefaultRejoinGrace
	}
	return g.grace
}

// rejoinHold bounds how long one process's "rejoin:" entry holds the others' group sends if
// that process never rejoins (it died just after noticing the restart).
func (g *rejoinGate) rejoinHold() time.Duration {
	return max(DefaultSendTimeout, 2*g.graceOrDefault())
}

func (l *Layer) rejoinKey() string { return l.prefix + ":gochannels:rejoin" }

// rejoinGateLua is the gate, run by every group send on its group's server before anything
// else, in the same script: it takes the server's rejoin window key off the end of KEYS (so
// the script it guards sees its own keys only) and answers {-1} while the window has an
// entry in the future. The key exists only during a window, so the usual cost is one EXISTS.
const rejoinGateLua = `
local rj = table.remove(KEYS)
if redis.call('EXISTS', rj) == 1 then
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', rj, '-inf', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  if redis.call('ZCARD', rj) > 0 then
    return {-1}
  end
end
`

var (
	// The group-send scripts behind the gate (the window key is appended to their keys):
	// nothing of the send, not even a history append, happens inside a window.
	gatedGroupSendScript        = redis.NewScript(rejoinGateLua + groupSendLua)
	gatedGroupSendHistoryScript = redis.NewScript(rejoinGateLua + groupSendHistoryLua)
	gatedMembersScript          = redis.NewScript(rejoinGateLua + membersLua)
	gatedHistoryMembersScript   = redis.NewScript(rejoinGateLua + historyMembersLua)
	gatedGroupSendBatchScript   = redis.NewScript(rejoinGateLua + groupSendBatchLua)
	// openRejoinScript opens (or widens) a window: KEYS[1] window key; ARGV: floor member,
	// grace (ms), rejoin member ("" for none), hold (ms).
	openRejoinScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
  ttl = math.max(ttl, tonumber(ARGV[4]))
end
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)
)

// gated returns script behind the gate (its gated twin) and the keys with the window key
// appended, or script and keys unchanged when the gate is off (RejoinGrace < 0, or a
// Cluster, which has no restart watch and would hold the window key in another slot).
func (l *Layer) gated(script *redis.Script, keys []string) (*redis.Script, []string) {
	if l.rj.grace < 0 || l.cluster {
		return script, keys
	}
	var g *redis.Script
	switch script {
	case groupSendScript:
		g = gatedGroupSendScript
	case groupSendHistoryScript:
		g = gatedGroupSendHistoryScript
	case membersScript:
		g = gatedMembersScript
	case historyMembersScript:
		g = gatedHistoryMembersScript
	case groupSendBatchScript:
		g = gatedGroupSendBatchScript
	default:
		panic("redislayer: no gated twin for this script")
	}
	return g, append(keys[:len(keys):len(keys)], l.rejoinKey())
}

// runGated runs one of the group-send scripts behind the gate, in one call; inside a window
// it returns errRejoining without having done anything of the send.
func (l *Layer) runGated(ctx context.Context, sc redis.Scripter, script *redis.Script, keys []string, args ...any) ([]any, error) {
	script, keys = l.gated(script, keys)
	res, err := script.Run(ctx, sc, keys, args...).Slice()
	if err == nil && closedGate(res) {
		return nil, errRejoining
	}
	return res, err
}

func closedGate(res []any) bool {
	if len(res) != 1 {
		return false
	}
	n, _ := res[0].(int64)
	return n == -1
}

// openRejoin opens a window on the server behind cn, which this process has just found to
// be a new one: group sends there (from every Go process) wait for the grace, and for this
// process's rejoin if it has channels in groups. It runs inside the connection hook, before
// any command of this process uses the new server.
func (l *Layer) openRejoin(ctx context.Context, cn *redis.Conn, w *restartWatch) error {
	if l.rj.grace < 0 {
		return nil
	}
	l.mu.RLock()
	member := len(l.joined) > 0
	l.mu.RUnlock()
	rejoin := ""
	if member {
		rejoin = "rejoin:" + l.clientID
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	err := openRejoinScript.Eval(ctx, cn, []string{l.rejoinKey()},
		"floor:"+l.clientID, ms(l.rj.graceOrDefault()), rejoin, ms(l.rj.rejoinHold())).Err()
	if err != nil {
		return err
	}
	if member {
		w.pending.Store(w.gen.Add(1))
	}
	return nil
}

// pendingRejoin is a "rejoin:" entry of this process on the server of a watch: gen tells it
// from an entry opened later, after another restart.
type pendingRejoin struct {
	w   *restartWatch
	gen uint64
}

// pendingRejoins returns the servers that hold a "rejoin:" entry of this process. Taken
// before a rejoin, it names the entries that rejoin may close.
func (l *Layer) pendingRejoins() []pendingRejoin {
	var ps []pendingRejoin
	for _, w := range l.watches {
		if gen := w.pending.Load(); gen != 0 {
			ps = append(ps, pendingRejoin{w, gen})
		}
	}
	return ps
}

// closeRejoins removes this process's "rejoin:" entries from the servers of ws, once its
// rejoin has run after they were opened. A failure leaves the entry (it expires with its
// hold bound) and is retried at the next rejoin.
func (l *Layer) closeRejoins(ctx context.Context, ps []pendingRejoin) bool {
	ok := true
	for _, p := range ps {
		if p.w.pending.Load() != p.gen {
			continue // the server was replaced again since: the next rejoin closes it
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := l.shards[p.w.shard].client.ZRem(cctx, l.rejoinKey(), "rejoin:"+l.clientID).Err()
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("closing the rejoin window failed; retrying", "addr", p.w.addr, "error", err)
			}
			ok = false
			continue
		}
		p.w.pending.CompareAndSwap(p.gen, 0)
	}
	return ok
}
