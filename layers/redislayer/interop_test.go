package redislayer

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/interop"
	"github.com/gochannels/gochannels/internal/redistest"
)

// allTypes holds every msgpack type the wire carries, at every integer width.
func allTypes() channels.Message {
	return channels.Message{
		"type":    "types.test",
		"ascii":   "hello",
		"unicode": "héllo wörld ✓ 日本語 🎉",
		"empty":   "",
		"long":    strings.Repeat("é", 40000), // str32
		"bytes":   []byte{0, 1, 2, 254, 255},
		"nobytes": []byte{},
		"bin16":   make([]byte, 300),
		"zero":    0, "pfix": 127, "nfix": -32, "i8": -128, "u8": 255, "i16": -32768, "u16": 65535,
		"i32": int64(math.MinInt32), "u32": int64(math.MaxUint32), "above32": int64(1) << 40,
		"negbig": -(int64(1) << 40), "maxi64": int64(math.MaxInt64), "mini64": int64(math.MinInt64),
		"maxu64": uint64(math.MaxUint64),
		"f":      1.5, "fneg": -0.1, "fwhole": 2.0, "fhuge": 1e300, "ftiny": 5e-324,
		"yes": true, "no": false, "nil": nil,
		"list":     []any{1, "a", []byte("b"), nil, []any{}, 2.5, map[string]any{"k": "v"}},
		"nested":   map[string]any{"a": map[string]any{"b": []any{map[string]any{"c": 1.25}}}},
		"emptymap": map[string]any{},
	}
}

func pyConfig(srvs []*redistest.Server, keys ...string) interop.Config {
	cfg := interop.Config{Prefix: srvs[0].Prefix(), Keys: keys}
	for _, s := range srvs {
		cfg.Hosts = append(cfg.Hosts, s.URL())
	}
	return cfg
}

func sameTyped(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := interop.Normalize(got), interop.Normalize(interop.Typed(want))
	if !reflect.DeepEqual(g, w) {
		gm, _ := g.(map[string]any)
		wm, _ := w.(map[string]any)
		for k := range wm {
			if !reflect.DeepEqual(gm[k], wm[k]) {
				t.Errorf("%s: key %q: got %v, want %v", what, k, gm[k], wm[k])
			}
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				t.Errorf("%s: unexpected key %q", what, k)
			}
		}
		if gm == nil || wm == nil {
			t.Errorf("%s: got %v, want %v", what, g, w)
		}
	}
}

func TestInteropTypesAndChannels(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
	}{{"plain", nil}, {"encrypted", []string{"secret-1", "secret-0"}}} {
		t.Run(tc.name, func(t *testing.T) {
			srvs := redistest.StartN(t, 1)
			py := interop.Start(t, pyConfig(srvs, tc.keys...))
			l := newLayer(t, srvs, func(o *Options) { o.SymmetricEncryptionKeys = tc.keys })
			ctx := testCtx(t)

			// Go Send → Python receive, normal channel.
			if err := l.Send(ctx, "interop-normal", allTypes()); err != nil {
				t.Fatal(err)
			}
			sameTyped(t, "go→py normal", py.Receive("interop-normal"), allTypes())

			// Go Send → Python receive, process-specific channel.
			pch := py.NewChannel()
			if err := l.Send(ctx, pch, allTypes()); err != nil {
				t.Fatal(err)
			}
			sameTyped(t, "go→py specific", py.Receive(pch), allTypes())

			// Python send → Go Receive, normal channel.
			py.Must(map[string]any{"op": "send", "channel": "interop-normal", "msg": interop.Typed(allTypes())})
			m, err := l.Receive(ctx, "interop-normal")
			if err != nil {
				t.Fatal(err)
			}
			sameTyped(t, "py→go normal", interop.Typed(m), allTypes())

			// Python send → Go Listen.
			got := make(chan channels.Message, 4)
			gch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool { got <- m; return true })
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			py.Must(map[string]any{"op": "send", "channel": gch, "msg": interop.Typed(allTypes())})
			sameTyped(t, "py→go listen", interop.Typed(recv(t, got)), allTypes())

			// Python send → Go Receive on a process-specific channel.
			rch, err := l.NewChannel(ctx, "specific")
			if err != nil {
				t.Fatal(err)
			}
			py.Must(map[string]any{"op": "send", "channel": rch, "msg": interop.Typed(allTypes())})
			m, err = l.Receive(ctx, rch)
			if err != nil {
				t.Fatal(err)
			}
			sameTyped(t, "py→go receive", interop.Typed(m), allTypes())
		})
	}
}

func recv(t *testing.T, ch <-chan channels.Message) channels.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message within %v", waitTimeout)
	}
	return nil
}

// Key rotation across languages: each side decrypts what the other encrypted with a key it
// only accepts as an old one.
func TestInteropKeyRotation(t *testing.T) {
	srvs := redistest.StartN(t, 1)
	py := interop.Start(t, pyConfig(srvs, "old-key"))
	l := newLayer(t, srvs, func(o *Options) { o.SymmetricEncryptionKeys = []string{"new-key", "old-key"} })
	ctx := testCtx(t)
	py.Must(map[string]any{"op": "send", "channel": "rot", "msg": interop.Typed(channels.Message{"type": "from-py"})})
	m, err := l.Receive(ctx, "rot")
	if err != nil || m.Type() != "from-py" {
		t.Fatalf("py→go with an old key: %v %v", m, err)
	}
	py2 := interop.Start(t, pyConfig(srvs, "other", "new-key"))
	if err := l.Send(ctx, "rot", channels.Message{"type": "from-go"}); err != nil {
		t.Fatal(err)
	}
	sameTyped(t, "go→py rotation", py2.Receive("rot"), channels.Message{"type": "from-go"})
}

// TestInteropMixedGroup: one group with Go and Python members, sent to from both sides, over
// one server and over three shards.
func TestInteropMixedGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shards int
		keys   []string
	}{{"one", 1, nil}, {"sharded", 3, nil}, {"encrypted", 1, []string{"k1"}}, {"sharded-encrypted", 2, []string{"k1"}}} {
		t.Run(tc.name, func(t *testing.T) {
			srvs := redistest.StartN(t, tc.shards)
			py := interop.Start(t, pyConfig(srvs, tc.keys...))
			l := newLayer(t, srvs, func(o *Options) { o.SymmetricEncryptionKeys = tc.keys })
			ctx := testCtx(t)
			got := make(chan channels.Message, 16)
			for i := 0; i < 2; i++ {
				ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool { got <- m; return true })
				if err != nil {
					t.Fatal(err)
				}
				defer stop()
				if err := l.GroupAdd(ctx, "mixed", ch); err != nil {
					t.Fatal(err)
				}
			}
			p1, p2 := py.NewChannel(), py.NewChannel()
			py.Must(map[string]any{"op": "group_add", "group": "mixed", "channel": p1})
			py.Must(map[string]any{"op": "group_add", "group": "mixed", "channel": p2})
			py.Must(map[string]any{"op": "group_add", "group": "mixed", "channel": "mixed-worker"})

			check := func(from string) {
				t.Helper()
				for i := 0; i < 2; i++ {
					sameTyped(t, from+"→go member", interop.Typed(recv(t, got)), allTypes())
				}
				ans := py.Must(map[string]any{"op": "receive_each", "channels": []string{p1, p2}, "timeout": 10})
				for _, m := range ans["msgs"].([]any) {
					sameTyped(t, from+"→py member", m, allTypes())
				}
				// A normal-channel member, read by Go: a Python reader of a normal channel
				// polls one shard per receive call forever, so it is not a reliable reader
				// with several hosts (a channels_redis limitation).
				m, err := l.Receive(ctx, "mixed-worker")
				if err != nil {
					t.Fatal(err)
				}
				sameTyped(t, from+"→normal member", interop.Typed(m), allTypes())
			}
			if err := l.GroupSend(ctx, "mixed", allTypes()); err != nil {
				t.Fatal(err)
			}
			check("go")
			py.Must(map[string]any{"op": "group_send", "group": "mixed", "msg": interop.Typed(allTypes())})
			check("py")
			if tc.shards == 1 && tc.keys == nil {
				// The fused script's snapshot path (groups of snapshotMin members or more):
				// the first send stores the snapshot, the second uses it; Python reads both.
				l.snapMin = 1
				for i := 0; i < 2; i++ {
					if err := l.GroupSend(ctx, "mixed", allTypes()); err != nil {
						t.Fatal(err)
					}
					check("go-snapshot")
				}
				if l.Stats().GroupSnapshotHits != 1 {
					t.Fatalf("snapshot hits = %d, want 1", l.Stats().GroupSnapshotHits)
				}
				// A Python member leaves and another joins: same count, new set.
				py.Must(map[string]any{"op": "group_discard", "group": "mixed", "channel": p2})
				p3 := py.NewChannel()
				py.Must(map[string]any{"op": "group_add", "group": "mixed", "channel": p3})
				p2 = p3
				if err := l.GroupSend(ctx, "mixed", allTypes()); err != nil {
					t.Fatal(err)
				}
				check("go-snapshot-changed")
			}
			select {
			case m := <-got:
				t.Fatalf("extra message: %v", m.Type())
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestInteropShardedSpecific: a Python sender with 3 hosts hashes the full channel name
// (channels_redis#94) — the Go layer's process-specific channels still get Go's messages,
// and Go's sends reach Python's receivers on every shard layout.
func TestInteropShardedSpecific(t *testing.T) {
	srvs := redistest.StartN(t, 3)
	py := interop.Start(t, pyConfig(srvs))
	l := newLayer(t, srvs, nil)
	ctx := testCtx(t)
	for i := 0; i < 5; i++ {
		pch := py.NewChannel()
		if err := l.Send(ctx, pch, channels.Message{"type": "t", "i": i}); err != nil {
			t.Fatal(err)
		}
		sameTyped(t, "go→py sharded", py.Receive(pch), channels.Message{"type": "t", "i": i})
	}
	for i := 0; i < 3; i++ {
		py.Must(map[string]any{"op": "send", "channel": "sharded-normal", "msg": interop.Typed(channels.Message{"type": "n", "i": i})})
	}
	seen := map[int64]bool{}
	for i := 0; i < 3; i++ {
		m, err := l.Receive(ctx, "sharded-normal")
		if err != nil {
			t.Fatal(err)
		}
		seen[m["i"].(int64)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("normal channel over 3 shards: got %v", seen)
	}
}
