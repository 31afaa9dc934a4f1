package middleware

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a channels.Sender that records what the application sent.
type recorder struct {
	mu   sync.Mutex
	msgs []channels.Message
}

func (r *recorder) Send(ctx context.Context, msg channels.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []string
	for _, m := range r.msgs {
		ts = append(ts, m.Type())
	}
	return ts
}

// serve runs app on scope with the scope type's usual events queued (a WebSocket connect
// then disconnect, or one HTTP request) and returns what it sent.
func serve(t *testing.T, app channels.Application, scope *channels.Scope) *recorder {
	t.Helper()
	mb := channels.NewMailbox(8)
	switch scope.Type {
	case channels.ScopeWebsocket:
		_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
		mb.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": 1000})
	case channels.ScopeHTTP:
		_ = mb.Inject(channels.Message{"type": channels.TypeHTTPRequest, "body": []byte{}})
		mb.Close(channels.Message{"type": channels.TypeHTTPDisconnect})
	default:
		mb.Close(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := &recorder{}
	if err := app.Serve(ctx, scope, mb, rec); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return rec
}

// acceptApp accepts a WebSocket or answers an HTTP request with 200, and records that it ran.
type acceptApp struct{ ran bool }

func (a *acceptApp) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	a.ran = true
	switch scope.Type {
	case channels.ScopeWebsocket:
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		return send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept})
	case channels.ScopeHTTP:
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 200})
	}
	return nil
}

func wsScope(headers ...string) *channels.Scope {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	return &channels.Scope{Type: channels.ScopeWebsocket, Scheme: "ws", Method: "GET", Path: "/ws/", Headers: h}
}

func httpScope(headers ...string) *channels.Scope {
	s := wsScope(headers...)
	s.Type, s.Scheme = channels.ScopeHTTP, "http"
	return s
}
