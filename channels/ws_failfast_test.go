package channels

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// After a protocol error the server sends its close frame and half-closes at once: the
// client sees EOF without answering the close and long before CloseTimeout.
func TestProtocolErrorHalfCloses(t *testing.T) {
	bothModes(t, func(t *testing.T, configure func(*Server)) {
		_, addr := startServer(t, echoApp(nil), func(s *Server) {
			configure(s)
			s.CloseTimeout = time.Minute
		})
		c := dial(t, addr, "/")
		f := frame(ws.OpText, true, []byte("x"))
		f[0] |= 0x20 // RSV2
		c.write(f)
		c.expectClose(CloseProtocolError)
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.readFrame(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the close frame: %v, want EOF", err)
		}
	})
}

// Invalid UTF-8 early in a long text frame fails the connection before the frame ends.
func TestInvalidUTF8FailsMidFrame(t *testing.T) {
	bothModes(t, func(t *testing.T, configure func(*Server)) {
		_, addr := startServer(t, echoApp(nil), configure)
		c := dial(t, addr, "/")
		f := frame(ws.OpText, true, []byte("ok \xff"+strings.Repeat("a", 100000)))
		c.write(f[:1000]) // the rest never comes
		c.expectClose(CloseInvalidPayload)
	})
}
