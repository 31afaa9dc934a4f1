package redislayer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/redis/go-redis/v9"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newLayer(t testing.TB, servers []*redistest.Server, mod func(*Options)) *Layer {
	t.Helper()
	opts := Options{Prefix: servers[0].Prefix()}
	for _, s := range servers {
		opts.Hosts = append(opts.Hosts, s.URL())
	}
	if mod != nil {
		mod(&opts)
	}
	l, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestShardHashTable(t *testing.T) {
	// Shards as channels_redis picks them (CRC-32 of the name, masked to 12 bits, scaled to
	// n shards): the expected values are what channels_redis computes for these names.
	table := []struct {
		name string
		want [4]int // n = 2, 3, 4, 5
	}{
		{"room-1", [4]int{1, 1, 2, 2}},
		{"room-2", [4]int{1, 1, 2, 3}},
		{"chat", [4]int{0, 0, 0, 0}},
		{"background-tasks", [4]int{1, 2, 2, 3}},
		{"specific.704c7fd9f1f641c481eb6bb1e4fcce80!", [4]int{1, 2, 3, 4}},
	}
	for _, tc := range table {
		if got := shardIndex(tc.name, 1); got != 0 {
			t.Errorf("shard(%q, 1) = %d", tc.name, got)
		}
		for i, want := range tc.want {
			if got := shardIndex(tc.name, i+2); got != want {
				t.Errorf("shard(%q, %d) = %d, want %d", tc.name, i+2, got, want)
			}
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	msg := channels.Message{
		"type": "x", "s": "héllo", "b": []byte{0, 255}, "i": -5, "u": uint64(math.MaxUint64),
		"big": int64(1) << 40, "f": 1.5, "t": true, "n": nil,
		"l": []any{1, "a", []any{}}, "m": map[string]any{"k": map[string]any{}},
		"headers": [][2]string{{"a", "b"}}, "ss": []string{"x"},
	}
	var buf bytes.Buffer
	if err := encodeMessage(&buf, msg, "ch"); err != nil {
		t.Fatal(err)
	}
	got, err := decodeMessage(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got["__asgi_channel__"] != "ch" || got["i"] != int64(-5) || got["u"] != uint64(math.MaxUint64) ||
		got["big"] != int64(1)<<40 || got["f"] != 1.5 || !bytes.Equal(got.Bytes("b"), []byte{0, 255}) {
		t.Fatalf("round trip: %#v", got)
	}
	h := got["headers"].([]any)[0].([]any)
	if h[0] != "a" || h[1] != "b" {
		t.Fatalf("headers: %#v", got["headers"])
	}
}

func TestCodecRejects(t *testing.T) {
	for name, v := range map[string]any{
		"time":   time.Now(),
		"struct": struct{}{},
		"intkey": map[int]string{1: "a"},
		"chan":   make(chan int),
		"nested": map[string]any{"deep": []any{time.Second * 0, complex(1, 2)}},
	} {
		var buf bytes.Buffer
		err := encodeMessage(&buf, channels.Message{"type": "x", name: v}, nil)
		if !errors.Is(err, layers.ErrInvalidMessage) {
			t.Errorf("%s: err = %v, want ErrInvalidMessage", name, err)
		}
	}
	// Bad payloads are errors, not panics.
	for _, b := range [][]byte{nil, {0xc1}, {0x81, 0x01, 0x02}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x91, 0x01}, {0xd4, 0x01, 0x02}, {0x81, 0xa1, 'a'}} {
		if _, err := decodeMessage(b); err == nil {
			t.Errorf("decode %x: no error", b)
		}
	}
}

func TestFernetRoundTripAndRotation(t *testing.T) {
	c1, _ := newCrypter([]string{"new", "old"}, 70*time.Second)
	c2, _ := newCrypter([]string{"old"}, 70*time.Second)
	tok := c2.encrypt([]byte("payload"))
	got, err := c1.decrypt(tok)
	if err != nil || string(got) != "payload" {
		t.Fatalf("rotation decrypt: %q %v", got, err)
	}
	c3, _ := newCrypter([]string{"other"}, 70*time.Second)
	if _, err := c3.decrypt(tok); err == nil {
		t.Fatal("wrong key decrypted")
	}
	c1.now = func() time.Time { return time.Now().Add(71 * time.Second) }
	if _, err := c1.decrypt(tok); err == nil {
		t.Fatal("expired token accepted")
	}
}

func TestSendReceiveNormal(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		if err := l.Send(ctx, "background-tasks", channels.Message{"type": "task", "id": i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		m, err := l.Receive(ctx, "background-tasks")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := m.Int("id"); n != i {
			t.Fatalf("got id %d, want %d (order)", n, i)
		}
	}
	// Deadline respected while waiting: the receive's own short deadline ends it (its parent
	// has none), however late a loaded machine gets round to it.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := l.Receive(short, "background-tasks")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("empty receive: %v", err)
		}
		t.Logf("empty receive with a 300ms deadline returned after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(waitTimeout):
		t.Fatalf("empty receive did not return %v after its 300ms deadline", waitTimeout)
	}
}

func TestCapacityAndExpiryKeys(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, func(o *Options) {
		o.Capacity = 2
		o.ChannelCapacity = []layers.CapacityRule{{Pattern: "big*", Capacity: 3}}
	})
	ctx := testCtx(t)
	for i := 0; i < 2; i++ {
		if err := l.Send(ctx, "small", channels.Message{"type": "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Send(ctx, "small", channels.Message{"type": "t"}); !errors.Is(err, layers.ErrChannelFull) {
		t.Fatalf("third send: %v, want ErrChannelFull", err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Send(ctx, "bigger", channels.Message{"type": "t"}); err != nil {
			t.Fatalf("rule capacity: %v", err)
		}
	}
	c := srv.Client()
	ttl, err := c.TTL(ctx, srv.Prefix()+"small").Result()
	if err != nil || ttl <= 0 || ttl > 60*time.Second {
		t.Fatalf("TTL of channel key: %v %v", ttl, err)
	}
	zs, _ := c.ZRangeWithScores(ctx, srv.Prefix()+"small", 0, -1).Result()
	if len(zs) != 2 || math.Abs(zs[0].Score-float64(time.Now().Unix())) > 5 {
		t.Fatalf("scores: %+v", zs)
	}
}

func TestBadInput(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	if err := l.Send(ctx, "bad name", channels.Message{"type": "t"}); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
	if err := l.Send(ctx, "ok", channels.Message{"x": 1}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("no type: %v", err)
	}
	if err := l.Send(ctx, "ok", channels.Message{"type": "t", "__asgi_channel__": "x"}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("reserved: %v", err)
	}
	if err := l.Send(ctx, "ok", channels.Message{"type": "t", "when": time.Now()}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Fatalf("time.Time: %v", err)
	}
	if _, err := l.Receive(ctx, "specific.0123!abc"); !errors.Is(err, layers.ErrInvalidName) {
		t.Fatalf("foreign specific channel: %v", err)
	}
	// Garbage stored in Redis is dropped and counted; the next good message arrives.
	c := srv.Client()
	now := float64(time.Now().Unix())
	c.ZAdd(ctx, srv.Prefix()+"junk", redisZ(now-2, "short"))
	c.ZAdd(ctx, srv.Prefix()+"junk", redisZ(now-1, "123456789012\xc1\xc1"))
	if err := l.Send(ctx, "junk", channels.Message{"type": "good"}); err != nil {
		t.Fatal(err)
	}
	m, err := l.Receive(ctx, "junk")
	if err != nil || m.Type() != "good" {
		t.Fatalf("after junk: %v %v", m, err)
	}
	if s := l.Stats(); s.Undecodable != 2 {
		t.Fatalf("undecodable = %d, want 2", s.Undecodable)
	}
}

func TestListenAndLocalReceive(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	other := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	got := make(chan channels.Message, 10)
	ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool { got <- m; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := other.Send(ctx, ch, channels.Message{"type": "hello", "n": 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Type() != "hello" || m["__asgi_channel__"] != nil {
			t.Fatalf("got %v", m)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("listen: no message within %v", waitTimeout)
	}
	ch2, err := l.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatal(err)
	}
	// Sent before anyone receives: buffered locally.
	if err := other.Send(ctx, ch2, channels.Message{"type": "early"}); err != nil {
		t.Fatal(err)
	}
	m, err := l.Receive(ctx, ch2)
	if err != nil || m.Type() != "early" {
		t.Fatalf("receive local: %v %v", m, err)
	}
	stop()
	if err := other.Send(ctx, ch, channels.Message{"type": "after-stop"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return l.Stats().Dropped == 1 })
	select {
	case m := <-got:
		t.Fatalf("delivered after stop: %v", m)
	default:
	}
}

func TestParseURL(t *testing.T) {
	o, err := ParseURL("redis+sentinel://:pw@s1:26379/3?master_name=a&master_name=b&sentinel=s2:26379&prefix=p&heartbeat_timeout=off&symmetric_encryption_key=k1&symmetric_encryption_key=k2")
	if err != nil {
		t.Fatal(err)
	}
	if o.Sentinel == nil || len(o.SentinelMasters) != 2 || o.Sentinel.DB != 3 || o.Sentinel.Password != "pw" ||
		len(o.Sentinel.SentinelAddrs) != 2 || o.Prefix != "p" || o.HeartbeatTimeout != -1 || len(o.SymmetricEncryptionKeys) != 2 {
		t.Fatalf("sentinel: %+v %+v", o, o.Sentinel)
	}
	o, err = ParseURL("redis+cluster://n1:7000?host=n2:7001&group_expiry=500ms")
	if err != nil || o.Cluster == nil || len(o.Cluster.Addrs) != 2 || o.GroupExpiry != 500*time.Millisecond {
		t.Fatalf("cluster: %+v %v", o, err)
	}
	o, err = ParseURL("rediss://u:p@h:6380?host=redis://other:1/4")
	if err != nil || len(o.Hosts) != 2 || o.Hosts[0] != "rediss://u:p@h:6380/0" || o.Hosts[1] != "redis://other:1/4" {
		t.Fatalf("rediss: %+v %v", o, err)
	}
	for _, bad := range []string{
		"redis://h?bogus=1", "redis://h?capacity=0", "redis://h/x", "redis+sentinel://h", "redis://h?expiry=-1",
		"redis://h?channel_capacity=nocolon", "redis://?prefix=a", "redis+cluster://h/2",
	} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	l, err := layers.Open(context.Background(), "redis://127.0.0.1:1/0?capacity=5")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGroups(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shards int
		mod    func(*Options)
	}{
		{"fused", 1, nil},
		{"encrypted", 1, func(o *Options) { o.SymmetricEncryptionKeys = []string{"k"} }},
		{"sharded", 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvs := redistest.StartN(t, tc.shards)
			a := newLayer(t, srvs, tc.mod)
			b := newLayer(t, srvs, tc.mod)
			ctx := testCtx(t)
			var mu sync.Mutex
			counts := map[string]int{}
			var names []string
			for i, l := range []*Layer{a, a, a, b} {
				ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool {
					mu.Lock()
					counts[m.String("who")]++
					mu.Unlock()
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
				defer stop()
				_ = i
				names = append(names, ch)
				if err := a.GroupAdd(ctx, "room", ch); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.GroupAdd(ctx, "room", "worker-chan"); err != nil {
				t.Fatal(err)
			}
			if err := b.GroupSend(ctx, "room", channels.Message{"type": "chat", "who": "x"}); err != nil {
				t.Fatal(err)
			}
			if s := b.Stats(); s.GroupWrites != 3 {
				t.Fatalf("group writes = %d, want 3 (two inboxes + one normal channel)", s.GroupWrites)
			}
			m, err := a.Receive(ctx, "worker-chan")
			if err != nil || m.Type() != "chat" {
				t.Fatalf("normal member: %v %v", m, err)
			}
			waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return counts["x"] == 4 })
			if err := a.GroupDiscard(ctx, "room", names[0]); err != nil {
				t.Fatal(err)
			}
			if err := a.GroupSend(ctx, "room", channels.Message{"type": "chat", "who": "y"}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return counts["y"] == 3 })
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitUntil(t, "condition", cond)
}

func TestFlush(t *testing.T) {
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	c := srv.Client()
	_ = l.Send(ctx, "a", channels.Message{"type": "t"})
	_ = l.GroupAdd(ctx, "g", "a")
	c.ZAdd(ctx, srv.Prefix()+"a$inflight", redisZ(1, "x"))
	c.Set(ctx, "unrelated", "1", 0)
	defer c.Del(context.Background(), "unrelated")
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _ := c.Keys(ctx, "*").Result()
	if len(keys) != 1 || keys[0] != "unrelated" {
		t.Fatalf("keys after flush: %v", keys)
	}
}

func TestPruneDeadGoProcess(t *testing.T) {
	srv := redistest.Start(t)
	mod := func(o *Options) { o.HeartbeatTimeout = 600 * time.Millisecond }
	sender := newLayer(t, []*redistest.Server{srv}, mod)
	ctx := testCtx(t)
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
			if split {
				sender.hasRules = true // force the two-phase path
				defer func() { sender.hasRules = false }()
			}
			dead := newLayer(t, []*redistest.Server{srv}, mod)
			ch, stop, err := dead.Listen(ctx, "specific", func(channels.Message) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			stop()
			// Wait for this layer's own registry entry (the previous subtest's dead process
			// may still be listed): a process that never beat is kept, like a Python one.
			inbox := ch[:strings.IndexByte(ch, '!')+1]
			waitFor(t, func() bool {
				_, err := srv.Client().ZScore(ctx, srv.Prefix()+":gochannels:alive", inbox).Result()
				return err == nil
			})
			_ = sender.GroupAdd(ctx, "pr", ch)
			_ = sender.GroupAdd(ctx, "pr", "specific.pythonproc!abc") // no registry entry: kept
			// Crash: stop the loops without the goodbye heartbeat.
			dead.crash()
			before := sender.Stats().Pruned
			waitFor(t, func() bool {
				_ = sender.GroupSend(ctx, "pr", channels.Message{"type": "t"})
				return sender.Stats().Pruned > before
			})
			members, _ := srv.Client().ZRange(ctx, srv.Prefix()+":group:pr", 0, -1).Result()
			if len(members) != 1 || members[0] != "specific.pythonproc!abc" {
				t.Fatalf("members after prune: %v", members)
			}
		})
	}
}

func TestRedisRestart(t *testing.T) {
	srv := redistest.StartPrivate(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	sender := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	got := make(chan channels.Message, 100)
	ch, stop, err := l.Listen(ctx, "specific", func(m channels.Message) bool { got <- m; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := sender.Send(ctx, ch, channels.Message{"type": "before"}); err != nil {
		t.Fatal(err)
	}
	<-got
	errorsBefore := l.Stats().ReceiveErrors
	srv.Kill()
	// Calls fail by themselves while Redis is away: the error is Redis's absence, not the
	// caller's deadline running out (which only stops a hung test).
	start := time.Now()
	err = sender.Send(ctx, ch, channels.Message{"type": "lost"})
	if err == nil {
		t.Fatal("send with Redis down succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send with Redis down hung until the test's %v deadline: %v", waitTimeout, err)
	}
	t.Logf("send with Redis down failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	// The listener's receive loop sees the outage before Redis returns.
	waitUntil(t, "the receive loop reports a failed call with Redis down", func() bool {
		return l.Stats().ReceiveErrors > errorsBefore
	})
	srv.Restart()
	back := time.Now()
	// Traffic resumes by itself.
	deadline := time.After(waitTimeout)
	for {
		_ = sender.Send(ctx, ch, channels.Message{"type": "after"})
		select {
		case m := <-got:
			if m.Type() == "after" {
				t.Logf("traffic resumed %v after Redis came back", time.Since(back).Round(time.Millisecond))
				return
			}
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("traffic did not resume: no message %v after Redis came back", waitTimeout)
		}
	}
}

// A process adds its channels back to their groups when Redis comes back empty: after a
// heartbeat gap (a 1 s outage, 600 ms heartbeat timeout), and after a restart quick enough
// that go-redis's command retries hide it from the receive loop (no call fails; heartbeats at
// their default 10 s tick), where the new server's run_id gives it away.
func TestRejoinAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mod    func(*Options)
		outage time.Duration
	}{
		{"heartbeat gap", func(o *Options) { o.HeartbeatTimeout = 600 * time.Millisecond }, time.Second},
		{"quick restart", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.StartPrivate(t)
			l := newLayer(t, []*redistest.Server{srv}, tc.mod)
			ctx := testCtx(t)
			ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if err := l.GroupAdd(ctx, "room", ch); err != nil {
				t.Fatal(err)
			}
			srv.Kill()
			// The outage's length is part of the case (longer than the heartbeat timeout, or
			// none): a sleep only lengthens it on a slow machine, so nothing waits on it.
			time.Sleep(tc.outage)
			srv.Restart()
			c := srv.Client()
			waitFor(t, func() bool {
				ms, _ := c.ZRange(ctx, srv.Prefix()+":group:room", 0, -1).Result()
				return len(ms) == 1 && ms[0] == ch
			})
		})
	}
}

func TestRestartWatch(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	var logs logbuf.Buffer
	changed := make(chan struct{}, 10)
	w := &restartWatch{addr: "test", log: slog.New(slog.NewTextHandler(&logs, nil)), changed: func() { changed <- struct{}{} }}
	prevCalls := 0
	o, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.OnConnect = w.hook(func(context.Context, *redis.Conn) error { prevCalls++; return nil })
	c := redis.NewClient(o)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if prevCalls != 1 || len(changed) != 0 {
		t.Fatalf("after the first connection: caller's OnConnect ran %d times, %d changes", prevCalls, len(changed))
	}
	srv.Kill()
	srv.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		// The pooled connection died with the old server; the retry dials the new one.
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-changed:
	case <-time.After(waitTimeout):
		t.Fatalf("no change reported %v after the server restarted", waitTimeout)
	}
	if !strings.Contains(logs.String(), "new run_id") {
		t.Errorf("log does not tell of the restart: %s", logs.String())
	}
	// A server that refuses INFO disables the check without failing connections.
	if err := srv.Client().Do(ctx, "ACL", "SETUSER", "default", "-info").Err(); err != nil {
		t.Fatal(err)
	}
	c2 := redis.NewClient(o)
	defer c2.Close()
	if err := c2.Ping(ctx).Err(); err != nil {
		t.Fatalf("a connection to a server refusing INFO failed: %v", err)
	}
	w.mu.Lock()
	off := w.off
	w.mu.Unlock()
	if !off {
		t.Error("the check stays on although the server refuses INFO")
	}
}

func TestRunID(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nrun_id:4b1d8c0e\r\ntcp_port:6379\r\n"
	if id, sentinel := runID(info); id != "4b1d8c0e" || sentinel {
		t.Errorf("runID = %q, %v", id, sentinel)
	}
	if _, sentinel := runID("# Server\r\nredis_mode:sentinel\r\nrun_id:ab\r\n"); !sentinel {
		t.Error("a Sentinel's INFO not recognised")
	}
	if id, _ := runID("# Server\r\n"); id != "" {
		t.Errorf("runID without the field = %q", id)
	}
}
