// Package wstest is the WebSocket client of the examples' tests: gobwas/ws's dialer, keeping
// the frames that came in with the handshake response, and JSON frames read with a deadline
// (the next one, the first one that matches, or until the server's close frame).
package wstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// ReadTimeout bounds ReadJSON's wait for a frame: a test fails rather than hang.
const ReadTimeout = 30 * time.Second

// Conn is a client WebSocket connection.
type Conn struct {
	conn net.Conn
	r    io.Reader // conn, after what the dialer had already buffered
}

// Dial opens a WebSocket to url (ws://) with the handshake headers h (nil for none). A
// refused handshake is an error wrapping ws.StatusError with the HTTP status.
func Dial(ctx context.Context, url string, h http.Header) (*Conn, error) {
	d := ws.Dialer{}
	if h != nil {
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if br != nil {
		r = bufio.NewReader(io.MultiReader(br, conn))
	}
	return &Conn{conn: conn, r: r}, nil
}

// Close closes the connection without a close frame.
func (c *Conn) Close() error { return c.conn.Close() }

// ReadText reads the next text frame, waiting at most timeout, and answers control frames
// on the way (a close frame ends it with an error wrapping wsutil.ClosedError).
func (c *Conn) ReadText(timeout time.Duration) ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	return wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{c.r, c.conn})
}

// ReadJSON reads the next text frame, waiting at most ReadTimeout, as a JSON object; an
// error fails the test.
func (c *Conn) ReadJSON(t testing.TB) map[string]any {
	t.Helper()
	b, err := c.ReadText(ReadTimeout)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return m
}

// WriteText sends s as a text frame; an error fails the test.
func (c *Conn) WriteText(t testing.TB, s string) {
	t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// SendText sends s as a text frame and returns the error, for a write that may fail (to a
// socket the server has closed).
func (c *Conn) SendText(s string) error {
	return wsutil.WriteClientText(c.conn, []byte(s))
}

// WriteJSON sends v as a JSON text frame; an error fails the test.
func (c *Conn) WriteJSON(t testing.TB, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := wsutil.WriteClientText(c.conn, data); err != nil {
		t.Fatal(err)
	}
}

// Expect reads JSON objects, skipping those match rejects, until one matches, and returns
// it; a read error, a frame that is not a JSON object, or no match within timeout fails the
// test, naming what it waited for.
func (c *Conn) Expect(t testing.TB, what string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, err := c.ReadText(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("bad JSON from the server: %q", data)
		}
		if match(ev) {
			return ev
		}
	}
}

// ExpectClosed reads, skipping text frames, until the server's close frame, and checks its
// code; another error, or no close frame within timeout, fails the test.
func (c *Conn) ExpectClosed(t testing.TB, code int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.ReadText(time.Until(deadline))
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			if int(ce.Code) != code {
				t.Fatalf("closed with %d %q, want %d", ce.Code, ce.Reason, code)
			}
			return
		}
		if err != nil {
			t.Fatalf("waiting for close %d: %v", code, err)
		}
	}
}
