package layers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
)

func newTestMemory(t testing.TB, opts MemoryOptions) *Memory {
	t.Helper()
	m := NewMemory(opts)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// waitTimeout bounds the waits of these tests for a message or a condition. It only stops a
// hung test; it asserts nothing about speed.
const waitTimeout = 60 * time.Second

// advance moves m's clock forward by d, as if d had passed, so that expiry tests need no
// sleeps and can use expiries long enough that a stalled test never sees one it did not plan.
func advance(m *Memory, d time.Duration) {
	m.mu.Lock()
	m.base = m.base.Add(-d)
	m.mu.Unlock()
}

// waitReceivers waits until n receivers are blocked on channel.
func waitReceivers(t *testing.T, m *Memory, channel string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		m.mu.Lock()
		got := 0
		if q := m.queues[channel]; q != nil {
			got = len(q.waiters)
		}
		m.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d receivers waiting on %q after %v, want %d", got, channel, waitTimeout, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func msg(n int) channels.Message { return channels.Message{"type": "test.msg", "n": n} }

func recvTimeout(t testing.TB, l Layer, channel string, d time.Duration) (channels.Message, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return l.Receive(ctx, channel)
}

func TestMemorySendReceiveInOrder(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := m.Send(ctx, "tasks", msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		got, err := m.Receive(ctx, "tasks")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := got.Int("n"); n != i {
			t.Fatalf("got n=%d, want %d", n, i)
		}
	}
	if len(m.queues) != 0 {
		t.Fatalf("empty channel kept: %d queues", len(m.queues))
	}
	st := m.Stats()
	if st.Sent != 10 || st.Delivered != 10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemorySendCopiesMessage(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	orig := channels.Message{"type": "t", "v": "before"}
	if err := m.Send(context.Background(), "c", orig); err != nil {
		t.Fatal(err)
	}
	orig["v"] = "after"
	got, err := recvTimeout(t, m, "c", waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if got.String("v") != "before" {
		t.Fatalf("layer aliases the caller's map: %v", got)
	}
}

func TestMemoryBadInput(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	for _, bad := range []channels.Message{nil, {}, {"type": 3}, {"type": ""}, {"type": "t", "__asgi_channel__": "x"}} {
		if err := m.Send(ctx, "c", bad); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Send(%v) = %v, want ErrInvalidMessage", bad, err)
		}
		if err := m.GroupSend(ctx, "g", bad); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("GroupSend(%v) = %v, want ErrInvalidMessage", bad, err)
		}
	}
	checks := []error{
		m.Send(ctx, "bad name", msg(0)),
		m.GroupSend(ctx, "bad!group", msg(0)),
		m.GroupAdd(ctx, "g!", "c"),
		m.GroupAdd(ctx, "g", "!c"),
		m.GroupDiscard(ctx, "", "c"),
		m.GroupDiscard(ctx, "g", "c c"),
	}
	_, err := m.Receive(ctx, "x/y")
	checks = append(checks, err)
	for i, err := range checks {
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("check %d: %v, want ErrInvalidName", i, err)
		}
	}
	// Bad input did not disturb anything else.
	if err := m.Send(ctx, "c", msg(1)); err != nil {
		t.Fatal(err)
	}
	if got, err := recvTimeout(t, m, "c", waitTimeout); err != nil || got.Type() != "test.msg" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestMemoryCapacity(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{Capacity: 2, ChannelCapacity: []CapacityRule{{"big.*", 5}, {`re:tiny`, 1}}})
	ctx := context.Background()
	fill := func(channel string) int {
		for i := 0; i < 100; i++ {
			if err := m.Send(ctx, channel, msg(i)); err != nil {
				if !errors.Is(err, ErrChannelFull) || !strings.Contains(err.Error(), `"`+channel+`"`) {
					t.Fatalf("send %d to %s: %v (want ErrChannelFull naming the channel)", i, channel, err)
				}
				return i
			}
		}
		return 100
	}
	if n := fill("plain"); n != 2 {
		t.Errorf("plain held %d", n)
	}
	if n := fill("big.one"); n != 5 {
		t.Errorf("big.one held %d", n)
	}
	if n := fill("tiny-x"); n != 1 {
		t.Errorf("tiny-x held %d", n)
	}
	if st := m.Stats(); st.RejectedFull != 3 || st.Sent != 8 {
		t.Fatalf("stats %+v", st)
	}
	// Receiving makes room.
	if _, err := m.Receive(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, "plain", msg(9)); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryExpiry(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{Capacity: 1, Expiry: 10 * time.Second})
	ctx := context.Background()
	if err := m.Send(ctx, "c", msg(1)); err != nil {
		t.Fatal(err)
	}
	advance(m, 30*time.Second)
	// The expired message no longer takes the only place.
	if err := m.Send(ctx, "c", msg(2)); err != nil {
		t.Fatalf("send after expiry: %v", err)
	}
	advance(m, 30*time.Second)
	if got, err := recvTimeout(t, m, "c", 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("received an expired message: %v %v", got, err)
	}
	if st := m.Stats(); st.Expired != 2 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemoryNotExpiredIsDelivered(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{Expiry: 10 * time.Minute})
	if err := m.Send(context.Background(), "c", msg(1)); err != nil {
		t.Fatal(err)
	}
	advance(m, 5*time.Minute) // half the expiry
	if _, err := recvTimeout(t, m, "c", waitTimeout); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryGroups(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	for _, c := range []string{"a", "b", "c"} {
		if err := m.GroupAdd(ctx, "g", c); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.GroupAdd(ctx, "g", "a"); err != nil { // refresh, not a second membership
		t.Fatal(err)
	}
	if err := m.GroupDiscard(ctx, "g", "b"); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupDiscard(ctx, "g", "nobody"); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupDiscard(ctx, "nogroup", "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupSend(ctx, "g", channels.Message{"type": "hello"}); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupSend(ctx, "empty", channels.Message{"type": "hello"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "c"} {
		if got, err := recvTimeout(t, m, c, waitTimeout); err != nil || got.Type() != "hello" {
			t.Fatalf("%s: %v %v", c, got, err)
		}
	}
	if _, err := recvTimeout(t, m, "a", 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a got a second copy: %v", err)
	}
	if _, err := recvTimeout(t, m, "b", 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("discarded member got the message: %v", err)
	}
	if err := m.GroupDiscard(ctx, "g", "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupDiscard(ctx, "g", "c"); err != nil {
		t.Fatal(err)
	}
	if len(m.groups) != 0 {
		t.Fatalf("empty group kept")
	}
}

func TestMemoryGroupSendFullMemberIsCounted(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{Capacity: 1})
	ctx := context.Background()
	_ = m.GroupAdd(ctx, "g", "a")
	_ = m.GroupAdd(ctx, "g", "b")
	if err := m.Send(ctx, "a", msg(0)); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupSend(ctx, "g", msg(1)); err != nil {
		t.Fatalf("a full member must not fail GroupSend: %v", err)
	}
	if st := m.Stats(); st.RejectedFull != 1 || st.Sent != 2 {
		t.Fatalf("stats %+v", st)
	}
	if got, _ := recvTimeout(t, m, "b", waitTimeout); got == nil {
		t.Fatal("b missed the message")
	}
}

func TestMemoryGroupExpiry(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{GroupExpiry: 10 * time.Second})
	ctx := context.Background()
	_ = m.GroupAdd(ctx, "g", "old")
	_ = m.GroupAdd(ctx, "g", "fresh")
	advance(m, 30*time.Second)
	_ = m.GroupAdd(ctx, "g", "fresh") // refresh
	if err := m.GroupSend(ctx, "g", msg(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := recvTimeout(t, m, "fresh", waitTimeout); err != nil {
		t.Fatalf("refreshed member: %v", err)
	}
	if _, err := recvTimeout(t, m, "old", 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired member got the message: %v", err)
	}
	if st := m.Stats(); st.GroupExpired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemoryNewChannel(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	a, err := m.NewChannel(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.NewChannel(ctx, "")
	c, _ := m.NewChannel(ctx, "mine")
	if a == b {
		t.Fatal("NewChannel repeated a name")
	}
	ia, la, ok := SplitProcessSpecific(a)
	ib, _, _ := SplitProcessSpecific(b)
	if !ok || ia != ib || !strings.HasPrefix(a, "specific.") || len(la) != 24 {
		t.Fatalf("names %q %q do not share an inbox", a, b)
	}
	if !strings.HasPrefix(c, "mine."+m.procID+"!") {
		t.Fatalf("prefix not used: %q", c)
	}
	if err := ValidateChannelName(a); err != nil {
		t.Fatal(err)
	}
	other := newTestMemory(t, MemoryOptions{})
	d, _ := other.NewChannel(ctx, "")
	if id, _, _ := SplitProcessSpecific(d); id == ia {
		t.Fatal("two layers share an inbox name")
	}
	if _, err := m.NewChannel(ctx, "bad!"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad prefix: %v", err)
	}
	if _, err := m.NewChannel(ctx, strings.Repeat("p", 80)); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("long prefix: %v", err)
	}
	// Without a listener, a process-specific channel works with Receive.
	if err := m.Send(ctx, a, msg(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := recvTimeout(t, m, a, waitTimeout); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryReceiveWaits(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	got := make(chan channels.Message, 1)
	go func() {
		msg, _ := recvTimeout(t, m, "c", waitTimeout)
		got <- msg
	}()
	waitReceivers(t, m, "c", 1)
	if err := m.Send(context.Background(), "c", msg(7)); err != nil {
		t.Fatal(err)
	}
	if n, _ := (<-got).Int("n"); n != 7 {
		t.Fatalf("got %d", n)
	}
}

func TestMemoryReceiveContext(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Receive(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if _, err := recvTimeout(t, m, "c", 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if len(m.queues) != 0 {
		t.Fatalf("a gone receiver left its channel behind")
	}
	// A queued message is still returned to a receiver whose ctx is done.
	_ = m.Send(context.Background(), "c", msg(1))
	if _, err := m.Receive(ctx, "c"); err != nil {
		t.Fatalf("got %v", err)
	}
}

func TestMemoryCloseWakesReceivers(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { _, err := recvTimeout(t, m, "c", waitTimeout); errs <- err }()
	}
	waitReceivers(t, m, "c", 3)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; !errors.Is(err, ErrLayerClosed) {
			t.Fatalf("receiver woke with %v", err)
		}
	}
	ctx := context.Background()
	_, recvErr := m.Receive(ctx, "c")
	_, newErr := m.NewChannel(ctx, "")
	_, _, listenErr := m.Listen(ctx, "", func(channels.Message) bool { return true })
	for i, err := range []error{m.Send(ctx, "c", msg(0)), recvErr, m.GroupAdd(ctx, "g", "c"), m.GroupDiscard(ctx, "g", "c"),
		m.GroupSend(ctx, "g", msg(0)), m.Flush(ctx), newErr, listenErr} {
		if !errors.Is(err, ErrLayerClosed) {
			t.Errorf("call %d after Close: %v", i, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMemoryFlush(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	_ = m.Send(ctx, "a", msg(1))
	_ = m.GroupAdd(ctx, "g", "b")
	got := make(chan error, 1)
	go func() {
		msg, err := recvTimeout(t, m, "waiting", waitTimeout)
		if err == nil && msg.Type() != "after" {
			err = fmt.Errorf("got %v", msg)
		}
		got <- err
	}()
	waitReceivers(t, m, "waiting", 1)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := recvTimeout(t, m, "a", 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("message survived Flush: %v", err)
	}
	_ = m.GroupSend(ctx, "g", msg(2))
	if _, err := recvTimeout(t, m, "b", 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("group survived Flush: %v", err)
	}
	// A receiver waiting during Flush still gets later messages.
	if err := m.Send(ctx, "waiting", channels.Message{"type": "after"}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestMemoryConcurrentSendersReceivers(t *testing.T) {
	const senders, receivers, each = 8, 8, 300
	m := newTestMemory(t, MemoryOptions{Capacity: senders * each})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var seen sync.Map
	var count atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < receivers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for count.Load() < senders*each {
				// Short timeouts make receivers give up often, racing with senders that hand
				// them messages: nothing may be lost or duplicated.
				rctx, rcancel := context.WithTimeout(ctx, time.Duration(r%3+1)*time.Millisecond)
				got, err := m.Receive(rctx, "work")
				rcancel()
				if err != nil {
					if ctx.Err() != nil {
						t.Error("timed out")
						return
					}
					continue
				}
				key := fmt.Sprint(got["s"], "/", got["n"])
				if _, dup := seen.LoadOrStore(key, r); dup {
					t.Errorf("message %s delivered twice", key)
				}
				count.Add(1)
			}
		}(r)
	}
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := m.Send(ctx, "work", channels.Message{"type": "t", "s": s, "n": i}); err != nil {
					t.Error(err)
					return
				}
			}
		}(s)
	}
	wg.Wait()
	if n := count.Load(); n != senders*each {
		t.Fatalf("received %d, want %d", n, senders*each)
	}
	if st := m.Stats(); st.Delivered != senders*each || st.Sent != senders*each {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemoryListen(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	box := channels.NewMailbox(3)
	ch, stop, err := m.Listen(ctx, "", func(msg channels.Message) bool { return box.Inject(msg) == nil })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !IsProcessSpecific(ch) {
		t.Fatalf("Listen channel %q is not process-specific", ch)
	}
	for i := 0; i < 5; i++ {
		if err := m.Send(ctx, ch, msg(i)); err != nil {
			t.Fatalf("send %d: %v (a full listener is a drop, not an error)", i, err)
		}
	}
	if box.Len() != 3 {
		t.Fatalf("mailbox holds %d", box.Len())
	}
	for i := 0; i < 3; i++ {
		got, _ := box.Receive(ctx)
		if n, _ := got.Int("n"); n != i {
			t.Fatalf("order: got %d, want %d", n, i)
		}
	}
	if st := m.Stats(); st.Dropped != 2 || st.Delivered != 3 || st.Sent != 5 {
		t.Fatalf("stats %+v", st)
	}
	stop()
	stop() // idempotent
	_ = m.Send(ctx, ch, msg(9))
	if box.Len() != 0 {
		t.Fatal("deliver called after stop")
	}
	if _, _, err := m.Listen(ctx, "", nil); err == nil {
		t.Fatal("nil deliver accepted")
	}
}

func TestMemoryListenStopRacesSend(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{Capacity: 10000})
	ctx := context.Background()
	for round := 0; round < 50; round++ {
		var stopped atomic.Bool
		var late atomic.Int64
		ch, stop, err := m.Listen(ctx, "", func(channels.Message) bool {
			if stopped.Load() {
				late.Add(1)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 50; i++ {
				_ = m.Send(ctx, ch, msg(i))
			}
		}()
		stop()
		stopped.Store(true)
		<-done
		if late.Load() != 0 {
			t.Fatalf("deliver called %d times after stop returned", late.Load())
		}
	}
}

func TestMemoryGroupSendSharesOneCopy(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ctx := context.Background()
	var mu sync.Mutex
	var got []channels.Message
	for i := 0; i < 3; i++ {
		ch, stop, err := m.Listen(ctx, "", func(msg channels.Message) bool {
			mu.Lock()
			got = append(got, msg)
			mu.Unlock()
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		_ = m.GroupAdd(ctx, "room", ch)
	}
	_ = m.GroupAdd(ctx, "room", "plain")
	orig := channels.Message{"type": "chat.message", "text": "hi"}
	if err := m.GroupSend(ctx, "room", orig); err != nil {
		t.Fatal(err)
	}
	queued, err := recvTimeout(t, m, "plain", waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d listeners reached", len(got))
	}
	p := reflect.ValueOf(got[0]).UnsafePointer()
	for _, g := range append(got[1:], queued) {
		if reflect.ValueOf(g).UnsafePointer() != p {
			t.Fatal("members got different copies")
		}
	}
	if p == reflect.ValueOf(orig).UnsafePointer() {
		t.Fatal("members got the caller's map")
	}
	if st := m.Stats(); st.Sent != 4 || st.Delivered != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemorySweepDropsAbandonedChannels(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{Expiry: 10 * time.Second, GroupExpiry: 10 * time.Second})
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		_ = m.Send(ctx, fmt.Sprintf("abandoned%d", i), msg(i))
		_ = m.GroupAdd(ctx, fmt.Sprintf("group%d", i), "x")
	}
	advance(m, 40*time.Second)
	for i := 0; i < 200000; i++ {
		_ = m.GroupAdd(ctx, "live", "y")
		m.mu.Lock()
		left := len(m.queues) + len(m.groups)
		m.mu.Unlock()
		if left == 1 { // only "live"
			return
		}
	}
	t.Fatalf("sweeping left %d channels and %d groups", len(m.queues), len(m.groups))
}

// hidden hides Memory's Listener implementation, to exercise the generic Listen.
type hidden struct{ Layer }

func TestListenFallback(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	l := hidden{m}
	if _, ok := Layer(l).(Listener); ok {
		t.Fatal("wrapper still a Listener")
	}
	ctx := context.Background()
	got := make(chan channels.Message, 10)
	ch, stop, err := Listen(ctx, l, "", func(msg channels.Message) bool { got <- msg; return true })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Send(ctx, ch, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		select {
		case g := <-got:
			if n, _ := g.Int("n"); n != i {
				t.Fatalf("got %d, want %d", n, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("fallback Listen delivered nothing")
		}
	}
	stop()
	stop()
	// The loop also ends by itself when the layer closes (goleak checks the goroutine).
	_, stop2, err := Listen(ctx, l, "", func(channels.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Close()
	stop2()
	if _, _, err := Listen(ctx, l, "", func(channels.Message) bool { return true }); !errors.Is(err, ErrLayerClosed) {
		t.Fatalf("Listen on a closed layer: %v", err)
	}
}

func TestListenUsesListener(t *testing.T) {
	m := newTestMemory(t, MemoryOptions{})
	ch, stop, err := Listen(context.Background(), m, "p", func(channels.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m.mu.Lock()
	_, ok := m.listeners[ch]
	m.mu.Unlock()
	if !ok {
		t.Fatal("Listen did not use Memory.Listen")
	}
}

func BenchmarkMemorySendReceive(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx := context.Background()
	mm := channels.Message{"type": "t", "text": "hello"}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Send(ctx, "bench", mm); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Receive(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemorySendReceiveParallel(b *testing.B) {
	m := NewMemory(MemoryOptions{Capacity: 1 << 20})
	defer m.Close()
	ctx := context.Background()
	mm := channels.Message{"type": "t", "text": "hello"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.Send(ctx, "bench", mm); err != nil {
				b.Error(err)
				return
			}
			if _, err := m.Receive(ctx, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMemoryListenSend(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx := context.Background()
	box := channels.NewMailbox(1024)
	ch, stop, _ := m.Listen(ctx, "", func(msg channels.Message) bool { return box.Inject(msg) == nil })
	defer stop()
	mm := channels.Message{"type": "t", "text": "hello"}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Send(ctx, ch, mm)
		_, _ = box.Receive(ctx)
	}
}

func BenchmarkMemoryGroupSend(b *testing.B) {
	for _, members := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprint(members), func(b *testing.B) {
			m := NewMemory(MemoryOptions{})
			defer m.Close()
			ctx := context.Background()
			var n atomic.Int64
			for i := 0; i < members; i++ {
				ch, stop, _ := m.Listen(ctx, "", func(channels.Message) bool { n.Add(1); return true })
				defer stop()
				_ = m.GroupAdd(ctx, "room", ch)
			}
			mm := channels.Message{"type": "chat.message", "text": "hello"}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.GroupSend(ctx, "room", mm); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n.Load()), "ns/member")
		})
	}
}
