package redislayer

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Flush deletes every key with the layer's prefix on every shard (SCAN and UNLINK in
// batches, never KEYS), including channels_redis's "$inflight" leftovers, and drops the
// messages buffered locally.
func (l *Layer) Flush(ctx context.Context) error {
	if l.closed.Load() {
		return l.closedErr("flush")
	}
	pattern := globEscape(l.prefix) + "*"
	for i, sh := range l.shards {
		var err error
		if cc, ok := sh.client.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return flushPrefix(ctx, c, pattern)
			})
		} else {
			err = flushPrefix(ctx, sh.client, pattern)
		}
		if err != nil {
			return l.redisErr(fmt.Sprintf("flush shard %d", i), err)
		}
	}
	l.mu.Lock()
	l.local.DropIdle(nil)
	clear(l.joined) // the groups are gone; do not bring them back after a heartbeat gap
	clear(l.presence)
	l.mu.Unlock()
	return nil
}

func flushPrefix(ctx context.Context, c redis.Cmdable, pattern string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			// One key per command keeps cluster slots apart; pipelined, it is one round trip.
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape quotes the glob characters of a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
