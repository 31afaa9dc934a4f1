package layers_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

func TestParseHistoryRules(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []layers.HistoryRule
	}{
		{"", nil},
		{"chat.*:100:3600", []layers.HistoryRule{{Pattern: "chat.*", Size: 100, TTL: time.Hour}}},
		{"chat.*:100:0, ticker.*:0:30s", []layers.HistoryRule{{Pattern: "chat.*", Size: 100}, {Pattern: "ticker.*", TTL: 30 * time.Second}}},
		{"a:1:0.5", []layers.HistoryRule{{Pattern: "a", Size: 1, TTL: 500 * time.Millisecond}}},
		{`re:chat\..*:50:0`, []layers.HistoryRule{{Pattern: `re:chat\..*`, Size: 50}}},
		{`re:a{1,3}:5:0,b:1:1`, []layers.HistoryRule{{Pattern: `re:a{1,3}`, Size: 5}, {Pattern: "b", Size: 1, TTL: time.Second}}},
		{"x:y:1:2", []layers.HistoryRule{{Pattern: "x:y", Size: 1, TTL: 2 * time.Second}}},
	} {
		got, err := layers.ParseHistoryRules(tc.spec)
		if err != nil {
			t.Errorf("ParseHistoryRules(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseHistoryRules(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"chat", "chat:1", "chat:x:1", "chat:0:0", ":1:1", "chat:-1:1", "chat:1:-1", "chat:1:soon",
		"chat:20000:0", "re:(:1:0", "a:1:1,,b:1:1", "a:1:1,"} {
		if rules, err := layers.ParseHistoryRules(bad); err == nil {
			t.Errorf("ParseHistoryRules(%q) = %+v, want an error", bad, rules)
		}
	}
}

func TestHistoryRulesMatch(t *testing.T) {
	h, err := layers.CompileHistoryRules([]layers.HistoryRule{{Pattern: "chat.*", Size: 10}, {Pattern: "*", TTL: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := h.Match("chat.lobby"); !ok || r.Size != 10 {
		t.Errorf("Match(chat.lobby) = %+v %v", r, ok)
	}
	if r, ok := h.Match("other"); !ok || r.Size != layers.MaxHistoryLimit || r.TTL != time.Minute {
		t.Errorf("Match(other) = %+v %v, want the TTL rule with Size MaxHistoryLimit", r, ok)
	}
	var none *layers.HistoryRules
	if _, ok := none.Match("chat.lobby"); ok {
		t.Error("a nil *HistoryRules matched")
	}
	if _, err := layers.CompileHistoryRules([]layers.HistoryRule{{Pattern: "a"}}); err == nil {
		t.Error("a rule with neither size nor ttl compiled")
	}
}

func TestOpenMemoryHistory(t *testing.T) {
	ctx := context.Background()
	l, err := layers.Open(ctx, "memory://?history=room.*:2:0&history=re:feed%5C..*:0:60")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 {
		if err := l.GroupSend(ctx, "room.a", channels.Message{"type": "m", "i": i}); err != nil {
			t.Fatal(err)
		}
		if err := l.GroupSend(ctx, "feed.a", channels.Message{"type": "m", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := layers.History(ctx, l, "room.a", layers.Position{}, 0)
	if err != nil || len(page.Messages) != 2 || page.Top.Offset != 3 || page.Oldest != 2 {
		t.Fatalf("History(room.a) = %+v, %v; want 2 messages, top 3, oldest 2", page, err)
	}
	page, err = layers.History(ctx, l, "feed.a", layers.Position{}, 0)
	if err != nil || len(page.Messages) != 3 {
		t.Fatalf("History(feed.a) = %+v, %v; want 3 messages", page, err)
	}
	if _, err := layers.Open(ctx, "memory://?history=room.*:2"); err == nil || !strings.Contains(err.Error(), "history") {
		t.Fatalf("Open with a bad history rule: %v", err)
	}
}

func TestPositionOf(t *testing.T) {
	for _, off := range []any{uint64(7), int64(7), 7, int8(7), uint8(7), uint16(7), int32(7), float64(7)} {
		g, pos, ok := layers.PositionOf(channels.Message{"type": "m", layers.GroupKey: "g", layers.OffsetKey: off, layers.EpochKey: "e"})
		if !ok || g != "g" || pos != (layers.Position{Offset: 7, Epoch: "e"}) {
			t.Errorf("PositionOf with a %T offset = %q %+v %v", off, g, pos, ok)
		}
	}
	for _, m := range []channels.Message{
		{"type": "m"},
		{"type": "m", layers.GroupKey: "g", layers.OffsetKey: -1, layers.EpochKey: "e"},
		{"type": "m", layers.GroupKey: "g", layers.OffsetKey: 1.5, layers.EpochKey: "e"},
		{"type": "m", layers.GroupKey: "g", layers.OffsetKey: "1", layers.EpochKey: "e"},
		{"type": "m", layers.GroupKey: "g", layers.OffsetKey: 1, layers.EpochKey: ""},
		{"type": "m", layers.GroupKey: "", layers.OffsetKey: 1, layers.EpochKey: "e"},
	} {
		if _, _, ok := layers.PositionOf(m); ok {
			t.Errorf("PositionOf(%v) reported a position", m)
		}
	}
}

func TestHelpersNotSupported(t *testing.T) {
	ctx := context.Background()
	var l layers.Layer = notHistorian{}
	if _, err := layers.History(ctx, l, "g", layers.Position{}, 0); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("History on a layer without history: %v, want ErrNotSupported", err)
	}
	if _, err := layers.Recover(ctx, l, "g", layers.Position{}, 0); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("Recover on a layer without history: %v, want ErrNotSupported", err)
	}
	if _, err := layers.PresenceCount(ctx, l, "g"); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("PresenceCount on a layer without presence: %v, want ErrNotSupported", err)
	}
	// The helpers look under wrappers (layers.Unwrap).
	m := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: "g", Size: 1}}})
	defer m.Close()
	w := wrapped{m}
	if _, err := layers.History(ctx, w, "g", layers.Position{}, 0); err != nil {
		t.Fatalf("History through a wrapper: %v", err)
	}
	if _, err := layers.Presence(ctx, w, "g"); err != nil {
		t.Fatalf("Presence through a wrapper: %v", err)
	}
}

// notHistorian is a Layer with neither history nor presence.
type notHistorian struct{ layers.Layer }

// wrapped hides a layer's optional interfaces, as instrumentation wrappers do.
type wrapped struct{ l layers.Layer }

func (w wrapped) Unwrap() layers.Layer { return w.l }

func (w wrapped) Send(ctx context.Context, ch string, m channels.Message) error {
	return w.l.Send(ctx, ch, m)
}
func (w wrapped) Receive(ctx context.Context, ch string) (channels.Message, error) {
	return w.l.Receive(ctx, ch)
}
func (w wrapped) NewChannel(ctx context.Context, p string) (string, error) {
	return w.l.NewChannel(ctx, p)
}
func (w wrapped) GroupAdd(ctx context.Context, g, ch string) error { return w.l.GroupAdd(ctx, g, ch) }
func (w wrapped) GroupDiscard(ctx context.Context, g, ch string) error {
	return w.l.GroupDiscard(ctx, g, ch)
}
func (w wrapped) GroupSend(ctx context.Context, g string, m channels.Message) error {
	return w.l.GroupSend(ctx, g, m)
}
func (w wrapped) Flush(ctx context.Context) error { return w.l.Flush(ctx) }
func (w wrapped) Close() error                    { return w.l.Close() }
