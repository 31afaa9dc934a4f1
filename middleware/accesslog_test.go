package middleware

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
	"github.com/gochannels/gochannels/internal/logbuf"
)

// logLines returns the JSON log records written to b.
func logLines(t *testing.T, b *logbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// accessLines waits until b holds at least n log records (the server logs a request after
// the client has its response), failing the test after 10 s, and returns the access records
// by path (the last one of each path).
func accessLines(t *testing.T, b *logbuf.Buffer, n int) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(logLines(t, b)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d log records, want %d:\n%s", len(logLines(t, b)), n, b.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the log: the server signals nothing
	}
	got := map[string]map[string]any{}
	for _, l := range logLines(t, b) {
		if l["msg"] == "access" {
			got[l["path"].(string)] = l
		}
	}
	return got
}

// logApp accepts WebSockets (refusing /refuse), echoes, closes with 1011 on "fail", and
// answers HTTP with the status in the query string.
func logApp(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if _, ok := receive.(channels.Injector); !ok {
		return errors.New("the receiver lost its Injector")
	}
	if scope.Type == channels.ScopeHTTP {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		status := 200
		if scope.QueryString == "fail" {
			status = 503
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": status}); err != nil {
			return err
		}
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte("hello")})
	}
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		switch msg.Type() {
		case channels.TypeWebsocketConnect:
			typ := channels.TypeWebsocketAccept
			if scope.Path == "/refuse" {
				typ = channels.TypeWebsocketClose
			}
			if err := send.Send(ctx, channels.Message{"type": typ}); err != nil {
				return err
			}
		case channels.TypeWebsocketReceive:
			if msg.String("text") == "fail" {
				_ = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": 1011})
				continue
			}
			if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": msg.String("text") + "!"}); err != nil {
				return err
			}
		case channels.TypeWebsocketDisconnect:
			return nil
		}
	}
}

func TestAccessLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf logbuf.Buffer
	app := AccessLog(channels.ApplicationFunc(logApp), slog.New(slog.NewJSONHandler(&buf, nil)))

	for _, q := range []string{"", "fail"} {
		h := channelstest.NewHTTPCommunicator(app, "POST", "/page?"+q, []byte("abc"), channelstest.WithQueryString(q))
		if _, err := h.GetResponse(ctx); err != nil {
			t.Fatal(err)
		}
		_ = h.Wait(ctx)
	}
	c := channelstest.NewWebsocketCommunicator(app, "/ws/", channelstest.WithScope(func(s *channels.Scope) { s.Client = "192.0.2.1:5555" }))
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.SendText(ctx, "hey")
	_, _ = c.ReceiveText(ctx)
	_ = c.Disconnect(ctx, 1001)
	_ = c.Wait(ctx)
	f := channelstest.NewWebsocketCommunicator(app, "/ws/")
	_, _ = f.Connect(ctx)
	_ = f.SendText(ctx, "fail")
	_, _ = f.ReceiveOutput(ctx)
	_ = f.Disconnect(ctx, 1011)
	_ = f.Wait(ctx)
	r := channelstest.NewWebsocketCommunicator(app, "/refuse")
	_, _ = r.Connect(ctx)
	_ = r.Wait(ctx)

	lines := logLines(t, &buf)
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5: %v", len(lines), lines)
	}
	check := func(i int, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (line %v)", i, k, lines[i][k], v, lines[i])
			}
		}
		if _, ok := lines[i]["duration"]; !ok {
			t.Errorf("line %d has no duration", i)
		}
	}
	check(0, map[string]any{"level": "INFO", "type": "http", "path": "/page", "status": 200.0, "bytes_in": 3.0, "bytes_out": 5.0})
	check(1, map[string]any{"level": "WARN", "status": 503.0})
	check(2, map[string]any{"level": "INFO", "type": "websocket", "client": "192.0.2.1:5555", "close_code": 1001.0, "closed_by": "client", "bytes_in": 3.0, "bytes_out": 4.0})
	check(3, map[string]any{"level": "WARN", "close_code": 1011.0, "closed_by": "application"})
	check(4, map[string]any{"level": "INFO", "path": "/refuse", "status": 403.0})
}
