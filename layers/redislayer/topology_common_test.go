package redislayer

import (
	"context"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// openURL opens a layer through layers.Open, as a program would, closed when t ends.
func openURL(t *testing.T, ctx context.Context, url string) layers.Layer {
	t.Helper()
	l, err := layers.Open(ctx, url)
	if err != nil {
		t.Fatalf("layers.Open(%s): %v", layers.Redact(url), err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// inbox is a Listen channel whose messages are collected in a Go channel.
type inbox struct {
	name string
	msgs chan channels.Message
}

func listen(t *testing.T, ctx context.Context, l layers.Layer) *inbox {
	t.Helper()
	in := &inbox{msgs: make(chan channels.Message, 64)}
	name, stop, err := layers.Listen(ctx, l, "specific", func(m channels.Message) bool {
		select {
		case in.msgs <- m:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(stop)
	in.name = name
	return in
}

// next waits (bounded by ctx) for the inbox's next message and checks its type and "n".
func (in *inbox) next(t *testing.T, ctx context.Context, typ string, n int) {
	t.Helper()
	select {
	case m := <-in.msgs:
		if m.Type() != typ {
			t.Fatalf("%s: got type %q, want %q (%v)", in.name, m.Type(), typ, m)
		}
		if got, _ := m.Int("n"); got != n {
			t.Fatalf("%s: got n=%d, want %d", in.name, got, n)
		}
	case <-ctx.Done():
		t.Fatalf("%s: no %q message %d: %v", in.name, typ, n, ctx.Err())
	}
}

func mustReceive(t *testing.T, ctx context.Context, l layers.Layer, channel, typ string, n int) {
	t.Helper()
	m, err := l.Receive(ctx, channel)
	if err != nil {
		t.Fatalf("Receive(%s): %v", channel, err)
	}
	if m.Type() != typ {
		t.Fatalf("Receive(%s): type %q, want %q", channel, m.Type(), typ)
	}
	if got, _ := m.Int("n"); got != n {
		t.Fatalf("Receive(%s): n=%d, want %d", channel, got, n)
	}
}

// exerciseLayers runs the layer contract across several layers (processes) sharing one
// deployment: normal and process-specific Send/Receive, Listen, a group whose members live
// in every layer plus a normal channel, GroupDiscard, and Flush. It returns the Listen inboxes
// that were group members, for checks that depend on the topology.
func exerciseLayers(t *testing.T, ctx context.Context, ls []layers.Layer) []*inbox {
	t.Helper()
	a, b := ls[0], ls[len(ls)-1]

	// A normal channel: sent by one process, received by another, in order.
	for i := 0; i < 3; i++ {
		if err := a.Send(ctx, "topo-tasks", channels.Message{"type": "task.run", "n": i}); err != nil {
			t.Fatalf("Send normal %d: %v", i, err)
		}
	}
	for i := 0; i < 3; i++ {
		mustReceive(t, ctx, b, "topo-tasks", "task.run", i)
	}

	// A process-specific channel read with Receive.
	spec, err := b.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatalf("NewChannel: %v", err)
	}
	if err := a.Send(ctx, spec, channels.Message{"type": "direct.hello", "n": 7}); err != nil {
		t.Fatalf("Send specific: %v", err)
	}
	mustReceive(t, ctx, b, spec, "direct.hello", 7)

	// A group with two Listen members per layer and one normal channel.
	var members []*inbox
	for _, l := range ls {
		for j := 0; j < 2; j++ {
			in := listen(t, ctx, l)
			if err := l.GroupAdd(ctx, "topo-room", in.name); err != nil {
				t.Fatalf("GroupAdd: %v", err)
			}
			members = append(members, in)
		}
	}
	if err := a.GroupAdd(ctx, "topo-room", "topo-worker"); err != nil {
		t.Fatalf("GroupAdd normal channel: %v", err)
	}
	for i := 0; i < 3; i++ {
		sender := ls[i%len(ls)]
		if err := sender.GroupSend(ctx, "topo-room", channels.Message{"type": "room.message", "n": i}); err != nil {
			t.Fatalf("GroupSend %d: %v", i, err)
		}
	}
	for i := 0; i < 3; i++ {
		for _, in := range members {
			in.next(t, ctx, "room.message", i)
		}
		mustReceive(t, ctx, b, "topo-worker", "room.message", i)
	}

	// Discard one member: the next group message reaches everyone but it; a direct message
	// sent after shows nothing else was queued for it.
	gone := members[0]
	if err := ls[0].GroupDiscard(ctx, "topo-room", gone.name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	if err := b.GroupSend(ctx, "topo-room", channels.Message{"type": "room.message", "n": 3}); err != nil {
		t.Fatalf("GroupSend after discard: %v", err)
	}
	if err := b.Send(ctx, gone.name, channels.Message{"type": "direct.after", "n": 4}); err != nil {
		t.Fatalf("Send after discard: %v", err)
	}
	for _, in := range members[1:] {
		in.next(t, ctx, "room.message", 3)
	}
	gone.next(t, ctx, "direct.after", 4)
	mustReceive(t, ctx, b, "topo-worker", "room.message", 3)

	// Flush removes the group: a group send after it reaches nobody.
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := a.GroupSend(ctx, "topo-room", channels.Message{"type": "room.message", "n": 5}); err != nil {
		t.Fatalf("GroupSend after Flush: %v", err)
	}
	for _, in := range members[1:] {
		if err := b.Send(ctx, in.name, channels.Message{"type": "direct.after", "n": 6}); err != nil {
			t.Fatalf("Send after Flush: %v", err)
		}
		in.next(t, ctx, "direct.after", 6)
	}
	return members
}

// topoCtx bounds a topology test (each is meant to take a few seconds).
func topoCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openN opens n layers on url.
func openN(t *testing.T, ctx context.Context, url string, n int) []layers.Layer {
	ls := make([]layers.Layer, n)
	for i := range ls {
		ls[i] = openURL(t, ctx, url)
	}
	return ls
}
