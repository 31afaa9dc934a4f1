package channels

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func msgN(i int) Message { return Message{"type": "t", "n": i} }

func TestMailboxOrderAndWrap(t *testing.T) {
	m := NewMailbox(4)
	ctx := context.Background()
	next := 0
	// Interleave pushes and receives so the ring wraps several times.
	for round := 0; round < 10; round++ {
		for i := 0; i < 3; i++ {
			if err := m.Inject(msgN(round*3 + i)); err != nil {
				t.Fatalf("inject: %v", err)
			}
		}
		for i := 0; i < 3; i++ {
			got, err := m.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := got.Int("n"); n != next {
				t.Fatalf("got %d, want %d", n, next)
			}
			next++
		}
	}
	if m.Len() != 0 {
		t.Fatalf("Len = %d", m.Len())
	}
}

func TestMailboxFull(t *testing.T) {
	m := NewMailbox(2)
	_ = m.Inject(msgN(0))
	_ = m.Inject(msgN(1))
	if err := m.Inject(msgN(2)); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("third inject: %v, want ErrMailboxFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.Put(ctx, msgN(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on full: %v", err)
	}
}

func TestMailboxPutWaitsForRoom(t *testing.T) {
	m := NewMailbox(1)
	_ = m.Inject(msgN(0))
	done := make(chan error, 1)
	go func() { done <- m.Put(context.Background(), msgN(1)) }()
	select {
	case err := <-done:
		t.Fatalf("Put returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if _, err := m.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := m.Receive(context.Background())
	if n, _ := got.Int("n"); n != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestMailboxCloseDeliversFinalLast(t *testing.T) {
	m := NewMailbox(2)
	_ = m.Inject(msgN(0))
	_ = m.Inject(msgN(1))
	m.Close(Message{"type": TypeWebsocketDisconnect, "code": 1000})
	m.Close(Message{"type": "ignored"})
	if err := m.Inject(msgN(9)); !errors.Is(err, ErrClosed) {
		t.Fatalf("inject after close: %v", err)
	}
	if err := m.Put(context.Background(), msgN(9)); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	var types []string
	for {
		msg, err := m.Receive(context.Background())
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, msg.Type())
	}
	if fmt.Sprint(types) != "[t t websocket.disconnect]" {
		t.Fatalf("events = %v", types)
	}
}

// waitMailbox waits until cond, read under m's lock, holds (a goroutine has reached the
// waiting path: it creates the channel it then waits on).
func waitMailbox(t *testing.T, what string, m *Mailbox, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		m.mu.Lock()
		ok := cond()
		m.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMailboxCloseWakesReceiverAndPutter(t *testing.T) {
	m := NewMailbox(1)
	recv := make(chan error, 1)
	go func() { _, err := m.Receive(context.Background()); recv <- err }()
	waitMailbox(t, "the receiver to wait", m, func() bool { return m.wake != nil })
	m.Close(nil)
	if err := <-recv; !errors.Is(err, ErrClosed) {
		t.Fatalf("receive: %v", err)
	}

	m2 := NewMailbox(1)
	_ = m2.Inject(msgN(0))
	put := make(chan error, 1)
	go func() { put <- m2.Put(context.Background(), msgN(1)) }()
	waitMailbox(t, "the putter to wait for room", m2, func() bool { return m2.space != nil })
	m2.Close(nil)
	if err := <-put; !errors.Is(err, ErrClosed) {
		t.Fatalf("put: %v", err)
	}
}

func TestMailboxReceiveContext(t *testing.T) {
	m := NewMailbox(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Receive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestMailboxConcurrentProducers(t *testing.T) {
	const producers, each = 8, 500
	m := NewMailbox(16)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := m.Put(context.Background(), Message{"type": "t", "p": p, "i": i}); err != nil {
					t.Error(err)
					return
				}
			}
		}(p)
	}
	go func() { wg.Wait(); m.Close(nil) }()
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	count := 0
	for {
		msg, err := m.Receive(context.Background())
		if errors.Is(err, ErrClosed) {
			break
		}
		p, _ := msg.Int("p")
		i, _ := msg.Int("i")
		if i != last[p]+1 {
			t.Fatalf("producer %d: got %d after %d (order lost)", p, i, last[p])
		}
		last[p] = i
		count++
	}
	if count != producers*each {
		t.Fatalf("received %d, want %d", count, producers*each)
	}
}

func TestMessageAccessors(t *testing.T) {
	m := Message{"type": "chat.message", "s": "x", "b": []byte("y"), "i8": int8(-3), "u64": uint64(7), "ok": true}
	if m.Type() != "chat.message" || m.String("s") != "x" || string(m.Bytes("b")) != "y" || !m.Bool("ok") {
		t.Fatalf("accessors wrong: %v", m)
	}
	if n, ok := m.Int("i8"); !ok || n != -3 {
		t.Fatalf("Int(i8) = %d %v", n, ok)
	}
	if n, ok := m.Int("u64"); !ok || n != 7 {
		t.Fatalf("Int(u64) = %d %v", n, ok)
	}
	if _, ok := m.Int("s"); ok {
		t.Fatal("Int of a string must fail")
	}
	if (Message{"type": 3}).Type() != "" {
		t.Fatal("non-string type must read as empty")
	}
	c := m.Clone()
	c["s"] = "changed"
	if m.String("s") != "x" {
		t.Fatal("Clone aliases the original")
	}
}

func TestScopeValuesAndClone(t *testing.T) {
	type key struct{}
	s := &Scope{Type: ScopeWebsocket, Path: "/a", Headers: map[string][]string{"X": {"1"}}, URLRoute: map[string]string{"room": "r"}}
	s.Set(key{}, 42)
	c := s.Clone()
	c.Set(key{}, 43)
	c.Headers.Set("X", "2")
	c.URLRoute["room"] = "other"
	if s.Value(key{}) != 42 || s.Headers.Get("X") != "1" || s.Param("room") != "r" {
		t.Fatal("Clone shares state with the original")
	}
	if c.Value(key{}) != 43 || c.Param("room") != "other" {
		t.Fatal("clone lost its own values")
	}
	// Derive shares the headers (read-only by contract), not the values or the parameters.
	d := s.Derive()
	d.Set(key{}, 44)
	d.URLRoute["room"] = "derived"
	d.Path = "/b"
	if s.Value(key{}) != 42 || s.Param("room") != "r" || s.Path != "/a" {
		t.Fatal("Derive shares values, parameters or fields with the original")
	}
	if d.Headers.Get("X") != "1" || d.Value(key{}) != 44 || d.Type != ScopeWebsocket {
		t.Fatalf("derived scope: %+v", d)
	}
	var ce error = &CloseError{Code: 1008, Reason: "slow client"}
	if !errors.Is(ce, ErrClosed) || ce.Error() != "websocket closed: 1008 slow client" {
		t.Fatalf("CloseError: %v", ce)
	}
}

func BenchmarkMailboxInjectReceive(b *testing.B) {
	m := NewMailbox(64)
	ctx := context.Background()
	msg := msgN(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = m.Inject(msg)
		_, _ = m.Receive(ctx)
	}
}
