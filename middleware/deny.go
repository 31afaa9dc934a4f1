package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/gochannels/gochannels/channels"
)

// Deny refuses a scope the way Django Channels' WebsocketDenier does, and answers HTTP with
// 403:
//
//   - WebSocket: it waits for "websocket.connect" and answers "websocket.close" before any
//     accept, which the server turns into an HTTP 403 response to the handshake;
//   - HTTP: it sends a 403 response with a short plain-text body (the request body is not read);
//   - any other scope type: it returns an error saying the scope was refused.
//
// A client that goes away first is not an error.
func Deny(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	switch scope.Type {
	case channels.ScopeWebsocket:
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				if errors.Is(err, channels.ErrClosed) {
					return nil
				}
				return fmt.Errorf("middleware: deny websocket %s: %w", scope.Path, err)
			}
			switch msg.Type() {
			case channels.TypeWebsocketConnect:
				err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": channels.ClosePolicyViolation})
				if err != nil && !errors.Is(err, channels.ErrClosed) {
					return fmt.Errorf("middleware: deny websocket %s: %w", scope.Path, err)
				}
				return nil
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	case channels.ScopeHTTP:
		body := []byte("403 Forbidden\n")
		err := send.Send(ctx, channels.Message{
			"type":   channels.TypeHTTPResponseStart,
			"status": 403,
			"headers": [][2]string{
				{"Content-Type", "text/plain; charset=utf-8"},
				{"Content-Length", fmt.Sprint(len(body))},
			},
		})
		if err == nil {
			err = send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": body})
		}
		if err != nil && !errors.Is(err, channels.ErrClosed) {
			return fmt.Errorf("middleware: deny http %s: %w", scope.Path, err)
		}
		return nil
	default:
		return fmt.Errorf("middleware: %q scope %q refused", scope.Type, scope.Channel)
	}
}
