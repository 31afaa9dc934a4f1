package redislayer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers"
)

// GroupAdd adds channel to group (score: now; the group's TTL becomes the group expiry).
func (l *Layer) GroupAdd(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return l.closedErr("group add")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: group add: %w", err)
	}
	if err := l.pipeBarrier(ctx, fmt.Sprintf("group add %q to %q", channel, group)); err != nil {
		return err
	}
	key := l.groupKey(group)
	c := l.shards[shardIndex(group, len(l.shards))].client
	err := l.outage.do(ctx, func(ctx context.Context) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZAdd(ctx, key, redis.Z{Score: float64(time.Now().UnixNano()) / 1e9, Member: channel})
			p.Expire(ctx, key, time.Duration(l.gexpiry)*time.Second)
			return nil
		})
		return err
	})
	if err != nil {
		return l.redisErr(fmt.Sprintf("group add %q to %q", channel, group), err)
	}
	if inbox, _, ok := layers.SplitProcessSpecific(channel); ok && l.ownInbox(inbox) {
		l.mu.Lock()
		if gs := l.joined[channel]; !slices.Contains(gs, group) {
			l.joined[channel] = append(gs, group)
		}
		l.mu.Unlock()
	}
	return nil
}

// GroupDiscard removes channel from group, with its presence information (PresenceAdd).
func (l *Layer) GroupDiscard(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return l.closedErr("group discard")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: group discard: %w", err)
	}
	if err := l.pipeBarrier(ctx, fmt.Sprintf("group discard %q from %q", channel, group)); err != nil {
		return err
	}
	// One script call (ZREM and the presence information, see discard); a member that
	// joined with presence events gets its leave event after it.
	return l.discard(ctx, group, channel)
}

// forget drops channel's membership of group from this process's memory (not rejoined
// after a Redis failure any more).
func (l *Layer) forget(group, channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gs := l.joined[channel]; gs != nil {
		if i := slices.Index(gs, group); i >= 0 {
			gs = slices.Delete(gs, i, i+1)
		}
		if len(gs) == 0 {
			delete(l.joined, channel)
		} else {
			l.joined[channel] = gs
		}
	}
	if ps := l.presence[channel]; ps != nil {
		delete(ps, group)
		if len(ps) == 0 {
			delete(l.presence, channel)
		}
	}
}
