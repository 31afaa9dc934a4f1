package consumer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// busyConsumer joins "busy" on connect and sends each frame to it; when the layer is down it
// answers the client with an error frame and keeps the connection (the pattern of the
// package documentation).
type busyConsumer struct {
	consumer.WebsocketConsumer
}

func (c *busyConsumer) Groups() []string { return []string{"busy"} }

func (c *busyConsumer) Receive(ctx context.Context, text string, _ []byte) error {
	err := c.GroupSend(ctx, "busy", channels.Message{"type": "echo", "text": text})
	if errors.Is(err, layers.ErrUnavailable) {
		return c.SendText(ctx, "UNAVAILABLE "+text)
	}
	return err
}

func (c *busyConsumer) Echo(ctx context.Context, msg channels.Message) error {
	return c.SendText(ctx, msg.String("text"))
}

// handshakeStatus makes a WebSocket handshake to url (ws://) over plain HTTP and returns the
// response, for its status and headers, and its body.
func handshakeStatus(t *testing.T, ctx context.Context, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http"+strings.TrimPrefix(url, "ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	return resp, body
}

// TestLayerOutage runs a consumer on a real server and a Redis layer whose Redis is killed:
// a frame that cannot be sent gets an error frame and the socket stays open; a handshake
// during the outage is refused with 503 and Retry-After (never 403) and logged; once Redis is
// back, handshakes succeed and the open socket works again.
func TestLayerOutage(t *testing.T) {
	rs := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l, err := redislayer.New(redislayer.Options{Hosts: []string{rs.URL()}, Prefix: rs.Prefix(), SendTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	logger, logs := newLogger()
	url := serveReal(t, consumer.Websocket[busyConsumer](consumer.WithLayer(l), consumer.WithLogger(logger)), logger) + "/room/a/"

	conn := wsDial(t, ctx, url)
	sendText(t, conn, "before")
	if got := readText(t, conn); got != "before" {
		t.Fatalf("before the outage: %q", got)
	}

	rs.Kill()
	sendText(t, conn, "during")
	if got := readText(t, conn); got != "UNAVAILABLE during" {
		t.Fatalf("during the outage: %q, want the error frame", got)
	}
	resp, _ := handshakeStatus(t, ctx, url)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("handshake during the outage: %s, want 503", resp.Status)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", resp.Header)
	}
	if !strings.Contains(logs.String(), "channel layer is unavailable") {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}

	rs.Restart()
	for {
		c, _, _, err := ws.Dial(ctx, url)
		if err == nil {
			_ = c.Close()
			break
		}
		var se ws.StatusError
		if errors.As(err, &se) && int(se) == http.StatusForbidden {
			t.Fatalf("handshake after the restart: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("no handshake succeeded after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The socket that lived through the outage works again (the layer rejoins its group; a
	// frame sent before that reaches nobody, so nothing comes back for it).
	for {
		sendText(t, conn, "after")
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b, err := wsutil.ReadServerText(conn)
		if err == nil && string(b) == "after" {
			break
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("the socket that lived through the outage: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the socket did not work again after the restart")
		}
	}
}
