package wsproto

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// ExtensionDeflate is the token of the permessage-deflate extension (RFC 7692).
const ExtensionDeflate = "permessage-deflate"

// deflateTail is the empty stored block that ends every compressed message on the wire
// after it has been removed by the sender (RFC 7692 §7.2.1).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// DeflateParams is an accepted permessage-deflate offer. The server always runs without
// context takeover in both directions, so no compression state outlives a message.
type DeflateParams struct {
	// ServerMaxWindowBits is the window the client allowed the server (8-15); below 15 the
	// server compresses without back-references (Huffman only), which fits any window.
	ServerMaxWindowBits int
}

// Response returns the Sec-WebSocket-Extensions value that accepts the offer.
func (p DeflateParams) Response() string {
	s := ExtensionDeflate + "; server_no_context_takeover; client_no_context_takeover"
	if p.ServerMaxWindowBits > 0 && p.ServerMaxWindowBits < 15 {
		s += "; server_max_window_bits=" + strconv.Itoa(p.ServerMaxWindowBits)
	}
	return s
}

// NegotiateDeflate picks the first permessage-deflate offer in the request's
// Sec-WebSocket-Extensions headers that this implementation can honour. Offers with
// unknown, repeated or malformed parameters are skipped (RFC 7692 §5).
func NegotiateDeflate(h http.Header) (DeflateParams, bool) {
	for _, line := range h.Values("Sec-Websocket-Extensions") {
		for _, offer := range splitOutsideQuotes(line, ',') {
			if p, ok := parseDeflateOffer(offer); ok {
				return p, true
			}
		}
	}
	return DeflateParams{}, false
}

func parseDeflateOffer(offer string) (DeflateParams, bool) {
	parts := splitOutsideQuotes(offer, ';')
	if len(parts) == 0 || !strings.EqualFold(strings.TrimSpace(parts[0]), ExtensionDeflate) {
		return DeflateParams{}, false
	}
	p := DeflateParams{ServerMaxWindowBits: 15}
	seen := map[string]bool{}
	for _, raw := range parts[1:] {
		name, val, hasVal := strings.Cut(strings.TrimSpace(raw), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if seen[name] {
			return DeflateParams{}, false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasVal {
				return DeflateParams{}, false
			}
		case "server_max_window_bits":
			n, ok := windowBits(val)
			if !hasVal || !ok {
				return DeflateParams{}, false
			}
			p.ServerMaxWindowBits = n
		case "client_max_window_bits":
			// Our inflater accepts any window up to 15; no value is allowed here.
			if hasVal {
				if _, ok := windowBits(val); !ok {
					return DeflateParams{}, false
				}
			}
		default:
			return DeflateParams{}, false
		}
	}
	return p, true
}

func windowBits(s string) (int, bool) {
	if len(s) == 0 || len(s) > 2 || s[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// splitOutsideQuotes splits s at sep, ignoring separators inside double quotes, and drops
// empty elements.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch c := s[i]; {
			case c == '"':
				quoted = !quoted
				continue
			case c != sep || quoted:
				continue
			}
		}
		if part := strings.TrimSpace(s[start:i]); part != "" {
			out = append(out, part)
		}
		start = i + 1
	}
	return out
}

// inflater is a pooled decompressor with its input.
type inflater struct {
	src payloadReader
	fr  io.ReadCloser
}

// payloadReader reads a compressed payload followed by the empty stored block the sender
// removed. It is an io.ByteReader, so flate reads it without a bufio.Reader of its own.
type payloadReader struct {
	p []byte
	i int // position in p, then in deflateTail
}

func (r *payloadReader) Read(b []byte) (int, error) {
	n := 0
	if r.i < len(r.p) {
		n = copy(b, r.p[r.i:])
		r.i += n
		b = b[n:]
	}
	if len(b) > 0 && r.i >= len(r.p) {
		k := copy(b, deflateTail[r.i-len(r.p):])
		r.i += k
		n += k
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *payloadReader) ReadByte() (byte, error) {
	switch {
	case r.i < len(r.p):
		r.i++
		return r.p[r.i-1], nil
	case r.i < len(r.p)+len(deflateTail):
		r.i++
		return deflateTail[r.i-1-len(r.p)], nil
	}
	return 0, io.EOF
}

// Compressors are pooled per level; a connection holds none between messages.
var (
	compressorPools [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool
	inflaterPool    sync.Pool
)

// Compress appends the permessage-deflate encoding of p (without the final 0x00 0x00 0xff
// 0xff) to dst, using a fresh compression context (no context takeover). level is a
// compress/flate level; a level outside -2..9 means flate.BestSpeed.
func Compress(dst, p []byte, level int) []byte {
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		level = flate.BestSpeed
	}
	buf := bytes.NewBuffer(dst)
	pool := &compressorPools[level-flate.HuffmanOnly]
	fw, _ := pool.Get().(*flate.Writer)
	if fw == nil {
		fw, _ = flate.NewWriter(buf, level) // level is valid: no error
	} else {
		fw.Reset(buf)
	}
	_, _ = fw.Write(p) // a bytes.Buffer never fails
	_ = fw.Flush()
	fw.Reset(nil)
	pool.Put(fw)
	out := buf.Bytes()
	if bytes.HasSuffix(out[len(dst):], deflateTail) {
		out = out[:len(out)-len(deflateTail)]
	}
	return out
}

// Decompress inflates a permessage-deflate message payload (as received, without the
// final empty block), refusing to produce more than limit bytes: past it the error is a
// *Error with CodeMessageTooBig; corrupt input is a *Error with CodeInvalidPayload.
// Memory allocated is bounded by about twice the output, at most about 2*limit. A payload
// cut short inside a block ends like any message (flate cannot tell it from a sync flush);
// whatever it inflated to is returned, and text is still checked for UTF-8 by the caller.
func Decompress(p []byte, limit int64) ([]byte, error) {
	inf, _ := inflaterPool.Get().(*inflater)
	if inf == nil {
		inf = &inflater{}
		inf.src.p = p
		inf.fr = flate.NewReader(&inf.src)
	} else {
		inf.src = payloadReader{p: p}
		if err := inf.fr.(flate.Resetter).Reset(&inf.src, nil); err != nil {
			return nil, fmt.Errorf("wsproto: resetting the inflater: %w", err)
		}
	}
	defer func() {
		inf.src = payloadReader{}
		inflaterPool.Put(inf)
	}()
	fr := inf.fr
	size := min(int64(max(2*len(p), 512)), limit+1)
	out := make([]byte, 0, size)
	for {
		if len(out) == cap(out) {
			if int64(len(out)) > limit {
				return nil, protoErr(CodeMessageTooBig, fmt.Sprintf("message inflates to more than %d bytes", limit))
			}
			grow := min(int64(cap(out)), limit+1-int64(len(out)))
			nb := make([]byte, len(out), int64(len(out))+max(grow, 1))
			copy(nb, out)
			out = nb
		}
		n, err := fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, protoErr(CodeMessageTooBig, fmt.Sprintf("message inflates to more than %d bytes", limit))
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			// The stream ends at the sync-flush marker; an unexpected EOF just means no
			// final block, which is how every message ends.
			return out, nil
		default:
			return nil, protoErr(CodeInvalidPayload, "invalid compressed data: "+err.Error())
		}
	}
}
