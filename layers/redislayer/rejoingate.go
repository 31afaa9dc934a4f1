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
// else: it answers {-1} while the server's rejoin window (the last key) has an entry in the
// future. The key exists only during a window, so the usual cost is one EXISTS.
const rejoinGateLua = `
local rj = KEYS[#KEYS]
if redis.call('EXISTS', rj) == 1 then
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', rj, '-inf', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  if redis.call('ZCARD', rj) > 0 then
    return {-1}
  end
end
`

var (
	// gatedGroupSendScript is groupSendScript behind the gate (the window key is appended to
	// its keys).
	gatedGroupSendScript = redis.NewScript(rejoinGateLua + groupSendLua)
	// rejoinGateScript is the gate alone: {-1} inside a window, {0} otherwise.
	rejoinGateScript = redis.NewScript(rejoinGateLua + "return {0}\n")
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

// gatedGroupSend runs the one-call group send behind the gate; inside a window it returns
// errRejoining without sending.
func (l *Layer) gatedGroupSend(ctx context.Context, sc redis.Scripter, keys []string, args ...any) ([]any, error) {
	if l.rj.grace < 0 {
		return groupSendScript.Run(ctx, sc, keys, args...).Slice()
	}
	gk := append(keys[:len(keys):len(keys)], l.rejoinKey())
	res, err := gatedGroupSendScript.Run(ctx, sc, gk, args...).Slice()
	if err == nil && closedGate(res) {
		return nil, errRejoining
	}
	return res, err
}

// gatedMembers reads a group's members (membersScript) behind the gate, both in one
// pipeline on the group's server; inside a window it returns errRejoining (the members
// script's pruning has run, which is harmless).
func (l *Layer) gatedMembers(ctx context.Context, c redis.UniversalClient, keys []string, args ...any) ([]any, error) {
	if l.rj.grace < 0 || l.cluster {
		// A cluster has no restart watch (the window key would sit in another slot anyway).
		return membersScript.Run(ctx, c, keys, args...).Slice()
	}
	gk := []string{l.rejoinKey()}
	var gate, members *redis.Cmd
	run := func(load bool) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			if load { // a restarted server has no scripts cached: EVAL caches them again
				gate, members = rejoinGateScript.Eval(ctx, p, gk), membersScript.Eval(ctx, p, keys, args...)
			} else {
				gate, members = rejoinGateScript.EvalSha(ctx, p, gk), membersScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		return err
	}
	err := run(false)
	if err != nil && (redis.HasErrorPrefix(gate.Err(), "NOSCRIPT") || redis.HasErrorPrefix(members.Err(), "NOSCRIPT")) {
		err = run(true)
	}
	if err != nil {
		return nil, err
	}
	if g, _ := gate.Slice(); closedGate(g) {
		return nil, errRejoining
	}
	return members.Slice()
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
