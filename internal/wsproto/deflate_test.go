package wsproto

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/gobwas/ws"
)

func TestCompressRoundTrip(t *testing.T) {
	for _, level := range []int{-2, 0, 1, 6, 9, 42} {
		for _, n := range []int{0, 1, 100, 70000} {
			p := bytes.Repeat([]byte("gochannels "), n/11+1)[:n]
			c := Compress(nil, p, level)
			if bytes.HasSuffix(c, deflateTail) {
				t.Fatalf("level %d: tail not stripped", level)
			}
			got, err := Decompress(c, 1<<20)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("level %d, %d bytes: %v (got %d bytes)", level, n, err, len(got))
			}
		}
	}
}

func TestDecompressLimits(t *testing.T) {
	bomb := Compress(nil, make([]byte, 1<<20), 9)
	_, err := Decompress(bomb, 1000)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeMessageTooBig {
		t.Fatalf("bomb: %v", err)
	}
	if _, err := Decompress([]byte{0xff, 0xff, 0xff}, 1000); !errors.As(err, &pe) || pe.Code != CodeInvalidPayload {
		t.Fatalf("corrupt: %v", err)
	}
	if got, err := Decompress(Compress(nil, make([]byte, 1000), 1), 1000); err != nil || len(got) != 1000 {
		t.Fatalf("exactly the limit: %v, %d", err, len(got))
	}
}

func TestReaderDeflate(t *testing.T) {
	comp := Compress(nil, []byte("héllo héllo héllo"), 1)
	r := Reader{MaxFrame: 1000, MaxMessage: 1000, Deflate: true}
	// Compressed, in two fragments: RSV1 only on the first.
	in := append(maskedRsv1Fin(ws.OpText, false, comp[:3]), masked(ws.OpContinuation, true, comp[3:])...)
	f, err := r.Next(bytes.NewReader(in))
	if err != nil || string(f.Payload) != "héllo héllo héllo" {
		t.Fatalf("%q %v", f.Payload, err)
	}
	bad := []struct {
		name string
		in   []byte
		dfl  bool
	}{
		{"rsv1 without deflate", maskedRsv1Fin(ws.OpText, true, comp), false},
		{"rsv1 on continuation", append(masked(ws.OpText, false, nil), maskedRsv1Fin(ws.OpContinuation, true, comp)...), true},
		{"rsv1 on ping", maskedRsv1Fin(ws.OpPing, true, nil), true},
		{"invalid utf8 inside", maskedRsv1Fin(ws.OpText, true, Compress(nil, []byte{0xff, 0xfe}, 1)), true},
	}
	for _, tc := range bad {
		r := Reader{MaxFrame: 1000, MaxMessage: 1000, Deflate: tc.dfl}
		if _, err := r.Next(bytes.NewReader(tc.in)); !errors.As(err, new(*Error)) {
			t.Errorf("%s: %v, want a protocol error", tc.name, err)
		}
	}
}

func maskedRsv1Fin(op ws.OpCode, fin bool, p []byte) []byte {
	b := masked(op, fin, p)
	b[0] |= 0x40
	return b
}

func TestNegotiateDeflate(t *testing.T) {
	cases := []struct {
		offer string
		ok    bool
		bits  int
	}{
		{"permessage-deflate", true, 15},
		{"permessage-deflate; client_max_window_bits", true, 15},
		{"permessage-deflate; client_max_window_bits=10", true, 15},
		{"permessage-deflate; server_max_window_bits=9", true, 9},
		{`permessage-deflate; server_max_window_bits="12"`, true, 12},
		{"permessage-deflate; server_max_window_bits=7", false, 0},
		{"permessage-deflate; server_max_window_bits", false, 0},
		{"permessage-deflate; server_no_context_takeover=1", false, 0},
		{"permessage-deflate; foo", false, 0},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", false, 0},
		{"permessage-deflate; foo, permessage-deflate; server_max_window_bits=10", true, 10},
		{"x-webkit-deflate-frame", false, 0},
	}
	for _, tc := range cases {
		h := http.Header{}
		h.Set("Sec-WebSocket-Extensions", tc.offer)
		p, ok := NegotiateDeflate(h)
		if ok != tc.ok || (ok && p.ServerMaxWindowBits != tc.bits) {
			t.Errorf("%q: %+v %v, want bits %d ok %v", tc.offer, p, ok, tc.bits, tc.ok)
		}
	}
	resp := DeflateParams{ServerMaxWindowBits: 10}.Response()
	if resp != "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10" {
		t.Fatalf("response %q", resp)
	}
}
