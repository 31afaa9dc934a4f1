package redislayer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/interop"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

func newPubSub(t testing.TB, srv *redistest.Server) *PubSubLayer {
	t.Helper()
	l, err := NewPubSub(PubSubOptions{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	if err != nil {
		t.Fatalf("NewPubSub: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// waitConnected waits until every shard's subscriber connection is up.
func waitConnected(t testing.TB, l *PubSubLayer) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for _, sh := range l.shards {
		for {
			sh.mu.Lock()
			up := sh.conn != nil
			sh.mu.Unlock()
			if up {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pub/sub subscriber did not connect within %v", waitTimeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// collector is a Listen callback that records messages.
type collector struct {
	mu   sync.Mutex
	msgs []channels.Message
	got  chan struct{}
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1000)} }

func (c *collector) deliver(m channels.Message) bool {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	return true
}

func (c *collector) wait(t *testing.T, n int) []channels.Message {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		if len(c.msgs) >= n {
			out := append([]channels.Message(nil), c.msgs...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", len(c.msgs), n)
		}
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func TestPubSubSemantics(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	a, b := newPubSub(t, srv), newPubSub(t, srv)
	waitConnected(t, a)
	waitConnected(t, b)

	// NewChannel + Send + Receive, named as channels_redis names them.
	ch, err := a.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch, srv.Prefix()+"specific.") || len(ch) != len(srv.Prefix()+"specific.")+32 || layers.IsProcessSpecific(ch) {
		t.Fatalf("channel name %q", ch)
	}
	if err := b.Send(ctx, ch, channels.Message{"type": "t.one", "n": 1}); err != nil {
		t.Fatal(err)
	}
	m, err := a.Receive(ctx, ch)
	if err != nil || m["type"] != "t.one" || m["n"] != int64(1) {
		t.Fatalf("Receive = %v, %v", m, err)
	}

	// Groups over two "processes": one PUBLISH reaches every local member of both.
	ca1, ca2, cb := newCollector(), newCollector(), newCollector()
	a1, stopA1, err := a.Listen(ctx, "specific", ca1.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopA1()
	a2, stopA2, err := a.Listen(ctx, "specific", ca2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	b1, stopB1, err := b.Listen(ctx, "specific", cb.deliver)
	if err != nil {
		t.Fatal(err)
	}
	for _, add := range []struct {
		l  *PubSubLayer
		ch string
	}{{a, a1}, {a, a2}, {b, b1}, {a, a1}} { // adding twice is harmless
		if err := add.l.GroupAdd(ctx, "room", add.ch); err != nil {
			t.Fatal(err)
		}
	}
	pub0 := b.Stats().Published
	if err := b.GroupSend(ctx, "room", channels.Message{"type": "chat.message", "text": "hi"}); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Published - pub0; got != 1 {
		t.Errorf("group send published %d times, want 1", got)
	}
	for _, c := range []*collector{ca1, ca2, cb} {
		if msgs := c.wait(t, 1); msgs[0]["text"] != "hi" {
			t.Errorf("group message %v", msgs[0])
		}
	}
	// A direct send to a Listen channel.
	if err := a.Send(ctx, b1, channels.Message{"type": "direct"}); err != nil {
		t.Fatal(err)
	}
	if msgs := cb.wait(t, 2); msgs[1]["type"] != "direct" {
		t.Errorf("direct message %v", msgs[1])
	}

	// Discard a2; stop b1 (leaves its groups): only a1 hears the next one.
	if err := a.GroupDiscard(ctx, "room", a2); err != nil {
		t.Fatal(err)
	}
	if err := a.GroupDiscard(ctx, "room", a2); err != nil { // not a member: fine
		t.Fatal(err)
	}
	stopB1()
	stopB1()
	bm := newCollector()
	bMark, stopBM, err := b.Listen(ctx, "specific", bm.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopBM()
	if err := b.GroupSend(ctx, "room", channels.Message{"type": "chat.message", "text": "2"}); err != nil {
		t.Fatal(err)
	}
	ca1.wait(t, 2)
	// Markers published after the group message, through a's group and b's own channel,
	// prove both subscriber loops are past it (a connection's pushes arrive in publish order
	// and are delivered as they are read).
	if err := a.GroupSend(ctx, "room", channels.Message{"type": "marker"}); err != nil {
		t.Fatal(err)
	}
	ca1.wait(t, 3)
	if err := a.Send(ctx, bMark, channels.Message{"type": "marker"}); err != nil {
		t.Fatal(err)
	}
	bm.wait(t, 1)
	if ca2.count() != 1 || cb.count() != 2 {
		t.Errorf("after discard/stop: a2 has %d (want 1), b1 has %d (want 2)", ca2.count(), cb.count())
	}
	// The group's pub/sub channel is unsubscribed by b (no members left).
	if n := numSub(t, srv, a.GroupChannel("room")); n != 1 {
		t.Errorf("subscribers of the group channel = %d, want 1 (only a)", n)
	}

	// Only local channels join groups.
	if err := a.GroupAdd(ctx, "room", "specific.elsewhere"); !errors.Is(err, layers.ErrInvalidName) {
		t.Errorf("GroupAdd of a foreign channel: %v", err)
	}
	// Bad input.
	if err := a.Send(ctx, "bad name", channels.Message{"type": "x"}); !errors.Is(err, layers.ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	if err := a.GroupSend(ctx, "room", channels.Message{"no": "type"}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Errorf("no type: %v", err)
	}
	if err := a.Send(ctx, ch, channels.Message{"type": "x", "t": time.Now()}); !errors.Is(err, layers.ErrInvalidMessage) {
		t.Errorf("time value: %v", err)
	}
	if _, err := a.Receive(ctx, a1); err == nil {
		t.Error("Receive on a Listen channel succeeded")
	}
	stopA2()
}

func numSub(t *testing.T, srv *redistest.Server, name string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := srv.Client().PubSubNumSub(ctx, name).Result()
	if err != nil {
		t.Fatal(err)
	}
	return res[name]
}

// waitNumSub waits until name has at least n subscribers.
func waitNumSub(t *testing.T, srv *redistest.Server, name string, n int64) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%q gets %d subscribers", name, n), func() bool { return numSub(t, srv, name) >= n })
}

func TestPubSubNormalChannel(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	a, b, s := newPubSub(t, srv), newPubSub(t, srv), newPubSub(t, srv)
	waitConnected(t, a)
	waitConnected(t, b)
	type res struct {
		m   channels.Message
		err error
	}
	out := make(chan res, 2)
	for _, l := range []*PubSubLayer{a, b} {
		go func() {
			m, err := l.Receive(ctx, "background-tasks")
			out <- res{m, err}
		}()
	}
	waitNumSub(t, srv, "background-tasks", 2)
	if err := s.Send(ctx, "background-tasks", channels.Message{"type": "task.a", "id": 7}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // broadcast: both readers get it
		r := <-out
		if r.err != nil || r.m["id"] != int64(7) {
			t.Fatalf("Receive = %v, %v", r.m, r.err)
		}
	}
	// A cancelled Receive unsubscribes.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := a.Receive(cctx, "other-tasks"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with a deadline: %v", err)
	}
	if n := numSub(t, srv, "other-tasks"); n != 0 {
		t.Errorf("subscribers after a cancelled Receive: %d", n)
	}
	// Close ends a Receive in progress with ErrLayerClosed.
	go func() {
		_, err := b.Receive(ctx, "third")
		out <- res{nil, err}
	}()
	waitNumSub(t, srv, "third", 1)
	_ = b.Close()
	if r := <-out; !errors.Is(r.err, layers.ErrLayerClosed) {
		t.Errorf("Receive after Close: %v", r.err)
	}
	if err := b.Send(ctx, "x", channels.Message{"type": "x"}); !errors.Is(err, layers.ErrLayerClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPubSubReconnect kills Redis under a layer with a channel and a group, checks that calls
// fail fast during the outage, restarts it and checks that the layer resubscribes by itself.
func TestPubSubReconnect(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l := newPubSub(t, srv)
	waitConnected(t, l)
	c := newCollector()
	ch, stop, err := l.Listen(ctx, "specific", c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.GroupAdd(ctx, "g", ch); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	// Calls fail by themselves during the outage, not by running out of the test's deadline.
	start := time.Now()
	if err := l.GroupSend(ctx, "g", channels.Message{"type": "lost"}); err == nil {
		t.Error("GroupSend during the outage succeeded")
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GroupSend during the outage hung until the test's %v deadline: %v", waitTimeout, err)
	} else {
		t.Logf("GroupSend during the outage failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	// New subscriptions fail at once while the subscriber is down.
	deadline := time.Now().Add(waitTimeout)
	for {
		_, err := l.NewChannel(ctx, "specific")
		if errors.Is(err, ErrNotConnected) {
			break
		}
		if err == nil && time.Now().After(deadline) {
			t.Fatal("NewChannel kept succeeding during the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}

	srv.Restart()
	back := time.Now()
	// Traffic resumes without help: group and channel subscriptions are restored.
	waitUntil(t, "a group message delivered after Redis returned", func() bool {
		_ = l.GroupSend(ctx, "g", channels.Message{"type": "after"})
		return c.count() > 0
	})
	t.Logf("group traffic resumed %v after Redis returned", time.Since(back).Round(time.Millisecond))
	n := c.count()
	if err := l.Send(ctx, ch, channels.Message{"type": "direct"}); err != nil {
		t.Fatal(err)
	}
	c.wait(t, n+1)
	if st := l.Stats(); st.Reconnects < 1 {
		t.Errorf("Stats.Reconnects = %d", st.Reconnects)
	}
}

func TestPubSubOpen(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	u := strings.Replace(srv.URL(), "redis://", "redis+pubsub://", 1) + "?prefix=" + srv.Prefix() + "&local_capacity=5"
	l, err := layers.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ps, ok := l.(*PubSubLayer)
	if !ok {
		t.Fatalf("Open(%q) = %T", u, l)
	}
	waitConnected(t, ps)
	ch, err := l.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		if err := l.Send(ctx, ch, channels.Message{"type": "x", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	// The local buffer holds 5; the rest are dropped and counted.
	deadline := time.Now().Add(waitTimeout)
	for st := ps.Stats(); st.Delivered+st.Dropped < 8 && time.Now().Before(deadline); st = ps.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	if st := ps.Stats(); st.Delivered != 5 || st.Dropped != 3 {
		t.Errorf("stats %+v, want 5 delivered and 3 dropped", st)
	}
	for _, bad := range []string{
		"redis+pubsub://",
		"redis+pubsub://h:1?expiry=5",
		"redis+pubsub://h:1?nope=1",
		"redis+pubsub://h:1/x",
		"redis+pubsub://h:1?local_capacity=0",
	} {
		if _, err := ParsePubSubURL(bad); err == nil {
			t.Errorf("ParsePubSubURL(%q) succeeded", bad)
		}
	}
	opts, err := ParsePubSubURL("rediss+pubsub://:pw@h1:6380/2?host=h2:6380&host=redis://h3:1/0")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rediss://:pw@h1:6380/2", "rediss://:pw@h2:6380/2", "redis://h3:1/0"}
	if strings.Join(opts.Hosts, " ") != strings.Join(want, " ") {
		t.Errorf("hosts %v, want %v", opts.Hosts, want)
	}
}

func TestPubSubInterop(t *testing.T) {
	srv := redistest.Start(t)
	py := interop.Start(t, interop.Config{PubSub: true, Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	ctx := testCtx(t)
	g := newPubSub(t, srv)
	waitConnected(t, g)

	// Go send → Python receive, every wire type.
	pch := py.Must(map[string]any{"op": "new_channel"})["channel"].(string)
	if !strings.HasPrefix(pch, srv.Prefix()+"specific.") {
		t.Fatalf("python channel %q", pch)
	}
	waitNumSub(t, srv, pch, 1)
	msg := allTypes()
	if err := g.Send(ctx, pch, msg); err != nil {
		t.Fatal(err)
	}
	got := py.Must(map[string]any{"op": "receive", "channel": pch})["msg"]
	sameTyped(t, "go→python", got, msg)

	// Python send → Go receive.
	gch, err := g.NewChannel(ctx, "specific.")
	if err != nil {
		t.Fatal(err)
	}
	py.Must(map[string]any{"op": "send", "channel": gch, "msg": interop.Typed(map[string]any{"type": "from.py", "n": 3, "b": []byte("x")})})
	m, err := g.Receive(ctx, gch)
	if err != nil || m["type"] != "from.py" || m["n"] != int64(3) || string(m["b"].([]byte)) != "x" {
		t.Fatalf("python→go: %v, %v", m, err)
	}

	// A mixed group: two Go members (one process) and one Python member.
	c1, c2 := newCollector(), newCollector()
	g1, stop1, err := g.Listen(ctx, "specific", c1.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop1()
	g2, stop2, err := g.Listen(ctx, "specific", c2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	for _, ch := range []string{g1, g2} {
		if err := g.GroupAdd(ctx, "mixed", ch); err != nil {
			t.Fatal(err)
		}
	}
	py.Must(map[string]any{"op": "group_add", "group": "mixed", "channel": pch})
	waitNumSub(t, srv, g.GroupChannel("mixed"), 2)

	// Python group_send reaches the Go members...
	py.Must(map[string]any{"op": "group_send", "group": "mixed", "msg": interop.Typed(map[string]any{"type": "chat.message", "text": "from python"})})
	for _, c := range []*collector{c1, c2} {
		if m := c.wait(t, 1)[0]; m["text"] != "from python" {
			t.Errorf("python group_send → go: %v", m)
		}
	}
	// ... and its own member.
	got = py.Must(map[string]any{"op": "receive", "channel": pch})["msg"]
	sameTyped(t, "python group_send → python", got, map[string]any{"type": "chat.message", "text": "from python"})

	// Go GroupSend reaches every member, Python included.
	if err := g.GroupSend(ctx, "mixed", channels.Message{"type": "chat.message", "text": "from go", "n": 1.5}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*collector{c1, c2} {
		if m := c.wait(t, 2)[1]; m["text"] != "from go" {
			t.Errorf("go group send → go: %v", m)
		}
	}
	got = py.Must(map[string]any{"op": "receive", "channel": pch})["msg"]
	sameTyped(t, "go group send → python", got, map[string]any{"type": "chat.message", "text": "from go", "n": 1.5})
}

// TestPubSubIdlePing: a subscriber connection with no subscriptions (never had any, or gave
// back its last) is out of subscriber mode, so Redis answers the idle PING with +PONG. That
// reply must not be taken for a broken connection.
func TestPubSubIdlePing(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	l := newPubSub(t, srv)
	waitConnected(t, l)
	_, stop, err := l.Listen(ctx, "specific", newCollector().deliver)
	if err != nil {
		t.Fatal(err)
	}
	stop() // the last UNSUBSCRIBE: the connection leaves subscriber mode
	// Wait for the idle PING: Redis lists a connection with no subscriptions whose last
	// command was PING, which can only be one sent after that UNSUBSCRIBE.
	rc := srv.Client()
	waitUntil(t, "an idle PING on the subscriber connection with no subscriptions", func() bool {
		list, err := rc.ClientList(ctx).Result()
		if err != nil {
			return false
		}
		for _, line := range strings.Split(list, "\n") {
			f := strings.Fields(line)
			if slices.Contains(f, "sub=0") && slices.Contains(f, "cmd=ping") {
				return true
			}
		}
		return false
	})
	// The connection still serves new subscriptions. Their confirmation comes after the
	// +PONG on the same connection, so once a message arrives the reply has been read.
	c := newCollector()
	ch, stop2, err := l.Listen(ctx, "specific", c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if err := l.Send(ctx, ch, channels.Message{"type": "after.idle"}); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 1)
	if st := l.Stats(); st.Reconnects != 0 {
		t.Fatalf("Stats.Reconnects = %d after an idle ping with no subscriptions, want 0", st.Reconnects)
	}
}

// TestPubSubSubscribeAtStart: a channel opened right after NewPubSub, before the subscriber
// connection is up, waits for that connection instead of failing (a server taking its first
// WebSocket as it starts); with Redis unreachable it still fails, at the first failed dial.
func TestPubSubSubscribeAtStart(t *testing.T) {
	srv := redistest.Start(t)
	ctx := testCtx(t)
	for i := 0; i < 20; i++ {
		l := newPubSub(t, srv)
		c := newCollector()
		ch, stop, err := l.Listen(ctx, "specific", c.deliver)
		if err != nil {
			t.Fatalf("Listen right after NewPubSub (try %d): %v", i, err)
		}
		if err := l.Send(ctx, ch, channels.Message{"type": "first"}); err != nil {
			t.Fatal(err)
		}
		c.wait(t, 1)
		stop()
		_ = l.Close()
	}

	l, err := NewPubSub(PubSubOptions{Hosts: []string{"redis://127.0.0.1:1"}}) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = l.NewChannel(ctx, "specific")
	if !errors.Is(err, ErrNotConnected) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewChannel with Redis unreachable: %v, want ErrNotConnected from the failed dial", err)
	}
	t.Logf("NewChannel with Redis unreachable failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
