package middleware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/logbuf"
)

// TestRecordResponses serves a channels.Server mounted through RecordResponses on
// loopback: the access log knows the status and size of a response an http.Handler wrote
// through FromHTTPHandler, an event-based response is logged once (not twice), and a
// WebSocket handshake passes through untouched.
func TestRecordResponses(t *testing.T) {
	var logs logbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	inner := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		switch {
		case scope.Type == channels.ScopeWebsocket:
			return (&acceptApp{}).Serve(ctx, scope, receive, send)
		case scope.Path == "/events":
			if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 201}); err != nil {
				return err
			}
			return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte("made")})
		}
		return channels.FromHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", http.StatusNotFound) // "nope\n"
		})).Serve(ctx, scope, receive, send)
	})
	srv := &channels.Server{Application: AccessLog(inner, logger), Logger: logger}
	base, c := serveRecorded(t, srv)
	for path, want := range map[string]int{"/missing": 404, "/events": 201} {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{Timeout: 10 * time.Second}.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/")
	if err != nil {
		t.Fatalf("WebSocket through RecordResponses: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientMessage(conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, conn) // until the server closes
	conn.Close()

	got := accessLines(t, &logs, 3)
	for path, want := range map[string][2]float64{"/missing": {404, 5}, "/events": {201, 4}} {
		l := got[path]
		if l == nil || l["status"] != want[0] || l["bytes_out"] != want[1] {
			t.Errorf("%s logged %v; want status %v, bytes_out %v", path, l, want[0], want[1])
		}
	}
	if l := got["/ws/"]; l == nil || l["type"] != "websocket" || l["close_code"] != 1000.0 || l["closed_by"] != "application" {
		t.Errorf("/ws/ logged %v", l)
	}
}

// serveRecorded serves srv behind RecordResponses on a net/http server on a loopback port
// until the test ends, and returns its base URL and a client for it.
func serveRecorded(t *testing.T, srv *channels.Server) (base string, c *http.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: RecordResponses(srv), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	c = &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return "http://" + ln.Addr().String(), c
}
