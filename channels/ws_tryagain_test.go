package channels

import (
	"context"
	"net/http"
	"testing"
)

// TestRefuseTryAgainLater: a close with 1013 before accept (sent, or returned as a
// *CloseError) refuses the handshake with 503 and Retry-After, not 403.
func TestRefuseTryAgainLater(t *testing.T) {
	for name, refuse := range map[string]func(ctx context.Context, send Sender) error{
		"send": func(ctx context.Context, send Sender) error {
			return send.Send(ctx, Message{"type": TypeWebsocketClose, "code": CloseTryAgainLater})
		},
		"return": func(context.Context, Sender) error {
			return &CloseError{Code: CloseTryAgainLater, Reason: "layer unavailable"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
				if _, err := receive.Receive(ctx); err != nil {
					return err
				}
				if err := refuse(ctx, send); err != nil {
					return err
				}
				_, err := receive.Receive(ctx)
				return err
			})
			_, addr := startServer(t, app, nil)
			c := rawHandshake(t, addr, upgradeRequest(addr, "/"))
			if c.resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %s, want 503", c.resp.Status)
			}
			if c.resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", c.resp.Header)
			}
		})
	}
}
