package redislayer

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// historyVariants are the two group-send paths: the one-call script (one standalone
// server, no encryption) and the read-then-write one (here: two shards, encryption).
func historyVariants(t *testing.T, rules []layers.HistoryRule) map[string]*Layer {
	srvs := redistest.StartN(t, 2)
	return map[string]*Layer{
		"fused": newLayer(t, srvs[:1], func(o *Options) { o.History, o.Prefix = rules, o.Prefix+"f" }),
		"split": newLayer(t, srvs, func(o *Options) {
			o.History, o.Prefix = rules, o.Prefix+"s"
			o.SymmetricEncryptionKeys = []string{"history-secret"}
		}),
	}
}

func positionOf(t *testing.T, m channels.Message) (string, int64, string) {
	t.Helper()
	g, _ := m[layers.GroupKey].(string)
	o, ok := m[layers.OffsetKey].(int64)
	e, _ := m[layers.EpochKey].(string)
	if g == "" || !ok || e == "" {
		t.Fatalf("message %v has no position", m)
	}
	return g, o, e
}

// TestHistoryGroupSend: a group with history gives each message the next offset in one
// epoch, members receive it with the message, History returns the kept ones after an
// offset (the size bound drops the oldest), and a group without a rule has no positions and
// no history.
func TestHistoryGroupSend(t *testing.T) {
	rules := []layers.HistoryRule{{Pattern: "room-*", Size: 5}}
	for name, l := range historyVariants(t, rules) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			ch, err := l.NewChannel(ctx, "specific")
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []string{"room-1", "plain"} {
				if err := l.GroupAdd(ctx, g, ch); err != nil {
					t.Fatal(err)
				}
			}
			var epoch string
			for i := 1; i <= 8; i++ {
				// A stale position on the message is replaced by the new one.
				msg := channels.Message{"type": "chat.msg", "n": i, layers.OffsetKey: 999}
				if err := l.GroupSend(ctx, "room-1", msg); err != nil {
					t.Fatal(err)
				}
				m, err := l.Receive(ctx, ch)
				if err != nil {
					t.Fatal(err)
				}
				g, off, e := positionOf(t, m)
				if g != "room-1" || off != int64(i) || (epoch != "" && e != epoch) {
					t.Fatalf("message %d: position %s/%d/%s, want room-1/%d/%s", i, g, off, e, i, epoch)
				}
				epoch = e
			}
			page, err := l.History(ctx, "room-1", layers.Position{Offset: 2, Epoch: epoch}, 2)
			if err != nil {
				t.Fatal(err)
			}
			if page.Top != (layers.Position{Offset: 8, Epoch: epoch}) || page.Oldest != 4 || len(page.Messages) != 2 {
				t.Fatalf("History: top %v oldest %d, %d messages", page.Top, page.Oldest, len(page.Messages))
			}
			for i, m := range page.Messages {
				if _, off, _ := positionOf(t, m); off != int64(4+i) || channels.Message(m).Type() != "chat.msg" {
					t.Fatalf("History message %d: %v", i, m)
				}
				if n, _ := channels.Message(m).Int("n"); n != 4+i {
					t.Fatalf("History message %d: n=%d", i, n)
				}
			}
			page, err = l.History(ctx, "room-1", layers.Position{Offset: 6}, 0)
			if err != nil || len(page.Messages) != 2 {
				t.Fatalf("History since 6: %d messages, %v", len(page.Messages), err)
			}

			if err := l.GroupSend(ctx, "plain", channels.Message{"type": "plain.msg"}); err != nil {
				t.Fatal(err)
			}
			m, err := l.Receive(ctx, ch)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m[layers.OffsetKey]; ok {
				t.Fatalf("a group without history gave a position: %v", m)
			}
			if _, err := l.History(ctx, "plain", layers.Position{}, 0); !errors.Is(err, layers.ErrNotSupported) {
				t.Fatalf("History of a group without a rule: %v, want ErrNotSupported", err)
			}
		})
	}
}

// TestHistoryWithoutMembers: messages sent while nobody is in the group are kept, and a
// reader before any message gets the epoch the first message then has.
func TestHistoryWithoutMembers(t *testing.T) {
	rules := []layers.HistoryRule{{Pattern: "*", Size: 100}}
	for name, l := range historyVariants(t, rules) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			first, err := l.History(ctx, "empty", layers.Position{}, 0)
			if err != nil || first.Top.Offset != 0 || first.Top.Epoch == "" {
				t.Fatalf("History of a new group: %+v, %v", first, err)
			}
			for i := 1; i <= 3; i++ {
				if err := l.GroupSend(ctx, "empty", channels.Message{"type": "t", "n": i}); err != nil {
					t.Fatal(err)
				}
			}
			page, err := l.History(ctx, "empty", layers.Position{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if page.Top != (layers.Position{Offset: 3, Epoch: first.Top.Epoch}) || page.Oldest != 1 || len(page.Messages) != 3 {
				t.Fatalf("History: %+v", page)
			}
		})
	}
}

// TestHistoryTTL: messages older than the rule's TTL leave the history.
func TestHistoryTTL(t *testing.T) {
	rules := []layers.HistoryRule{{Pattern: "*", TTL: time.Second}}
	for name, l := range historyVariants(t, rules) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			start := time.Now()
			for i := 1; i <= 3; i++ {
				if err := l.GroupSend(ctx, "ttl", channels.Message{"type": "t", "n": i}); err != nil {
					t.Fatal(err)
				}
			}
			page, err := l.History(ctx, "ttl", layers.Position{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Checked only when the machine was quick enough for none to have expired.
			if time.Since(start) < 900*time.Millisecond && len(page.Messages) != 3 {
				t.Fatalf("History right after sending: %d messages", len(page.Messages))
			}
			waitUntil(t, "messages past their TTL to leave the history", func() bool {
				page, err = l.History(ctx, "ttl", layers.Position{}, 0)
				return err == nil && len(page.Messages) == 0
			})
			if page.Top.Offset != 3 || page.Oldest != 0 {
				t.Fatalf("History after the TTL: %+v", page)
			}
			if err := l.GroupSend(ctx, "ttl", channels.Message{"type": "t", "n": 4}); err != nil {
				t.Fatal(err)
			}
			page, err = l.History(ctx, "ttl", layers.Position{}, 0)
			if err != nil || len(page.Messages) != 1 || page.Oldest != 4 {
				t.Fatalf("History after a new message: %+v, %v", page, err)
			}
		})
	}
}

// TestHistoryEpochAfterRestart: a Redis restarted without persistence lost the stream; the
// next message starts a new epoch at offset 1.
func TestHistoryEpochAfterRestart(t *testing.T) {
	srv := redistest.StartPrivate(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) {
		o.History = []layers.HistoryRule{{Pattern: "*", Size: 10}}
	})
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		if err := l.GroupSend(ctx, "restart", channels.Message{"type": "t"}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := l.History(ctx, "restart", layers.Position{}, 0)
	if err != nil || before.Top.Offset != 3 {
		t.Fatalf("History before the restart: %+v, %v", before, err)
	}
	srv.Restart()
	if err := l.GroupSend(ctx, "restart", channels.Message{"type": "t"}); err != nil {
		t.Fatal(err)
	}
	after, err := l.History(ctx, "restart", layers.Position{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Top.Offset != 1 || after.Top.Epoch == before.Top.Epoch || len(after.Messages) != 1 {
		t.Fatalf("History after the restart: %+v (epoch before %q)", after, before.Top.Epoch)
	}
	// A client that had seen offset 2 of the old epoch must reload.
	_, err = layers.Recover(ctx, l, "restart", layers.Position{Offset: 2, Epoch: before.Top.Epoch}, 0)
	var ue *layers.UnrecoverableError
	if !errors.As(err, &ue) || ue.Reason != layers.ReasonEpoch {
		t.Fatalf("Recover from the old epoch: %v, want an epoch UnrecoverableError", err)
	}
}

// TestHistoryKeysExpire: the stream and its epoch carry TTLs.
func TestHistoryKeysExpire(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) {
		o.History = []layers.HistoryRule{{Pattern: "a", Size: 10}, {Pattern: "b", TTL: time.Minute}}
		o.GroupExpiry = time.Hour
	})
	ctx := testCtx(t)
	rc := srv.Client()
	defer rc.Close()
	for g, want := range map[string][2]time.Duration{"a": {time.Hour, time.Hour}, "b": {time.Minute, time.Hour}} {
		if err := l.GroupSend(ctx, g, channels.Message{"type": "t"}); err != nil {
			t.Fatal(err)
		}
		stream, meta := l.historyKeys(g)
		for i, k := range []string{stream, meta} {
			ttl, err := rc.TTL(ctx, k).Result()
			if err != nil || ttl <= want[i]-5*time.Second || ttl > want[i] {
				t.Fatalf("TTL of %s: %v, %v; want about %v", k, ttl, err, want[i])
			}
		}
	}
}

// TestHistorySnapshotPath: a group big enough for the group-send snapshot (whole members
// built by the sender) still gets a position on every message, for every member.
func TestHistorySnapshotPath(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) {
		o.History = []layers.HistoryRule{{Pattern: "big", Size: 10}}
	})
	ctx := testCtx(t)
	const members = 40
	var chans []string
	for i := 0; i < members; i++ {
		ch, err := l.NewChannel(ctx, "specific")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.GroupAdd(ctx, "big", ch); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i := 1; i <= 4; i++ {
		if err := l.GroupSend(ctx, "big", channels.Message{"type": "t", "n": i}); err != nil {
			t.Fatal(err)
		}
		for _, ch := range chans {
			m, err := l.Receive(ctx, ch)
			if err != nil {
				t.Fatal(err)
			}
			if _, off, _ := positionOf(t, m); off != int64(i) {
				t.Fatalf("send %d: offset %d", i, off)
			}
			if n, _ := m.Int("n"); n != i || m.Type() != "t" || len(m) != 5 {
				t.Fatalf("send %d: %v", i, m)
			}
		}
	}
	if l.Stats().GroupSnapshotHits == 0 {
		t.Fatal("the snapshot path was not taken")
	}
}

func TestParseURLHistory(t *testing.T) {
	opts, err := ParseURL("redis://localhost:6379/0?history=room-*:100:10m,re:^a:b\\d%2B:0:30&history=x:0:5")
	if err != nil {
		t.Fatal(err)
	}
	want := []layers.HistoryRule{
		{Pattern: "room-*", Size: 100, TTL: 10 * time.Minute},
		{Pattern: `re:^a:b\d+`, Size: 0, TTL: 30 * time.Second},
		{Pattern: "x", TTL: 5 * time.Second},
	}
	if fmt.Sprint(opts.History) != fmt.Sprint(want) {
		t.Fatalf("History = %v, want %v", opts.History, want)
	}
	for _, bad := range []string{"room", "room:1", "room:x:1", "room:0:0", "room:-1:5", "re:(:1:1", "room:1:zz", "room:20000:0"} {
		if _, err := ParseURL("redis://localhost:6379/0?history=" + bad); err == nil {
			t.Errorf("history=%s: no error", bad)
		}
	}
}
