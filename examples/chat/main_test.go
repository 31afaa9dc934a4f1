package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type client struct {
	conn net.Conn
	rw   io.ReadWriter
}

func dial(t *testing.T, ctx context.Context, addr, room, origin string) (*client, error) {
	t.Helper()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+"/ws/chat/"+room+"/")
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
		ws.PutReader(br)
		r = bufio.NewReader(r)
	}
	return &client{conn: conn, rw: struct {
		io.Reader
		io.Writer
	}{r, conn}}, nil
}

func (c *client) send(t *testing.T, m string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"message": m})
	if err := wsutil.WriteClientText(c.rw, b); err != nil {
		t.Fatal(err)
	}
}

func (c *client) receive(t *testing.T) string {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wsutil.ReadServerText(c.rw)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Message string }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return m.Message
}

// TestServer runs the chat program on a real channels.Server on loopback: two clients in a
// room chat, a third in another room hears nothing, a foreign origin is refused, the pages
// are served, and a canceled context shuts the server down gracefully.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- run(runCtx, []string{"-addr", "127.0.0.1:0", "-layer", "memory://"}, logger, ready) }()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	origin := "http://" + addr

	alice, err := dial(t, ctx, addr, "lobby", origin)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.conn.Close()
	bob, err := dial(t, ctx, addr, "lobby", origin)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.conn.Close()
	eve, err := dial(t, ctx, addr, "elsewhere", origin)
	if err != nil {
		t.Fatal(err)
	}
	defer eve.conn.Close()

	alice.send(t, "hello, bob")
	if got := bob.receive(t); got != "hello, bob" {
		t.Fatalf("bob got %q", got)
	}
	if got := alice.receive(t); got != "hello, bob" {
		t.Fatalf("alice got %q", got)
	}
	bob.send(t, "hello, alice")
	if got := alice.receive(t); got != "hello, alice" {
		t.Fatalf("alice got %q", got)
	}
	if got := bob.receive(t); got != "hello, alice" {
		t.Fatalf("bob got %q", got)
	}
	_ = eve.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if b, err := wsutil.ReadServerText(eve.rw); err == nil {
		t.Fatalf("eve heard %q", b)
	}

	if c, err := dial(t, ctx, addr, "lobby", "http://evil.example"); err == nil {
		c.conn.Close()
		t.Fatal("a foreign origin was accepted")
	}

	resp, err := http.Get("http://" + addr + "/chat/lobby/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "chat-log") {
		t.Fatalf("room page: %d %s", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()

	// Shut down: every client reads its close frame (and answers it) meanwhile.
	closes := make(chan error, 3)
	for _, c := range []*client{alice, bob, eve} {
		go func() {
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := wsutil.ReadServerText(c.rw)
			closes <- err
		}()
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	for range 3 {
		err := <-closes
		var ce wsutil.ClosedError
		if !asClosed(err, &ce) || ce.Code != ws.StatusGoingAway {
			t.Fatalf("after shutdown: %v, want close 1001", err)
		}
	}
}

func asClosed(err error, ce *wsutil.ClosedError) bool {
	c, ok := err.(wsutil.ClosedError)
	if ok {
		*ce = c
	}
	return ok
}
