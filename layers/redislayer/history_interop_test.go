package redislayer

import (
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/interop"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// TestInteropHistoryAndPresence: a group with history and presence members keeps working
// with channels_redis. A Go group send reaches Python members with the position as three
// more keys of the event; a Python group_send reaches every member, Go and Python, without a
// position, and is not in the history (channels_redis does not write the stream); a member
// Python adds is listed by Presence without info. On one server (the one-script group send)
// and on two encrypted shards (members read first).
func TestInteropHistoryAndPresence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shards int
		keys   []string
	}{{"one", 1, nil}, {"sharded-encrypted", 2, []string{"k1"}}} {
		t.Run(tc.name, func(t *testing.T) {
			srvs := redistest.StartN(t, tc.shards)
			py := interop.Start(t, pyConfig(srvs, tc.keys...))
			l := newLayer(t, srvs, func(o *Options) {
				o.SymmetricEncryptionKeys = tc.keys
				o.History = []layers.HistoryRule{{Pattern: "hist-*", Size: 10}}
			})
			ctx := testCtx(t)
			const g = "hist-room"
			got := make(chan channels.Message, 16)
			ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool { got <- m; return true })
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if err := l.PresenceAdd(ctx, g, ch, map[string]any{"user": "go"}, layers.PresenceOptions{}); err != nil {
				t.Fatal(err)
			}
			p1, p2 := py.NewChannel(), py.NewChannel()
			py.Must(map[string]any{"op": "group_add", "group": g, "channel": p1})
			py.Must(map[string]any{"op": "group_add", "group": g, "channel": p2})
			ms, err := l.Presence(ctx, g)
			if err != nil || len(ms) != 3 {
				t.Fatalf("Presence = %v, %v", ms, err)
			}
			for _, m := range ms {
				if (m.Channel == ch) != (m.Info != nil) {
					t.Fatalf("Presence member %v: only the Go member has info", m)
				}
			}

			// Go → everyone, with a position.
			if err := l.GroupSend(ctx, g, allTypes()); err != nil {
				t.Fatal(err)
			}
			m := recv(t, got)
			_, off, epoch := positionOf(t, m)
			if off != 1 {
				t.Fatalf("first offset %d", off)
			}
			want := withPosition(allTypes(), g, 1, epoch)
			sameTyped(t, "go→go member", interop.Typed(m), want)
			ans := py.Must(map[string]any{"op": "receive_each", "channels": []string{p1, p2}, "timeout": 10})
			for _, pm := range ans["msgs"].([]any) {
				sameTyped(t, "go→py member", pm, want)
			}

			// Python → everyone, without a position; not kept.
			py.Must(map[string]any{"op": "group_send", "group": g, "msg": interop.Typed(allTypes())})
			m = recv(t, got)
			if _, ok := m[layers.OffsetKey]; ok {
				t.Fatalf("a Python group_send arrived with a position: %v", m[layers.OffsetKey])
			}
			sameTyped(t, "py→go member", interop.Typed(m), allTypes())
			ans = py.Must(map[string]any{"op": "receive_each", "channels": []string{p1, p2}, "timeout": 10})
			for _, pm := range ans["msgs"].([]any) {
				sameTyped(t, "py→py member", pm, allTypes())
			}
			page, err := l.History(ctx, g, layers.Position{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if page.Top != (layers.Position{Offset: 1, Epoch: epoch}) || len(page.Messages) != 1 {
				t.Fatalf("History after a Python group_send: top %v, %d messages", page.Top, len(page.Messages))
			}
			sameTyped(t, "history", interop.Typed(page.Messages[0]), want)

			// The next Go message continues the offsets.
			if err := l.GroupSend(ctx, g, channels.Message{"type": "next"}); err != nil {
				t.Fatal(err)
			}
			if _, off, _ := positionOf(t, recv(t, got)); off != 2 {
				t.Fatalf("offset after a Python group_send: %d, want 2", off)
			}
			py.Must(map[string]any{"op": "receive_each", "channels": []string{p1, p2}, "timeout": 10})
		})
	}
}
