package conformance

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeConn is one connection of a fake server, after the opening handshake.
type fakeConn struct {
	n    int // the connection's number, from 0
	conn net.Conn
	br   *bufio.Reader
}

// fake is a WebSocket server that misbehaves.
type fake struct {
	// greet, when set, returns bytes to send to connection n in the same write as the
	// handshake response, so that they reach the client whenever it reads.
	greet func(n int) []byte
	// serve runs the connection after the handshake; the connection is closed after it.
	serve func(c *fakeConn)
}

// startFake serves f on a loopback port: it completes the opening handshake (accepting a
// permessage-deflate offer, so that the deflate cases get past it) and hands the connection
// to f.serve. Everything stops when the test ends.
func startFake(t *testing.T, f fake) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[conn] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, conn)
					mu.Unlock()
					conn.Close()
				}()
				var greeting []byte
				if f.greet != nil {
					greeting = f.greet(n)
				}
				if c, err := fakeHandshake(n, conn, greeting); err == nil {
					f.serve(c)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func fakeHandshake(n int, conn net.Conn, greeting []byte) (*fakeConn, error) {
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, fmt.Errorf("fake: reading the upgrade request: %w", err)
	}
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(h[:]) + "\r\n"
	deflate := strings.Contains(req.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	if deflate {
		resp += "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	}
	if _, err := conn.Write(append([]byte(resp+"\r\n"), greeting...)); err != nil {
		return nil, fmt.Errorf("fake: writing the upgrade response: %w", err)
	}
	return &fakeConn{n: n, conn: conn, br: br}, nil
}

// fakeHeader is a client frame's header as a fake server reads it.
type fakeHeader struct {
	fin     bool
	rsv, op byte
	n       uint64
	mask    [4]byte
}

func (c *fakeConn) readHeader() (fakeHeader, error) {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return fakeHeader{}, err
	}
	h := fakeHeader{fin: b[0]&0x80 != 0, rsv: b[0] >> 4 & 7, op: b[0] & 0x0F, n: uint64(b[1] & 0x7F)}
	switch h.n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return fakeHeader{}, err
		}
		h.n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return fakeHeader{}, err
		}
		h.n = binary.BigEndian.Uint64(l[:])
	}
	if b[1]&0x80 != 0 {
		if _, err := io.ReadFull(c.br, h.mask[:]); err != nil {
			return fakeHeader{}, err
		}
	}
	return h, nil
}

// errHuge: a frame the fake will not buffer (the 1 TiB header of case 9.9.3).
var errHuge = errors.New("fake: frame too large to read")

func (c *fakeConn) readPayload(h fakeHeader) ([]byte, error) {
	if h.n > 4*MaxMessage {
		return nil, errHuge
	}
	p := make([]byte, h.n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return nil, err
	}
	for i := range p {
		p[i] ^= h.mask[i&3]
	}
	return p, nil
}

// serverFrame is the wire form of an unmasked frame with an honest length.
func serverFrame(fin bool, rsv, op byte, payload []byte) []byte {
	b := EncodeFrame(fin, rsv, op, payload) // masked, with the payload masked
	b[1] &^= 0x80
	start := len(b) - len(payload)
	return append(b[:start-4], payload...)
}

// deaf completes the handshake, then reads and ignores everything and never closes.
func deaf(c *fakeConn) { _, _ = io.Copy(io.Discard, c.br) }

// dropper closes the TCP connection as soon as a frame starts, without a close frame.
func dropper(c *fakeConn) { _, _ = c.readHeader() }

// liar reads frames but checks nothing: it echoes every message and answers every ping
// with a wrong payload, fails a reserved opcode with the wrong close code (1000), and
// answers a close properly. Writes go through a queue so that it always keeps reading.
func liar(c *fakeConn) {
	out := make(chan []byte, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range out {
			_, _ = c.conn.Write(b)
		}
		c.conn.Close()
	}()
	defer func() { close(out); <-done }()
	var msgOp byte
	var msg []byte
	for {
		h, err := c.readHeader()
		if err != nil {
			return
		}
		p, err := c.readPayload(h)
		if err != nil {
			_, _ = io.Copy(io.Discard, c.br)
			return
		}
		switch h.op {
		case OpText, OpBinary:
			msgOp, msg = h.op, p
		case OpCont:
			msg = append(msg, p...)
		case OpPing:
			out <- serverFrame(true, 0, OpPong, append([]byte("x"), p[:min(len(p), 124)]...))
			continue
		case OpPong:
			continue
		case OpClose:
			out <- serverFrame(true, 0, OpClose, CloseFrame(1000, ""))
			return
		default:
			out <- serverFrame(true, 0, OpClose, CloseFrame(1000, "lying about the code"))
			return
		}
		if h.fin && msgOp != 0 {
			out <- serverFrame(true, 0, msgOp, append(msg, '!'))
			msgOp, msg = 0, nil
		}
	}
}

// violations are frames that break the protocol in the server-to-client direction.
var violations = []struct {
	name  string
	frame []byte
}{
	{"masked frame", EncodeFrame(true, 0, OpText, []byte("masked"))},
	{"reserved bits", serverFrame(true, 2, OpText, []byte("rsv2"))},
	{"RSV1 on a ping", serverFrame(true, 4, OpPing, nil)},
	{"reserved opcode", serverFrame(true, 0, 3, []byte("op3"))},
	{"126-byte pong", serverFrame(true, 0, OpPong, make([]byte, 126))},
	{"fragmented ping", serverFrame(false, 0, OpPing, []byte("half"))},
	{"continuation without a message", serverFrame(true, 0, OpCont, []byte("cont"))},
	{"text inside a fragmented text", append(serverFrame(false, 0, OpText, []byte("a")), serverFrame(true, 0, OpText, []byte("b"))...)},
	{"invalid UTF-8 text", serverFrame(true, 0, OpText, []byte("\xed\xa0\x80"))},
	{"close with reserved code 1005", serverFrame(true, 0, OpClose, CloseFrame(1005, ""))},
	{"close with 1-byte payload", serverFrame(true, 0, OpClose, []byte{3})},
	{"close with an invalid UTF-8 reason", serverFrame(true, 0, OpClose, CloseFrame(1000, "\xff"))},
	{"frame after the close", append(serverFrame(true, 0, OpClose, CloseFrame(1000, "")), serverFrame(true, 0, OpText, []byte("late"))...)},
	{"64-bit length with the top bit set", append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, 1<<63)...)},
}

// violation greets connection n with violations[n % len], so that it is the first frame
// the client reads, whatever the case.
func violation(n int) []byte { return violations[n%len(violations)].frame }

// violator, after its greeting, reads on and answers a close properly.
func violator(c *fakeConn) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return
		}
		if _, err := c.readPayload(h); err != nil {
			_, _ = io.Copy(io.Discard, c.br)
			return
		}
		if h.op == OpClose {
			_, _ = c.conn.Write(serverFrame(true, 0, OpClose, CloseFrame(1000, "")))
			return
		}
	}
}
