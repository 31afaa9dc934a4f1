package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) {
	proctest.RunMainIfChild(main)
	goleak.VerifyTestMain(m, redistest.LeakOptions()...)
}

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

// TestOperations runs the program as a process and checks its operations side: /healthz,
// /readyz, /metrics with connection and message counters after a WebSocket exchange (and
// the page, an http.Handler, counted as 2xx), the access log, and the drain on SIGTERM:
// /readyz turns 503 while the WebSocket stays open, the WebSocket then gets close 1001, and
// the process exits 0.
func TestOperations(t *testing.T) {
	p := proctest.Start(t, "chat", "-addr", "127.0.0.1:0", "-layer", "memory://", "-drain-delay", "2s")
	base := "http://" + p.Addr
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/readyz", "/chat/lobby/"} {
		if code, body := proctest.Get(t, c, base+path); code != 200 {
			t.Fatalf("%s = %d %q", path, code, body)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, err := dial(t, ctx, p.Addr, "lobby", base)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.conn.Close()
	alice.send(t, "hello")
	if got := alice.receive(t); got != "hello" {
		t.Fatalf("got %q", got)
	}

	p.CheckMetrics(t, c, map[string]float64{
		`gochannels_connections_total{type="websocket"}`:       1,
		`gochannels_connections_open{type="websocket"}`:        1,
		`gochannels_messages_received_total{type="websocket"}`: 1,
		`gochannels_messages_sent_total{type="websocket"}`:     1,
		`gochannels_http_responses_total{class="2xx"}`:         1,
		`gochannels_layer_operations_total{op="group_send"}`:   1,
	})

	closed := make(chan error, 1)
	go func() {
		_ = alice.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := wsutil.ReadServerText(alice.rw) // answers the close frame
		closed <- err
	}()
	p.Drain(t, c, closed, `msg=access type=websocket path=/ws/chat/lobby/`, `close_code=1001 closed_by=server`, `msg=access type=http path=/chat/lobby/`)
}

// TestUnixSocket serves the chat on -addr unix:/path: the page, /healthz and a chat
// exchange work over the socket, the access log shows an empty client address, and the
// socket file is removed at shutdown.
func TestUnixSocket(t *testing.T) {
	sock := t.TempDir() + "/chat.sock"
	var logs logbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-addr", "unix:" + sock, "-layer", "memory://", "-drain-delay", "0", "-allowed-hosts", "chat.test"}, logger, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	dialUnix := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: dialUnix}, Timeout: 10 * time.Second}
	for _, path := range []string{"/healthz", "/chat/lobby/"} {
		if code, body := proctest.Get(t, c, "http://chat.test"+path); code != 200 {
			t.Fatalf("%s = %d %q", path, code, body)
		}
	}
	c.CloseIdleConnections()
	d := ws.Dialer{NetDial: dialUnix, Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {"http://chat.test"}})}
	conn, br, _, err := d.Dial(ctx, "ws://chat.test/ws/chat/lobby/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if br != nil {
		ws.PutReader(br)
	}
	cl := &client{conn: conn, rw: conn}
	cl.send(t, "over unix")
	if got := cl.receive(t); got != "over unix" {
		t.Fatalf("got %q", got)
	}
	closed := make(chan error, 1)
	go func() {
		_, err := wsutil.ReadServerText(conn)
		closed <- err
	}()
	stop()
	var ce wsutil.ClosedError
	if err := <-closed; !asClosed(err, &ce) || ce.Code != ws.StatusGoingAway {
		t.Fatalf("at shutdown: %v, want close 1001", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
	log := logs.String()
	for _, want := range []string{`msg=access type=http path=/chat/lobby/ client="" method=GET status=200`, `msg=access type=websocket path=/ws/chat/lobby/ client=""`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
