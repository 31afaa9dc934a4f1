package redislayer

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
)

// The group-send snapshot (groupSendScript) must follow every change of the group, whoever
// makes it, and must not outlive a stopped process's members.
func TestGroupSendSnapshot(t *testing.T) {
	srv := redistest.Start(t)
	mod := func(o *Options) { o.HeartbeatTimeout = 600 * time.Millisecond }
	a := newLayer(t, []*redistest.Server{srv}, mod)
	b := newLayer(t, []*redistest.Server{srv}, mod)
	sender := newLayer(t, []*redistest.Server{srv}, mod)
	ctx := testCtx(t)
	c := srv.Client()
	gkey := srv.Prefix() + ":group:snap"

	var mu sync.Mutex
	counts := map[string]int{}
	var names []string
	for i := 0; i < 2*snapshotMin; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		var ch string
		ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool {
			if m.Type() != "snap.msg" || m["n"] != int64(7) {
				t.Errorf("member got %v", m)
			}
			mu.Lock()
			counts[ch]++
			mu.Unlock()
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if err := sender.GroupAdd(ctx, "snap", ch); err != nil {
			t.Fatal(err)
		}
		names = append(names, ch)
	}
	send := func() {
		t.Helper()
		if err := sender.GroupSend(ctx, "snap", channels.Message{"type": "snap.msg", "n": 7}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want map[string]int) {
		t.Helper()
		waitFor(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range names {
				if counts[n] != want[n] {
					return false
				}
			}
			return true
		})
	}
	want := map[string]int{}
	for _, n := range names {
		want[n] = 2
	}
	send()
	send()
	expect(want)
	if h := sender.Stats().GroupSnapshotHits; h != 1 {
		t.Fatalf("snapshot hits after two sends = %d, want 1", h)
	}

	// As Python would: one member leaves and a channel joins with an old score (a skewed
	// clock), leaving the count, the highest and the lowest score as they were.
	gone := names[0]
	if err := c.ZRem(ctx, gkey, gone).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, gkey, redis.Z{Score: float64(time.Now().Unix() - 100), Member: "worker-chan"}).Err(); err != nil {
		t.Fatal(err)
	}
	send()
	for _, n := range names[1:] {
		want[n]++
	}
	expect(want)
	if n, _ := c.ZCard(ctx, srv.Prefix()+"worker-chan").Result(); n != 1 {
		t.Fatalf("the new normal-channel member has %d messages, want 1", n)
	}
	hits := sender.Stats().GroupSnapshotHits
	send()
	for _, n := range names[1:] {
		want[n]++
	}
	expect(want)
	if h := sender.Stats().GroupSnapshotHits; h != hits+1 {
		t.Fatalf("snapshot not reused after the rebuild (hits %d → %d)", hits, h)
	}

	// b stops without its goodbye: its members are pruned although the snapshot matches.
	b.crash()
	before := sender.Stats().Pruned
	waitFor(t, func() bool {
		send()
		return sender.Stats().Pruned > before
	})
	if p := sender.Stats().Pruned - before; p != snapshotMin {
		t.Fatalf("pruned %d members of the stopped process, want %d", p, snapshotMin)
	}
	if n, _ := c.ZCard(ctx, gkey).Result(); n != snapshotMin { // a's 31 + worker-chan
		t.Fatalf("group has %d members after the prune, want %d", n, snapshotMin)
	}

	// An emptied group drops its snapshot; Flush removes everything.
	_ = c.Del(ctx, gkey)
	send()
	for _, kind := range []string{"members", "targets"} {
		if n, _ := c.Exists(ctx, sender.snapshotKey(kind, "snap")).Result(); n != 0 {
			t.Fatalf("snapshot %s kept after the group emptied", kind)
		}
	}
}

// The three ways of building a group message (from scratch in Lua, from the stored snapshot
// in Lua, whole in Go from this process's copy) store the same bytes after the random prefix.
func TestGroupSendSnapshotSameBytes(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	for i := 0; i < snapshotMin+3; i++ {
		if err := l.GroupAdd(ctx, "same", fmt.Sprintf("specific.nobody!%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	msg := channels.Message{"type": "same.msg"} // one entry: the same bytes every time
	send := func() {
		t.Helper()
		if err := l.GroupSend(ctx, "same", msg); err != nil {
			t.Fatal(err)
		}
	}
	send() // from scratch; stores the snapshot and this process's copy
	send() // whole members from Go
	if l.snaps.get("same") == nil {
		// The reply to a send that used the copy must name the snapshot, or the next send
		// goes without it and gets the member lists back.
		t.Fatal("the sender dropped its copy of the snapshot after a send that used it")
	}
	l.snaps.drop("same")
	send() // from the stored snapshot in Lua
	if h := l.Stats().GroupSnapshotHits; h != 2 {
		t.Fatalf("snapshot hits = %d, want 2", h)
	}
	stored, err := srv.Client().ZRange(ctx, srv.Prefix()+"specific.nobody!", 0, -1).Result()
	if err != nil || len(stored) != 3 {
		t.Fatalf("inbox holds %d messages (%v), want 3", len(stored), err)
	}
	for i := 1; i < 3; i++ {
		if stored[i][randomPrefixLen:] != stored[0][randomPrefixLen:] {
			t.Fatalf("message %d differs from the one built from scratch:\n%q\n%q", i, stored[i][randomPrefixLen:], stored[0][randomPrefixLen:])
		}
	}
	got, err := l.decodeMember(stored[0])
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := got[channelKey].([]any); len(names) != snapshotMin+3 {
		t.Fatalf("%s lists %d channels, want %d", channelKey, len(names), snapshotMin+3)
	}
}
