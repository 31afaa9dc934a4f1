package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/layers"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newLogger() (*slog.Logger, *logbuf.Buffer) {
	buf := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func connect(t *testing.T, ctx context.Context, app channels.Application, path string, opts ...channelstest.Option) *channelstest.WebsocketCommunicator {
	t.Helper()
	c := channelstest.NewWebsocketCommunicator(app, path, opts...)
	res, err := c.Connect(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if !res.Accepted {
		t.Fatalf("connect refused: %+v", res)
	}
	return c
}

func wantClose(t *testing.T, ctx context.Context, c *channelstest.WebsocketCommunicator, code int) {
	t.Helper()
	msg, err := c.ReceiveOutput(ctx)
	if err != nil {
		t.Fatalf("want close %d: %v", code, err)
	}
	if msg.Type() != channels.TypeWebsocketClose {
		t.Fatalf("want close %d, got %v", code, msg)
	}
	if got, _ := msg.Int("code"); got != code {
		t.Fatalf("close code %d, want %d (%v)", got, code, msg)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
}

// room is a chat consumer: it joins the group named by its route, broadcasts what it
// receives and records its hook calls.
type room struct {
	consumer.WebsocketConsumer
	disconnected bool
}

func (r *room) Groups() []string { return []string{"room_" + r.Scope().Param("name")} }

func (r *room) Connect(ctx context.Context) error {
	if r.Scope().Param("name") == "closed" {
		return consumer.ErrDeny
	}
	if r.Scope().Param("name") == "custom" {
		return &channels.CloseError{Code: 4001, Reason: "custom"}
	}
	return r.Accept(ctx)
}

func (r *room) Receive(ctx context.Context, text string, data []byte) error {
	switch text {
	case "panic":
		panic("boom")
	case "fail":
		return errors.New("receive failed")
	case "unknown":
		return r.GroupSend(ctx, "room_"+r.Scope().Param("name"), channels.Message{"type": "no.such_handler"})
	case "joined":
		return r.GroupSend(ctx, "room_"+r.Scope().Param("name"), channels.Message{"type": "user_joined.now", "who": "x"})
	}
	return r.GroupSend(ctx, "room_"+r.Scope().Param("name"), channels.Message{"type": "chat.message", "text": text})
}

func (r *room) ChatMessage(ctx context.Context, msg channels.Message) error {
	return r.SendText(ctx, msg.String("text"))
}

func (r *room) UserJoinedNow(ctx context.Context, msg channels.Message) error {
	return r.SendText(ctx, "joined:"+msg.String("who"))
}

func (r *room) Disconnect(ctx context.Context, code int) error {
	r.disconnected = true
	return nil
}

func route(name string) channelstest.Option {
	return channelstest.WithURLRoute(map[string]string{"name": name})
}

func TestGroupsBroadcastAndLeave(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[room](consumer.WithLayer(l))

	a := connect(t, ctx, app, "/ws/a/", route("lobby"))
	b := connect(t, ctx, app, "/ws/b/", route("lobby"))
	other := connect(t, ctx, app, "/ws/c/", route("elsewhere"))

	if err := a.SendText(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*channelstest.WebsocketCommunicator{a, b} {
		if got, err := c.ReceiveText(ctx); err != nil || got != "hello" {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	if err := b.SendText(ctx, "joined"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ReceiveText(ctx); err != nil || got != "joined:x" {
		t.Fatalf("UserJoinedNow: got %q, %v", got, err)
	}
	if got, err := b.ReceiveText(ctx); err != nil || got != "joined:x" {
		t.Fatalf("UserJoinedNow: got %q, %v", got, err)
	}
	if !other.ReceiveNothing(ctx, 50*time.Millisecond) {
		t.Fatal("another room saw the message")
	}

	if err := b.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	// b has left the group: only a receives.
	if err := a.SendText(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ReceiveText(ctx); err != nil || got != "again" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := a.Disconnect(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	if err := other.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

func TestDisconnectHookAndGroupsLeftOnAbnormalEnd(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[room](consumer.WithLayer(l))
	// Run Serve directly so the test can end the scope without a disconnect event.
	mb := channels.NewMailbox(8)
	out := channels.NewMailbox(8)
	scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/", URLRoute: map[string]string{"name": "x"}}
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, scope, mb, channels.SendFunc(func(ctx context.Context, m channels.Message) error { return out.Inject(m) }))
	}()
	_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
	if m, err := out.Receive(ctx); err != nil || m.Type() != channels.TypeWebsocketAccept {
		t.Fatalf("accept: %v %v", m, err)
	}
	// The group has a member now: a group send reaches the consumer.
	if err := l.GroupSend(ctx, "room_x", channels.Message{"type": "chat.message", "text": "hi"}); err != nil {
		t.Fatal(err)
	}
	if m, err := out.Receive(ctx); err != nil || m.String("text") != "hi" {
		t.Fatalf("group message: %v %v", m, err)
	}
	mb.Close(nil) // the scope ends with no disconnect event
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The group is empty: a send to it reaches nobody (and the listener is stopped).
	if err := l.GroupSend(ctx, "room_x", channels.Message{"type": "chat.message", "text": "late"}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("message after the end: %d queued", out.Len())
	}
}

func TestDenyAndCloseError(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[room](consumer.WithLayer(l))
	for _, tc := range []struct {
		name string
		code int
	}{{"closed", 1000}, {"custom", 4001}} {
		c := channelstest.NewWebsocketCommunicator(app, "/", route(tc.name))
		res, err := c.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted || res.Code != tc.code {
			t.Fatalf("%s: %+v, want refused with %d", tc.name, res, tc.code)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("%s: wait: %v", tc.name, err)
		}
	}
}

func TestFailuresClose1011AndOthersCarryOn(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	logger, logs := newLogger()
	app := consumer.Websocket[room](consumer.WithLayer(l), consumer.WithLogger(logger))
	survivor := connect(t, ctx, app, "/", route("s"))

	for _, text := range []string{"panic", "fail", "unknown"} {
		c := connect(t, ctx, app, "/", route("f"))
		if err := c.SendText(ctx, text); err != nil {
			t.Fatal(err)
		}
		wantClose(t, ctx, c, channels.CloseInternalError)
	}
	out := logs.String()
	for _, want := range []string{"panic: boom", "receive failed", `no handler for message type \"no.such_handler\"`, "NoSuchHandler", "consumer_test.room"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if err := survivor.SendText(ctx, "still here"); err != nil {
		t.Fatal(err)
	}
	if got, err := survivor.ReceiveText(ctx); err != nil || got != "still here" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := survivor.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

// plain has no hooks at all: it is accepted and ignores frames.
type plain struct{ consumer.WebsocketConsumer }

func TestNoLayer(t *testing.T) {
	ctx := testCtx(t)
	app := consumer.Websocket[noLayer]()
	c := connect(t, ctx, app, "/")
	if err := c.SendText(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	var got struct{ Name, Err string }
	if err := json.Unmarshal([]byte(mustText(t, ctx, c)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "" || !strings.Contains(got.Err, "no channel layer") {
		t.Fatalf("without a layer: channel name %q, GroupSend error %q", got.Name, got.Err)
	}
	if err := c.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}

	p := connect(t, ctx, consumer.Websocket[plain](), "/")
	if err := p.SendBytes(ctx, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if !p.ReceiveNothing(ctx, 20*time.Millisecond) {
		t.Fatal("plain consumer answered")
	}
	if err := p.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

type noLayer struct{ consumer.WebsocketConsumer }

func (n *noLayer) Receive(ctx context.Context, text string, data []byte) error {
	err := n.GroupSend(ctx, "g", channels.Message{"type": "x"})
	if !errors.Is(err, consumer.ErrNoLayer) {
		return errors.New("GroupSend without a layer did not fail with ErrNoLayer")
	}
	b, _ := json.Marshal(map[string]string{"name": n.ChannelName(), "err": err.Error()})
	return n.SendText(ctx, string(b))
}

func mustText(t *testing.T, ctx context.Context, c *channelstest.WebsocketCommunicator) string {
	t.Helper()
	s, err := c.ReceiveText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReceiverNotInjector runs a consumer with a Receiver that cannot take layer messages:
// the consumer makes its own mailbox and still gets them.
func TestReceiverNotInjector(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[room](consumer.WithLayer(l))
	mb := channels.NewMailbox(8)
	out := channels.NewMailbox(8)
	scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/", URLRoute: map[string]string{"name": "ni"}}
	done := make(chan error, 1)
	onlyReceive := channels.ReceiveFunc(mb.Receive)
	go func() {
		done <- app.Serve(ctx, scope, onlyReceive, channels.SendFunc(func(ctx context.Context, m channels.Message) error { return out.Inject(m) }))
	}()
	_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
	if m, err := out.Receive(ctx); err != nil || m.Type() != channels.TypeWebsocketAccept {
		t.Fatalf("accept: %v %v", m, err)
	}
	_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketReceive, "text": "via layer"})
	if m, err := out.Receive(ctx); err != nil || m.String("text") != "via layer" {
		t.Fatalf("echo through the group: %v %v", m, err)
	}
	_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": 1000})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestContextCanceled(t *testing.T) {
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[room](consumer.WithLayer(l))
	ctx, cancel := context.WithCancel(context.Background())
	mb := channels.NewMailbox(8)
	scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/", URLRoute: map[string]string{"name": "c"}}
	done := make(chan error, 1)
	accepted := make(chan struct{}, 1)
	send := channels.SendFunc(func(_ context.Context, m channels.Message) error {
		if m.Type() == channels.TypeWebsocketAccept {
			accepted <- struct{}{}
		}
		return nil
	})
	go func() { done <- app.Serve(ctx, scope, mb, send) }()
	_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
	// Cancel once the consumer is connected and waiting for events.
	select {
	case <-accepted:
	case <-time.After(60 * time.Second):
		t.Fatal("the consumer never accepted the connection")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// goodbye reports its Disconnect calls on a channel given through the scope.
type goodbye struct{ consumer.WebsocketConsumer }

type byeKey struct{}

func (g *goodbye) Disconnect(ctx context.Context, code int) error {
	g.Scope().Value(byeKey{}).(chan int) <- code
	return nil
}

func TestDisconnectHookGetsCode(t *testing.T) {
	ctx := testCtx(t)
	codes := make(chan int, 4)
	app := consumer.Websocket[goodbye]()
	c := connect(t, ctx, app, "/", channelstest.WithScopeValue(byeKey{}, codes))
	if err := c.Disconnect(ctx, 4321); err != nil {
		t.Fatal(err)
	}
	if got := <-codes; got != 4321 {
		t.Fatalf("Disconnect got %d", got)
	}
	// A failing handler: the consumer closes with 1011, and Disconnect still runs, once.
	logger, _ := newLogger()
	c = connect(t, ctx, consumer.Websocket[goodbye](consumer.WithLogger(logger)), "/", channelstest.WithScopeValue(byeKey{}, codes))
	_ = c.Receiver().Inject(channels.Message{"type": "missing"})
	wantClose(t, ctx, c, channels.CloseInternalError)
	if got := <-codes; got != channels.CloseInternalError {
		t.Fatalf("Disconnect got %d", got)
	}
	if len(codes) != 0 {
		t.Fatal("Disconnect called twice")
	}
}
