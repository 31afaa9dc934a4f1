package channels

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// sized returns a message numbered i whose text makes it about size bytes.
func sized(i, textLen int) Message {
	return Message{"type": "t", "n": i, "text": strings.Repeat("x", textLen)}
}

func TestMessageSize(t *testing.T) {
	small := MessageSize(Message{"type": "t"})
	if small <= 0 {
		t.Fatalf("size of a small message = %d", small)
	}
	big := MessageSize(Message{"type": "t", "text": strings.Repeat("x", 1000)})
	if big < small+1000 {
		t.Fatalf("size with 1000 bytes of text = %d, small = %d", big, small)
	}
	nested := MessageSize(Message{"type": "t", "m": map[string]any{"b": make([]byte, 500), "l": []any{"abc", 1, true}}})
	if nested < small+500 {
		t.Fatalf("nested size = %d", nested)
	}
	// A cycle ends at the depth limit.
	cyc := map[string]any{}
	cyc["self"] = cyc
	if n := MessageSize(cyc); n <= 0 {
		t.Fatalf("cyclic size = %d", n)
	}
}

// TestMailboxBytesBoundAbsorbsBurst: thousands of small injected events fit under the byte
// bound though they are far more than the count capacity.
func TestMailboxBytesBoundAbsorbsBurst(t *testing.T) {
	m := NewMailbox(4)
	m.LimitInjected(1<<20, OverflowClose)
	const n = 5000
	for i := range n {
		if err := m.Inject(sized(i, 16)); err != nil {
			t.Fatalf("inject %d: %v", i, err)
		}
	}
	for i := range n {
		msg, err := m.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := msg.Int("n"); got != i {
			t.Fatalf("got %d, want %d", got, i)
		}
	}
	if m.QueuedBytes() != 0 {
		t.Fatalf("QueuedBytes after draining = %d", m.QueuedBytes())
	}
}

// TestMailboxCloseOnOverflow: under OverflowClose the event past the bound is refused, the
// mailbox closes with its final event after the events queued, and no later event gets in.
func TestMailboxCloseOnOverflow(t *testing.T) {
	const bound = 10 << 10
	m := NewMailbox(0)
	m.LimitInjected(bound, OverflowClose)
	host := &testOverflowHost{t: t, bound: bound}
	m.host = host
	maxSize := MessageSize(sized(0, 500))
	var queued int
	for i := 0; ; i++ {
		err := m.Inject(sized(i, 500))
		if m.QueuedBytes() > bound+maxSize {
			t.Fatalf("queued %d bytes, over the bound %d plus one message", m.QueuedBytes(), bound)
		}
		if errors.Is(err, ErrEventOverflow) {
			queued = i
			break
		}
		if err != nil {
			t.Fatalf("inject %d: %v", i, err)
		}
	}
	if err := m.Inject(sized(queued+1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("inject after the overflow: %v, want ErrClosed", err)
	}
	if err := m.Put(context.Background(), sized(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after the overflow: %v, want ErrClosed", err)
	}
	for i := range queued {
		msg, err := m.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := msg.Int("n"); got != i {
			t.Fatalf("got %d, want %d", got, i)
		}
	}
	if msg, err := m.Receive(context.Background()); err != nil || msg.Type() != "final" {
		t.Fatalf("after the queued events: %v %v, want the final event", msg, err)
	}
	if _, err := m.Receive(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the final event: %v", err)
	}
	if host.calls != 1 {
		t.Fatalf("overflow called %d times", host.calls)
	}
}

// TestMailboxDropNewest counts what it drops and keeps the oldest events.
func TestMailboxDropNewest(t *testing.T) {
	m := NewMailbox(0)
	size := MessageSize(sized(0, 100))
	m.LimitInjected(10*size, OverflowDropNewest)
	var refused int
	for i := range 50 {
		if err := m.Inject(sized(i, 100)); errors.Is(err, ErrMailboxFull) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
		if m.QueuedBytes() > 11*size {
			t.Fatalf("queued %d bytes", m.QueuedBytes())
		}
	}
	if m.Dropped() != uint64(refused) || refused != 40 || m.Len() != 10 {
		t.Fatalf("dropped %d, refused %d, queued %d; want 40, 40, 10", m.Dropped(), refused, m.Len())
	}
	for i := range 10 {
		msg, _ := m.Receive(context.Background())
		if got, _ := msg.Int("n"); got != i {
			t.Fatalf("got %d, want %d", got, i)
		}
	}
}

// TestMailboxDropOldest counts what it drops, keeps the newest events, and leaves events put
// with Put (the socket's) in place.
func TestMailboxDropOldest(t *testing.T) {
	m := NewMailbox(0)
	size := MessageSize(sized(0, 100))
	m.LimitInjected(10*size, OverflowDropOldest)
	if err := m.Put(context.Background(), Message{"type": "socket"}); err != nil {
		t.Fatal(err)
	}
	var signalled int
	for i := range 50 {
		err := m.Inject(sized(i, 100))
		if errors.Is(err, ErrDroppedOldest) {
			signalled++
		} else if err != nil {
			t.Fatal(err)
		}
		if m.QueuedBytes() > 11*size {
			t.Fatalf("queued %d bytes", m.QueuedBytes())
		}
	}
	if m.Dropped() != 40 || signalled != 40 || m.Len() != 11 {
		t.Fatalf("dropped %d, signalled %d, queued %d; want 40, 40, 11", m.Dropped(), signalled, m.Len())
	}
	if msg, _ := m.Receive(context.Background()); msg.Type() != "socket" {
		t.Fatalf("first event %v, want the socket's", msg)
	}
	for i := 40; i < 50; i++ {
		msg, _ := m.Receive(context.Background())
		if got, _ := msg.Int("n"); got != i {
			t.Fatalf("got %d, want %d", got, i)
		}
	}
}

// TestMailboxDropOldestAroundPut drops an injected event queued behind socket events.
func TestMailboxDropOldestAroundPut(t *testing.T) {
	m := NewMailbox(0)
	size := MessageSize(sized(0, 100))
	m.LimitInjected(2*size, OverflowDropOldest)
	ctx := context.Background()
	_ = m.Put(ctx, Message{"type": "s0"})
	_ = m.Inject(sized(0, 100))
	_ = m.Put(ctx, Message{"type": "s1"})
	_ = m.Inject(sized(1, 100))
	_ = m.Put(ctx, Message{"type": "s2"})
	if err := m.Inject(sized(2, 100)); !errors.Is(err, ErrDroppedOldest) {
		t.Fatalf("third inject: %v", err)
	}
	var got []string
	for m.Len() > 0 {
		msg, _ := m.Receive(ctx)
		if n, ok := msg.Int("n"); ok {
			got = append(got, string(rune('0'+n)))
		} else {
			got = append(got, msg.Type())
		}
	}
	if strings.Join(got, " ") != "s0 s1 1 s2 2" {
		t.Fatalf("order %q", got)
	}
}

var sizeSink int

// BenchmarkMessageSize measures the estimate on a typical chat message, measured afresh
// (one member) and through the memo (every member of a group after the first).
func BenchmarkMessageSize(b *testing.B) {
	msg := Message{"type": "chat.message", "text": strings.Repeat("x", 120), "user": "alice", "room": "lobby"}
	b.Run("estimate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sizeSink += MessageSize(msg)
		}
	})
	b.Run("memo-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n, _ := cachedSize(msg)
			sizeSink += n
		}
	})
	b.Run("memo-miss", func(b *testing.B) {
		b.ReportAllocs()
		other := Message{"type": "x", "y": 1}
		for b.Loop() {
			n, _ := cachedSize(msg)
			o, _ := cachedSize(other)
			sizeSink += n + o
		}
	})
}

// testOverflowHost stands for the server's connection in the overflow tests.
type testOverflowHost struct {
	t     *testing.T
	bound int
	calls int
}

func (h *testOverflowHost) overflowFinal() Message { return Message{"type": "final"} }

func (h *testOverflowHost) eventOverflow(queued, limit int) {
	h.calls++
	if limit != h.bound || queued > h.bound {
		h.t.Errorf("overflow(%d, %d)", queued, limit)
	}
}

func (h *testOverflowHost) eventsDropped(uint64) {}

// TestCachedSizeReadsCloseOnce checks that the memo of the last message measured tells a
// TypeClose message from others on a hit as on a miss.
func TestCachedSizeReadsCloseOnce(t *testing.T) {
	closeMsg := CloseMessage(4003, "banned")
	chat := Message{"type": "chat.message", "message": "hi"}
	for i, tc := range []struct {
		msg  Message
		want bool
	}{{closeMsg, true}, {closeMsg, true}, {chat, false}, {chat, false}, {closeMsg, true}} {
		size, isClose := cachedSize(tc.msg)
		if isClose != tc.want || size != MessageSize(tc.msg) {
			t.Fatalf("call %d: size %d, isClose %v; want %d, %v", i, size, isClose, MessageSize(tc.msg), tc.want)
		}
	}
}
