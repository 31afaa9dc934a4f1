package consumer

import (
	"context"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// BenchmarkOrderedConsecutive is the cost ordered delivery adds to a message of a tracked
// group whose offset follows the last one (no layer call).
func BenchmarkOrderedConsecutive(b *testing.B) {
	c := &Consumer{}
	c.track("g", layers.Position{Offset: 0, Epoch: "e"})
	msg := channels.Message{"type": "x", layers.GroupKey: "g", layers.EpochKey: "e", layers.OffsetKey: int64(0)}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		msg[layers.OffsetKey] = int64(i + 1)
		if c.replayed(ctx, msg) {
			b.Fatal("skipped")
		}
	}
}

// BenchmarkOrderedUntracked is the cost for a message without a position while some group
// is tracked.
func BenchmarkOrderedUntracked(b *testing.B) {
	c := &Consumer{}
	c.track("g", layers.Position{Offset: 0, Epoch: "e"})
	msg := channels.Message{"type": "x"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if c.replayed(ctx, msg) {
			b.Fatal("skipped")
		}
	}
}

// TestOrderedDuplicatesAndConsecutive: without a gap no layer is needed (the consumer has
// none here): consecutive offsets pass, lower ones are skipped.
func TestOrderedDuplicatesAndConsecutive(t *testing.T) {
	c := &Consumer{}
	c.track("g", layers.Position{Offset: 3, Epoch: "e"})
	ctx := context.Background()
	at := func(off int) channels.Message {
		return channels.Message{"type": "x", layers.GroupKey: "g", layers.EpochKey: "e", layers.OffsetKey: off}
	}
	for _, tc := range []struct {
		off  int
		skip bool
	}{{2, true}, {3, true}, {4, false}, {4, true}, {5, false}, {1, true}} {
		if got := c.replayed(ctx, at(tc.off)); got != tc.skip {
			t.Fatalf("offset %d: skipped %v, want %v", tc.off, got, tc.skip)
		}
	}
	if c.replayed(ctx, channels.Message{"type": "x", layers.GroupKey: "other", layers.EpochKey: "e", layers.OffsetKey: 1}) {
		t.Fatal("a message of an untracked group was skipped")
	}
}
