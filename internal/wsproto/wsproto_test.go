package wsproto

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAcceptKey(t *testing.T) {
	// RFC 6455 §1.3 example.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
}

func TestCheckUTF8Prefix(t *testing.T) {
	cases := []struct {
		in       string
		complete int
		ok       bool
	}{
		{in: "", complete: 0, ok: true},
		{in: "abc", complete: 3, ok: true},
		{in: "a☃", complete: 4, ok: true},
		{in: "a\xe2\x98", complete: 1, ok: true},
		{in: "a\xe2", complete: 1, ok: true},
		{in: "a\xff", ok: false},
		{in: "\xed\xa0", ok: false}, // surrogate prefix
		{in: "\xf4\x90", ok: false}, // above U+10FFFF
		{in: "\xe0\x80", ok: false}, // overlong
		{in: "\xc0", ok: false},     // overlong lead byte
		{in: "\xf0\x9f\x98", complete: 0, ok: true},
		{in: "x\xc3\x28", ok: false},
	}
	for _, tc := range cases {
		n, ok := CheckUTF8Prefix([]byte(tc.in))
		if ok != tc.ok || (ok && n != tc.complete) {
			t.Errorf("CheckUTF8Prefix(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.complete, tc.ok)
		}
	}
	// Agreement with utf8.Valid on whole strings.
	for _, s := range []string{"héllo", "\xe2\x82\xac", "\xe2\x82", "ok\x80", "日本語"} {
		n, ok := CheckUTF8Prefix([]byte(s))
		if whole := ok && n == len(s); whole != utf8.ValidString(s) {
			t.Errorf("%q: prefix check %v/%d disagrees with utf8.Valid", s, ok, n)
		}
	}
}

func masked(op ws.OpCode, fin bool, p []byte) []byte {
	var b bytes.Buffer
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(p))}
	_ = ws.WriteHeader(&b, h)
	q := append([]byte(nil), p...)
	ws.Cipher(q, h.Mask, 0)
	b.Write(q)
	return b.Bytes()
}

func TestReaderReassembles(t *testing.T) {
	var in bytes.Buffer
	in.Write(masked(ws.OpText, false, []byte("he")))
	in.Write(masked(ws.OpPing, true, []byte("p")))
	in.Write(masked(ws.OpContinuation, true, []byte("llo")))
	in.Write(masked(ws.OpClose, true, []byte{0x03, 0xe8, 'o', 'k'}))
	r := Reader{MaxFrame: 100, MaxMessage: 100}
	f, err := r.Next(&in)
	if err != nil || f.OpCode != ws.OpPing || string(f.Payload) != "p" {
		t.Fatalf("1: %v %v", f, err)
	}
	if !r.InMessage() {
		t.Fatal("message should be in progress")
	}
	f, err = r.Next(&in)
	if err != nil || f.OpCode != ws.OpText || string(f.Payload) != "hello" {
		t.Fatalf("2: %v %v", f, err)
	}
	f, err = r.Next(&in)
	if err != nil || f.OpCode != ws.OpClose || f.Code != 1000 || f.Reason != "ok" {
		t.Fatalf("3: %+v %v", f, err)
	}
	if _, err := r.Next(&in); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		code int
	}{
		{name: "too big frame", in: masked(ws.OpBinary, true, make([]byte, 11)), code: CodeMessageTooBig},
		{name: "too big message", in: append(masked(ws.OpBinary, false, make([]byte, 10)), masked(ws.OpContinuation, true, make([]byte, 10))...), code: CodeMessageTooBig},
		{name: "bad utf8", in: masked(ws.OpText, true, []byte{0xff}), code: CodeInvalidPayload},
		{name: "unmasked", in: []byte{0x81, 0x00}, code: CodeProtocolError},
	}
	for _, tc := range cases {
		r := Reader{MaxFrame: 10, MaxMessage: 15}
		_, err := r.Next(bytes.NewReader(tc.in))
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
}

func TestReadGrowingDoesNotTrustDeclaredLength(t *testing.T) {
	// A 1 MiB frame is declared but only 10 bytes arrive: far less than 1 MiB is allocated.
	buf, err := readGrowing(bytes.NewReader(make([]byte, 10)), nil, 1<<20, 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v", err)
	}
	if cap(buf) > 8192 {
		t.Fatalf("allocated %d bytes for 10 that arrived", cap(buf))
	}
}

func TestAppendCloseTruncatesReason(t *testing.T) {
	long := bytes.Repeat([]byte("é"), 100) // 200 bytes
	f := AppendClose(nil, 1000, string(long))
	if len(f) > 2+125 || !utf8.Valid(f[4:]) {
		t.Fatalf("close frame of %d bytes, valid=%v", len(f), utf8.Valid(f[4:]))
	}
}

func TestCheckRequest(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r.Header.Set("Upgrade", "WebSocket")
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Add("Sec-WebSocket-Protocol", "a, b")
	r.Header.Add("Sec-WebSocket-Protocol", "c")
	key, protos, err := CheckRequest(r)
	if err != nil || key != "dGhlIHNhbXBsZSBub25jZQ==" || len(protos) != 3 || protos[2] != "c" {
		t.Fatalf("%q %q %v", key, protos, err)
	}
}
