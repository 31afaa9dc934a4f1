package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// Dialer opens chat WebSockets on loopback, spreading the client sockets over source
// addresses 127.0.0.2, 127.0.0.3, ... (PerSource sockets each) so that no source address runs
// out of ephemeral ports.
type Dialer struct {
	// Origin is the Origin header; empty means "http://" + the URL's host, which
	// examples/chat accepts by default for 127.0.0.1.
	Origin string
	// PerSource is how many sockets share one source address (default 5000); a negative value
	// lets the kernel choose (127.0.0.1 only).
	PerSource int
	// Timeout bounds the TCP connect plus the handshake (default 10s).
	Timeout time.Duration
}

// SourceAddr returns the source address of the i-th socket: 127.0.0.(2 + i/PerSource),
// continuing into 127.0.1.x and beyond for large i.
func (d *Dialer) SourceAddr(i int) net.IP {
	per := d.PerSource
	if per == 0 {
		per = 5000
	}
	if per < 0 {
		return nil
	}
	n := 2 + i/per
	return net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))
}

// Dial opens the i-th client socket to the WebSocket URL u and completes the handshake.
func (d *Dialer) Dial(ctx context.Context, u string, i int) (*Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	origin := d.Origin
	if origin == "" {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("loadtest: bad URL %q: %w", u, err)
		}
		origin = "http://" + pu.Host
	}
	nd := net.Dialer{}
	if src := d.SourceAddr(i); src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	wd := ws.Dialer{
		Header:  ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}}),
		NetDial: nd.DialContext,
	}
	conn, br, _, err := wd.Dial(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("loadtest: dial %s: %w", u, err)
	}
	c := &Conn{conn: conn}
	if br != nil && br.Buffered() > 0 {
		c.r = bufio.NewReaderSize(io.MultiReader(br, conn), 4096)
	} else {
		if br != nil {
			ws.PutReader(br)
		}
		c.r = bufio.NewReaderSize(conn, 4096)
	}
	return c, nil
}

// Conn is the client end of one WebSocket, written with gobwas/ws's frame API: whole masked
// frames in one write, one writer at a time.
type Conn struct {
	conn net.Conn
	r    *bufio.Reader
	hdr  [ws.MaxHeaderSize]byte // used only by the reading goroutine

	wmu  sync.Mutex
	wbuf []byte
}

// appendBuf is an io.Writer appending to a byte slice.
type appendBuf struct{ b []byte }

func (a *appendBuf) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

// WriteFrame writes one masked frame with the given opcode and payload. It is safe for
// concurrent use.
func (c *Conn) WriteFrame(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	ab := appendBuf{b: c.wbuf[:0]}
	var hb [ws.MaxHeaderSize]byte
	if err := ws.WriteHeaderBuffer(&ab, h, hb[:]); err != nil {
		return fmt.Errorf("loadtest: frame header: %w", err)
	}
	start := len(ab.b)
	ab.b = append(ab.b, payload...)
	ws.Cipher(ab.b[start:], h.Mask, 0)
	c.wbuf = ab.b
	if _, err := c.conn.Write(ab.b); err != nil {
		return fmt.Errorf("loadtest: write: %w", err)
	}
	return nil
}

// errClosed reports a close frame from the server.
var errClosed = errors.New("loadtest: the server closed the WebSocket")

// ReadText reads frames until a text or binary frame, answering pings, and returns its
// payload in buf (grown as needed). A close frame returns errClosed (wrapped, with the code).
// Only one goroutine may read.
func (c *Conn) ReadText(buf []byte) ([]byte, error) {
	for {
		h, err := ws.ReadHeaderBuffer(c.r, c.hdr[:])
		if err != nil {
			return buf, fmt.Errorf("loadtest: read frame header: %w", err)
		}
		if h.Length > 16<<20 {
			return buf, fmt.Errorf("loadtest: frame of %d bytes", h.Length)
		}
		n := int(h.Length)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return buf, fmt.Errorf("loadtest: read frame payload: %w", err)
		}
		if h.Masked {
			ws.Cipher(buf, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			return buf, nil
		case ws.OpPing:
			if err := c.WriteFrame(ws.OpPong, buf); err != nil {
				return buf, err
			}
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(buf)
			_ = c.WriteFrame(ws.OpClose, ws.NewCloseFrameBody(code, ""))
			return buf, fmt.Errorf("%w: %d %q", errClosed, code, reason)
		}
	}
}

// SetReadDeadline sets the read deadline of the socket.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// CloseGracefully sends a normal close frame and closes the socket without waiting.
func (c *Conn) CloseGracefully() error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.WriteFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	return c.conn.Close()
}

// Close closes the socket.
func (c *Conn) Close() error { return c.conn.Close() }
