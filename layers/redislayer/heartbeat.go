package redislayer

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// runHeartbeat keeps this process's inboxes registered as alive on every shard, and drops
// Receive buffers nobody has read for longer than the message expiry.
func (l *Layer) runHeartbeat() {
	defer l.wg.Done()
	interval := time.Second
	if l.hbTTL > 0 {
		interval = min(max(l.hbTTL/6, 50*time.Millisecond), 10*time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := time.Now()
	// rejoin is set by a failure (a heartbeat that failed, or a receive loop that saw Redis
	// fail and come back): Redis may have restarted empty, so this process's channels must
	// be added back to their groups. Until that works, retry soon, not at the next tick.
	rejoin := false
	retry := time.Duration(0)
	tick := true // the sweep runs on the ticker only, not on every retry
	for {
		ok := true
		if l.hbTTL > 0 {
			ok = l.beat(l.ctx, 0)
		}
		// After a long silence, group sends elsewhere may have pruned this process's members.
		if ok && (rejoin || (l.hbTTL > 0 && time.Since(lastOK) > l.hbTTL/2)) {
			// The rejoin windows this process opened are closed once its channels are back
			// in their groups (taken before, so that a window opened during the rejoin waits
			// for the next one).
			pend := l.pendingRejoins()
			ok = l.rejoin(l.ctx) && l.closeRejoins(l.ctx, pend)
		}
		var retryC <-chan time.Time
		if ok {
			lastOK, rejoin, retry = time.Now(), false, 0
		} else {
			rejoin = true
			retry = min(max(2*retry, minBackoff), maxBackoff)
			retryC = time.After(retry)
		}
		if tick {
			l.sweep()
		}
		tick = false
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			tick = true
		case <-retryC:
		case <-l.recovered:
			rejoin = true // Redis is back after a receive loop failed: rejoin now
		}
	}
}

// beat writes the registry entries of this process's inboxes, aged by offset seconds, and
// reports whether every shard took them.
func (l *Layer) beat(ctx context.Context, offset float64) bool {
	l.mu.RLock()
	args := []any{l.gexpiry, strconv.FormatFloat(offset, 'f', 3, 64)}
	for inbox := range l.inboxes {
		args = append(args, inbox)
	}
	l.mu.RUnlock()
	if len(args) == 2 {
		return true
	}
	ok := true
	for _, sh := range l.shards {
		cctx, cancel := context.WithTimeout(ctx, max(l.hbTTL/3, 100*time.Millisecond))
		err := heartbeatScript.Run(cctx, sh.client, []string{l.registryKey()}, args...).Err()
		cancel()
		if err != nil {
			ok = false
			if ctx.Err() == nil {
				l.log.Debug("heartbeat failed", "error", err)
			}
		}
	}
	return ok
}

// rejoin adds this process's channels back to the groups they joined, one pipeline per
// shard, and reports whether every group took them.
func (l *Layer) rejoin(ctx context.Context) bool {
	byGroup := map[string][]string{}
	infos := map[string][]any{} // group → presence hash field/value pairs
	l.mu.RLock()
	for ch, gs := range l.joined {
		for _, g := range gs {
			byGroup[g] = append(byGroup[g], ch)
			if v, ok := l.presence[ch][g]; ok {
				infos[g] = append(infos[g], ch, v)
			}
		}
	}
	l.mu.RUnlock()
	if len(byGroup) == 0 {
		return true
	}
	byShard := make([][]string, len(l.shards))
	for g := range byGroup {
		i := shardIndex(g, len(l.shards))
		byShard[i] = append(byShard[i], g)
	}
	score := float64(time.Now().UnixNano()) / 1e9
	for i, groups := range byShard {
		if len(groups) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := l.shards[i].client.Pipelined(cctx, func(p redis.Pipeliner) error {
			for _, g := range groups {
				zs := make([]redis.Z, len(byGroup[g]))
				for j, ch := range byGroup[g] {
					zs[j] = redis.Z{Score: score, Member: ch}
				}
				p.ZAdd(cctx, l.groupKey(g), zs...)
				p.Expire(cctx, l.groupKey(g), time.Duration(l.gexpiry)*time.Second)
				if kv := infos[g]; len(kv) > 0 {
					p.HSet(cctx, l.presenceKey(g), kv...)
					p.Expire(cctx, l.presenceKey(g), time.Duration(l.gexpiry)*time.Second)
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("rejoining groups after a Redis failure failed; retrying", "groups", len(groups), "error", err)
			}
			return false
		}
	}
	l.log.Info("rejoined groups after a Redis failure or heartbeat gap", "groups", len(byGroup))
	return true
}

// sweep forgets Receive buffers that nobody is reading and nobody has read for longer than
// the message expiry (their messages would have expired in Redis too).
func (l *Layer) sweep() {
	limit := time.Now().Add(-time.Duration(l.expiry) * time.Second).UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.local.Sweep(limit, &l.delivery, func(name string) { delete(l.joined, name); delete(l.presence, name) })
}
