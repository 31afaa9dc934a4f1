package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// counter counts one receiving layer's deliveries, at most limit of them when limit > 0 (a
// receiver that stops early), and when the last one arrived.
type counter struct {
	limit int64
	got   atomic.Int64
	last  *atomic.Int64 // nanoseconds since base of the last delivery, shared
	base  time.Time
}

func (c *counter) deliver(channels.Message) bool {
	for {
		g := c.got.Load()
		if c.limit > 0 && g >= c.limit {
			return true // stopped: not counted, so lost
		}
		if c.got.CompareAndSwap(g, g+1) {
			break
		}
	}
	c.last.Store(int64(time.Since(c.base)))
	return true
}

// goRun is one workload on our layer, measured as crbench.py measures channels_redis: one
// counter per receiving layer ("process"), the clock from the first measured operation to
// the last delivery.
type goRun struct {
	b        *bench
	members  int // deliveries per operation
	counters []*counter
	last     atomic.Int64
	base     time.Time
}

func (g *goRun) total() int64 {
	var t int64
	for _, c := range g.counters {
		t += c.got.Load()
	}
	return t
}

// waitDelivered waits until target deliveries are counted, or none came for the drain time.
func (g *goRun) waitDelivered(ctx context.Context, target int64) (int64, error) {
	seen, since := int64(-1), time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		got := g.total()
		if got >= target {
			return got, nil
		}
		if got != seen {
			seen, since = got, time.Now()
		} else if time.Since(since) > g.b.drain {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("%d of %d delivered: %w", got, target, ctx.Err())
		case <-tick.C:
		}
	}
}

// measure makes warm unmeasured operations, waits for their deliveries, then ops measured
// ones, and times them to the last delivery.
func (g *goRun) measure(ctx context.Context, admin *redis.Client, ops int, op func(i int) error) (result, error) {
	warm := g.b.warmups(ops)
	res := result{ops: ops, expected: int64(warm+ops) * int64(g.members)}
	errs, err := g.b.parallel(0, warm, op)
	if err != nil {
		return res, err
	}
	if res.warmReceived, err = g.waitDelivered(ctx, int64(warm*g.members)); err != nil {
		return res, err
	}
	before, err := commandCalls(ctx, admin)
	if err != nil {
		return res, err
	}
	start := time.Since(g.base)
	n, err := g.b.parallel(warm, ops, op)
	if err != nil {
		return res, err
	}
	res.sendErrors = errs + n
	if res.received, err = g.waitDelivered(ctx, res.expected); err != nil {
		return res, err
	}
	res.dur = max(time.Duration(g.last.Load())-start, time.Nanosecond)
	after, err := commandCalls(ctx, admin)
	if err != nil {
		return res, err
	}
	res.commands = float64(after - before - 1) // the first INFO is one command
	return res, nil
}

func (g *goRun) newCounter() *counter {
	c := &counter{limit: int64(g.b.receiveLimit), last: &g.last, base: g.base}
	g.counters = append(g.counters, c)
	return c
}

// goSendRecv: one layer sends to 100 channels of another (Listen), with the shared number of
// concurrent senders.
func (b *bench) goSendRecv(ctx context.Context, n int) (result, error) {
	prefix := uniquePrefix("sr")
	a, err := b.newLayer(prefix)
	if err != nil {
		return result{}, err
	}
	defer a.Close()
	r, err := b.newLayer(prefix)
	if err != nil {
		return result{}, err
	}
	defer r.Close()
	g := &goRun{b: b, members: 1, base: time.Now()}
	c := g.newCounter()
	chans := make([]string, channelsN)
	for i := range chans {
		ch, stop, err := r.Listen(ctx, "specific", c.deliver)
		if err != nil {
			return result{}, fmt.Errorf("listen: %w", err)
		}
		defer stop()
		chans[i] = ch
	}
	time.Sleep(200 * time.Millisecond) // as crbench.py: let the receive loops settle
	res, err := g.measure(ctx, b.admin, n, func(i int) error {
		return a.Send(ctx, chans[i%channelsN], channels.Message{"type": "bench.msg", "i": i})
	})
	if err != nil {
		return res, err
	}
	return res, a.Flush(ctx)
}

// goGroup: members spread round-robin over procs layer instances join one group; a separate
// sender instance makes the group sends.
func (b *bench) goGroup(ctx context.Context, members, procs, sends int) (result, error) {
	prefix := uniquePrefix("g")
	var all []*redislayer.Layer
	defer func() {
		for _, l := range all {
			_ = l.Close()
		}
	}()
	for i := 0; i <= procs; i++ {
		l, err := b.newLayer(prefix)
		if err != nil {
			return result{}, err
		}
		all = append(all, l)
	}
	sender, receivers := all[0], all[1:]
	g := &goRun{b: b, members: members, base: time.Now()}
	counters := make([]*counter, procs)
	for p := range counters {
		counters[p] = g.newCounter()
	}
	for m := 0; m < members; m++ {
		l := receivers[m%procs]
		ch, stop, err := l.Listen(ctx, "specific", counters[m%procs].deliver)
		if err != nil {
			return result{}, fmt.Errorf("listen: %w", err)
		}
		defer stop()
		if err := l.GroupAdd(ctx, "bench", ch); err != nil {
			return result{}, fmt.Errorf("group add: %w", err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	res, err := g.measure(ctx, b.admin, sends, func(i int) error {
		return sender.GroupSend(ctx, "bench", channels.Message{"type": "bench.msg", "i": i})
	})
	if err != nil {
		return res, err
	}
	return res, sender.Flush(ctx)
}

// parallel runs fn(base+0 .. base+n-1) on the shared number of goroutines (goroutine k makes
// operations k, k+C, ...). It returns how many were refused as over capacity, and the first
// other error.
func (b *bench) parallel(base, n int, fn func(i int) error) (int, error) {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	var full atomic.Int64
	for k := 0; k < b.concurrency; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += b.concurrency {
				err := fn(base + i)
				if errors.Is(err, layers.ErrChannelFull) {
					full.Add(1)
					continue
				}
				if err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(full.Load()), first
}
