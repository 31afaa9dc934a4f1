package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gochannels/gochannels/channels"
)

// forbidden is Deny's answer: a bare 403 (a close before accept, for a WebSocket).
var forbidden = &channels.Denial{
	Status: http.StatusForbidden,
	Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
	Body:   []byte("403 Forbidden\n"),
}

// Deny refuses a scope the way Django Channels' WebsocketDenier does, and answers HTTP with
// 403:
//
//   - WebSocket: it waits for "websocket.connect" and answers "websocket.close" before any
//     accept, which the server turns into an HTTP 403 response to the handshake;
//   - HTTP: it sends a 403 response with a short plain-text body (the request body is not read);
//   - any other scope type: it returns an error saying the scope was refused.
//
// A client that goes away first is not an error. DenyWith refuses with a response of your
// own instead; the middleware that refuse (OriginValidatorWith, auth.RequireUserWith) take
// either.
func Deny(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	return refuse(ctx, scope, receive, send, nil)
}

// DenyWith returns an Application that refuses every scope with d, the application's own
// HTTP response: a WebSocket handshake (after "websocket.connect") is answered with d's
// status, headers and body instead of a 403 (see channels.Denial), an HTTP request gets d as
// its response, and any other scope type is refused with an error. Pass it to
// OriginValidatorWith or auth.RequireUserWith, or serve it from a router.
func DenyWith(d *channels.Denial) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		return refuse(ctx, scope, receive, send, d)
	})
}

// refuse answers scope with d, or as Deny does when d is nil.
func refuse(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender, d *channels.Denial) error {
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
				if d != nil {
					err = d.Send(ctx, scope, send)
				} else {
					err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": channels.ClosePolicyViolation})
				}
				if err != nil && !errors.Is(err, channels.ErrClosed) {
					return fmt.Errorf("middleware: deny websocket %s: %w", scope.Path, err)
				}
				return nil
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	case channels.ScopeHTTP:
		if d == nil {
			d = forbidden
		}
		if err := d.Send(ctx, scope, send); err != nil && !errors.Is(err, channels.ErrClosed) {
			return fmt.Errorf("middleware: deny http %s: %w", scope.Path, err)
		}
		return nil
	default:
		return fmt.Errorf("middleware: %q scope %q refused", scope.Type, scope.Channel)
	}
}

// denier returns the Application that answers refused scopes: denied, or Deny when nil.
func denier(denied channels.Application) channels.Application {
	if denied == nil {
		return channels.ApplicationFunc(Deny)
	}
	return denied
}
