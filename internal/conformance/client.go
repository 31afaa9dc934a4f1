// Package conformance plays the Autobahn testsuite's case families against a WebSocket
// server with raw frames over a raw TCP socket, and judges each case with Autobahn's
// verdicts. Its client side is written from scratch (handshake, masking, fragmentation,
// framing, permessage-deflate on compress/flate) so that it shares no code with the server
// it checks. TestConformance runs it against channels.Server.
package conformance

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpCont   byte = 0x0
	OpText   byte = 0x1
	OpBinary byte = 0x2
	OpClose  byte = 0x8
	OpPing   byte = 0x9
	OpPong   byte = 0xA
)

// Frame is one frame as the client sees it on the wire.
type Frame struct {
	Fin     bool
	Rsv     byte // the three reserved bits, RSV1 = 4
	Op      byte
	Masked  bool
	Payload []byte
}

// Client is a raw WebSocket client connection.
type Client struct {
	conn net.Conn
	br   *bufio.Reader
	// Extensions is the server's Sec-WebSocket-Extensions response header.
	Extensions string
	// Deflate is set when the server accepted permessage-deflate.
	Deflate bool
	// Chunk, when positive, makes WriteFrame write each frame in pieces of this many bytes,
	// one write call each.
	Chunk int
}

// Dial connects to addr and performs the opening handshake for path, offering the
// extensions in ext (when not empty).
func Dial(addr, path, ext string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("conformance: dialing %s: %w", addr, err)
	}
	var kb [16]byte
	_, _ = rand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, addr)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if ext != "" {
		fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", ext)
	}
	req.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("conformance: writing the handshake: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("conformance: reading the handshake response: %w", err)
	}
	resp.Body.Close()
	_ = conn.SetDeadline(time.Time{})
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		conn.Close()
		return nil, fmt.Errorf("conformance: handshake answered %s", resp.Status)
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]):
		conn.Close()
		return nil, errors.New("conformance: wrong Sec-WebSocket-Accept")
	}
	c := &Client{conn: conn, br: br, Extensions: resp.Header.Get("Sec-WebSocket-Extensions")}
	c.Deflate = strings.HasPrefix(strings.ToLower(c.Extensions), "permessage-deflate")
	return c, nil
}

// Close closes the TCP connection.
func (c *Client) Close() error { return c.conn.Close() }

// CloseWrite half-closes the TCP connection.
func (c *Client) CloseWrite() {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// EncodeFrame returns the masked wire form of a client frame.
func EncodeFrame(fin bool, rsv, op byte, payload []byte) []byte {
	b0 := op&0x0F | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	out = append(out, mask[:]...)
	start := len(out)
	out = append(out, payload...)
	for i := range payload {
		out[start+i] ^= mask[i&3]
	}
	return out
}

// WriteRaw writes b, in Chunk-sized pieces when Chunk is set.
func (c *Client) WriteRaw(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if c.Chunk <= 0 {
		_, err := c.conn.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(c.Chunk, len(b))
		if _, err := c.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// WriteFrame writes one masked frame.
func (c *Client) WriteFrame(fin bool, rsv, op byte, payload []byte) error {
	return c.WriteRaw(EncodeFrame(fin, rsv, op, payload))
}

// CloseFrame returns a close frame payload with code and reason (code 0: empty).
func CloseFrame(code int, reason string) []byte {
	if code == 0 {
		return nil
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// ReadFrame reads one frame from the server, waiting until deadline.
func (c *Client) ReadFrame(deadline time.Time) (Frame, error) {
	_ = c.conn.SetReadDeadline(deadline)
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: h[0]&0x80 != 0, Rsv: (h[0] >> 4) & 7, Op: h[0] & 0x0F, Masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return Frame{}, eof(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return Frame{}, eof(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return Frame{}, &FrameError{Why: fmt.Sprintf("server frame header declares %d bytes", n)}
	}
	var mask [4]byte
	if f.Masked {
		if _, err := io.ReadFull(c.br, mask[:]); err != nil {
			return Frame{}, eof(err)
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.Payload); err != nil {
		return Frame{}, eof(err)
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= mask[i&3]
		}
	}
	return f, nil
}

// FrameError is a server frame the client cannot read on: the server broke the framing.
type FrameError struct{ Why string }

func (e *FrameError) Error() string { return e.Why }

func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Deflate compresses p for permessage-deflate without context takeover, removing the
// trailing empty block (RFC 7692 §7.2.1).
func Deflate(p []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		panic(err) // levels are constants of this package's cases
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// Inflate decompresses a permessage-deflate message payload.
func Inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return out, err
}
