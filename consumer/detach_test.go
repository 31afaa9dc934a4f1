package consumer_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
)

// serveReal serves app with a real channels.Server on loopback, routed at /room/{name}/.
func serveReal(t *testing.T, app channels.Application, logger *slog.Logger) string {
	t.Helper()
	srv := &channels.Server{Application: router.URL(router.Path("/room/{name}/", app)), Logger: logger}
	return "ws://" + channelstest.Serve(t, srv)
}

func wsDial(t *testing.T, ctx context.Context, url string) net.Conn {
	t.Helper()
	conn, _, _, err := ws.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readText(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// readClose reads until the server's close frame and returns its code.
func readClose(t *testing.T, conn net.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, err := wsutil.ReadServerText(conn)
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			return int(ce.Code)
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}

func sendText(t *testing.T, conn net.Conn, text string) {
	t.Helper()
	if err := wsutil.WriteClientText(conn, []byte(text)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// TestWithoutIdleGoroutine runs the room consumer detached on a real server: group
// broadcast, channel-layer handlers, the failure policy and the leaving of groups behave as
// on a goroutine, and idle connections hold no goroutine.
func TestWithoutIdleGoroutine(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	logger, logs := newLogger()
	app := consumer.Websocket[room](consumer.WithLayer(l), consumer.WithLogger(logger), consumer.WithoutIdleGoroutine())
	base := serveReal(t, app, logger)

	a := wsDial(t, ctx, base+"/room/x/")
	b := wsDial(t, ctx, base+"/room/x/")
	sendText(t, a, "warm")
	for _, c := range []net.Conn{a, b} {
		if got := readText(t, c); got != "warm" {
			t.Fatalf("got %q", got)
		}
	}

	// Idle connections hold no goroutine.
	before := stableGoroutines()
	var idle []net.Conn
	for range 20 {
		c := wsDial(t, ctx, base+"/room/idle/")
		idle = append(idle, c)
	}
	sendText(t, idle[0], "ping")
	for _, c := range idle {
		if got := readText(t, c); got != "ping" {
			t.Fatalf("got %q", got)
		}
	}
	if after := stableGoroutines(); after-before > 5 {
		t.Errorf("goroutines: %d before, %d with 20 more idle connections", before, after)
	}

	// In order, one at a time: a burst from one client reaches the other in order.
	for _, s := range []string{"1", "2", "3", "4", "5"} {
		sendText(t, a, s)
	}
	for _, want := range []string{"1", "2", "3", "4", "5"} {
		if got := readText(t, b); got != want {
			t.Fatalf("b got %q, want %q", got, want)
		}
	}
	sendText(t, a, "joined")
	if got := readText(t, b); got != "joined:x" {
		t.Fatalf("b got %q", got)
	}

	// Failure policy: a panicking hook closes its own connection with 1011.
	p := wsDial(t, ctx, base+"/room/x/")
	sendText(t, p, "panic")
	if code := readClose(t, p); code != channels.CloseInternalError {
		t.Fatalf("close code %d, want 1011", code)
	}
	if !strings.Contains(logs.String(), "panic: boom") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}

	// Groups are left when the connections end.
	for _, c := range append(idle, a, b) {
		_ = ws.WriteFrame(c, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, ""))))
		if code := readClose(t, c); code != 1000 {
			t.Fatalf("close code %d", code)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sent := l.Stats().Sent
		if err := l.GroupSend(ctx, "room_x", channels.Message{"type": "chat.message", "text": "late"}); err != nil {
			t.Fatal(err)
		}
		if l.Stats().Sent == sent {
			break // nobody left in the group
		}
		if time.Now().After(deadline) {
			t.Fatal("the group still has members after every connection ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stableGoroutines returns the goroutine count once it stops changing.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for range 200 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// TestWithoutIdleGoroutineCommunicator checks that the option changes nothing where the
// Receiver cannot detach (channelstest's): the consumer stays on its goroutine.
func TestWithoutIdleGoroutineCommunicator(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[room](consumer.WithLayer(l), consumer.WithoutIdleGoroutine())
	a := connect(t, ctx, app, "/", route("c"))
	b := connect(t, ctx, app, "/", route("c"))
	if err := a.SendText(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*channelstest.WebsocketCommunicator{a, b} {
		if got := mustText(t, ctx, c); got != "hello" {
			t.Fatalf("got %q", got)
		}
	}
	for _, c := range []*channelstest.WebsocketCommunicator{a, b} {
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
}
