package redislayer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// TestGroupSendRidesOutRestart: group sends made while Redis is down wait for it, and once
// it is back every message arrives, once and in the sender's order. The server keeps its
// data across the restart (as one with persistence would), so the group survives it.
func TestGroupSendRidesOutRestart(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sender := newLayer(t, []*redistest.Server{srv}, func(o *Options) { o.SendTimeout = time.Minute })
	recv := newLayer(t, []*redistest.Server{srv}, nil)
	got := make(chan channels.Message, 100)
	ch, stop, err := recv.Listen(ctx, "specific", func(m channels.Message) bool { got <- m; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := recv.GroupAdd(ctx, "room", ch); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Save(ctx).Err(); err != nil { // the restarted server loads it
		t.Fatal(err)
	}
	srv.Kill()

	const n = 20
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := sender.GroupSend(ctx, "room", channels.Message{"type": "m", "i": i}); err != nil {
				done <- fmt.Errorf("group send %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	waitUntil(t, "a group send to retry", func() bool { return sender.Stats().SendRetries > 0 })
	srv.Restart()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for want := range n {
		select {
		case m := <-got:
			if i, _ := m.Int("i"); i != want {
				t.Fatalf("message %d arrived as number %d", i, want)
			}
		case <-ctx.Done():
			t.Fatalf("message %d never arrived", want)
		}
	}
	select {
	case m := <-got:
		t.Fatalf("message arrived twice: %v", m)
	default:
	}
}

// TestSendUnavailablePastBound: past SendTimeout, calls that cannot reach Redis return an
// error wrapping layers.ErrUnavailable; a full channel still returns ErrChannelFull at once.
func TestSendUnavailablePastBound(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) {
		o.SendTimeout = 200 * time.Millisecond
		o.Capacity = 1
	})
	if err := l.Send(ctx, "full", channels.Message{"type": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, "full", channels.Message{"type": "a"}); !errors.Is(err, layers.ErrChannelFull) || errors.Is(err, layers.ErrUnavailable) {
		t.Fatalf("send to a full channel: %v, want ErrChannelFull", err)
	}
	srv.Kill()
	calls := map[string]func() error{
		"GroupSend":    func() error { return l.GroupSend(ctx, "room", channels.Message{"type": "a"}) },
		"Send":         func() error { return l.Send(ctx, "other", channels.Message{"type": "a"}) },
		"GroupAdd":     func() error { return l.GroupAdd(ctx, "room", "other") },
		"GroupDiscard": func() error { return l.GroupDiscard(ctx, "room", "other") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, layers.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want an error wrapping layers.ErrUnavailable", name, err)
		}
	}
	// The caller's context bounds the wait too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.GroupSend(cctx, "room", channels.Message{"type": "a"}); err == nil {
		t.Error("GroupSend with a cancelled context succeeded")
	}
	srv.Restart()
	waitUntil(t, "sends to work again", func() bool {
		return l.GroupSend(ctx, "room", channels.Message{"type": "a"}) == nil
	})
}

// TestPubSubSendUnavailablePastBound: the pub/sub layer's sends also end with
// layers.ErrUnavailable past the bound, and the subscriber's errors wrap it too.
func TestPubSubSendUnavailablePastBound(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l, err := NewPubSub(PubSubOptions{Hosts: []string{srv.URL()}, Prefix: srv.Prefix(), SendTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.GroupSend(ctx, "room", channels.Message{"type": "a"}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := l.GroupSend(ctx, "room", channels.Message{"type": "a"}); !errors.Is(err, layers.ErrUnavailable) {
		t.Errorf("GroupSend with Redis down: %v, want layers.ErrUnavailable", err)
	}
	if !errors.Is(ErrNotConnected, layers.ErrUnavailable) {
		t.Error("ErrNotConnected does not wrap layers.ErrUnavailable")
	}
	srv.Restart()
	waitUntil(t, "publishing to work again", func() bool {
		return l.GroupSend(ctx, "room", channels.Message{"type": "a"}) == nil
	})
}

// TestPubSubSendRidesOutRestart: a publish made while Redis is down waits for it.
func TestPubSubSendRidesOutRestart(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l, err := NewPubSub(PubSubOptions{Hosts: []string{srv.URL()}, Prefix: srv.Prefix(), SendTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Send(ctx, "c", channels.Message{"type": "a"}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	done := make(chan error, 1)
	go func() { done <- l.Send(ctx, "c", channels.Message{"type": "a"}) }()
	waitUntil(t, "a publish to retry", func() bool { return l.Stats().SendRetries > 0 })
	srv.Restart()
	if err := <-done; err != nil {
		t.Fatalf("publish during the restart: %v", err)
	}
}
