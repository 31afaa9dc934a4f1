package redislayer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

func sortedMembers(ms []layers.Member) []layers.Member {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Channel < ms[j].Channel })
	return ms
}

// TestPresence: members joined with info in one process are listed, with their info, and
// counted from another (plain on one server, and encrypted over two shards); a GroupAdd
// member has no info; a member removed behind the layer's back (Python's group_discard)
// leaves no stale info; GroupSend still reaches presence members; GroupDiscard removes the
// info.
func TestPresence(t *testing.T) {
	srvs := redistest.StartN(t, 2)
	for _, tc := range []struct {
		name string
		srvs []*redistest.Server
		keys []string
	}{
		{"plain", srvs[:1], nil},
		{"encrypted-sharded", srvs, []string{"presence-secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			mod := func(o *Options) { o.SymmetricEncryptionKeys, o.Prefix = tc.keys, o.Prefix+tc.name }
			a, b := newLayer(t, tc.srvs, mod), newLayer(t, tc.srvs, mod)
			ch1, _ := a.NewChannel(ctx, "specific")
			ch2, _ := a.NewChannel(ctx, "specific")
			if err := a.PresenceAdd(ctx, "lobby", ch1, map[string]any{"user": "ann", "id": 7}, layers.PresenceOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := a.PresenceAdd(ctx, "lobby", ch2, map[string]any{"user": "bob"}, layers.PresenceOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := a.GroupAdd(ctx, "lobby", "worker"); err != nil {
				t.Fatal(err)
			}
			ms, err := b.Presence(ctx, "lobby")
			if err != nil {
				t.Fatal(err)
			}
			want := sortedMembers([]layers.Member{
				{Channel: ch1, Info: map[string]any{"user": "ann", "id": int64(7)}},
				{Channel: ch2, Info: map[string]any{"user": "bob"}},
				{Channel: "worker"},
			})
			if got := sortedMembers(ms); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Presence = %v, want %v", got, want)
			}
			if n, err := b.PresenceCount(ctx, "lobby"); err != nil || n != 3 {
				t.Fatalf("PresenceCount = %d, %v", n, err)
			}
			// Refreshing replaces the info.
			if err := a.PresenceAdd(ctx, "lobby", ch2, map[string]any{"user": "bob", "away": true}, layers.PresenceOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := b.GroupSend(ctx, "lobby", channels.Message{"type": "hello"}); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []string{ch1, ch2} {
				if m, err := a.Receive(ctx, ch); err != nil || m.Type() != "hello" {
					t.Fatalf("Receive %s: %v, %v", ch, m, err)
				}
			}
			// Python's group_discard is a ZREM: the info left behind is not reported, and goes.
			rc := tc.srvs[shardIndex("lobby", len(tc.srvs))].Client()
			defer rc.Close()
			if err := rc.ZRem(ctx, a.groupKey("lobby"), ch1).Err(); err != nil {
				t.Fatal(err)
			}
			ms, err = b.Presence(ctx, "lobby")
			if err != nil {
				t.Fatal(err)
			}
			want = sortedMembers([]layers.Member{{Channel: ch2, Info: map[string]any{"user": "bob", "away": true}}, {Channel: "worker"}})
			if got := sortedMembers(ms); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Presence after a ZREM = %v, want %v", got, want)
			}
			if ok, _ := rc.HExists(ctx, a.presenceKey("lobby"), ch1).Result(); ok {
				t.Fatal("stale presence info kept")
			}
			if err := a.GroupDiscard(ctx, "lobby", ch2); err != nil {
				t.Fatal(err)
			}
			if ok, _ := rc.HExists(ctx, a.presenceKey("lobby"), ch2).Result(); ok {
				t.Fatal("GroupDiscard kept the presence info")
			}
			if n, err := b.PresenceCount(ctx, "lobby"); err != nil || n != 1 {
				t.Fatalf("PresenceCount after discard = %d, %v", n, err)
			}
		})
	}
}

// TestPresenceEvents: a member joining with Events sends one join event (not on refresh)
// and a leave event on GroupDiscard, delivered to the group's members.
func TestPresenceEvents(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	watcher, _ := l.NewChannel(ctx, "specific")
	if err := l.GroupAdd(ctx, "ev", watcher); err != nil {
		t.Fatal(err)
	}
	ch, _ := l.NewChannel(ctx, "specific")
	info := map[string]any{"user": "ann"}
	for i := 0; i < 2; i++ {
		if err := l.PresenceAdd(ctx, "ev", ch, info, layers.PresenceOptions{Events: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.GroupDiscard(ctx, "ev", ch); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "ev", channels.Message{"type": "marker"}); err != nil {
		t.Fatal(err)
	}
	var types []string
	for {
		m, err := l.Receive(ctx, watcher)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() == "marker" {
			break
		}
		types = append(types, m.Type())
		if m.String("channel") != ch || fmt.Sprint(m["info"]) != fmt.Sprint(info) {
			t.Fatalf("event %v", m)
		}
	}
	if strings.Join(types, ",") != layers.PresenceJoinType+","+layers.PresenceLeaveType {
		t.Fatalf("events %v", types)
	}
}

func TestPresenceInfoBound(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	ch, _ := l.NewChannel(ctx, "specific")
	big := map[string]any{"x": strings.Repeat("a", layers.MaxPresenceInfoBytes)}
	if err := l.PresenceAdd(ctx, "g", ch, big, layers.PresenceOptions{}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("PresenceAdd with %d bytes of info: %v", layers.MaxPresenceInfoBytes, err)
	}
	if err := l.PresenceAdd(ctx, "g", ch, map[string]any{"t": time.Now()}, layers.PresenceOptions{}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("PresenceAdd with a time.Time: %v", err)
	}
}

// TestPresenceDeadProcess: the members of a Go process that dies without leaving disappear
// from Presence and PresenceCount once its heartbeat is older than the timeout, with no
// group send needed; a member without a registry entry (Python) stays.
func TestPresenceDeadProcess(t *testing.T) {
	srv := redistest.Start(t)
	mod := func(o *Options) { o.HeartbeatTimeout = 600 * time.Millisecond }
	alive := newLayer(t, []*redistest.Server{srv}, mod)
	dead := newLayer(t, []*redistest.Server{srv}, mod)
	ctx := testCtx(t)
	var chans []string
	for i := 0; i < 3; i++ {
		ch, stop, err := dead.Listen(ctx, "specific", func(channels.Message) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		chans = append(chans, ch)
		if err := dead.PresenceAdd(ctx, "room", ch, map[string]any{"i": i}, layers.PresenceOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	inbox := chans[0][:strings.IndexByte(chans[0], '!')+1]
	rc := srv.Client()
	defer rc.Close()
	waitFor(t, func() bool {
		_, err := rc.ZScore(ctx, srv.Prefix()+":gochannels:alive", inbox).Result()
		return err == nil
	})
	mine, _ := alive.NewChannel(ctx, "specific")
	if err := alive.PresenceAdd(ctx, "room", mine, nil, layers.PresenceOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := alive.GroupAdd(ctx, "room", "specific.pythonproc!abc"); err != nil {
		t.Fatal(err)
	}
	if n, err := alive.PresenceCount(ctx, "room"); err != nil || n != 5 {
		t.Fatalf("PresenceCount = %d, %v", n, err)
	}
	dead.crash()
	waitUntil(t, "the dead process's members to leave the presence count", func() bool {
		n, err := alive.PresenceCount(ctx, "room")
		return err == nil && n == 2
	})
	ms, err := alive.Presence(ctx, "room")
	if err != nil || len(ms) != 2 {
		t.Fatalf("Presence = %v, %v", ms, err)
	}
	if ok, _ := rc.HExists(ctx, alive.presenceKey("room"), chans[0]).Result(); ok {
		t.Fatal("the dead member's info was kept")
	}
}

// TestPresenceRejoin: a Redis restarted without persistence gets the presence information
// of a live process's channels back with their memberships.
func TestPresenceRejoin(t *testing.T) {
	srv := redistest.StartPrivate(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) { o.HeartbeatTimeout = 600 * time.Millisecond })
	ctx := testCtx(t)
	ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.PresenceAdd(ctx, "room", ch, map[string]any{"user": "ann"}, layers.PresenceOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart()
	waitUntil(t, "the member and its info to come back", func() bool {
		ms, err := l.Presence(ctx, "room")
		return err == nil && len(ms) == 1 && ms[0].Channel == ch && ms[0].Info["user"] == "ann"
	})
}

// TestPubSubNoPresenceNoHistory: the pub/sub layer keeps neither; the helpers say so with
// ErrNotSupported, and its URL refuses a history parameter.
func TestPubSubNoPresenceNoHistory(t *testing.T) {
	srv := redistest.Start(t)
	l := newPubSub(t, srv)
	ctx := testCtx(t)
	if _, err := layers.PresenceCount(ctx, l, "g"); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("PresenceCount on pub/sub: %v", err)
	}
	if _, err := layers.History(ctx, l, "g", layers.Position{}, 0); !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("History on pub/sub: %v", err)
	}
	if _, err := ParsePubSubURL("redis+pubsub://localhost:6379/0?history=a:1:0"); err == nil {
		t.Fatal("the pub/sub URL took a history parameter")
	}
}
