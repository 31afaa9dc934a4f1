package middleware

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/logbuf"
)

// TestAccessLogCountsRequestBody: bytes_in is the request body of a POST, whether an
// http.Handler reads it itself (FromHTTPHandler on a server mounted through RecordResponses,
// where no event carries it) or the application receives it as http.request events (counted
// once, not twice); a GET logs 0.
func TestAccessLogCountsRequestBody(t *testing.T) {
	var logs logbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	inner := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Path == "/events" {
			for {
				m, err := receive.Receive(ctx)
				if err != nil {
					return err
				}
				if m.Type() == channels.TypeHTTPRequest && !m.Bool("more_body") {
					break
				}
			}
			if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 204}); err != nil {
				return err
			}
			return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody})
		}
		return channels.FromHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		})).Serve(ctx, scope, receive, send)
	})
	srv := &channels.Server{Application: AccessLog(inner, logger), Logger: logger}
	base, c := serveRecorded(t, srv)
	body := strings.Repeat("x", 70_000) // more than one read, and than one event
	requests := []struct {
		method, path string
		want         float64
	}{
		{http.MethodPost, "/handler", 70_000},
		{http.MethodPost, "/events", 70_000},
		{http.MethodGet, "/get", 0},
	}
	for _, rq := range requests {
		var rd io.Reader
		if rq.method == http.MethodPost {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(rq.method, base+rq.path, rd)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s %s: status %d", rq.method, rq.path, resp.StatusCode)
		}
	}

	got := accessLines(t, &logs, len(requests))
	for _, rq := range requests {
		if l := got[rq.path]; l == nil || l["bytes_in"] != rq.want || l["status"] != 204.0 {
			t.Errorf("%s %s logged %v; want status 204, bytes_in %v", rq.method, rq.path, l, rq.want)
		}
	}
}
