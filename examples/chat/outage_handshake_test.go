package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/redistest"
)

// TestHandshakeDuringOutage: while Redis is down, a chat socket cannot join its room's group
// and is refused with HTTP 503 (try again later), never 403; after the restart it is accepted.
func TestHandshakeDuringOutage(t *testing.T) {
	for _, scheme := range []string{"redis", "redis+pubsub"} {
		t.Run(scheme, func(t *testing.T) {
			srv := redistest.StartPrivate(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr := startChat(t, layerURL(srv, scheme)+"&send_timeout=0.3")
			url := "ws://" + addr + "/ws/chat/lobby/"
			d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(map[string][]string{"Origin": {"http://" + addr}})}
			srv.Kill()
			_, _, _, err := d.Dial(ctx, url)
			if se := ws.StatusError(0); !errors.As(err, &se) || int(se) != http.StatusServiceUnavailable {
				t.Fatalf("handshake during the outage: %v, want HTTP 503", err)
			}
			if st := readyz(t, addr); st != http.StatusServiceUnavailable {
				t.Errorf("/readyz during the outage: %d, want 503", st)
			}
			srv.Restart()
			for {
				conn, _, _, err := d.Dial(ctx, url)
				if err == nil {
					_ = conn.Close()
					if st := readyz(t, addr); st != http.StatusOK {
						t.Errorf("/readyz after the restart: %d, want 200", st)
					}
					return
				}
				if se := ws.StatusError(0); errors.As(err, &se) && int(se) == http.StatusForbidden {
					t.Fatalf("handshake after the restart: %v", err)
				}
				if ctx.Err() != nil {
					t.Fatalf("no handshake accepted after the restart: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// readyz returns the status of the server's readiness check.
func readyz(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
