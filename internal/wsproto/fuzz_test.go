package wsproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzReader feeds arbitrary bytes to the frame reader, with and without permessage-deflate.
// It must never panic, never return a message over its limits, never hold more memory for a
// message than its limits allow, and only return text that is valid UTF-8.
func FuzzReader(f *testing.F) {
	f.Add(masked(ws.OpText, true, []byte("hello")), false)
	f.Add(append(masked(ws.OpText, false, []byte("he")), masked(ws.OpContinuation, true, []byte("llo"))...), false)
	f.Add(masked(ws.OpClose, true, []byte{0x03, 0xe8, 'o', 'k'}), false)
	f.Add(masked(ws.OpPing, true, []byte("p")), false)
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0x10, 0}, false)
	comp := Compress(nil, bytes.Repeat([]byte("abc"), 100), 1)
	f.Add(maskedRsv1(ws.OpText, comp), true)
	bomb := Compress(nil, make([]byte, 1<<16), 9)
	f.Add(maskedRsv1(ws.OpBinary, bomb), true)
	f.Fuzz(func(t *testing.T, in []byte, deflate bool) {
		const maxFrame, maxMsg = 1024, 4096
		r := Reader{MaxFrame: maxFrame, MaxMessage: maxMsg, Deflate: deflate}
		src := &countingReader{r: bytes.NewReader(in)}
		for i := 0; i < 1000; i++ {
			fr, err := r.Next(src)
			if err != nil {
				var pe *Error
				if errors.As(err, &pe) {
					if !ValidCloseCode(pe.Code) {
						t.Fatalf("protocol error with invalid close code %d", pe.Code)
					}
				} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
			switch {
			case fr.OpCode.IsControl():
				if len(fr.Payload) > MaxControlPayload {
					t.Fatalf("control payload of %d bytes", len(fr.Payload))
				}
				if fr.OpCode == ws.OpClose && !(fr.Code == CodeNoStatus || ValidCloseCode(fr.Code)) {
					t.Fatalf("close code %d accepted", fr.Code)
				}
			case fr.OpCode == ws.OpText || fr.OpCode == ws.OpBinary:
				if len(fr.Payload) > maxMsg || cap(fr.Payload) > 2*maxMsg+8 {
					t.Fatalf("message of %d bytes (cap %d) over the %d limit", len(fr.Payload), cap(fr.Payload), maxMsg)
				}
				if fr.OpCode == ws.OpText && !utf8.Valid(fr.Payload) {
					t.Fatalf("invalid UTF-8 text accepted: %q", fr.Payload)
				}
				if !deflate && len(fr.Payload) > src.n {
					t.Fatalf("message of %d bytes from %d input bytes", len(fr.Payload), src.n)
				}
			default:
				t.Fatalf("Next returned opcode %v", fr.OpCode)
			}
		}
	})
}

func maskedRsv1(op ws.OpCode, p []byte) []byte {
	b := masked(op, true, p)
	b[0] |= 0x40
	return b
}

// FuzzNegotiateDeflate checks that any extension header either yields a valid acceptance
// or none, without panicking.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate",
		`permessage-deflate; server_max_window_bits="9"; client_no_context_takeover`,
		"foo, permessage-deflate; x=1, permessage-deflate; server_no_context_takeover",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, ok := NegotiateDeflate(map[string][]string{"Sec-Websocket-Extensions": {h}})
		if ok && (p.ServerMaxWindowBits < 8 || p.ServerMaxWindowBits > 15) {
			t.Fatalf("accepted window bits %d", p.ServerMaxWindowBits)
		}
	})
}
