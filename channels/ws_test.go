package channels

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestWebsocketEchoAndScope(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		scopes := make(chan *Scope, 1)
		discs := make(chan Message, 1)
		echo := echoApp(discs)
		app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
			scopes <- scope
			if _, ok := receive.(Injector); !ok {
				t.Errorf("receiver %T is not an Injector", receive)
			}
			return echo.Serve(ctx, scope, receive, send)
		})
		_, addr := startServer(t, app, mode)
		c := dial(t, addr, "/ws/caf%C3%A9/room?x=1&y=%20", "Sec-WebSocket-Protocol: chat, superchat", "X-Custom: yes")
		sc := <-scopes
		checks := map[string][2]string{
			"Type":        {sc.Type, ScopeWebsocket},
			"Scheme":      {sc.Scheme, "ws"},
			"HTTPVersion": {sc.HTTPVersion, "1.1"},
			"Method":      {sc.Method, "GET"},
			"Path":        {sc.Path, "/ws/café/room"},
			"RawPath":     {sc.RawPath, "/ws/caf%C3%A9/room"},
			"QueryString": {sc.QueryString, "x=1&y=%20"},
			"Client":      {sc.Client, c.conn.LocalAddr().String()},
			"Server":      {sc.Server, addr},
			"X-Custom":    {sc.Headers.Get("X-Custom"), "yes"},
			"Host":        {sc.Headers.Get("Host"), addr},
		}
		for name, v := range checks {
			if v[0] != v[1] {
				t.Errorf("scope %s = %q, want %q", name, v[0], v[1])
			}
		}
		if strings.Join(sc.Subprotocols, ",") != "chat,superchat" {
			t.Errorf("Subprotocols = %q", sc.Subprotocols)
		}
		if sc.URLRoute != nil {
			t.Errorf("URLRoute = %v, want nil", sc.URLRoute)
		}
		if got := c.resp.Header.Get("Sec-WebSocket-Protocol"); got != "" {
			t.Errorf("subprotocol %q chosen without the app asking", got)
		}
		for i := 0; i < 50; i++ {
			c.send(ws.OpText, "hello ☃")
			c.expectText("hello ☃")
		}
		c.send(ws.OpBinary, "\x00\x01\xff")
		if op, p := c.next(); op != ws.OpBinary || string(p) != "\x00\x01\xff" {
			t.Fatalf("binary echo: %v %q", op, p)
		}
		// A big message (several reads, bigger than the pooled buffer).
		big := strings.Repeat("abcdefgh", 40000)
		c.send(ws.OpText, big)
		c.expectText(big)
		c.send(ws.OpClose, closePayload(1000, "done"))
		c.expectClose(1000)
		m := waitDisconnect(t, discs, 1000)
		if m.String("reason") != "done" || m.String("closed_by") != "client" {
			t.Errorf("disconnect %v, want reason done, closed_by client", m)
		}
		c.expectEOF()
	})
}

// acceptApp accepts with msg and then echoes.
func acceptApp(accept Message, acceptErr chan<- error) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := send.Send(ctx, accept); err != nil {
			acceptErr <- err
			return send.Send(ctx, Message{"type": TypeWebsocketClose})
		}
		acceptErr <- nil
		for {
			m, err := receive.Receive(ctx)
			if err != nil || m.Type() == TypeWebsocketDisconnect {
				return nil
			}
		}
	})
}

func TestAcceptSubprotocolAndHeaders(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := startServer(t, acceptApp(Message{
		"type":        TypeWebsocketAccept,
		"subprotocol": "superchat",
		"headers":     [][2]string{{"X-Accepted", "1"}, {"Set-Cookie", "a=b"}},
	}, errs), nil)
	c := dial(t, addr, "/", "Sec-WebSocket-Protocol: chat, superchat")
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if got := c.resp.Header.Get("Sec-WebSocket-Protocol"); got != "superchat" {
		t.Errorf("subprotocol %q", got)
	}
	if c.resp.Header.Get("X-Accepted") != "1" || c.resp.Header.Get("Set-Cookie") != "a=b" {
		t.Errorf("headers %v", c.resp.Header)
	}
}

func TestAcceptWithoutSubprotocol(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := startServer(t, acceptApp(Message{"type": TypeWebsocketAccept}, errs), nil)
	c := dial(t, addr, "/", "Sec-WebSocket-Protocol: chat")
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if _, ok := c.resp.Header["Sec-Websocket-Protocol"]; ok {
		t.Errorf("unexpected subprotocol header %v", c.resp.Header)
	}
}

func TestAcceptUnofferedSubprotocolIsAnError(t *testing.T) {
	errs := make(chan error, 1)
	_, addr := startServer(t, acceptApp(Message{"type": TypeWebsocketAccept, "subprotocol": "other"}, errs), nil)
	c := rawHandshake(t, addr, upgradeRequest(addr, "/", "Sec-WebSocket-Protocol: chat"))
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "not offered") {
		t.Fatalf("accept error = %v", err)
	}
	if c.resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %s, want 403", c.resp.Status)
	}
}

func TestRefuseBeforeAccept(t *testing.T) {
	discs := make(chan Message, 1)
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := send.Send(ctx, Message{"type": TypeWebsocketClose}); err != nil {
			return err
		}
		m, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		discs <- m
		return nil
	})
	_, addr := startServer(t, app, nil)
	c := rawHandshake(t, addr, upgradeRequest(addr, "/"))
	if c.resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %s, want 403", c.resp.Status)
	}
	select {
	case m := <-discs:
		if m.Type() != TypeWebsocketDisconnect {
			t.Fatalf("got %v", m)
		}
	case <-time.After(testTimeout):
		t.Fatal("no disconnect after refusal")
	}
}

func TestServerCloseCodeAndReason(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		discs := make(chan Message, 1)
		app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
			_, _ = receive.Receive(ctx)
			_ = send.Send(ctx, Message{"type": TypeWebsocketAccept})
			m, _ := receive.Receive(ctx) // any message: close
			_ = m
			if err := send.Send(ctx, Message{"type": TypeWebsocketClose, "code": 4001, "reason": "bye now"}); err != nil {
				return err
			}
			if err := send.Send(ctx, Message{"type": TypeWebsocketSend, "text": "late"}); !errors.Is(err, ErrClosed) {
				t.Errorf("send after close: %v", err)
			}
			m, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			discs <- m
			return nil
		})
		_, addr := startServer(t, app, mode)
		c := dial(t, addr, "/")
		c.send(ws.OpText, "close please")
		if reason := c.expectClose(4001); reason != "bye now" {
			t.Errorf("reason %q", reason)
		}
		m := waitDisconnect(t, discs, 4001)
		if m.String("reason") != "bye now" || m.String("closed_by") != "server" {
			t.Errorf("disconnect %v", m)
		}
		c.send(ws.OpClose, closePayload(4001, ""))
		c.expectEOF()
	})
}

func TestPeerCloseCodes(t *testing.T) {
	cases := []struct {
		name    string
		payload string
		code    int
		reason  string
	}{
		{name: "code and reason", payload: closePayload(4002, "ciao"), code: 4002, reason: "ciao"},
		{name: "no code", payload: "", code: 1005},
		{name: "going away", payload: closePayload(1001, ""), code: 1001},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			discs := make(chan Message, 1)
			_, addr := startServer(t, echoApp(discs), nil)
			c := dial(t, addr, "/")
			c.send(ws.OpClose, tc.payload)
			echoCode := tc.code
			got := c.expectClose(echoCode)
			if got != tc.reason {
				t.Errorf("echo reason %q", got)
			}
			m := waitDisconnect(t, discs, tc.code)
			if m.String("reason") != tc.reason {
				t.Errorf("disconnect %v", m)
			}
			c.expectEOF()
		})
	}
}

func TestTCPDropIs1006(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		discs := make(chan Message, 1)
		_, addr := startServer(t, echoApp(discs), mode)
		c := dial(t, addr, "/")
		c.send(ws.OpText, "x")
		c.expectText("x")
		c.conn.Close()
		if m := waitDisconnect(t, discs, 1006); m.String("closed_by") != "client" {
			t.Errorf("disconnect %v, want closed_by client", m)
		}
	})
}

func TestPingPong(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		_, addr := startServer(t, echoApp(nil), func(s *Server) {
			mode(s)
			s.PingInterval = 30 * time.Millisecond
		})
		c := dial(t, addr, "/")
		c.send(ws.OpPing, "are you there")
		sawPong, sawPing := false, false
		for !(sawPong && sawPing) {
			h, p, err := c.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			switch h.OpCode {
			case ws.OpPong:
				if string(p) != "are you there" {
					t.Fatalf("pong payload %q", p)
				}
				sawPong = true
			case ws.OpPing:
				sawPing = true
				c.send(ws.OpPong, string(p))
			}
		}
	})
}

func TestPongTimeout(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		discs := make(chan Message, 1)
		_, addr := startServer(t, echoApp(discs), func(s *Server) {
			mode(s)
			s.PingInterval = 20 * time.Millisecond
			s.PongTimeout = 60 * time.Millisecond
		})
		c := dial(t, addr, "/")
		_ = c // never answers
		waitDisconnect(t, discs, 1006)
		c.expectEOF()
	})
}

func TestKeepaliveAnsweredStaysOpen(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), func(s *Server) {
		s.PingInterval = 10 * time.Millisecond
		s.PongTimeout = 40 * time.Millisecond
	})
	c := dial(t, addr, "/")
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		h, p, err := c.readFrame()
		if err != nil {
			t.Fatalf("connection dropped although pongs were sent: %v", err)
		}
		if h.OpCode == ws.OpPing {
			c.send(ws.OpPong, string(p))
		}
	}
	c.send(ws.OpText, "still here")
	c.expectText("still here")
}

func TestIdleTimeout(t *testing.T) {
	discs := make(chan Message, 1)
	_, addr := startServer(t, echoApp(discs), func(s *Server) { s.IdleTimeout = 50 * time.Millisecond })
	c := dial(t, addr, "/")
	if reason := c.expectClose(1001); reason != "idle timeout" {
		t.Errorf("reason %q", reason)
	}
	if m := waitDisconnect(t, discs, 1001); m.String("closed_by") != "server" {
		t.Errorf("disconnect %v, want closed_by server", m)
	}
}

func TestFragmentedMessages(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		_, addr := startServer(t, echoApp(nil), mode)
		c := dial(t, addr, "/")
		c.write(frame(ws.OpText, false, []byte("hel")))
		c.write(frame(ws.OpPing, true, []byte("mid"))) // control frames may interleave
		c.write(frame(ws.OpContinuation, false, []byte("lo ")))
		// A rune split across fragments.
		snow := []byte("☃")
		c.write(frame(ws.OpContinuation, false, snow[:1]))
		c.write(frame(ws.OpContinuation, true, snow[1:]))
		op, p := c.next()
		if op != ws.OpText || string(p) != "hello ☃" {
			t.Fatalf("got %v %q", op, p)
		}
		c.write(frame(ws.OpBinary, false, []byte{1, 2}))
		c.write(frame(ws.OpContinuation, true, []byte{3}))
		if op, p := c.next(); op != ws.OpBinary || string(p) != "\x01\x02\x03" {
			t.Fatalf("got %v %q", op, p)
		}
	})
}

func TestTooBig(t *testing.T) {
	cases := []struct {
		name   string
		frames [][]byte
	}{
		{name: "frame", frames: [][]byte{frame(ws.OpBinary, true, make([]byte, 2000))}},
		{name: "message", frames: [][]byte{
			frame(ws.OpBinary, false, make([]byte, 1500)),
			frame(ws.OpContinuation, false, make([]byte, 1500)),
			frame(ws.OpContinuation, true, make([]byte, 1500)),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			discs := make(chan Message, 1)
			_, addr := startServer(t, echoApp(discs), func(s *Server) {
				s.MaxFrameSize = 1500
				s.MaxMessageSize = 4000
			})
			c := dial(t, addr, "/")
			for _, f := range tc.frames {
				c.write(f)
			}
			c.expectClose(1009)
			waitDisconnect(t, discs, 1009)
		})
	}
}

func TestInvalidUTF8(t *testing.T) {
	cases := []struct {
		name   string
		frames [][]byte
	}{
		{name: "whole message", frames: [][]byte{frame(ws.OpText, true, []byte("ok \xff bad"))}},
		{name: "truncated rune at end", frames: [][]byte{frame(ws.OpText, true, []byte("ok \xe2\x98"))}},
		{name: "fail fast on first fragment", frames: [][]byte{frame(ws.OpText, false, []byte("\xed\xa0\x80 surrogate"))}},
		{name: "close reason", frames: [][]byte{frame(ws.OpClose, true, []byte(closePayload(1000, "\xc3\x28")))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			discs := make(chan Message, 1)
			_, addr := startServer(t, echoApp(discs), nil)
			c := dial(t, addr, "/")
			for _, f := range tc.frames {
				c.write(f)
			}
			c.expectClose(1007)
			waitDisconnect(t, discs, 1007)
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	unmasked := []byte{0x81, 0x02, 'h', 'i'}
	rsv := frame(ws.OpText, true, []byte("hi"))
	rsv[0] |= 0x40
	cases := []struct {
		name string
		raw  []byte
	}{
		{name: "reserved bits", raw: rsv},
		{name: "unknown opcode", raw: frame(ws.OpCode(3), true, []byte("x"))},
		{name: "unknown control opcode", raw: frame(ws.OpCode(0xB), true, nil)},
		{name: "unmasked", raw: unmasked},
		{name: "fragmented ping", raw: frame(ws.OpPing, false, []byte("x"))},
		{name: "oversized ping", raw: frame(ws.OpPing, true, make([]byte, 126))},
		{name: "continuation without start", raw: frame(ws.OpContinuation, true, []byte("x"))},
		{name: "new message inside fragmented", raw: append(frame(ws.OpText, false, []byte("a")), frame(ws.OpText, true, []byte("b"))...)},
		{name: "close code 1005", raw: frame(ws.OpClose, true, []byte(closePayload(1005, "")))},
		{name: "close code 999", raw: frame(ws.OpClose, true, []byte(closePayload(999, "")))},
		{name: "close payload of 1 byte", raw: frame(ws.OpClose, true, []byte{3})},
		{name: "length msb", raw: []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bothModes(t, func(t *testing.T, mode func(*Server)) {
				discs := make(chan Message, 1)
				_, addr := startServer(t, echoApp(discs), mode)
				c := dial(t, addr, "/")
				c.write(tc.raw)
				c.write([]byte("trailing garbage the server must discard"))
				c.expectClose(1002)
				waitDisconnect(t, discs, 1002)
				c.conn.Close()
			})
		})
	}
}

func TestBadHandshakes(t *testing.T) {
	cases := []struct {
		name    string
		request string
		version bool
	}{
		{name: "missing key", request: "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{name: "short key", request: "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{name: "wrong version", version: true, request: "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"},
		{name: "not GET", request: "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"},
		{name: "no connection upgrade", request: "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{name: "HTTP/1.0", request: "GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	}
	called := make(chan struct{}, 10)
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		called <- struct{}{}
		return nil
	})
	_, addr := startServer(t, app, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rawHandshake(t, addr, tc.request)
			if c.resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %s, want 400", c.resp.Status)
			}
			if ct := c.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("content type %q", ct)
			}
			if tc.version && c.resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("no Sec-WebSocket-Version in %v", c.resp.Header)
			}
		})
	}
	if len(called) != 0 {
		t.Errorf("application called for a bad handshake")
	}
}

func TestApplicationFailures(t *testing.T) {
	cases := []struct {
		name string
		end  func() error
		code int
	}{
		{name: "panic", end: func() error { panic("boom") }, code: 1011},
		{name: "error", end: func() error { return errors.New("broken") }, code: 1011},
		{name: "close error", end: func() error { return &CloseError{Code: 4321, Reason: "custom"} }, code: 4321},
		{name: "nil", end: func() error { return nil }, code: 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			first := true
			echo := echoApp(nil)
			app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
				mu.Lock()
				bad := first
				first = false
				mu.Unlock()
				if !bad {
					return echo.Serve(ctx, scope, receive, send)
				}
				_, _ = receive.Receive(ctx)
				_ = send.Send(ctx, Message{"type": TypeWebsocketAccept})
				_, _ = receive.Receive(ctx)
				return tc.end()
			})
			_, addr := startServer(t, app, func(s *Server) { s.Logger = discardLogger() })
			bad := dial(t, addr, "/")
			good := dial(t, addr, "/")
			bad.send(ws.OpText, "trigger")
			bad.expectClose(tc.code)
			for i := 0; i < 3; i++ {
				good.send(ws.OpText, "fine")
				good.expectText("fine")
			}
		})
	}
}

func TestPanicBeforeAcceptIs500(t *testing.T) {
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		panic("early")
	})
	_, addr := startServer(t, app, func(s *Server) { s.Logger = discardLogger() })
	c := rawHandshake(t, addr, upgradeRequest(addr, "/"))
	if c.resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %s", c.resp.Status)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	release := make(chan struct{})
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		<-release
		return nil
	})
	_, addr := startServer(t, app, func(s *Server) { s.HandshakeTimeout = 50 * time.Millisecond })
	defer close(release)
	c := rawHandshake(t, addr, upgradeRequest(addr, "/"))
	if c.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %s", c.resp.Status)
	}
}
