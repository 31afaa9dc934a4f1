package channels

import (
	"bytes"
	"compress/flate"
	"hash/maphash"
	"net/http"
	"sync"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/wsproto"
)

// DefaultCompressionMinSize is the smallest message Compression compresses when MinSize is
// zero: below it, deflate saves little and costs a compressor.
const DefaultCompressionMinSize = 256

// Compression configures permessage-deflate (RFC 7692) for WebSocket connections.
//
// It is off by default: compression costs CPU on every message and mostly pays off for
// large, repetitive text over slow links; turn it on with Enabled. When a client offers
// the extension, the server accepts it with server_no_context_takeover and
// client_no_context_takeover, so every message is compressed and inflated on its own and no
// connection holds compression state between messages: compressors and inflaters come from
// process-wide pools, and an idle connection costs no more memory than without compression.
// A client that allows the server only a window below 32 KiB gets Huffman-only compression
// (no back-references), which fits any window.
type Compression struct {
	// Enabled accepts permessage-deflate offers.
	Enabled bool
	// Level is the compress/flate level for outgoing messages: 1 (flate.BestSpeed) to 9
	// (flate.BestCompression), or -2 (flate.HuffmanOnly). Zero means flate.BestSpeed.
	Level int
	// MinSize is the smallest outgoing message that is compressed; smaller ones are sent
	// as they are. Zero means DefaultCompressionMinSize; negative compresses every message.
	MinSize int
	// MaxInflatedSize bounds an incoming compressed message once inflated; past it (a
	// deflate bomb) the connection is closed with 1009. Zero means the server's
	// MaxMessageSize.
	MaxInflatedSize int64
}

func (c *Compression) level() int {
	if c.Level == 0 || c.Level < flate.HuffmanOnly || c.Level > flate.BestCompression {
		return flate.BestSpeed
	}
	return c.Level
}

func (c *Compression) minSize() int {
	switch {
	case c.MinSize < 0:
		return 0
	case c.MinSize == 0:
		return DefaultCompressionMinSize
	}
	return c.MinSize
}

// negotiateDeflate accepts the request's permessage-deflate offer when compression is
// enabled, adding the response header to d and recording the choice on c.
func (c *wsConn) negotiateDeflate(r *http.Request, d *wsDecision) {
	cfg := &c.srv.Compression
	if !cfg.Enabled {
		return
	}
	p, ok := wsproto.NegotiateDeflate(r.Header)
	if !ok {
		return
	}
	d.headers = append(d.headers, [2]string{"Sec-WebSocket-Extensions", p.Response()})
	c.rd.Deflate, c.dflOn = true, true
	c.rd.MaxInflated = cfg.MaxInflatedSize
	if c.rd.MaxInflated <= 0 {
		c.rd.MaxInflated = c.srv.maxMessage()
	}
	c.dflLevel = int8(cfg.level())
	if p.ServerMaxWindowBits < 15 {
		c.dflLevel = flate.HuffmanOnly
	}
}

// deflateFrame turns a queued frame marked for compression into its wire form. It runs on
// the writer goroutine, so the application's goroutine never grows its stack compressing.
func (c *wsConn) deflateFrame(f *outFrame) {
	body := recentDeflates.lookup(f.body, c.dflLevel)
	if body == nil {
		body = wsproto.Compress(make([]byte, 0, len(f.body)/2+64), f.body, int(c.dflLevel))
		recentDeflates.store(f.body, c.dflLevel, body)
	}
	f.head = wsproto.AppendHeader(make([]byte, 0, 10), f.op, true, len(body))
	f.head[0] |= 0x40 // RSV1: compressed
	f.body = body
	f.deflate = false
}

// wantsDeflate reports whether an outgoing data message of n bytes is compressed.
func (c *wsConn) wantsDeflate(n int) bool {
	return c.dflOn && n >= c.srv.Compression.minSize()
}

// queueDeflate queues a data message for compression by the writer.
func (c *wsConn) queueDeflate(op ws.OpCode, b []byte, s string) error {
	var p []byte
	switch n := len(b) + len(s); {
	case n <= 1024:
		p = append(append(make([]byte, 0, n), b...), s...)
	case b != nil:
		p = b // shared with the caller, as for uncompressed messages
	default:
		p = unsafe.Slice(unsafe.StringData(s), len(s)) // read-only view
	}
	return c.enqueue(outFrame{body: p, op: op, deflate: true}, false)
}

// Sizes of the cache of recent compressed messages: at most deflateCacheEntries messages of
// at most deflateCacheMax bytes each are kept (with their compressed form).
const (
	deflateCacheEntries = 16
	deflateCacheMax     = 16 << 10
)

// recentDeflates remembers recently compressed messages, so that one message sent to many
// connections (a group send to a room) is compressed once, not once per connection.
var recentDeflates = &deflateCache{seed: maphash.MakeSeed()}

// deflateCache is a small direct-mapped cache from message bytes (and level) to their
// compressed form. Entries are immutable once stored: writers only read them.
type deflateCache struct {
	seed    maphash.Seed
	mu      sync.Mutex
	entries [deflateCacheEntries]deflateEntry
}

type deflateEntry struct {
	hash    uint64
	level   int8
	in, out []byte
}

// lookup returns the compressed form of p at level, or nil.
func (dc *deflateCache) lookup(p []byte, level int8) []byte {
	if len(p) > deflateCacheMax {
		return nil
	}
	h := maphash.Bytes(dc.seed, p)
	dc.mu.Lock()
	e := dc.entries[h%deflateCacheEntries]
	dc.mu.Unlock()
	if e.hash == h && e.level == level && bytes.Equal(e.in, p) {
		return e.out
	}
	return nil
}

// store remembers out as the compressed form of p at level. p is copied (the caller may
// reuse it); out is kept as is and must not change.
func (dc *deflateCache) store(p []byte, level int8, out []byte) {
	if len(p) > deflateCacheMax {
		return
	}
	h := maphash.Bytes(dc.seed, p)
	e := deflateEntry{hash: h, level: level, in: bytes.Clone(p), out: out}
	dc.mu.Lock()
	dc.entries[h%deflateCacheEntries] = e
	dc.mu.Unlock()
}
