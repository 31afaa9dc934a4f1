package layertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// History runs the history contract (layers.Historian) against the layers newLayer makes,
// with the rules of Rules: positions on every delivered message, monotonic even with
// concurrent senders; none on groups without history; the ring bounded by size and by TTL;
// History since a position, with a limit, Top and Oldest; a new epoch after Flush.
func History(t *testing.T, newLayer Factory, opts ...Option) {
	c := buildConfig(opts)
	historian := capability(newLayer, Rules(), layers.AsHistorian, "Historian")
	t.Run("Positions", func(t *testing.T) { historyPositions(t, c, historian) })
	t.Run("ConcurrentSenders", func(t *testing.T) { historyConcurrent(t, c, historian) })
	t.Run("NoHistory", func(t *testing.T) { historyNone(t, c, historian) })
	t.Run("Size", func(t *testing.T) { historySize(t, c, historian) })
	t.Run("SinceLimit", func(t *testing.T) { historySinceLimit(t, c, historian) })
	t.Run("TTL", func(t *testing.T) { historyTTL(t, c, historian) })
	t.Run("EpochAfterFlush", func(t *testing.T) { historyEpoch(t, c, historian) })
	t.Run("ClosedLayer", func(t *testing.T) { historyClosed(t, c, historian) })
}

type historianFunc = capableFunc[layers.Historian]

// send sends n messages {"type": "lt.msg", "n": from..from+n-1} to g.
func send(t *testing.T, ctx context.Context, l layers.Layer, g string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.GroupSend(ctx, g, channels.Message{"type": "lt.msg", "n": i}); err != nil {
			t.Fatalf("GroupSend %d: %v", i, err)
		}
	}
}

// position returns msg's position, failing the test when it has none or names another group.
func position(t *testing.T, g string, msg channels.Message) layers.Position {
	t.Helper()
	mg, pos, ok := layers.PositionOf(msg)
	if !ok {
		t.Fatalf("message %v has no position", msg)
	}
	if mg != g {
		t.Fatalf("message %v names group %q, want %q", msg, mg, g)
	}
	return pos
}

func history(t *testing.T, ctx context.Context, h layers.Historian, g string, since layers.Position, limit int) layers.HistoryPage {
	t.Helper()
	page, err := h.History(ctx, g, since, limit)
	if err != nil {
		t.Fatalf("History(%s, %d, %d): %v", g, since.Offset, limit, err)
	}
	return page
}

// offsets returns the offsets of page's messages, checking each one's group, epoch and "n"
// (which the suites set to the offset).
func offsets(t *testing.T, g string, page layers.HistoryPage) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range page.Messages {
		pos := position(t, g, m)
		if pos.Epoch != page.Top.Epoch {
			t.Fatalf("history message %v has epoch %q, top %q", m, pos.Epoch, page.Top.Epoch)
		}
		if n, ok := m.Int("n"); !ok || uint64(n) != pos.Offset || m.Type() != "lt.msg" {
			t.Fatalf("history message %v: want type lt.msg and n = its offset", m)
		}
		out = append(out, pos.Offset)
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func equalOffsets(a, b []uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func historyPositions(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(BigGroups)
	in := listen(t, c, l)
	if err := l.GroupAdd(ctx, g, in.name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	page := history(t, ctx, h, g, layers.Position{}, 0)
	if page.Top.Offset != 0 || page.Oldest != 0 || len(page.Messages) != 0 {
		t.Fatalf("History of a group never sent to = %+v, want empty with top offset 0", page)
	}
	msg := channels.Message{"type": "lt.msg", "n": 1}
	if err := l.GroupSend(ctx, g, msg); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	for _, k := range []string{layers.GroupKey, layers.OffsetKey, layers.EpochKey} {
		if _, ok := msg[k]; ok {
			t.Fatalf("GroupSend changed the caller's message: it has %s", k)
		}
	}
	send(t, ctx, l, g, 2, 19)
	var epoch string
	for i := uint64(1); i <= 20; i++ {
		m := in.next(t)
		pos := position(t, g, m)
		if i == 1 {
			epoch = pos.Epoch
		}
		if pos.Offset != i || pos.Epoch != epoch {
			t.Fatalf("message %d delivered with position %+v, want offset %d epoch %q", i, pos, i, epoch)
		}
		if n, _ := m.Int("n"); uint64(n) != i || m.Type() != "lt.msg" {
			t.Fatalf("message %d delivered as %v", i, m)
		}
	}
	if epoch == "" {
		t.Fatal("empty epoch")
	}
	page = history(t, ctx, h, g, layers.Position{}, 0)
	if page.Top != (layers.Position{Offset: 20, Epoch: epoch}) || page.Oldest != 1 {
		t.Fatalf("History top %+v oldest %d, want {20 %s} and 1", page.Top, page.Oldest, epoch)
	}
	if got := offsets(t, g, page); !equalOffsets(got, seq(1, 20)) {
		t.Fatalf("History offsets %v, want 1..20", got)
	}
	// A message sent to a channel gets no position.
	if err := l.Send(ctx, in.name, channels.Message{"type": "lt.direct"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if m := in.next(t); m.Type() != "lt.direct" || m[layers.OffsetKey] != nil {
		t.Fatalf("a direct message arrived as %v", m)
	}
}

func historyConcurrent(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(BigGroups)
	in := listen(t, c, l)
	if err := l.GroupAdd(ctx, g, in.name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	const senders, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if err := l.GroupSend(ctx, g, channels.Message{"type": "lt.msg", "s": s, "i": i}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("GroupSend: %v", err)
	}
	// Members receive the messages in the order of their offsets: 1, 2, 3... with no gap.
	last := map[int]int{}
	for i := uint64(1); i <= senders*each; i++ {
		m := in.next(t)
		if pos := position(t, g, m); pos.Offset != i {
			t.Fatalf("delivery %d has offset %d: offsets must reach members in order", i, pos.Offset)
		}
		s, _ := m.Int("s")
		n, _ := m.Int("i")
		if prev, ok := last[s]; ok && n != prev+1 {
			t.Fatalf("sender %d: message %d delivered after %d", s, n, prev)
		}
		last[s] = n
	}
	page := history(t, ctx, h, g, layers.Position{Offset: senders*each - 10}, 0)
	if len(page.Messages) != 10 || page.Top.Offset != senders*each {
		t.Fatalf("History since %d: %d messages, top %d; want 10 and %d", senders*each-10, len(page.Messages), page.Top.Offset, senders*each)
	}
}

func historyNone(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(NoHistory)
	in := listen(t, c, l)
	if err := l.GroupAdd(ctx, g, in.name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	send(t, ctx, l, g, 1, 1)
	m := in.next(t)
	for _, k := range []string{layers.GroupKey, layers.OffsetKey, layers.EpochKey} {
		if _, ok := m[k]; ok {
			t.Fatalf("a message to a group without history has %s: %v", k, m)
		}
	}
	if _, err := h.History(ctx, g, layers.Position{}, 0); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("History of a group without history: %v, want ErrNotSupported", err)
	}
	if _, err := layers.Recover(ctx, l, g, layers.Position{}, 0); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("Recover of a group without history: %v, want ErrNotSupported", err)
	}
	if _, err := h.History(ctx, "bad group", layers.Position{}, 0); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("History of a bad group name: %v, want ErrInvalidName", err)
	}
}

func historySize(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(SizeGroups)
	send(t, ctx, l, g, 1, SizeLimit+3)
	page := history(t, ctx, h, g, layers.Position{}, 0)
	top := uint64(SizeLimit + 3)
	if got := offsets(t, g, page); !equalOffsets(got, seq(4, top)) {
		t.Fatalf("History of a ring of %d after %d messages: offsets %v, want 4..%d", SizeLimit, top, got, top)
	}
	if page.Top.Offset != top || page.Oldest != 4 {
		t.Fatalf("top %d oldest %d, want %d and 4", page.Top.Offset, page.Oldest, top)
	}
}

func historySinceLimit(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(BigGroups)
	send(t, ctx, l, g, 1, 10)
	for _, tc := range []struct {
		since uint64
		limit int
		want  []uint64
	}{
		{0, 0, seq(1, 10)},
		{0, -1, seq(1, 10)},
		{3, 4, seq(4, 7)},
		{3, 0, seq(4, 10)},
		{9, 5, seq(10, 10)},
		{10, 0, nil},
		{12, 0, nil},
		{0, 1, seq(1, 1)},
	} {
		page := history(t, ctx, h, g, layers.Position{Offset: tc.since}, tc.limit)
		if got := offsets(t, g, page); !equalOffsets(got, tc.want) {
			t.Errorf("History since %d limit %d: %v, want %v", tc.since, tc.limit, got, tc.want)
		}
		if page.Top.Offset != 10 || page.Oldest != 1 {
			t.Errorf("History since %d limit %d: top %d oldest %d, want 10 and 1", tc.since, tc.limit, page.Top.Offset, page.Oldest)
		}
	}
}

func historyTTL(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(TTLGroups)
	send(t, ctx, l, g, 1, 1)
	first := history(t, ctx, h, g, layers.Position{}, 0)
	if got := offsets(t, g, first); !equalOffsets(got, seq(1, 1)) {
		t.Fatalf("History right after a send: %v, want [1]", got)
	}
	eventually(t, TTL+c.wait, "a message older than the TTL leaves History", func() bool {
		return len(history(t, ctx, h, g, layers.Position{}, 0).Messages) == 0
	})
	page := history(t, ctx, h, g, layers.Position{}, 0)
	if page.Oldest != 0 {
		t.Fatalf("oldest %d with no message kept, want 0", page.Oldest)
	}
	// The stream either lives on (top 1, same epoch) or was dropped (a new epoch).
	if page.Top.Epoch == first.Top.Epoch && page.Top.Offset != 1 {
		t.Fatalf("top after expiry %+v, want offset 1 in epoch %q or another epoch", page.Top, first.Top.Epoch)
	}
	in := listen(t, c, l)
	if err := l.GroupAdd(ctx, g, in.name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	if err := l.GroupSend(ctx, g, channels.Message{"type": "lt.msg", "n": 2}); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	pos := position(t, g, in.next(t))
	switch {
	case pos.Epoch == first.Top.Epoch && pos.Offset == 2:
	case pos.Epoch != first.Top.Epoch && pos.Offset == 1:
	default:
		t.Fatalf("the message after an expiry has position %+v (the first had %+v): want the next offset in the same epoch, or 1 in a new one", pos, first.Top)
	}
}

func historyEpoch(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(BigGroups)
	send(t, ctx, l, g, 1, 3)
	before := history(t, ctx, h, g, layers.Position{}, 0).Top
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	page := history(t, ctx, h, g, layers.Position{}, 0)
	if len(page.Messages) != 0 || page.Top.Offset != 0 {
		t.Fatalf("History after Flush: %d messages, top %+v; want none", len(page.Messages), page.Top)
	}
	send(t, ctx, l, g, 1, 2)
	page = history(t, ctx, h, g, layers.Position{}, 0)
	if page.Top.Offset != 2 || page.Top.Epoch == before.Epoch || page.Top.Epoch == "" {
		t.Fatalf("top after Flush and 2 sends: %+v, want offset 2 in a new epoch (was %+v)", page.Top, before)
	}
	if got := offsets(t, g, page); !equalOffsets(got, seq(1, 2)) {
		t.Fatalf("History after Flush: %v, want [1 2]", got)
	}
}

func historyClosed(t *testing.T, c *config, newH historianFunc) {
	ctx := testCtx(t, c)
	l, h := newH(t)
	g := group(BigGroups)
	send(t, ctx, l, g, 1, 1)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := h.History(ctx, g, layers.Position{}, 0); !errors.Is(err, layers.ErrLayerClosed) {
		t.Fatalf("History on a closed layer: %v, want ErrLayerClosed", err)
	}
}
