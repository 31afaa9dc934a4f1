package redislayer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Ping sends one PING to every shard (all at once), bounded by ctx, and returns the failures
// (each naming its shard), joined. It is the readiness check that worker.Main and ops.Readyz use when a layer has one.
func (l *Layer) Ping(ctx context.Context) error {
	if l.closed.Load() {
		return l.closedErr("ping")
	}
	clients := make([]redis.UniversalClient, len(l.shards))
	for i, sh := range l.shards {
		clients[i] = sh.client
	}
	if err := pingAll(ctx, clients); err != nil {
		return l.redisErr("ping", err)
	}
	return nil
}

// Ping sends one PING to every shard (all at once, on the publishing connections), bounded by
// ctx, and returns the failures (each naming its shard), joined.
func (l *PubSubLayer) Ping(ctx context.Context) error {
	if l.closed.Load() {
		return l.closedErr("ping")
	}
	clients := make([]redis.UniversalClient, len(l.shards))
	for i, sh := range l.shards {
		clients[i] = sh.pub
	}
	if err := pingAll(ctx, clients); err != nil {
		if l.closed.Load() {
			return l.closedErr("ping")
		}
		return fmt.Errorf("redislayer: ping: %w", err)
	}
	return nil
}

func pingAll(ctx context.Context, clients []redis.UniversalClient) error {
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Ping(ctx).Err(); err != nil {
				errs[i] = fmt.Errorf("shard %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
