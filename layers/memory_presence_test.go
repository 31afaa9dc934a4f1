package layers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gochannels/gochannels/layers"
)

// benchPresenceGroup fills a group of n members, each with a small info.
func benchPresenceGroup(b *testing.B, n int) (*layers.Memory, string) {
	b.Helper()
	ctx := context.Background()
	l := layers.NewMemory(layers.MemoryOptions{})
	b.Cleanup(func() { l.Close() })
	for i := range n {
		ch := fmt.Sprintf("specific.bench!%d", i)
		if err := l.PresenceAdd(ctx, "room", ch, map[string]any{"user": i, "name": fmt.Sprintf("user %d", i)}, layers.PresenceOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return l, "room"
}

// BenchmarkMemoryPresence: listing a group of 100 and of 10,000 members (the cost the doc
// comment of Memory.Presence gives).
func BenchmarkMemoryPresence(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			l, g := benchPresenceGroup(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ms, err := l.Presence(ctx, g)
				if err != nil || len(ms) != n {
					b.Fatalf("Presence: %d members, %v", len(ms), err)
				}
			}
		})
	}
}

// BenchmarkMemoryPresenceCount: counting a group of 100 and of 10,000 members.
func BenchmarkMemoryPresenceCount(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			l, g := benchPresenceGroup(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if c, err := l.PresenceCount(ctx, g); err != nil || c != n {
					b.Fatalf("PresenceCount: %d, %v", c, err)
				}
			}
		})
	}
}

// BenchmarkMemoryPresenceAdd: refreshing one member's presence in a group of 10,000.
func BenchmarkMemoryPresenceAdd(b *testing.B) {
	l, g := benchPresenceGroup(b, 10_000)
	ctx := context.Background()
	info := map[string]any{"user": 1, "name": "user 1"}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.PresenceAdd(ctx, g, "specific.bench!1", info, layers.PresenceOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// Members past GroupExpiry disappear from Presence and PresenceCount, with their info.
func TestMemoryPresenceExpiry(t *testing.T) {
	ctx := context.Background()
	l := layers.NewMemory(layers.MemoryOptions{GroupExpiry: 20 * time.Millisecond})
	defer l.Close()
	if err := l.PresenceAdd(ctx, "room", "specific.x!1", map[string]any{"user": "a"}, layers.PresenceOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := l.PresenceCount(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired member is still counted")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
	if ms, err := l.Presence(ctx, "room"); err != nil || len(ms) != 0 {
		t.Fatalf("Presence after expiry = %v, %v", ms, err)
	}
	// Joining again with GroupAdd brings no stale info back.
	if err := l.GroupAdd(ctx, "room", "specific.x!1"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := l.Presence(ctx, "room"); len(ms) != 1 || ms[0].Info != nil {
		t.Fatalf("Presence = %+v, want one member without info", ms)
	}
	if st := l.Stats(); st.GroupExpired != 1 {
		t.Fatalf("GroupExpired = %d, want 1", st.GroupExpired)
	}
}
