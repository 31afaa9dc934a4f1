package channels

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// deflateRaw compresses p as a permessage-deflate payload (independently of the server's
// code).
func deflateRaw(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = w.Write(p)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func inflateRaw(t testing.TB, p []byte) []byte {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflating the server's message: %v", err)
	}
	return out
}

// compressedFrame builds a masked client frame with RSV1 set.
func compressedFrame(op ws.OpCode, payload []byte) []byte {
	f := frame(op, true, payload)
	f[0] |= 0x40
	return f
}

const deflateOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"

func TestCompressionOffByDefault(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), nil)
	c := dial(t, addr, "/", deflateOffer)
	if ext := c.resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("extension accepted while compression is off: %q", ext)
	}
	// RSV1 is then a protocol error.
	c.write(compressedFrame(ws.OpText, deflateRaw(t, []byte("hi"))))
	c.expectClose(CloseProtocolError)
}

func TestCompressionEcho(t *testing.T) {
	bothModes(t, func(t *testing.T, configure func(*Server)) {
		_, addr := startServer(t, echoApp(nil), func(s *Server) {
			configure(s)
			s.Compression = Compression{Enabled: true, MinSize: 100}
		})
		c := dial(t, addr, "/", deflateOffer)
		ext := c.resp.Header.Get("Sec-WebSocket-Extensions")
		if !strings.HasPrefix(ext, "permessage-deflate") || !strings.Contains(ext, "client_no_context_takeover") ||
			!strings.Contains(ext, "server_no_context_takeover") {
			t.Fatalf("extension response %q", ext)
		}
		big := strings.Repeat("compress me please ", 100)
		for _, msg := range []string{big, "short", big + "!"} {
			c.write(compressedFrame(ws.OpText, deflateRaw(t, []byte(msg))))
			h, p, err := c.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			compressed := h.Rsv1()
			if compressed != (len(msg) >= 100) {
				t.Fatalf("message of %d bytes: RSV1=%v with MinSize 100", len(msg), compressed)
			}
			if compressed {
				if len(p) >= len(msg)/4 {
					t.Errorf("compressed echo of %d bytes for %d", len(p), len(msg))
				}
				p = inflateRaw(t, p)
			}
			if h.OpCode != ws.OpText || string(p) != msg {
				t.Fatalf("echo %v %d bytes, want %d bytes", h.OpCode, len(p), len(msg))
			}
		}
		// An uncompressed message is fine too.
		c.send(ws.OpBinary, "raw")
		if h, p, err := c.readFrame(); err != nil || h.Rsv1() || string(p) != "raw" {
			t.Fatalf("uncompressed echo: %v %q %v", h, p, err)
		}
		c.send(ws.OpClose, closePayload(1000, ""))
		c.expectClose(1000)
	})
}

func TestCompressionBomb(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), func(s *Server) {
		s.Compression = Compression{Enabled: true, MaxInflatedSize: 64 << 10}
	})
	c := dial(t, addr, "/", deflateOffer)
	c.write(compressedFrame(ws.OpBinary, deflateRaw(t, make([]byte, 1<<20))))
	c.expectClose(CloseMessageTooBig)
	c.expectEOF()
}

func TestCompressionCorrupt(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), func(s *Server) { s.Compression.Enabled = true })
	c := dial(t, addr, "/", deflateOffer)
	c.write(compressedFrame(ws.OpText, []byte{0xff, 0xff, 0xff}))
	c.expectClose(CloseInvalidPayload)
}

func TestCompressionSmallWindow(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), func(s *Server) {
		s.Compression = Compression{Enabled: true, MinSize: -1, Level: flate.BestCompression}
	})
	c := dial(t, addr, "/", "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8")
	if ext := c.resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "server_max_window_bits=8") {
		t.Fatalf("extension response %q", ext)
	}
	msg := strings.Repeat("abcdefgh", 1000)
	c.write(compressedFrame(ws.OpText, deflateRaw(t, []byte(msg))))
	h, p, err := c.readFrame()
	if err != nil || !h.Rsv1() || string(inflateRaw(t, p)) != msg {
		t.Fatalf("echo: %v %v", h, err)
	}
}

// BenchmarkEchoCompressed measures a 4 KiB text echo round trip with and without
// permessage-deflate (the client compresses once, outside the loop).
func BenchmarkEchoCompressed(b *testing.B) {
	msg := []byte(strings.Repeat("a chat line of moderate size, repeated; ", 103)[:4096])
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", on), func(b *testing.B) {
			_, addr := startServer(b, echoApp(nil), func(s *Server) {
				s.Compression = Compression{Enabled: on}
			})
			c := dial(b, addr, "/", deflateOffer)
			out := frame(ws.OpText, true, msg)
			if on {
				out = compressedFrame(ws.OpText, deflateRaw(b, msg))
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				c.write(out)
				if _, _, err := c.readFrame(); err != nil {
					b.Fatal(err)
				}
			}
			c.conn.Close()
		})
	}
}

func TestDeflateCache(t *testing.T) {
	dc := &deflateCache{seed: recentDeflates.seed}
	p := []byte(strings.Repeat("group message ", 50))
	if dc.lookup(p, 1) != nil {
		t.Fatal("hit in an empty cache")
	}
	out := []byte("compressed")
	dc.store(p, 1, out)
	if got := dc.lookup(p, 1); string(got) != "compressed" {
		t.Fatalf("lookup after store: %q", got)
	}
	if dc.lookup(p, 9) != nil {
		t.Fatal("hit at another level")
	}
	p[0] = 'G' // the cache kept its own copy: changed bytes miss
	if dc.lookup(p, 1) != nil {
		t.Fatal("hit for different bytes")
	}
	big := make([]byte, deflateCacheMax+1)
	dc.store(big, 1, out)
	if dc.lookup(big, 1) != nil {
		t.Fatal("oversized message cached")
	}
}

// BenchmarkBroadcastCompressed sends one 2 KiB text to 100 connections that negotiated
// permessage-deflate (one Send per connection, as a group send does), until every client
// has read it. The message is compressed once thanks to the cache of recent messages.
func BenchmarkBroadcastCompressed(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", on), func(b *testing.B) {
			benchBroadcast(b, 100, strings.Repeat(`{"message": "a chat line"} `, 76), on)
		})
	}
}
