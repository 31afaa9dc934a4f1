package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// denyingApp refuses every handshake with refuse, after websocket.connect.
func denyingApp(refuse func(ctx context.Context, send Sender) error) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		return refuse(ctx, send)
	})
}

func readBody(t *testing.T, c *wsClient) string {
	t.Helper()
	b, err := io.ReadAll(c.resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDenialEvents(t *testing.T) {
	app := denyingApp(func(ctx context.Context, send Sender) error {
		if err := send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseStart, "status": 401,
			"headers": [][2]string{{"WWW-Authenticate", `Bearer realm="chat"`}, {"Content-Type", "text/plain"}, {"Connection", "keep-alive"}}}); err != nil {
			return err
		}
		if err := send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseBody, "body": []byte("log in "), "more_body": true}); err != nil {
			return err
		}
		if err := send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseBody, "body": "first"}); err != nil {
			return err
		}
		return nil
	})
	_, addr := startServer(t, app, nil)
	c := rawHandshake(t, addr, upgradeRequest(addr, "/ws/"))
	if c.resp.StatusCode != 401 {
		t.Fatalf("status %s", c.resp.Status)
	}
	if got := c.resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="chat"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if got := c.resp.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type %q", got)
	}
	if body := readBody(t, c); body != "log in first" {
		t.Errorf("body %q", body)
	}
}

func TestDenialReturned(t *testing.T) {
	app := denyingApp(func(ctx context.Context, send Sender) error {
		return fmt.Errorf("too many tabs: %w", &Denial{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Body: []byte("slow down\n")})
	})
	_, addr := startServer(t, app, func(s *Server) { s.Logger = discardLogger() })
	c := rawHandshake(t, addr, upgradeRequest(addr, "/ws/"))
	if c.resp.StatusCode != 429 || c.resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("response %s %v", c.resp.Status, c.resp.Header)
	}
	if body := readBody(t, c); body != "slow down\n" {
		t.Errorf("body %q", body)
	}
}

// TestDenialDefaults checks that a close before accept is still a bare 403, and that an
// application that started its own refusal and returned has it sent as far as it got.
func TestDenialDefaults(t *testing.T) {
	_, addr := startServer(t, denyingApp(func(ctx context.Context, send Sender) error {
		return send.Send(ctx, Message{"type": TypeWebsocketClose})
	}), nil)
	if c := rawHandshake(t, addr, upgradeRequest(addr, "/ws/")); c.resp.StatusCode != 403 {
		t.Fatalf("close before accept: %s", c.resp.Status)
	}
	_, addr = startServer(t, denyingApp(func(ctx context.Context, send Sender) error {
		return send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseStart, "status": 404})
	}), nil)
	if c := rawHandshake(t, addr, upgradeRequest(addr, "/ws/")); c.resp.StatusCode != 404 || readBody(t, c) != "" {
		t.Fatalf("start without body: %s", c.resp.Status)
	}
}

func TestDenialMisuse(t *testing.T) {
	errs := make(chan error, 4)
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		errs <- send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseBody, "body": []byte("x")})
		errs <- send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseStart, "status": 101})
		if err := send.Send(ctx, Message{"type": TypeWebsocketAccept}); err != nil {
			return err
		}
		errs <- send.Send(ctx, Message{"type": TypeWebsocketHTTPResponseStart, "status": 403})
		for {
			if _, err := receive.Receive(ctx); err != nil {
				return nil
			}
		}
	})
	_, addr := startServer(t, app, nil)
	c := dial(t, addr, "/ws/")
	for i, want := range []string{"before", "invalid status", "after the handshake"} {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("misuse %d: %v, want %q", i, err, want)
		}
	}
	c.send(0x8, closePayload(1000, ""))
	c.expectClose(1000)
}

func TestDenialServeHTTP(t *testing.T) {
	d := &Denial{Status: 302, Header: http.Header{"Location": {"/login/"}}}
	rr := httptest.NewRecorder()
	d.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	if rr.Code != 302 || rr.Header().Get("Location") != "/login/" || rr.Header().Get("Content-Length") != "0" {
		t.Fatalf("%d %v", rr.Code, rr.Header())
	}
	var target *Denial
	if !errors.As(fmt.Errorf("x: %w", d), &target) || (&Denial{}).Error() != "channels: refused with HTTP 403 Forbidden" {
		t.Fatal("Denial as an error")
	}
}
