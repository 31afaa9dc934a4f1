package multichat

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/redistest"
)

// TestRedisOutage: while Redis is down, a message gets {"error": "UNAVAILABLE"} and its
// socket stays open, and a new socket is refused with 503 (never 403: the user is logged
// in); once Redis is back, new sockets are accepted and the open ones chat across processes
// again.
func TestRedisOutage(t *testing.T) {
	srv := redistest.StartPrivate(t)
	p1, p2 := startTwoProcesses(t, redisLayerURL(srv)+"&send_timeout=0.3")
	alice, bob := aliceAndBob(t, p1, p2)
	wa, wb := alice.mustDial("http://127.0.0.1"), bob.mustDial("http://localhost")
	wa.join("1")
	wb.join("1")

	srv.Kill()
	wa.send(map[string]any{"command": "send", "room": "1", "message": "during the outage"})
	wa.expect("the UNAVAILABLE error", isError(ErrCodeUnavailable))
	if _, err := alice.dial("http://127.0.0.1"); err == nil {
		t.Error("a socket was accepted while Redis was down")
	} else if se := ws.StatusError(0); !errors.As(err, &se) || int(se) != http.StatusServiceUnavailable {
		t.Errorf("a socket during the outage: %v, want HTTP 503", err)
	}

	srv.Restart()
	for deadline := time.Now().Add(testTimeout); ; {
		_, err := alice.dial("http://127.0.0.1")
		if err == nil {
			break
		}
		if se := ws.StatusError(0); errors.As(err, &se) && int(se) == http.StatusForbidden {
			t.Fatalf("a socket after the restart: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling: the layer's reconnection signals nothing
	}
	// The socket that lived through the outage reaches the other process again once the
	// layers have put their channels back into the room's group.
	deadline := time.Now().Add(testTimeout)
	for !heard(t, wa, wb, "after the outage") {
		if time.Now().After(deadline) {
			t.Fatal("alice's messages did not reach bob after the restart")
		}
	}
}

// heard sends text from one client and reports whether the other got it within a short
// wait; error events (UNAVAILABLE while the layer reconnects) are skipped.
func heard(t *testing.T, from, to *wsClient, text string) bool {
	t.Helper()
	from.send(map[string]any{"command": "send", "room": "1", "message": text})
	deadline := time.Now().Add(300 * time.Millisecond)
	for {
		data, err := to.conn.ReadText(time.Until(deadline))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		if err != nil {
			t.Fatalf("bob's socket: %v", err)
		}
		var ev map[string]any
		if json.Unmarshal(data, &ev) == nil && ev["message"] == text && ev["error"] == nil {
			return true
		}
	}
}
