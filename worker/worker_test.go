package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/worker"
)

func newLogger() (*slog.Logger, *logbuf.Buffer) {
	buf := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after a generous safety net.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // only stops a hung test
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func memLayer(t *testing.T) *layers.Memory {
	l := layers.NewMemory(layers.MemoryOptions{})
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// sendAll sends n numbered tasks, waiting for room when the channel is full.
func sendAll(t *testing.T, ctx context.Context, l layers.Layer, channel string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		for {
			err := l.Send(ctx, channel, channels.Message{"type": "task.run", "n": i})
			if err == nil {
				break
			}
			if !errors.Is(err, layers.ErrChannelFull) {
				t.Fatalf("send %d: %v", i, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// handleAll sends one message of each type to channel, waits until the worker has handled or
// failed them all, stops it, and returns the channel's statistics.
func handleAll(t *testing.T, ctx context.Context, l layers.Layer, w *worker.Worker, channel string, types ...string) worker.ChannelStats {
	t.Helper()
	for _, typ := range types {
		if err := l.Send(ctx, channel, channels.Message{"type": typ}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, fmt.Sprintf("%d messages", len(types)), func() bool {
		s := w.Stats()[channel]
		return s.Handled+s.Failed == uint64(len(types))
	})
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return w.Stats()[channel]
}

// Counter is a background consumer that records the tasks it handled.
type Counter struct {
	consumer.Consumer
}

var (
	counterMu   sync.Mutex
	counterSeen map[string]map[int]int // test name → task → times handled
	counterBusy atomic.Int32
	counterMax  atomic.Int32
)

func (c *Counter) TaskRun(ctx context.Context, msg channels.Message) error {
	busy := counterBusy.Add(1)
	defer counterBusy.Add(-1)
	for {
		m := counterMax.Load()
		if busy <= m || counterMax.CompareAndSwap(m, busy) {
			break
		}
	}
	n, _ := msg.Int("n")
	counterMu.Lock()
	counterSeen[msg.String("test")][n]++
	counterMu.Unlock()
	if d, ok := msg.Int("sleep_us"); ok {
		time.Sleep(time.Duration(d) * time.Microsecond)
	}
	return nil
}

// resetCounter clears what Counter recorded, for a new test.
func resetCounter() {
	counterMu.Lock()
	counterSeen = map[string]map[int]int{"": {}}
	counterMu.Unlock()
	counterMax.Store(0)
}

func TestOneAtATimeByDefault(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	resetCounter()
	w := &worker.Worker{Layer: l, Application: router.ChannelName{"tasks": consumer.New[Counter](consumer.WithLayer(l))}}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := l.Send(ctx, "tasks", channels.Message{"type": "task.run", "n": i, "sleep_us": 200}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "50 handled", func() bool { return w.Stats()["tasks"].Handled == 50 })
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if m := counterMax.Load(); m != 1 {
		t.Errorf("at most %d handlers ran at once; want 1", m)
	}
	counterMu.Lock()
	defer counterMu.Unlock()
	for i := 0; i < 50; i++ {
		if counterSeen[""][i] != 1 {
			t.Errorf("task %d handled %d times", i, counterSeen[""][i])
		}
	}
}

func TestConcurrencyHandlesEachMessageOnce(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	resetCounter()
	w := &worker.Worker{Layer: l, Application: consumer.New[Counter](consumer.WithLayer(l)), Channels: []string{"tasks"}, Concurrency: 4}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	sendAll(t, ctx, l, "tasks", n)
	waitFor(t, "all handled", func() bool { return w.Stats()["tasks"].Handled == n })
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	counterMu.Lock()
	defer counterMu.Unlock()
	for i := 0; i < n; i++ {
		if got := counterSeen[""][i]; got != 1 {
			t.Fatalf("task %d handled %d times", i, got)
		}
	}
	if m := counterMax.Load(); m > 4 {
		t.Errorf("%d handlers at once with Concurrency 4", m)
	}
	t.Logf("max concurrent handlers: %d", counterMax.Load())
}

// A plain application that fails in every way: it returns an error, panics, or returns nil
// in the middle of a message. The worker logs each with the channel and type, counts it,
// restarts the application, and goes on.
func TestFailuresNeverStopTheWorker(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	logger, logs := newLogger()
	var ok atomic.Int32
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return nil
			}
			switch msg.Type() {
			case "task.error":
				return errors.New("task went wrong")
			case "task.panic":
				panic("task blew up")
			case "task.report":
				msg := msg
				receive.(worker.FailureReporter).ReportFailure(msg, errors.New("reported failure"))
			case "task.ok":
				ok.Add(1)
			}
		}
	})
	w := &worker.Worker{Layer: l, Application: app, Channels: []string{"jobs"}, Logger: logger, MaxBackoff: 100 * time.Millisecond}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := handleAll(t, ctx, l, w, "jobs", "task.ok", "task.error", "task.ok", "task.panic", "task.report", "task.ok")
	if s.Handled != 3 || s.Failed != 3 || s.Restarts != 2 || s.InFlight != 0 || ok.Load() != 3 {
		t.Errorf("stats %+v, ok handled %d; want 3 handled, 3 failed, 2 restarts", s, ok.Load())
	}
	out := logs.String()
	for _, want := range []string{
		`msg="worker: message failed" channel=jobs type=task.error error="task went wrong"`,
		`msg="worker: message failed" channel=jobs type=task.panic error="panic: task blew up" stack=`,
		`msg="worker: message failed" channel=jobs type=task.report error="reported failure"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// Broken is a background consumer whose handlers fail; consumer.New logs them and goes on.
type Broken struct {
	consumer.Consumer
}

func (b *Broken) TaskFail(ctx context.Context, msg channels.Message) error {
	return errors.New("no luck")
}
func (b *Broken) TaskPanic(ctx context.Context, msg channels.Message) error { panic("oops") }
func (b *Broken) TaskOk(ctx context.Context, msg channels.Message) error    { return nil }

func TestGenericConsumerFailuresKeepServing(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	logger, logs := newLogger()
	app := router.ChannelName{"jobs": consumer.New[Broken](consumer.WithLayer(l), consumer.WithLogger(logger))}
	w, err := worker.Start(ctx, l, app)
	if err != nil {
		t.Fatal(err)
	}
	s := handleAll(t, ctx, l, w, "jobs", "task.fail", "task.panic", "task.unknown", "task.ok")
	// consumer.New logs failing handlers itself, carries on, and reports each failure to the
	// worker's Receiver (worker.FailureReporter), which counts it.
	if s.Handled != 1 || s.Failed != 3 {
		t.Errorf("stats %+v, want 1 handled and 3 failed", s)
	}
	if s.Restarts != 0 {
		t.Errorf("the generic consumer was restarted %d times; it should carry on by itself", s.Restarts)
	}
	if n := strings.Count(logs.String(), "handler failed"); n != 3 {
		t.Errorf("%d handler failures logged, want 3:\n%s", n, logs.String())
	}
}

// Stop lets the message in flight finish, and receives nothing more: what is still queued
// stays on the channel for the next worker.
func TestGracefulStop(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var finished atomic.Int32
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			if _, err := receive.Receive(ctx); err != nil {
				return nil
			}
			started <- struct{}{}
			<-release
			finished.Add(1)
		}
	})
	w := &worker.Worker{Layer: l, Application: app, Channels: []string{"slow"}}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Send(ctx, "slow", channels.Message{"type": "task.slow", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(ctx) }()
	select {
	case <-worker.Stopping(w): // the stop has begun: the slot receives nothing more
	case err := <-stopped:
		t.Fatalf("Stop returned with a message in flight: %v", err)
	case <-ctx.Done():
		t.Fatal("the stop did not begin")
	}
	if n := w.Stats()["slow"].InFlight; n != 1 {
		t.Fatalf("%d messages in flight at the stop; want 1", n)
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if f := finished.Load(); f != 1 {
		t.Errorf("%d messages finished; want 1 (the one in flight)", f)
	}
	for i := 1; i < 3; i++ {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		msg, err := l.Receive(rctx, "slow")
		cancel()
		if err != nil {
			t.Fatalf("message %d not left on the channel: %v", i, err)
		}
		if n, _ := msg.Int("i"); n != i {
			t.Errorf("left message %d, want %d", n, i)
		}
	}
}

// At the stop deadline the applications' context is canceled and Stop reports it.
func TestStopTimeout(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	logger, logs := newLogger()
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return nil
		}
		<-ctx.Done() // a task that only stops when told
		return ctx.Err()
	})
	w := &worker.Worker{Layer: l, Application: app, Channels: []string{"stuck"}, StopTimeout: 50 * time.Millisecond, Logger: logger}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, "stuck", channels.Message{"type": "task.forever"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "in flight", func() bool { return w.Stats()["stuck"].InFlight == 1 })
	err := w.Stop(ctx)
	if !errors.Is(err, worker.ErrStopTimeout) {
		t.Fatalf("Stop: %v; want ErrStopTimeout", err)
	}
	if s := w.Stats()["stuck"]; s.Failed != 1 || s.InFlight != 0 {
		t.Errorf("stats %+v; want the abandoned message failed", s)
	}
	if !strings.Contains(logs.String(), "message abandoned at the stop deadline") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// A consumer that sends to its own channel gets the message through the same Receiver.
type Echo struct {
	consumer.Consumer
}

var echoed = make(chan string, 4)

func (e *Echo) TaskStart(ctx context.Context, msg channels.Message) error {
	return e.Send(ctx, e.ChannelName(), channels.Message{"type": "task.reply", "text": msg.String("text")})
}

func (e *Echo) TaskReply(ctx context.Context, msg channels.Message) error {
	echoed <- msg.String("text")
	return nil
}

func TestOwnChannelMessages(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	w, err := worker.Start(ctx, l, consumer.New[Echo](consumer.WithLayer(l)), "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop(ctx)
	if err := l.Send(ctx, "echo", channels.Message{"type": "task.start", "text": "hi"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-echoed:
		if got != "hi" {
			t.Errorf("got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply through the consumer's own channel")
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := testCtx(t)
	l := memLayer(t)
	app := router.ChannelName{"a": consumer.New[Counter](), "b": consumer.New[Counter]()}
	plain := channels.ApplicationFunc(func(context.Context, *channels.Scope, channels.Receiver, channels.Sender) error { return nil })
	for _, tc := range []struct {
		name string
		w    *worker.Worker
		want string
	}{
		{"no layer", &worker.Worker{Application: app}, "no Layer"},
		{"no app", &worker.Worker{Layer: l}, "no Application"},
		{"no channels", &worker.Worker{Layer: l, Application: plain}, "no channel to serve"},
		{"unrouted", &worker.Worker{Layer: l, Application: app, Channels: []string{"a", "c"}}, `does not route this channel: "c" (it routes: a, b)`},
		{"bad name", &worker.Worker{Layer: l, Application: plain, Channels: []string{"a b"}}, "not allowed"},
		{"specific", &worker.Worker{Layer: l, Application: plain, Channels: []string{"specific.x!y"}}, "process-specific"},
		{"twice", &worker.Worker{Layer: l, Application: plain, Channels: []string{"a", "a"}}, "named twice"},
		{"negative", &worker.Worker{Layer: l, Application: app, Concurrency: -1}, "negative"},
		{"per channel", &worker.Worker{Layer: l, Application: app, ChannelConcurrency: map[string]int{"z": 2}}, `names channel "z"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.Start(ctx)
			if err == nil {
				_ = tc.w.Stop(ctx)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// Canceling Start's context stops the worker gracefully too.
func TestContextStops(t *testing.T) {
	l := memLayer(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := worker.Start(ctx, l, consumer.New[Counter](consumer.WithLayer(l)), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop")
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkMemoryWorker(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			ctx := context.Background()
			l := layers.NewMemory(layers.MemoryOptions{})
			defer l.Close()
			var done atomic.Int64
			app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
				for {
					if _, err := receive.Receive(ctx); err != nil {
						return nil
					}
					done.Add(1)
				}
			})
			w := &worker.Worker{Layer: l, Application: app, Channels: []string{"bench"}, Concurrency: conc, Logger: slog.New(slog.DiscardHandler)}
			if err := w.Start(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for l.Send(ctx, "bench", channels.Message{"type": "t"}) != nil {
					time.Sleep(10 * time.Microsecond)
				}
			}
			for done.Load() < int64(b.N) {
				time.Sleep(10 * time.Microsecond)
			}
			b.StopTimer()
			_ = w.Stop(ctx)
		})
	}
}
