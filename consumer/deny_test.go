package consumer_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// deniedRooms refuses rooms by name with its own HTTP responses.
type deniedRooms struct{ room }

func (g *deniedRooms) Connect(ctx context.Context) error {
	d := &channels.Denial{Status: 401, Header: http.Header{"Www-Authenticate": {`Cookie realm="chat"`}}, Body: []byte("log in first\n")}
	switch g.Scope().Param("name") {
	case "returned":
		return fmt.Errorf("no session: %w", d)
	case "method":
		return g.Deny(ctx, d)
	}
	return g.Accept(ctx)
}

// handshake sends a WebSocket handshake to url's path and returns the response, body read.
func handshake(t *testing.T, addr, path string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestConnectDenial(t *testing.T) {
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	logger, _ := newLogger()
	for _, detach := range []bool{false, true} {
		opts := []consumer.Option{consumer.WithLayer(l), consumer.WithLogger(logger)}
		if detach {
			opts = append(opts, consumer.WithoutIdleGoroutine())
		}
		addr := strings.TrimPrefix(serveReal(t, consumer.Websocket[deniedRooms](opts...), logger), "ws://")
		for _, name := range []string{"returned", "method"} {
			resp, body := handshake(t, addr, "/room/"+name+"/")
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Cookie realm="chat"` || body != "log in first\n" {
				t.Errorf("%s: %s %v %q", name, resp.Status, resp.Header, body)
			}
		}
		if resp, _ := handshake(t, addr, "/room/closed/"); resp.StatusCode != 101 {
			t.Errorf("open room: %s", resp.Status)
		}
	}
}

// TestCloseMessageReachesConsumers closes every member of a group with one
// gochannels.close message, on a real server (carried out by the server, attached and
// detached) and on a communicator (carried out by the consumer base).
func TestCloseMessageReachesConsumers(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	logger, _ := newLogger()
	base := serveReal(t, consumer.Websocket[room](consumer.WithLayer(l), consumer.WithLogger(logger)), logger)
	baseDetached := serveReal(t, consumer.Websocket[room](consumer.WithLayer(l), consumer.WithLogger(logger), consumer.WithoutIdleGoroutine()), logger)
	a := wsDial(t, ctx, base+"/room/kick/")
	b := wsDial(t, ctx, baseDetached+"/room/kick/")
	c := connect(t, ctx, consumer.Websocket[room](consumer.WithLayer(l)), "/", route("kick"))
	sendText(t, a, "hello")
	for _, conn := range []net.Conn{a, b} {
		if got := readText(t, conn); got != "hello" {
			t.Fatalf("got %q", got)
		}
	}
	if got := mustText(t, ctx, c); got != "hello" {
		t.Fatalf("communicator got %q", got)
	}
	if err := l.GroupSend(ctx, "room_kick", channels.CloseMessage(4003, "banned")); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []net.Conn{a, b} {
		if code := readClose(t, conn); code != 4003 {
			t.Fatalf("close code %d", code)
		}
	}
	msg, err := c.ReceiveOutput(ctx)
	if err != nil || msg.Type() != channels.TypeWebsocketClose || msg.String("reason") != "banned" {
		t.Fatalf("communicator: %v %v", msg, err)
	}
	if code, _ := msg.Int("code"); code != 4003 {
		t.Fatalf("communicator close %v", msg)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("communicator wait: %v", err)
	}
}
