package channels

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const testTimeout = 10 * time.Second

// startServer serves app on a loopback listener; the server is shut down at cleanup.
func startServer(t testing.TB, app Application, configure func(*Server)) (*Server, string) {
	t.Helper()
	s := &Server{Application: app}
	if configure != nil {
		configure(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s, l.Addr().String()
}

// wsClient is a test client speaking raw frames.
type wsClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// handshake sends a raw request and returns the client and the response.
func rawHandshake(t testing.TB, addr, request string) *wsClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	return &wsClient{t: t, conn: conn, br: br, resp: resp}
}

// dial opens a WebSocket to path with extra header lines ("Name: value").
func dial(t testing.TB, addr, path string, extra ...string) *wsClient {
	t.Helper()
	c := rawHandshake(t, addr, upgradeRequest(addr, path, extra...))
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(c.resp.Body)
		t.Fatalf("handshake: %s %s", c.resp.Status, body)
	}
	return c
}

func upgradeRequest(addr, path string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, addr)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", newKey())
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// frame builds a masked client frame.
func frame(op ws.OpCode, fin bool, payload []byte) []byte {
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	var b strings.Builder
	_ = ws.WriteHeader(&b, h)
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	b.Write(p)
	return []byte(b.String())
}

func (c *wsClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) send(op ws.OpCode, payload string) { c.write(frame(op, true, []byte(payload))) }

// readFrame reads one server frame.
func (c *wsClient) readFrame() (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.br, p)
	return h, p, err
}

// next reads the next data or close frame, answering nothing and skipping pings/pongs.
func (c *wsClient) next() (ws.OpCode, []byte) {
	c.t.Helper()
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("reading a frame: %v", err)
		}
		if h.OpCode == ws.OpPing || h.OpCode == ws.OpPong {
			continue
		}
		return h.OpCode, p
	}
}

// expectText reads a text message.
func (c *wsClient) expectText(want string) {
	c.t.Helper()
	op, p := c.next()
	if op != ws.OpText || string(p) != want {
		c.t.Fatalf("got op %v %q, want text %q", op, p, want)
	}
}

// expectClose reads until a close frame and checks its code.
func (c *wsClient) expectClose(code int) string {
	c.t.Helper()
	for {
		op, p := c.next()
		if op != ws.OpClose {
			continue // data the server sent before closing
		}
		got := 1005
		if len(p) >= 2 {
			got = int(binary.BigEndian.Uint16(p))
		}
		if got != code {
			c.t.Fatalf("close code %d (%q), want %d", got, p, code)
		}
		if len(p) >= 2 {
			return string(p[2:])
		}
		return ""
	}
}

// expectEOF checks that the server closed the TCP connection.
func (c *wsClient) expectEOF() {
	c.t.Helper()
	for {
		_, _, err := c.readFrame()
		if err != nil {
			return
		}
	}
}

func closePayload(code int, reason string) string {
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return string(append(b, reason...))
}

// echoApp accepts and echoes every message; it reports the disconnect on discs.
func echoApp(discs chan<- Message) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		for {
			m, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			switch m.Type() {
			case TypeWebsocketConnect:
				if err := send.Send(ctx, Message{"type": TypeWebsocketAccept}); err != nil {
					return err
				}
			case TypeWebsocketReceive:
				out := Message{"type": TypeWebsocketSend}
				if t, ok := m["text"]; ok {
					out["text"] = t
				} else {
					out["bytes"] = m["bytes"]
				}
				if err := send.Send(ctx, out); err != nil {
					return err
				}
			case TypeWebsocketDisconnect:
				if discs != nil {
					discs <- m
				}
				return nil
			}
		}
	})
}

func waitDisconnect(t testing.TB, discs <-chan Message, code int) Message {
	t.Helper()
	select {
	case m := <-discs:
		if n, _ := m.Int("code"); n != code {
			t.Fatalf("disconnect %v, want code %d", m, code)
		}
		return m
	case <-time.After(testTimeout):
		t.Fatalf("no disconnect (want %d)", code)
	}
	return nil
}

// bothModes runs f with the poller and with reader goroutines.
func bothModes(t *testing.T, f func(t *testing.T, configure func(*Server))) {
	t.Run("poller", func(t *testing.T) { f(t, func(*Server) {}) })
	t.Run("goroutine", func(t *testing.T) { f(t, func(s *Server) { s.DisablePoller = true }) })
}
