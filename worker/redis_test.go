package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/worker"
)

// redisLayer opens a separate layer instance (as a separate process would) on srv.
func redisLayer(t *testing.T, srv *redistest.Server, capacity int) layers.Layer {
	t.Helper()
	l, err := redislayer.New(redislayer.Options{Hosts: []string{srv.URL()}, Prefix: srv.Prefix(), Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Tally is a background consumer recording each task it handles, per worker.
type Tally struct {
	consumer.Consumer
}

var tally struct {
	sync.Mutex
	seen  map[int]int
	byApp map[string]int
}

func (c *Tally) TaskRun(ctx context.Context, msg channels.Message) error {
	n, _ := msg.Int("n")
	tally.Lock()
	tally.seen[n]++
	tally.byApp[c.Scope().Value(workerKey{}).(string)]++
	tally.Unlock()
	return nil
}

type workerKey struct{}

// tagged marks each scope with the name of the worker serving it.
func tagged(name string, app channels.Application) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, r channels.Receiver, s channels.Sender) error {
		scope.Set(workerKey{}, name)
		return app.Serve(ctx, scope, r, s)
	})
}

// Three workers, each with its own layer instance, share one Redis channel: 10,000 tasks
// are each handled exactly once, and every worker takes part.
func TestRedisWorkersShareTheWork(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	const n = 10000
	tally.Lock()
	tally.seen, tally.byApp = map[int]int{}, map[string]int{}
	tally.Unlock()

	var workers []*worker.Worker
	for i := 0; i < 3; i++ {
		l := redisLayer(t, srv, n)
		name := fmt.Sprintf("w%d", i)
		app := router.ChannelName{"background-tasks": tagged(name, consumer.New[Tally](consumer.WithLayer(l)))}
		w := &worker.Worker{Layer: l, Application: app, PollInterval: 300 * time.Millisecond}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	sender := redisLayer(t, srv, n)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				if err := sender.Send(ctx, "background-tasks", channels.Message{"type": "task.run", "n": i}); err != nil {
					t.Errorf("send %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := func() uint64 {
		var sum uint64
		for _, w := range workers {
			sum += w.Stats()["background-tasks"].Handled
		}
		return sum
	}
	waitFor(t, "10,000 handled", func() bool { return total() >= n })
	t.Logf("10,000 tasks sent and handled by 3 workers in %v", time.Since(start))
	// Stopped workers handle nothing more, and a duplicate not handled yet would still be
	// waiting on the channel (or put back on it at the stop): the channel must be empty.
	for _, w := range workers {
		if err := w.Stop(ctx); err != nil {
			t.Error(err)
		}
	}
	if left, err := srv.Client().ZCard(ctx, srv.Prefix()+"background-tasks").Result(); err != nil || left != 0 {
		t.Errorf("%d messages left on the channel (%v); want none", left, err)
	}
	tally.Lock()
	defer tally.Unlock()
	for i := 0; i < n; i++ {
		if tally.seen[i] != 1 {
			t.Fatalf("task %d handled %d times", i, tally.seen[i])
		}
	}
	if len(tally.seen) != n || total() != n {
		t.Fatalf("%d distinct tasks, %d handled; want %d", len(tally.seen), total(), n)
	}
	for name, c := range tally.byApp {
		t.Logf("worker %s handled %d", name, c)
	}
	if len(tally.byApp) != 3 {
		t.Errorf("only %d workers took part: %v", len(tally.byApp), tally.byApp)
	}
}

// Redis going away: the worker logs the outage once, retries with backoff (no spin), and
// carries on when Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := redisLayer(t, srv, 0)
	logger, logs := newLogger()
	got := make(chan int, 4)
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return nil
			}
			n, _ := msg.Int("n")
			got <- n
		}
	})
	w := &worker.Worker{Layer: l, Application: app, Channels: []string{"jobs"}, Logger: logger, MaxBackoff: 400 * time.Millisecond, PollInterval: 300 * time.Millisecond}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(ctx)
	if err := l.Send(ctx, "jobs", channels.Message{"type": "t", "n": 1}); err != nil {
		t.Fatal(err)
	}
	<-got
	killed := time.Now()
	srv.Kill()
	// No spin: each failed receive waits out the backoff before the next (50 ms, then 100 ms,
	// doubling), so the third error cannot come before the sum of the first two waits,
	// however fast or slow the machine: a timer never fires early, so this lower bound holds
	// on a loaded machine too. (A spinning retry fails three times within microseconds.)
	waitFor(t, "receive errors", func() bool { return w.Stats()["jobs"].ReceiveErrors >= 3 })
	if d, floor := time.Since(killed), (50+100)*time.Millisecond; d < floor {
		t.Errorf("three receive errors in %v, before the backoff's %v: the retry spins", d, floor)
	}
	if c := strings.Count(logs.String(), "layer receive failing"); c != 1 {
		t.Errorf("outage logged %d times; want once:\n%s", c, logs.String())
	}
	srv.Restart()
	waitFor(t, "a send after the restart", func() bool {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return l.Send(sctx, "jobs", channels.Message{"type": "t", "n": 2}) == nil
	})
	select {
	case n := <-got:
		if n != 2 {
			t.Errorf("got task %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message after Redis came back")
	}
	waitFor(t, "recovery log", func() bool { return strings.Count(logs.String(), "layer receive working again") == 1 })
	if c := strings.Count(logs.String(), "layer receive failing"); c != 1 {
		t.Errorf("outage logged %d times; want once", c)
	}
}
