package redislayer

import (
	"errors"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// A process inbox has InboxCapacity (unless a rule matches); normal channels keep Capacity.
// Send and both group-send paths apply it.
func TestInboxCapacity(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) {
		o.Capacity, o.InboxCapacity = 2, 5
		o.ChannelCapacity = []layers.CapacityRule{{Pattern: "ruled.*", Capacity: 3}}
	})
	if opts, err := ParseURL("redis://localhost:6379/0?inbox_capacity=7"); err != nil || opts.InboxCapacity != 7 {
		t.Fatalf("ParseURL inbox_capacity: %+v %v", opts.InboxCapacity, err)
	}
	fill := func(channel string) int {
		t.Helper()
		for n := 0; n < 10; n++ {
			err := l.Send(ctx, channel, channels.Message{"type": "t"})
			if errors.Is(err, layers.ErrChannelFull) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		return 10
	}
	// Channels of another process (nobody reads them here).
	if n := fill("specific.aaaa!1"); n != 5 {
		t.Fatalf("process inbox took %d messages, want InboxCapacity 5", n)
	}
	if n := fill("specific.aaaa!2"); n != 0 { // the same inbox, now full
		t.Fatalf("full inbox took %d more messages", n)
	}
	if n := fill("ruled.bbbb!1"); n != 3 {
		t.Fatalf("inbox with a rule took %d messages, want 3", n)
	}
	if n := fill("normal"); n != 2 {
		t.Fatalf("normal channel took %d messages, want Capacity 2", n)
	}

	for _, split := range []bool{false, true} {
		l.hasRules = split // false: the fused script; true: the two-phase path
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"specific.cccc!1", "specific.cccc!2", "normal"} {
			if err := l.GroupAdd(ctx, "g", ch); err != nil {
				t.Fatal(err)
			}
		}
		before := l.Stats()
		for i := 0; i < 6; i++ {
			if err := l.GroupSend(ctx, "g", channels.Message{"type": "t"}); err != nil {
				t.Fatal(err)
			}
		}
		c := srv.Client()
		if n, _ := c.ZCard(ctx, srv.Prefix()+"specific.cccc!").Result(); n != 5 {
			t.Fatalf("split=%v: inbox holds %d group messages, want 5", split, n)
		}
		if n, _ := c.ZCard(ctx, srv.Prefix()+"normal").Result(); n != 2 {
			t.Fatalf("split=%v: normal channel holds %d group messages, want 2", split, n)
		}
		after := l.Stats()
		if over := after.GroupOverCapacity - before.GroupOverCapacity; over != 1+4 {
			t.Fatalf("split=%v: %d targets over capacity, want 5", split, over)
		}
	}
	l.hasRules = true
}
