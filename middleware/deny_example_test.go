package middleware_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

func ExampleDenyWith() {
	chat := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		return nil
	})
	// Refused handshakes get this response instead of a bare 403.
	refused := middleware.DenyWith(&channels.Denial{
		Status: http.StatusForbidden,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"error": "origin not allowed"}`),
	})
	app := middleware.OriginValidatorWith(chat, refused, "example.com")

	mb := channels.NewMailbox(2)
	_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
	scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/ws/", Headers: http.Header{"Origin": {"http://evil.org"}}}
	_ = app.Serve(context.Background(), scope, mb, channels.SendFunc(func(ctx context.Context, msg channels.Message) error {
		if msg.Type() == channels.TypeWebsocketHTTPResponseStart {
			fmt.Println(msg.Type(), msg["status"], msg["headers"])
		} else {
			fmt.Println(msg.Type(), string(msg.Bytes("body")))
		}
		return nil
	}))
	// Output:
	// websocket.http.response.start 403 [[Content-Type application/json]]
	// websocket.http.response.body {"error": "origin not allowed"}
}
