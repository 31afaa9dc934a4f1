package channels

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A close before accept may name a client-error status: the handshake is answered with it,
// and its reason is the response body.
func TestRefuseWithClientErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		status     int
		wantStatus int
		wantBody   string
	}{
		{400, http.StatusBadRequest, "bad resume parameter"},
		{422, http.StatusUnprocessableEntity, "bad resume parameter"},
		{401, http.StatusForbidden, "websocket connection refused"}, // needs headers: not allowed
		{500, http.StatusForbidden, "websocket connection refused"}, // not a client error
	} {
		app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
			if _, err := receive.Receive(ctx); err != nil {
				return err
			}
			if err := send.Send(ctx, Message{"type": TypeWebsocketClose, "code": CloseNormal, "reason": "bad resume parameter", "status": tc.status}); err != nil {
				return err
			}
			_, err := receive.Receive(ctx) // the disconnect
			return err
		})
		_, addr := startServer(t, app, nil)
		c := rawHandshake(t, addr, upgradeRequest(addr, "/"))
		if c.resp.StatusCode != tc.wantStatus {
			t.Fatalf("status %d: answered %s, want %d", tc.status, c.resp.Status, tc.wantStatus)
		}
		body, _ := io.ReadAll(c.resp.Body)
		if !strings.Contains(string(body), tc.wantBody) {
			t.Fatalf("status %d: body %q, want %q", tc.status, body, tc.wantBody)
		}
	}
}
