package redislayer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// TestGroupSendAcrossEmptyRestart: two processes (two layers, each with its own clients) on
// one redis-server without persistence; one keeps sending to a group whose only member is on
// the other, while the server is killed and restarted empty. The member receives, in order,
// every message except those the old server had acknowledged and was still holding at the
// kill: nothing sent during the outage or after the restart lands on the emptied group
// before the member's process has joined it again.
//
// With the send pipeline (Options.PipelineDepth), a nil GroupSend means accepted: the
// pipeline's batches wait for the rejoin like a direct send, so the same holds.
func TestGroupSendAcrossEmptyRestart(t *testing.T) {
	for _, mode := range []string{"fused", "split", "pipelined"} {
		t.Run(mode, func(t *testing.T) {
			testGroupSendAcrossEmptyRestart(t, mode)
		})
	}
}

func testGroupSendAcrossEmptyRestart(t *testing.T, mode string) {
	srv := redistest.StartPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mod := func(o *Options) {
		o.SendTimeout = time.Minute
		if mode == "pipelined" {
			o.PipelineDepth = 16
		}
		if mode == "split" {
			// A per-channel capacity rule takes group sends through the two-call path (read the
			// members, then deliver), which the gate guards as well.
			o.ChannelCapacity = []layers.CapacityRule{{Pattern: "nomatch*", Capacity: 10}}
		}
	}
	sender := newLayer(t, []*redistest.Server{srv}, mod)
	recv := newLayer(t, []*redistest.Server{srv}, mod)
	got := make(chan int, 100_000)
	ch, stop, err := recv.Listen(ctx, "specific", func(m channels.Message) bool {
		i, _ := m.Int("i")
		got <- int(i)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := recv.GroupAdd(ctx, "room", ch); err != nil {
		t.Fatal(err)
	}

	var acked atomic.Int64 // messages whose GroupSend returned nil (all of them, in order)
	quit := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond) // pacing, not synchronisation
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				done <- nil
				return
			case <-tick.C:
			}
			if err := sender.GroupSend(ctx, "room", channels.Message{"type": "m", "i": i}); err != nil {
				done <- fmt.Errorf("group send %d: %w", i, err)
				return
			}
			acked.Add(1)
		}
	}()
	var seen []int
	take := func(what string, until func() bool) {
		t.Helper()
		for !until() {
			select {
			case i := <-got:
				seen = append(seen, i)
			case err := <-done:
				t.Fatalf("sender stopped early: %v", err)
			case <-ctx.Done():
				t.Fatalf("%s: timed out with %d received, %d acknowledged", what, len(seen), acked.Load())
			}
		}
	}
	take("traffic before the kill", func() bool { return len(seen) >= 50 })
	srv.Kill()
	// Messages acknowledged by now went to the old server (at most one more, in flight at
	// the kill, may have been stored there too): those are the only ones that may be lost.
	lossBound := acked.Load() + 1
	retries := sender.Stats().SendRetries
	waitUntil(t, "a group send to meet the outage", func() bool { return sender.Stats().SendRetries > retries })
	srv.Restart()
	after := lossBound + 300
	take("traffic after the restart", func() bool { return acked.Load() >= after })
	close(quit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	last := int(acked.Load()) - 1
	take("the last message", func() bool { return len(seen) > 0 && seen[len(seen)-1] >= last })

	var lost []int
	next := 0
	dups := 0
	// The pipeline writes a batch in one call: a kill that cuts its reply has the retry write
	// the whole batch again (its messages were all accepted before the kill).
	maxDups := 1
	if mode == "pipelined" {
		maxDups = maxBatch
	}
	for _, i := range seen {
		if i < next {
			// The kill may cut the reply to a write the old server had made (and its reader
			// had taken): the retry writes it again. Only such a message may come twice.
			if int64(i) < lossBound && (i == next-1 || mode == "pipelined") {
				dups++
				continue
			}
			t.Fatalf("message %d arrived after %d (out of order or twice)", i, next-1)
		}
		for ; next < i; next++ {
			lost = append(lost, next)
		}
		next = i + 1
	}
	var late []int
	for _, i := range lost {
		if int64(i) >= lossBound {
			late = append(late, i)
		}
	}
	t.Logf("%d sent, %d received (%d twice), %d lost (of the first %d, which the old server may have held at the kill)", last+1, len(seen), dups, len(lost), lossBound)
	if dups > maxDups {
		t.Fatalf("%d messages arrived twice; at most those in flight at the kill (%d) may", dups, maxDups)
	}
	if len(late) > 0 {
		t.Fatalf("%d messages sent after the kill were lost silently (first %d, last %d)", len(late), late[0], late[len(late)-1])
	}
	if st := sender.Stats(); mode == "pipelined" && (st.PipelinedGroupSends != uint64(last+1) || st.LostGroupSends != 0) {
		t.Fatalf("pipelined %d, lost %d; want %d and 0", st.PipelinedGroupSends, st.LostGroupSends, last+1)
	}
}

// TestGroupSendRejoinWindowBounded: a rejoin window that does not close (a process that
// noticed the restart and died before rejoining) holds group sends only within the send bound
// and the caller's context: they then fail with layers.ErrUnavailable, never hang.
func TestGroupSendRejoinWindowBounded(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) { o.SendTimeout = 300 * time.Millisecond })
	if err := l.GroupSend(ctx, "room", channels.Message{"type": "a"}); err != nil {
		t.Fatal(err)
	}
	// A window entry as a process that is still rejoining leaves it.
	if err := srv.Client().ZAdd(ctx, l.rejoinKey(), redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "rejoin:gone"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "room", channels.Message{"type": "a"}); !errors.Is(err, layers.ErrUnavailable) {
		t.Fatalf("group send during an endless rejoin window: %v, want layers.ErrUnavailable", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.GroupSend(cctx, "room", channels.Message{"type": "a"}); err == nil {
		t.Fatal("group send with a cancelled context succeeded")
	}
	// Plain sends are not held.
	if err := l.Send(ctx, "plain", channels.Message{"type": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Del(ctx, l.rejoinKey()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "room", channels.Message{"type": "a"}); err != nil {
		t.Fatalf("group send once the window closed: %v", err)
	}
}

// TestRejoinWindowClosedByRejoin: a process with group members that finds its server
// replaced holds group sends there until it has rejoined, and then removes its own entry
// (the floor entry of the grace stays until it lapses).
func TestRejoinWindowClosedByRejoin(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", n), func(t *testing.T) { testRejoinWindowClosedByRejoin(t, n) })
	}
}

// testRejoinWindowClosedByRejoin restarts the server of the group's shard, one of n.
func testRejoinWindowClosedByRejoin(t *testing.T, n int) {
	servers := redistest.StartPrivateN(t, n)
	room := "room"
	for i := 0; i < 1000 && shardIndex(room, n) != n-1; i++ { // the last shard: its watch is not the first
		room = fmt.Sprintf("room%d", i)
	}
	srv := servers[n-1]
	ctx := testCtx(t)
	// A grace far longer than the test: the "rejoin:" entry can only go by being removed.
	l := newLayer(t, servers, func(o *Options) { o.RejoinGrace = time.Hour })
	ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.GroupAdd(ctx, room, ch); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart()
	rc := srv.Client()
	waitUntil(t, "the process to rejoin its group", func() bool {
		n, err := rc.ZScore(ctx, l.groupKey(room), ch).Result()
		return err == nil && n > 0
	})
	waitUntil(t, "the process to remove its rejoin entry", func() bool {
		return errors.Is(rc.ZScore(ctx, l.rejoinKey(), "rejoin:"+l.clientID).Err(), redis.Nil)
	})
	if err := rc.ZScore(ctx, l.rejoinKey(), "floor:"+l.clientID).Err(); err != nil {
		t.Fatalf("the grace entry: %v, want it kept", err)
	}
	// Group sends wait for the grace: bounded by the caller's context here.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := l.GroupSend(cctx, room, channels.Message{"type": "a"}); !errors.Is(err, layers.ErrUnavailable) {
		t.Fatalf("group send inside the grace: %v, want layers.ErrUnavailable", err)
	}
}

// TestParseURLRejoinGrace: rejoin_grace takes seconds, a duration or "off".
func TestParseURLRejoinGrace(t *testing.T) {
	for raw, want := range map[string]time.Duration{
		"redis://h/0":                     0,
		"redis://h/0?rejoin_grace=2":      2 * time.Second,
		"redis://h/0?rejoin_grace=1500ms": 1500 * time.Millisecond,
		"redis://h/0?rejoin_grace=off":    -1,
	} {
		o, err := ParseURL(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if o.RejoinGrace != want {
			t.Errorf("%s: RejoinGrace %v, want %v", raw, o.RejoinGrace, want)
		}
	}
	if _, err := ParseURL("redis://h/0?rejoin_grace=soon"); err == nil {
		t.Error("rejoin_grace=soon accepted")
	}
}
