package layertest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Presence runs the presence contract (layers.Presencer) against the layers newLayer makes:
// join, leave and count; information round trip, replacement and size bound; join and leave
// events on and off; members of a closed layer disappearing.
func Presence(t *testing.T, newLayer Factory, opts ...Option) {
	c := buildConfig(opts)
	presencer := capability(newLayer, nil, layers.AsPresencer, "Presencer")
	t.Run("JoinLeaveCount", func(t *testing.T) { presenceJoinLeave(t, c, presencer) })
	t.Run("Info", func(t *testing.T) { presenceInfo(t, c, presencer) })
	t.Run("InfoBound", func(t *testing.T) { presenceInfoBound(t, c, presencer) })
	t.Run("Events", func(t *testing.T) { presenceEvents(t, c, presencer) })
	t.Run("NoEvents", func(t *testing.T) { presenceNoEvents(t, c, presencer) })
	t.Run("BadNames", func(t *testing.T) { presenceBadNames(t, c, presencer) })
	t.Run("Flush", func(t *testing.T) { presenceFlush(t, c, presencer) })
	t.Run("ClosedLayer", func(t *testing.T) { presenceClosed(t, c, newLayer) })
}

type presencerFunc = capableFunc[layers.Presencer]

func newChannel(t *testing.T, ctx context.Context, l layers.Layer) string {
	t.Helper()
	ch, err := l.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatalf("NewChannel: %v", err)
	}
	return ch
}

// members returns the channels Presence lists, sorted, and the members by channel.
func members(t *testing.T, ctx context.Context, p layers.Presencer, group string) ([]string, map[string]layers.Member) {
	t.Helper()
	ms, err := p.Presence(ctx, group)
	if err != nil {
		t.Fatalf("Presence(%s): %v", group, err)
	}
	byCh := map[string]layers.Member{}
	var chs []string
	for _, m := range ms {
		if _, dup := byCh[m.Channel]; dup {
			t.Fatalf("Presence(%s) lists %s twice", group, m.Channel)
		}
		byCh[m.Channel] = m
		chs = append(chs, m.Channel)
	}
	slices.Sort(chs)
	return chs, byCh
}

func count(t *testing.T, ctx context.Context, p layers.Presencer, group string) int {
	t.Helper()
	n, err := p.PresenceCount(ctx, group)
	if err != nil {
		t.Fatalf("PresenceCount(%s): %v", group, err)
	}
	return n
}

func presenceJoinLeave(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	g := group("lt.presence.")
	if n := count(t, ctx, p, g); n != 0 {
		t.Fatalf("PresenceCount of an empty group = %d, want 0", n)
	}
	if chs, _ := members(t, ctx, p, g); len(chs) != 0 {
		t.Fatalf("Presence of an empty group = %v, want none", chs)
	}
	a, b, plain := newChannel(t, ctx, l), newChannel(t, ctx, l), newChannel(t, ctx, l)
	for i, ch := range []string{a, b} {
		if err := p.PresenceAdd(ctx, g, ch, map[string]any{"user": "u" + string(rune('0'+i))}, layers.PresenceOptions{}); err != nil {
			t.Fatalf("PresenceAdd: %v", err)
		}
	}
	if err := l.GroupAdd(ctx, g, plain); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	// Refreshing a membership, with PresenceAdd or GroupAdd, adds no member.
	if err := p.PresenceAdd(ctx, g, a, map[string]any{"user": "u0"}, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd again: %v", err)
	}
	if err := l.GroupAdd(ctx, g, b); err != nil {
		t.Fatalf("GroupAdd of a presence member: %v", err)
	}
	want := []string{a, b, plain}
	slices.Sort(want)
	chs, byCh := members(t, ctx, p, g)
	if !slices.Equal(chs, want) {
		t.Fatalf("Presence = %v, want %v", chs, want)
	}
	if n := count(t, ctx, p, g); n != 3 {
		t.Fatalf("PresenceCount = %d, want 3", n)
	}
	if info := byCh[plain].Info; len(info) != 0 {
		t.Fatalf("a member added with GroupAdd has info %v, want none", info)
	}
	if !sameJSON(t, byCh[b].Info, map[string]any{"user": "u1"}) {
		t.Fatalf("GroupAdd of a presence member changed its info to %v", byCh[b].Info)
	}
	// A group member receives group messages whichever way it joined.
	in := listen(t, c, l)
	if err := p.PresenceAdd(ctx, g, in.name, nil, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd(nil info): %v", err)
	}
	if err := l.GroupSend(ctx, g, channels.Message{"type": "lt.hello"}); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	if m := in.next(t); m.Type() != "lt.hello" {
		t.Fatalf("a presence member received %v, want lt.hello", m)
	}
	for _, ch := range []string{a, plain, in.name, plain} { // discarding twice is no error
		if err := l.GroupDiscard(ctx, g, ch); err != nil {
			t.Fatalf("GroupDiscard: %v", err)
		}
	}
	chs, _ = members(t, ctx, p, g)
	if !slices.Equal(chs, []string{b}) {
		t.Fatalf("after GroupDiscard, Presence = %v, want [%s]", chs, b)
	}
	if n := count(t, ctx, p, g); n != 1 {
		t.Fatalf("after GroupDiscard, PresenceCount = %d, want 1", n)
	}
	// Its information goes with the membership: joining again with GroupAdd brings none back.
	if err := l.GroupDiscard(ctx, g, b); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	if err := l.GroupAdd(ctx, g, b); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	if _, byCh := members(t, ctx, p, g); len(byCh[b].Info) != 0 {
		t.Fatalf("a member discarded then added with GroupAdd still has info %v", byCh[b].Info)
	}
}

func presenceInfo(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	g := group("lt.presence.")
	ch := newChannel(t, ctx, l)
	info := map[string]any{
		"user": "ann", "id": 42, "ratio": 0.5, "admin": true, "none": nil,
		"tags": []any{"a", "b"}, "profile": map[string]any{"lang": "fr", "n": 3},
		"name": "Zoë ☃",
	}
	if err := p.PresenceAdd(ctx, g, ch, info, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	info["user"] = "changed after the call" // the layer keeps its own copy
	_, byCh := members(t, ctx, p, g)
	info["user"] = "ann"
	if !sameJSON(t, byCh[ch].Info, info) {
		t.Fatalf("Presence info = %v, want %v", byCh[ch].Info, info)
	}
	// PresenceAdd again replaces the information.
	if err := p.PresenceAdd(ctx, g, ch, map[string]any{"user": "bob"}, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	_, byCh = members(t, ctx, p, g)
	if !sameJSON(t, byCh[ch].Info, map[string]any{"user": "bob"}) {
		t.Fatalf("Presence info after a second PresenceAdd = %v, want user bob only", byCh[ch].Info)
	}
	if n := count(t, ctx, p, g); n != 1 {
		t.Fatalf("PresenceCount = %d, want 1", n)
	}
}

func presenceInfoBound(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	g := group("lt.presence.")
	ch := newChannel(t, ctx, l)
	big := map[string]any{"blob": strings.Repeat("x", 2*layers.MaxPresenceInfoBytes)}
	err := p.PresenceAdd(ctx, g, ch, big, layers.PresenceOptions{})
	if !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("PresenceAdd of %d bytes of info: %v, want ErrInvalidMessage", 2*layers.MaxPresenceInfoBytes, err)
	}
	if n := count(t, ctx, p, g); n != 0 {
		t.Fatalf("a refused PresenceAdd added a member (count %d)", n)
	}
	bad := map[string]any{"f": func() {}}
	if err := p.PresenceAdd(ctx, g, ch, bad, layers.PresenceOptions{}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("PresenceAdd of info holding a func: %v, want ErrInvalidMessage", err)
	}
	fits := map[string]any{"blob": strings.Repeat("x", layers.MaxPresenceInfoBytes/2)}
	if err := p.PresenceAdd(ctx, g, ch, fits, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd of %d bytes of info: %v", layers.MaxPresenceInfoBytes/2, err)
	}
	_, byCh := members(t, ctx, p, g)
	if !sameJSON(t, byCh[ch].Info, fits) {
		t.Fatal("a large info did not round-trip")
	}
}

// marker sends a message of type "lt.marker" to g and returns its id: a member that
// receives the marker next received nothing else in between.
func marker(t *testing.T, ctx context.Context, l layers.Layer, g string, id int) {
	t.Helper()
	if err := l.GroupSend(ctx, g, channels.Message{"type": "lt.marker", "id": id}); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
}

func expectMarker(t *testing.T, in *inbox, id int) {
	t.Helper()
	m := in.next(t)
	if n, ok := m.Int("id"); m.Type() != "lt.marker" || !ok || n != id {
		t.Fatalf("%s received %v, want marker %d (no event)", in.name, m, id)
	}
}

func expectEvent(t *testing.T, in *inbox, typ, channel string, info map[string]any) {
	t.Helper()
	m := in.next(t)
	if m.Type() != typ || m.String("channel") != channel {
		t.Fatalf("%s received %v, want %s of %s", in.name, m, typ, channel)
	}
	got, _ := m["info"].(map[string]any)
	if len(info) == 0 && len(got) == 0 {
		return
	}
	if !sameJSON(t, got, info) {
		t.Fatalf("%s of %s carries info %v, want %v", typ, channel, m["info"], info)
	}
}

func presenceEvents(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	g := group("lt.presence.")
	a, b := listen(t, c, l), listen(t, c, l)
	ev := layers.PresenceOptions{Events: true}
	ia, ib := map[string]any{"user": "a"}, map[string]any{"user": "b"}
	if err := p.PresenceAdd(ctx, g, a.name, ia, ev); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	expectEvent(t, a, layers.PresenceJoinType, a.name, ia) // a member hears of its own join
	if err := p.PresenceAdd(ctx, g, b.name, ib, ev); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	expectEvent(t, a, layers.PresenceJoinType, b.name, ib)
	expectEvent(t, b, layers.PresenceJoinType, b.name, ib)
	// Refreshing a membership is no join.
	if err := p.PresenceAdd(ctx, g, b.name, ib, ev); err != nil {
		t.Fatalf("PresenceAdd again: %v", err)
	}
	marker(t, ctx, l, g, 1)
	expectMarker(t, a, 1)
	expectMarker(t, b, 1)
	if err := l.GroupDiscard(ctx, g, b.name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	expectEvent(t, a, layers.PresenceLeaveType, b.name, ib)
	// Discarding a non-member sends no leave.
	if err := l.GroupDiscard(ctx, g, b.name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	marker(t, ctx, l, g, 2)
	expectMarker(t, a, 2)
	// b, gone, heard nothing more than the marker 1.
	select {
	case m := <-b.ch:
		t.Fatalf("a member that left received %v", m)
	default:
	}
}

func presenceNoEvents(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	g := group("lt.presence.")
	a := listen(t, c, l)
	if err := p.PresenceAdd(ctx, g, a.name, map[string]any{"user": "a"}, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	other := newChannel(t, ctx, l)
	if err := p.PresenceAdd(ctx, g, other, map[string]any{"user": "o"}, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	if err := l.GroupDiscard(ctx, g, other); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	marker(t, ctx, l, g, 1)
	expectMarker(t, a, 1)
}

func presenceBadNames(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	ch := newChannel(t, ctx, l)
	if err := p.PresenceAdd(ctx, "bad group", ch, nil, layers.PresenceOptions{}); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("PresenceAdd to a bad group name: %v, want ErrInvalidName", err)
	}
	if err := p.PresenceAdd(ctx, group("lt.presence."), "bad channel", nil, layers.PresenceOptions{}); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("PresenceAdd of a bad channel name: %v, want ErrInvalidName", err)
	}
	if _, err := p.Presence(ctx, "bad group"); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("Presence of a bad group name: %v, want ErrInvalidName", err)
	}
	if _, err := p.PresenceCount(ctx, "bad group"); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("PresenceCount of a bad group name: %v, want ErrInvalidName", err)
	}
}

func presenceFlush(t *testing.T, c *config, newP presencerFunc) {
	ctx := testCtx(t, c)
	l, p := newP(t)
	g := group("lt.presence.")
	ch := newChannel(t, ctx, l)
	if err := p.PresenceAdd(ctx, g, ch, map[string]any{"user": "a"}, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := count(t, ctx, p, g); n != 0 {
		t.Fatalf("PresenceCount after Flush = %d, want 0", n)
	}
	if err := l.GroupAdd(ctx, g, ch); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	if _, byCh := members(t, ctx, p, g); len(byCh[ch].Info) != 0 {
		t.Fatalf("info survived Flush: %v", byCh[ch].Info)
	}
}

func presenceClosed(t *testing.T, c *config, newLayer Factory) {
	ctx := testCtx(t, c)
	l1 := newLayer(t, nil)
	p1, err := layers.AsPresencer(l1)
	if err != nil {
		t.Fatalf("the layer is no Presencer: %v", err)
	}
	g := group("lt.presence.")
	ch := newChannel(t, ctx, l1)
	if err := p1.PresenceAdd(ctx, g, ch, map[string]any{"user": "a"}, layers.PresenceOptions{}); err != nil {
		t.Fatalf("PresenceAdd: %v", err)
	}
	l2 := newLayer(t, nil)
	p2, err := layers.AsPresencer(l2)
	if err != nil {
		t.Fatalf("the layer is no Presencer: %v", err)
	}
	shared := count(t, ctx, p2, g) == 1
	if err := l1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := p1.Presence(ctx, g); !errors.Is(err, layers.ErrLayerClosed) {
		t.Fatalf("Presence on a closed layer: %v, want ErrLayerClosed", err)
	}
	if _, err := p1.PresenceCount(ctx, g); !errors.Is(err, layers.ErrLayerClosed) {
		t.Fatalf("PresenceCount on a closed layer: %v, want ErrLayerClosed", err)
	}
	if err := p1.PresenceAdd(ctx, g, ch, nil, layers.PresenceOptions{}); !errors.Is(err, layers.ErrLayerClosed) {
		t.Fatalf("PresenceAdd on a closed layer: %v, want ErrLayerClosed", err)
	}
	if !shared {
		t.Log("the layers share no state: the check that a closed layer's members disappear for the others is skipped")
		return
	}
	eventually(t, c.goneWait, "the members of a closed layer disappear from Presence", func() bool {
		return count(t, ctx, p2, g) == 0
	})
	if chs, _ := members(t, ctx, p2, g); len(chs) != 0 {
		t.Fatalf("Presence still lists %v after PresenceCount reached 0", chs)
	}
}
