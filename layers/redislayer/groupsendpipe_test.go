package redislayer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

func pipelined(depth int, more func(*Options)) func(*Options) {
	return func(o *Options) {
		o.PipelineDepth = depth
		if more != nil {
			more(o)
		}
	}
}

// TestPipelinedGroupSendOrder: concurrent senders on a pipelined layer, each alternating
// group sends (to a snapshotted group of 40 members, and to a group with history) with
// direct Sends to one member: every message arrives once, each sender's in its order across
// both kinds, and the history group's offsets follow its messages.
func TestPipelinedGroupSendOrder(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	hist := []layers.HistoryRule{{Pattern: "hist*", Size: 1000}}
	sender := newLayer(t, []*redistest.Server{srv}, pipelined(8, func(o *Options) { o.History = hist }))
	sender.snapMin = 4
	recv := newLayer(t, []*redistest.Server{srv}, func(o *Options) { o.History = hist; o.LocalCapacity = 100_000 })

	type rec struct {
		sender, i int
		offset    uint64
	}
	var mu sync.Mutex
	got := map[string][]rec{} // by receiving channel
	var first string
	for k := range 40 {
		var ch string
		ch, stop, err := recv.Listen(ctx, "specific", func(m channels.Message) bool {
			s, _ := m.Int("s")
			i, _ := m.Int("i")
			r := rec{sender: int(s), i: int(i)}
			if _, p, ok := layers.PositionOf(m); ok {
				r.offset = p.Offset
			}
			mu.Lock()
			got[ch] = append(got[ch], r)
			mu.Unlock()
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if k == 0 {
			first = ch
			if err := recv.GroupAdd(ctx, "hist", ch); err != nil {
				t.Fatal(err)
			}
		}
		if err := recv.GroupAdd(ctx, "room", ch); err != nil {
			t.Fatal(err)
		}
	}

	const senders, per = 6, 150
	errs := make(chan error, senders)
	for s := range senders {
		go func() {
			for i := range per {
				msg := channels.Message{"type": "m", "s": s, "i": i}
				var err error
				switch i % 5 {
				case 3:
					err = sender.Send(ctx, first, msg)
				case 4:
					err = sender.GroupSend(ctx, "hist", msg)
				default:
					err = sender.GroupSend(ctx, "room", msg)
				}
				if err != nil {
					errs <- fmt.Errorf("sender %d, message %d: %w", s, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.WaitGroupSends(ctx); err != nil {
		t.Fatal(err)
	}
	perRoom := senders * per * 3 / 5
	waitUntil(t, "every message to arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for ch, rs := range got {
			want := perRoom
			if ch == first {
				want = senders * per
			}
			if len(rs) < want {
				return false
			}
		}
		return len(got) == 40
	})
	mu.Lock()
	defer mu.Unlock()
	for ch, rs := range got {
		last := map[int]int{}
		lastOffset := uint64(0)
		for _, r := range rs {
			if prev, ok := last[r.sender]; ok && r.i <= prev {
				t.Fatalf("%s: sender %d's message %d arrived after its %d", ch, r.sender, r.i, prev)
			}
			last[r.sender] = r.i
			if r.offset != 0 {
				if r.offset <= lastOffset {
					t.Fatalf("%s: offset %d arrived after %d", ch, r.offset, lastOffset)
				}
				lastOffset = r.offset
			}
		}
		if ch == first && len(rs) != senders*per || ch != first && len(rs) != perRoom {
			t.Fatalf("%s: %d messages", ch, len(rs))
		}
	}
	st := sender.Stats()
	if st.PipelinedGroupSends != uint64(senders*per*4/5) || st.LostGroupSends != 0 || st.GroupSnapshotHits == 0 {
		t.Fatalf("stats %+v: want %d pipelined, none lost, snapshot hits", st, senders*per*4/5)
	}
}

// TestPipelinedGroupSendLoss: group sends accepted while Redis is down and lost past the send
// bound are counted, logged and reported once, as a LostGroupSendsError wrapping
// layers.ErrUnavailable: by the next GroupSend to their group (which sends nothing), or by
// WaitGroupSends. Every accepted send is either written or reported lost.
func TestPipelinedGroupSendLoss(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := newLayer(t, []*redistest.Server{srv}, pipelined(64, func(o *Options) { o.SendTimeout = 300 * time.Millisecond }))
	recv := newLayer(t, []*redistest.Server{srv}, nil)
	ch, stop, err := recv.Listen(ctx, "specific", func(channels.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := recv.GroupAdd(ctx, "room", ch); err != nil {
		t.Fatal(err)
	}

	// A stream of sends, with the server killed in the middle of it.
	accepted, reported := 0, 0
	sendOne := func(i int) error {
		err := l.GroupSend(ctx, "room", channels.Message{"type": "m", "i": i})
		var lost *LostGroupSendsError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &lost):
			if lost.Group != "room" || !errors.Is(err, layers.ErrUnavailable) {
				t.Fatalf("group send %d: %v: want the room's lost sends, wrapping ErrUnavailable", i, err)
			}
			reported += lost.Lost
		case !errors.Is(err, layers.ErrUnavailable):
			t.Fatalf("group send %d: %v", i, err)
		}
		return err
	}
	for i := range 100 {
		if err := sendOne(i); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	var firstErr error
	for i := 100; firstErr == nil; i++ { // the first send after a loss reports it
		if i > 100+64+1000 {
			t.Fatal("no group send reported the loss")
		}
		firstErr = sendOne(i)
		if firstErr == nil && i >= 100+64 {
			// The pipeline is full until the bound passes: wait for it to drain.
			waitUntil(t, "the pipeline to give up", func() bool { return l.Stats().LostGroupSends > 0 })
		}
	}
	if reported == 0 {
		t.Fatalf("first error after the kill: %v; want a LostGroupSendsError", firstErr)
	}
	if err := l.WaitGroupSends(ctx); err != nil {
		var lost *LostGroupSendsError
		if !errors.As(err, &lost) {
			t.Fatalf("WaitGroupSends: %v", err)
		}
		reported += lost.Lost
	}
	st := l.Stats()
	if st.PipelinedGroupSends != uint64(accepted) || st.LostGroupSends != uint64(reported) || st.GroupWrites+st.LostGroupSends != st.PipelinedGroupSends {
		t.Fatalf("accepted %d, reported lost %d; stats %+v: every accepted send must be written or reported lost", accepted, reported, st)
	}
	// Once Redis is back, group sends work again.
	srv.Restart()
	waitUntil(t, "group sends to work again", func() bool {
		return l.GroupSend(ctx, "room", channels.Message{"type": "m"}) == nil && l.WaitGroupSends(ctx) == nil
	})
}

// TestPipelinedGroupSendGated: the pipeline's batches go through the rejoin gate: inside a
// window nothing is written, and the held sends go out, in order, once it closes; a window
// that outlasts the send bound makes them lost and reported with layers.ErrUnavailable.
func TestPipelinedGroupSendGated(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := newLayer(t, []*redistest.Server{srv}, pipelined(16, func(o *Options) { o.SendTimeout = time.Minute }))
	got := make(chan int, 100)
	ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool { i, _ := m.Int("i"); got <- int(i); return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.GroupAdd(ctx, "room", ch); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	if err := c.ZAdd(ctx, l.rejoinKey(), redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "rejoin:other"}).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := l.GroupSend(ctx, "room", channels.Message{"type": "m", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the held batch to be retried", func() bool { return l.Stats().SendRetries > 2 })
	if n, err := c.ZCard(ctx, l.groupKey("room")).Result(); err != nil || n != 1 {
		t.Fatalf("group: %d members, %v", n, err)
	}
	select {
	case i := <-got:
		t.Fatalf("message %d delivered inside the rejoin window", i)
	default:
	}
	if st := l.Stats(); st.GroupWrites != 0 {
		t.Fatalf("%d writes inside the rejoin window", st.GroupWrites)
	}
	if err := c.ZRem(ctx, l.rejoinKey(), "rejoin:other").Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitGroupSends(ctx); err != nil {
		t.Fatal(err)
	}
	for want := range 10 {
		select {
		case i := <-got:
			if i != want {
				t.Fatalf("message %d arrived as number %d", i, want)
			}
		case <-ctx.Done():
			t.Fatalf("message %d never arrived", want)
		}
	}

	// A window that outlasts the bound.
	short := newLayer(t, []*redistest.Server{srv}, pipelined(16, func(o *Options) { o.SendTimeout = 200 * time.Millisecond }))
	if err := c.ZAdd(ctx, short.rejoinKey(), redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "rejoin:gone"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := short.GroupSend(ctx, "room", channels.Message{"type": "m", "i": 99}); err != nil {
		t.Fatal(err)
	}
	err = short.WaitGroupSends(ctx)
	var lost *LostGroupSendsError
	if !errors.As(err, &lost) || lost.Lost != 1 || !errors.Is(err, layers.ErrUnavailable) {
		t.Fatalf("WaitGroupSends after an endless window: %v; want one lost send wrapping ErrUnavailable", err)
	}
}

// TestPipelineBackPressure: with PipelineDepth sends unwritten, GroupSend waits for room
// within its context instead of queueing more, and so do the calls ordered after them.
func TestPipelineBackPressure(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	const depth = 4
	l := newLayer(t, []*redistest.Server{srv}, pipelined(depth, func(o *Options) { o.SendTimeout = time.Minute }))
	c := srv.Client()
	// A rejoin window holds the pipeline's first batch.
	if err := c.ZAdd(ctx, l.rejoinKey(), redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "rejoin:other"}).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range depth {
		if err := l.GroupSend(ctx, "room", channels.Message{"type": "m", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := l.GroupSend(short, "room", channels.Message{"type": "m"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("group send beyond the depth: %v; want it to wait until its context ended", err)
	}
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	err = l.GroupAdd(short, "room", "x")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("group add behind held group sends: %v; want it to wait", err)
	}
	if st := l.Stats(); st.PipelinedGroupSends != depth {
		t.Fatalf("%d sends accepted, want %d", st.PipelinedGroupSends, depth)
	}
	done := make(chan error, 1)
	go func() { done <- l.GroupSend(ctx, "room", channels.Message{"type": "m", "i": depth}) }()
	if err := c.Del(ctx, l.rejoinKey()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.WaitGroupSends(ctx); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.PipelinedGroupSends != depth+1 || st.LostGroupSends != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPipelineClose: Close writes the accepted sends before it closes the clients.
func TestPipelineClose(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	recv := newLayer(t, []*redistest.Server{srv}, nil)
	got := make(chan struct{}, 100)
	ch, stop, err := recv.Listen(ctx, "specific", func(channels.Message) bool { got <- struct{}{}; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := recv.GroupAdd(ctx, "room", ch); err != nil {
		t.Fatal(err)
	}
	l := newLayer(t, []*redistest.Server{srv}, pipelined(32, nil))
	for i := range 20 {
		if err := l.GroupSend(ctx, "room", channels.Message{"type": "m", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("a send accepted before Close never arrived")
		}
	}
	if err := l.GroupSend(ctx, "room", channels.Message{"type": "m"}); !errors.Is(err, layers.ErrLayerClosed) {
		t.Fatalf("group send after Close: %v", err)
	}
}

func TestParseURLPipelineDepth(t *testing.T) {
	o, err := ParseURL("redis://localhost:6379/0?pipeline_depth=128")
	if err != nil || o.PipelineDepth != 128 {
		t.Fatalf("%+v, %v", o.PipelineDepth, err)
	}
	if _, err := ParseURL("redis://localhost:6379/0?pipeline_depth=-1"); err == nil {
		t.Fatal("negative pipeline_depth accepted")
	}
	if _, err := New(Options{PipelineDepth: -1}); err == nil {
		t.Fatal("negative PipelineDepth accepted")
	}
}

// TestPipelinedGroupSendScriptError: a send that Redis refuses (here a group key of the wrong
// type) is lost alone, reported with its group, and the sends around it in the same batches
// are written.
func TestPipelinedGroupSendScriptError(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := newLayer(t, []*redistest.Server{srv}, pipelined(64, nil))
	got := make(chan struct{}, 100)
	ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { got <- struct{}{}; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.GroupAdd(ctx, "room", ch); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Set(ctx, l.groupKey("bad"), "not a sorted set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		group := "room"
		if i%2 == 1 {
			group = "bad"
		}
		if err := l.GroupSend(ctx, group, channels.Message{"type": "m"}); err != nil {
			var lost *LostGroupSendsError
			if group == "bad" && errors.As(err, &lost) {
				continue // an earlier send to "bad" reported
			}
			t.Fatal(err)
		}
	}
	err = l.WaitGroupSends(ctx)
	var lost *LostGroupSendsError
	if !errors.As(err, &lost) || lost.Group != "bad" || errors.Is(err, layers.ErrUnavailable) {
		t.Fatalf("WaitGroupSends: %v; want the lost sends to \"bad\" (a script error, not an outage)", err)
	}
	for range 10 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("a send to the room, batched with failing ones, never arrived")
		}
	}
	if st := l.Stats(); st.LostGroupSends+st.GroupWrites != st.PipelinedGroupSends || st.GroupWrites != 10 {
		t.Fatalf("stats %+v", st)
	}
}
