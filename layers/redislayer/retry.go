package redislayer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers"
)

// DefaultSendTimeout is how long Send, GroupSend, GroupAdd and GroupDiscard keep retrying
// while Redis cannot be reached (a restart, a failover) before they return an error wrapping
// layers.ErrUnavailable.
const DefaultSendTimeout = 5 * time.Second

// outage retries the Redis calls of a layer's operations through a short outage. The zero
// bound means DefaultSendTimeout; a negative one means no retry (the first failure is
// returned at once, still wrapping layers.ErrUnavailable when Redis could not be reached).
//
// The bound runs from the start of the outage, not from each call: a call made when Redis
// has been unreachable for longer fails after one attempt, so that a consumer with a queue of
// messages does not wait the bound once per message through a long outage.
type outage struct {
	bound time.Duration
	stop  context.Context // the layer's own context: Close ends the waits
	// unsent retries only failures that show the command never reached a server, for
	// commands that cannot be repeated safely (PUBLISH).
	unsent bool
	// retries counts the attempts repeated because Redis could not be reached.
	retries *atomic.Uint64
	// down is when the current outage was first seen (Unix ns; 0 while Redis answers), and
	// last when a call last failed: an outage whose last failure is older than outageGap is
	// over as far as the bound is concerned (no call may have succeeded to clear it).
	down, last atomic.Int64
}

// outageGap is how long after its last failed call an outage counts as a new one: longer
// than any retry backoff, so that callers retrying through one outage share its start.
const outageGap = time.Second

// since records a failure at now and returns when the current outage started.
func (o *outage) since(now time.Time) time.Time {
	n := now.UnixNano()
	if prev := o.last.Swap(n); prev == 0 || n-prev > int64(outageGap) {
		o.down.Store(n)
	} else {
		o.down.CompareAndSwap(0, n)
	}
	return time.Unix(0, o.down.Load())
}

// up records a call that reached Redis.
func (o *outage) up() {
	if o.down.Load() != 0 {
		o.down.Store(0)
		o.last.Store(0)
	}
}

// do runs call until it succeeds, fails for a reason a retry cannot cure (a script error, a
// closed client, the caller's context), or Redis has been unreachable for the bound, waiting
// minBackoff, doubling up to maxBackoff, between attempts. The caller's calls are sequential,
// so retrying inside the call keeps one sender's messages in order: a later call starts only
// when this one has returned.
//
// call must be safe to repeat: a command that reached Redis and ran before the connection
// broke (its reply lost) runs again. The layer's writes are: each one re-adds the same stored
// member (the same random prefix and bytes, so the sorted set holds it once), and group
// membership and TTL refreshes are idempotent.
func (o *outage) do(ctx context.Context, call func(ctx context.Context) error) error {
	err := call(ctx)
	if err == nil {
		o.up()
		return nil
	}
	if !transient(ctx, err) {
		return err
	}
	if o.unsent && !neverSent(err) {
		return fmt.Errorf("%w (not retried: the command may have run): %w", layers.ErrUnavailable, err)
	}
	bound := o.bound
	if bound == 0 {
		bound = DefaultSendTimeout
	}
	if bound < 0 {
		return fmt.Errorf("%w: %w", layers.ErrUnavailable, err)
	}
	start := o.since(time.Now())
	wait := minBackoff
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		left := bound - time.Since(start)
		if left <= 0 {
			return fmt.Errorf("%w (for %v): %w", layers.ErrUnavailable, bound, err)
		}
		t.Reset(min(wait, left))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w): %w", layers.ErrUnavailable, context.Cause(ctx), err)
		case <-o.stop.Done():
			return fmt.Errorf("redislayer: %w", layers.ErrLayerClosed)
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
		o.retries.Add(1)
		if err = call(ctx); err == nil {
			o.up()
			return nil
		}
		if ctx.Err() != nil {
			// The caller's context ended during a retry: Redis was still unreachable.
			return fmt.Errorf("%w (%w): %w", layers.ErrUnavailable, context.Cause(ctx), err)
		}
		if !transient(ctx, err) {
			return err
		}
		o.since(time.Now())
		if o.unsent && !neverSent(err) {
			return fmt.Errorf("%w (not retried: the command may have run): %w", layers.ErrUnavailable, err)
		}
	}
}

// transient reports whether err is Redis being unreachable or not ready (a connection
// refused or broken, a timeout, a server still loading its data or without a master), as
// opposed to an answer a retry would repeat or the caller's context ending.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) || errors.Is(err, layers.ErrLayerClosed) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "ERR max number of clients"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// neverSent reports whether a transient err shows that the command was not written to a
// server: a dial that failed, no free connection in the pool, or a server reply refusing to
// run it (loading, no master).
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var rerr redis.Error
	return errors.Is(err, redis.ErrPoolTimeout) || errors.As(err, &rerr)
}
