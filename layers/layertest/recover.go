package layertest

import (
	"context"
	"errors"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Recover runs the contract of layers.Recover against the layers newLayer makes, with the
// rules of Rules: nothing missed, missed messages in order, a gap, an epoch change, the
// limit, and a member that rejoins and recovers while messages keep flowing (every message
// exactly once, in order).
func Recover(t *testing.T, newLayer Factory, opts ...Option) {
	c := buildConfig(opts)
	t.Run("UpToDate", func(t *testing.T) { recoverUpToDate(t, c, newLayer(t, Rules())) })
	t.Run("Missed", func(t *testing.T) { recoverMissed(t, c, newLayer(t, Rules())) })
	t.Run("Gap", func(t *testing.T) { recoverGap(t, c, newLayer(t, Rules())) })
	t.Run("Epoch", func(t *testing.T) { recoverEpoch(t, c, newLayer(t, Rules())) })
	t.Run("Limit", func(t *testing.T) { recoverLimit(t, c, newLayer(t, Rules())) })
	t.Run("WhileSending", func(t *testing.T) { recoverWhileSending(t, c, newLayer(t, Rules())) })
}

func recoverOK(t *testing.T, ctx context.Context, l layers.Layer, g string, since layers.Position, limit int) layers.HistoryPage {
	t.Helper()
	page, err := layers.Recover(ctx, l, g, since, limit)
	if err != nil {
		t.Fatalf("Recover(%s, %+v, %d): %v", g, since, limit, err)
	}
	return page
}

func unrecoverable(t *testing.T, err error, reason string) *layers.UnrecoverableError {
	t.Helper()
	var ue *layers.UnrecoverableError
	if !errors.Is(err, layers.ErrUnrecoverable) || !errors.As(err, &ue) {
		t.Fatalf("Recover: %v, want an *UnrecoverableError", err)
	}
	if ue.Reason != reason {
		t.Fatalf("Recover: reason %q (%v), want %q", ue.Reason, err, reason)
	}
	return ue
}

func topOf(t *testing.T, ctx context.Context, l layers.Layer, g string) layers.Position {
	t.Helper()
	page, err := layers.History(ctx, l, g, layers.Position{Offset: 1 << 62}, 1)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	return page.Top
}

func recoverUpToDate(t *testing.T, c *config, l layers.Layer) {
	ctx := testCtx(t, c)
	g := group(BigGroups)
	// Nothing sent yet, nothing known: nothing to recover.
	if page := recoverOK(t, ctx, l, g, layers.Position{}, 0); len(page.Messages) != 0 || page.Top.Offset != 0 {
		t.Fatalf("Recover of an empty group: %+v", page)
	}
	send(t, ctx, l, g, 1, 3)
	top := topOf(t, ctx, l, g)
	page := recoverOK(t, ctx, l, g, top, 0)
	if len(page.Messages) != 0 || page.Top != top {
		t.Fatalf("Recover from the top: %d messages, top %+v; want none and %+v", len(page.Messages), page.Top, top)
	}
}

func recoverMissed(t *testing.T, c *config, l layers.Layer) {
	ctx := testCtx(t, c)
	g := group(BigGroups)
	send(t, ctx, l, g, 1, 10)
	top := topOf(t, ctx, l, g)
	page := recoverOK(t, ctx, l, g, layers.Position{Offset: 4, Epoch: top.Epoch}, 0)
	if got := offsets(t, g, page); !equalOffsets(got, seq(5, 10)) {
		t.Fatalf("Recover since 4: %v, want 5..10", got)
	}
	if page.Top != top {
		t.Fatalf("Recover top %+v, want %+v", page.Top, top)
	}
	// An empty epoch matches any (a client that knows no epoch yet).
	page = recoverOK(t, ctx, l, g, layers.Position{}, 0)
	if got := offsets(t, g, page); !equalOffsets(got, seq(1, 10)) {
		t.Fatalf("Recover since 0: %v, want 1..10", got)
	}
	// More than one page of history: every message, in order.
	big := group(BigGroups)
	send(t, ctx, l, big, 1, BigLimit)
	page = recoverOK(t, ctx, l, big, layers.Position{}, BigLimit)
	if got := offsets(t, big, page); !equalOffsets(got, seq(1, BigLimit)) {
		t.Fatalf("Recover of %d messages: got %d", BigLimit, len(got))
	}
}

func recoverGap(t *testing.T, c *config, l layers.Layer) {
	ctx := testCtx(t, c)
	g := group(SizeGroups)
	send(t, ctx, l, g, 1, SizeLimit+3) // 4..8 kept
	top := topOf(t, ctx, l, g)
	_, err := layers.Recover(ctx, l, g, layers.Position{Offset: 2, Epoch: top.Epoch}, 0)
	if ue := unrecoverable(t, err, layers.ReasonGap); ue.Top != top || ue.Group != g {
		t.Fatalf("UnrecoverableError top %+v group %q, want %+v and %q", ue.Top, ue.Group, top, g)
	}
	page := recoverOK(t, ctx, l, g, layers.Position{Offset: 3, Epoch: top.Epoch}, 0)
	if got := offsets(t, g, page); !equalOffsets(got, seq(4, SizeLimit+3)) {
		t.Fatalf("Recover since 3: %v, want 4..%d", got, SizeLimit+3)
	}
}

func recoverEpoch(t *testing.T, c *config, l layers.Layer) {
	ctx := testCtx(t, c)
	g := group(BigGroups)
	send(t, ctx, l, g, 1, 3)
	old := topOf(t, ctx, l, g)
	_, err := layers.Recover(ctx, l, g, layers.Position{Offset: 2, Epoch: old.Epoch + "x"}, 0)
	unrecoverable(t, err, layers.ReasonEpoch)
	// A position beyond the top cannot be of this stream.
	_, err = layers.Recover(ctx, l, g, layers.Position{Offset: 9, Epoch: old.Epoch}, 0)
	unrecoverable(t, err, layers.ReasonEpoch)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	_, err = layers.Recover(ctx, l, g, old, 0)
	unrecoverable(t, err, layers.ReasonEpoch)
	send(t, ctx, l, g, 1, 5)
	_, err = layers.Recover(ctx, l, g, old, 0) // offset 3 exists again, in another epoch
	ue := unrecoverable(t, err, layers.ReasonEpoch)
	if ue.Top.Offset != 5 || ue.Top.Epoch == old.Epoch {
		t.Fatalf("UnrecoverableError top %+v, want offset 5 in a new epoch", ue.Top)
	}
}

func recoverLimit(t *testing.T, c *config, l layers.Layer) {
	ctx := testCtx(t, c)
	g := group(BigGroups)
	send(t, ctx, l, g, 1, 20)
	_, err := layers.Recover(ctx, l, g, layers.Position{}, 5)
	unrecoverable(t, err, layers.ReasonGap)
	page := recoverOK(t, ctx, l, g, layers.Position{Offset: 15}, 5)
	if got := offsets(t, g, page); !equalOffsets(got, seq(16, 20)) {
		t.Fatalf("Recover of 5 with limit 5: %v", got)
	}
}

// recoverWhileSending: a member reads a group's messages, loses its channel, joins again with
// a new one and recovers from the last position it saw while a sender keeps sending. The
// recovered messages followed by the live ones it has not recovered must be every message,
// once, in order. This is what the consumer package's GroupAddSince relies on.
func recoverWhileSending(t *testing.T, c *config, l layers.Layer) {
	ctx := testCtx(t, c)
	g := group(BigGroups)
	const total = 600
	first := listen(t, c, l)
	if err := l.GroupAdd(ctx, g, first.name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	sendErr := make(chan error, 1)
	sent := make(chan int, total) // how many were sent so far
	go func() {
		for i := 1; i <= total; i++ {
			if err := l.GroupSend(ctx, g, channels.Message{"type": "lt.msg", "n": i}); err != nil {
				sendErr <- err
				return
			}
			sent <- i
		}
		sendErr <- nil
	}()
	// The first connection sees some messages, then drops.
	var seen layers.Position
	for range 50 {
		seen = position(t, g, first.next(t))
	}
	first.stop()
	if err := l.GroupDiscard(ctx, g, first.name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	// Wait until more were sent meanwhile, so that some are missed.
	for n := range sent {
		if n >= 200 {
			break
		}
	}
	second := listen(t, c, l)
	if err := l.GroupAdd(ctx, g, second.name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	page := recoverOK(t, ctx, l, g, seen, 0)
	got := []uint64{}
	for _, m := range page.Messages {
		got = append(got, position(t, g, m).Offset)
	}
	last := page.Top.Offset
	if err := <-sendErr; err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	for last < total {
		pos := position(t, g, second.next(t))
		if pos.Offset <= page.Top.Offset {
			continue // recovered already
		}
		got = append(got, pos.Offset)
		last = pos.Offset
	}
	if want := seq(seen.Offset+1, total); !equalOffsets(got, want) {
		t.Fatalf("recovered %d then live messages: got %d messages %v..., want %d..%d in order, once each",
			len(page.Messages), len(got), got[:min(len(got), 20)], seen.Offset+1, total)
	}
}
