// Package wstest is the WebSocket client of the examples' tests: gobwas/ws's dialer, keeping
// the frames that came in with the handshake response, and JSON frames read with a deadline.
package wstest

import (
	"bufio"
	"context"
	"encoding/json"
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
