package conformance

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"
)

// MaxMessage is the limit the cases assume of the server: MaxMessageSize and MaxFrameSize
// of 1 MiB, and an outbound queue that fits a 1 MiB echo.
const MaxMessage = 1 << 20

// Cases returns every case, in order.
func Cases() []*Case {
	var all []*Case
	for _, f := range []func() []*Case{
		framing, pingPong, reservedBits, opcodes, fragmentation, utf8Cases, closing,
		limits, autoFragmentation, deflateCases, deflateOffers,
	} {
		all = append(all, f()...)
	}
	return all
}

// Helpers to build cases.

type frame struct {
	fin     bool
	rsv, op byte
	p       []byte
}

func fr(op byte, p []byte) frame           { return frame{fin: true, op: op, p: p} }
func part(op byte, p []byte) frame         { return frame{op: op, p: p} }
func rsv(r, op byte, p []byte) frame       { return frame{fin: true, rsv: r, op: op, p: p} }
func text(s string) Msg                    { return Msg{Op: OpText, Data: []byte(s)} }
func textB(p []byte) Msg                   { return Msg{Op: OpText, Data: p} }
func bin(p []byte) Msg                     { return Msg{Op: OpBinary, Data: p} }
func pong(p []byte) Msg                    { return Msg{Op: OpPong, Data: p} }
func echoOf(op byte, p []byte) Msg         { return Msg{Op: op, Data: p} }
func id(format string, a ...any) string    { return fmt.Sprintf(format, a...) }
func closeP(code int, reason string) frame { return fr(OpClose, CloseFrame(code, reason)) }

// send plays frames in order; a nil-payload frame with op 0xFF pauses.
func send(fs ...frame) func(*Session) error {
	return func(s *Session) error {
		for _, f := range fs {
			if err := s.Send(f.fin, f.rsv, f.op, f.p); err != nil {
				return err
			}
		}
		return nil
	}
}

// textPayload is n bytes of ASCII text.
func textPayload(n int) []byte {
	const src = "Hello, world! The quick brown fox jumps over the lazy dog. "
	return bytes.Repeat([]byte(src), n/len(src)+1)[:n]
}

// binPayload is n pseudo-random bytes (fixed seed).
func binPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// fragments splits p into frames of at most size bytes (at least one frame).
func fragments(op byte, p []byte, size int) []frame {
	var fs []frame
	for first := true; first || len(p) > 0; first = false {
		n := min(size, len(p))
		o := byte(OpCont)
		if first {
			o = op
		}
		fs = append(fs, frame{op: o, p: p[:n]})
		p = p[n:]
	}
	fs[len(fs)-1].fin = true
	return fs
}

// 1.x: text and binary messages of the length-encoding boundaries, whole and in chunks.
func framing() []*Case {
	var cs []*Case
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	for k, op := range []byte{OpText, OpBinary} {
		mk := func(n int) []byte {
			if op == OpText {
				return textPayload(n)
			}
			return binPayload(n, uint64(n))
		}
		for i, n := range lengths {
			p := mk(n)
			cs = append(cs, &Case{ID: id("1.%d.%d", k+1, i+1), Desc: id("op %d, payload %d bytes", op, n),
				Steps: send(fr(op, p)), Want: []Msg{echoOf(op, p)}})
		}
		for i, ch := range []struct{ n, chunk int }{{65536, 997}, {128, 1}, {65535, 4096}} {
			p := mk(ch.n)
			cs = append(cs, &Case{ID: id("1.%d.%d", k+1, len(lengths)+i+1),
				Desc:  id("op %d, payload %d bytes written in chunks of %d", op, ch.n, ch.chunk),
				Chunk: ch.chunk, Steps: send(fr(op, p)), Want: []Msg{echoOf(op, p)}})
		}
	}
	return cs
}

// 2.x: pings and pongs.
func pingPong() []*Case {
	hello := []byte("Hello, world!")
	binp := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	p125 := binPayload(125, 1)
	tenPings := func() ([]frame, []Msg) {
		var fs []frame
		var want []Msg
		for i := range 10 {
			p := []byte(id("ping %d", i))
			fs = append(fs, fr(OpPing, p))
			want = append(want, pong(p))
		}
		return fs, want
	}
	tp, tw := tenPings()
	return []*Case{
		{ID: "2.1", Desc: "ping without payload", Steps: send(fr(OpPing, nil)), Want: []Msg{pong(nil)}},
		{ID: "2.2", Desc: "ping with text payload", Steps: send(fr(OpPing, hello)), Want: []Msg{pong(hello)}},
		{ID: "2.3", Desc: "ping with binary payload", Steps: send(fr(OpPing, binp)), Want: []Msg{pong(binp)}},
		{ID: "2.4", Desc: "ping with 125-byte payload", Steps: send(fr(OpPing, p125)), Want: []Msg{pong(p125)}},
		{ID: "2.5", Desc: "ping with 126-byte payload", Steps: send(fr(OpPing, binPayload(126, 2))), Fail: []int{1002}},
		{ID: "2.6", Desc: "ping with 125-byte payload in 1-byte chunks", Chunk: 1, Steps: send(fr(OpPing, p125)), Want: []Msg{pong(p125)}},
		{ID: "2.7", Desc: "unsolicited pong without payload", Steps: send(fr(OpPong, nil))},
		{ID: "2.8", Desc: "unsolicited pong with payload", Steps: send(fr(OpPong, hello))},
		{ID: "2.9", Desc: "unsolicited pong, then ping", Steps: send(fr(OpPong, hello), fr(OpPing, binp)), Want: []Msg{pong(binp)}},
		{ID: "2.10", Desc: "10 pings", Steps: send(tp...), Want: tw},
		{ID: "2.11", Desc: "10 pings in 1-byte chunks", Chunk: 1, Steps: send(tp...), Want: tw},
	}
}

// 3.x: reserved bits without a negotiated extension.
func reservedBits() []*Case {
	var cs []*Case
	hello := []byte("Hello, world!")
	for r := byte(1); r <= 7; r++ {
		cs = append(cs,
			&Case{ID: id("3.%d.1", r), Desc: id("text with RSV=%d", r), Steps: send(rsv(r, OpText, hello)), Fail: []int{1002}},
			&Case{ID: id("3.%d.2", r), Desc: id("valid text, then text with RSV=%d, then ping", r),
				Steps: send(fr(OpText, hello), rsv(r, OpText, hello), fr(OpPing, nil)),
				Want:  []Msg{text("Hello, world!")}, Optional: true, Fail: []int{1002}},
			&Case{ID: id("3.%d.3", r), Desc: id("binary with RSV=%d in 1-byte chunks", r), Chunk: 1,
				Steps: send(rsv(r, OpBinary, binPayload(16, 3))), Fail: []int{1002}},
			&Case{ID: id("3.%d.4", r), Desc: id("ping with RSV=%d", r), Steps: send(rsv(r, OpPing, hello)), Fail: []int{1002}},
			&Case{ID: id("3.%d.5", r), Desc: id("close with RSV=%d", r), Steps: send(rsv(r, OpClose, CloseFrame(1000, ""))), Fail: []int{1002}},
		)
	}
	return cs
}

// 4.x: reserved opcodes, non-control (3-7) and control (11-15).
func opcodes() []*Case {
	var cs []*Case
	hello := []byte("Hello, world!")
	for i, op := range []byte{3, 4, 5, 6, 7, 11, 12, 13, 14, 15} {
		fam := 1
		if op > 7 {
			fam = 2
		}
		n := i%5 + 1
		cs = append(cs,
			&Case{ID: id("4.%d.%d.1", fam, n), Desc: id("opcode %d without payload", op), Steps: send(fr(op, nil)), Fail: []int{1002}},
			&Case{ID: id("4.%d.%d.2", fam, n), Desc: id("opcode %d with payload", op), Steps: send(fr(op, hello)), Fail: []int{1002}},
			&Case{ID: id("4.%d.%d.3", fam, n), Desc: id("valid text, opcode %d, ping", op),
				Steps: send(fr(OpText, hello), fr(op, hello), fr(OpPing, nil)),
				Want:  []Msg{text("Hello, world!")}, Optional: true, Fail: []int{1002}},
		)
	}
	return cs
}

// 5.x: fragmentation.
func fragmentation() []*Case {
	frag1, frag2 := []byte("fragment1"), []byte("fragment2")
	both := []byte("fragment1fragment2")
	p125 := binPayload(125, 5)
	cs := []*Case{
		{ID: "5.1", Desc: "ping in 2 fragments", Steps: send(part(OpPing, frag1), fr(OpCont, frag2)), Fail: []int{1002}},
		{ID: "5.2", Desc: "pong in 2 fragments", Steps: send(part(OpPong, frag1), fr(OpCont, frag2)), Fail: []int{1002}},
		{ID: "5.3", Desc: "text in 2 fragments", Steps: send(part(OpText, frag1), fr(OpCont, frag2)), Want: []Msg{textB(both)}},
		{ID: "5.4", Desc: "text in 2 fragments, 1-byte chunks", Chunk: 1, Steps: send(part(OpText, frag1), fr(OpCont, frag2)), Want: []Msg{textB(both)}},
		{ID: "5.5", Desc: "text in 2 fragments with a ping between", Steps: send(part(OpText, frag1), fr(OpPing, []byte("p")), fr(OpCont, frag2)),
			Want: []Msg{pong([]byte("p")), textB(both)}},
		{ID: "5.6", Desc: "text in 2 fragments with a ping between, 1-byte chunks", Chunk: 1,
			Steps: send(part(OpText, frag1), fr(OpPing, []byte("p")), fr(OpCont, frag2)), Want: []Msg{pong([]byte("p")), textB(both)}},
		{ID: "5.7", Desc: "continuation (fin) without a message", Steps: send(fr(OpCont, frag1)), Fail: []int{1002}},
		{ID: "5.8", Desc: "continuation (not fin) without a message", Steps: send(part(OpCont, frag1)), Fail: []int{1002}},
		{ID: "5.9", Desc: "continuation without a message, then a text", Steps: send(part(OpCont, frag1), part(OpText, frag1), fr(OpCont, frag2)), Fail: []int{1002}},
		{ID: "5.10", Desc: "continuation without a message, 1-byte chunks", Chunk: 1, Steps: send(fr(OpCont, frag1)), Fail: []int{1002}},
		{ID: "5.11", Desc: "text inside a fragmented text", Steps: send(part(OpText, frag1), fr(OpText, frag2)), Fail: []int{1002}},
		{ID: "5.12", Desc: "binary inside a fragmented text", Steps: send(part(OpText, frag1), part(OpBinary, frag2)), Fail: []int{1002}},
		{ID: "5.13", Desc: "close in the middle of a fragmented message", Steps: send(part(OpText, frag1), closeP(1000, ""))},
		{ID: "5.14", Desc: "125-byte ping inside a fragmented binary", Steps: send(part(OpBinary, frag1), fr(OpPing, p125), fr(OpCont, frag2)),
			Want: []Msg{pong(p125), bin(both)}},
		{ID: "5.15", Desc: "empty fragments then a final one", Steps: send(part(OpText, nil), part(OpCont, nil), fr(OpCont, []byte("x"))), Want: []Msg{text("x")}},
		{ID: "5.16", Desc: "only empty fragments", Steps: send(part(OpText, nil), part(OpCont, nil), fr(OpCont, nil)), Want: []Msg{text("")}},
		{ID: "5.17", Desc: "fragmented ping after a text", Steps: send(fr(OpText, frag1), part(OpPing, frag1), fr(OpCont, frag2)),
			Want: []Msg{textB(frag1)}, Optional: true, Fail: []int{1002}},
		{ID: "5.18", Desc: "two fragmented messages back to back", Steps: send(part(OpText, frag1), fr(OpCont, frag2), part(OpBinary, frag2), fr(OpCont, frag1)),
			Want: []Msg{textB(both), bin([]byte("fragment2fragment1"))}},
		{ID: "5.19", Desc: "5 fragments with pings and pauses between", Steps: func(s *Session) error {
			for i := range 5 {
				op, fin := byte(OpCont), i == 4
				if i == 0 {
					op = OpText
				}
				if err := s.Send(true, 0, OpPing, []byte(id("p%d", i))); err != nil {
					return err
				}
				if err := s.Send(fin, 0, op, []byte(id("f%d", i))); err != nil {
					return err
				}
				s.Pause(20 * time.Millisecond)
			}
			return nil
		}, Want: []Msg{pong([]byte("p0")), pong([]byte("p1")), pong([]byte("p2")), pong([]byte("p3")), pong([]byte("p4")), text("f0f1f2f3f4")}},
	}
	n := 20
	for _, op := range []byte{OpText, OpBinary} {
		for _, nf := range []int{2, 3, 10, 100} {
			for _, withPing := range []bool{false, true} {
				p := textPayload(1000)
				if op == OpBinary {
					p = binPayload(1000, uint64(nf))
				}
				fs := fragments(op, p, (len(p)+nf-1)/nf)
				var want []Msg
				if withPing {
					var inter []frame
					for i, f := range fs {
						inter = append(inter, f)
						if i < len(fs)-1 {
							pp := []byte(id("ping%d", i))
							inter = append(inter, fr(OpPing, pp))
							want = append(want, pong(pp))
						}
					}
					fs = inter
				}
				want = append(want, echoOf(op, p))
				cs = append(cs, &Case{ID: id("5.%d", n), Desc: id("op %d in %d fragments, pings between: %v", op, nf, withPing),
					Steps: send(fs...), Want: want})
				n++
			}
		}
	}
	return cs
}

type utf8Seq struct {
	name  string
	b     string
	valid bool
}

var utf8Table = []utf8Seq{
	{"empty", "", true},
	{"mixed text", "Hello-µ@ßöäüàá-UTF-8!!", true},
	{"greek kosme", "κόσμε", true},
	{"U+0000", "\x00", true},
	{"U+007F", "\x7f", true},
	{"U+0080", "\xc2\x80", true},
	{"U+07FF", "\xdf\xbf", true},
	{"U+0800", "\xe0\xa0\x80", true},
	{"U+D7FF", "\xed\x9f\xbf", true},
	{"U+E000", "\xee\x80\x80", true},
	{"U+FFFD", "\xef\xbf\xbd", true},
	{"U+FFFF", "\xef\xbf\xbf", true},
	{"U+10000", "\xf0\x90\x80\x80", true},
	{"U+10FFFF", "\xf4\x8f\xbf\xbf", true},
	{"BOM and emoji", "\xef\xbb\xbf\xf0\x9f\x98\x80", true},
	{"lone continuation 0x80", "\x80", false},
	{"lone continuation 0xbf", "\xbf", false},
	{"two continuations", "\x80\xbf", false},
	{"three continuations", "\x80\xbf\x80", false},
	{"lone start 0xc0", "\xc0", false},
	{"start 0xc0 then space", "\xc0 ", false},
	{"2-byte sequence cut", "\xdf", false},
	{"3-byte sequence cut", "\xef\xbf", false},
	{"4-byte sequence cut", "\xf4\x8f\xbf", false},
	{"3-byte start, 1 continuation", "\xe0\x80", false},
	{"4-byte start, 2 continuations", "\xf0\x80\x80", false},
	{"0xfe", "\xfe", false},
	{"0xff", "\xff", false},
	{"fe fe ff ff", "\xfe\xfe\xff\xff", false},
	{"overlong slash 2 bytes", "\xc0\xaf", false},
	{"overlong slash 3 bytes", "\xe0\x80\xaf", false},
	{"overlong slash 4 bytes", "\xf0\x80\x80\xaf", false},
	{"overlong slash 5 bytes", "\xf8\x80\x80\x80\xaf", false},
	{"max overlong 2 bytes", "\xc1\xbf", false},
	{"max overlong 3 bytes", "\xe0\x9f\xbf", false},
	{"max overlong 4 bytes", "\xf0\x8f\xbf\xbf", false},
	{"surrogate U+D800", "\xed\xa0\x80", false},
	{"surrogate U+DB7F", "\xed\xad\xbf", false},
	{"surrogate U+DFFF", "\xed\xbf\xbf", false},
	{"surrogate pair", "\xed\xa0\x80\xed\xb0\x80", false},
	{"above U+10FFFF", "\xf4\x90\x80\x80", false},
	{"start 0xf5", "\xf5\x80\x80\x80", false},
	{"kosme, surrogate, text", "κόσμε\xed\xa0\x80edited", false},
}

// 6.x: UTF-8 in text messages, whole, one byte per frame, and inside ASCII in 1-byte chunks;
// then fail-fast cases.
func utf8Cases() []*Case {
	var cs []*Case
	for i, u := range utf8Table {
		p := []byte(u.b)
		mk := func(k int, desc string, chunk int, fs []frame, payload []byte) *Case {
			c := &Case{ID: id("6.%d.%d", i+1, k), Desc: u.name + ", " + desc, Chunk: chunk, Steps: send(fs...)}
			if u.valid {
				c.Want = []Msg{textB(payload)}
			} else {
				c.Fail = []int{1007}
			}
			return c
		}
		cs = append(cs, mk(1, "one frame", 0, []frame{fr(OpText, p)}, p))
		cs = append(cs, mk(2, "one byte per frame", 0, fragments(OpText, p, 1), p))
		wrapped := []byte("Hello-" + u.b + "-world")
		cs = append(cs, mk(3, "inside text, 1-byte chunks", 1, []frame{fr(OpText, wrapped)}, wrapped))
	}
	n := len(utf8Table) + 1
	// Fail fast: the invalid sequence is in an early fragment; the server should fail
	// before the message ends.
	early := func(first []frame, rest []frame) func(*Session) error {
		return func(s *Session) error {
			if err := send(first...)(s); err != nil {
				return err
			}
			if err := s.AwaitClose(); err != nil {
				return err
			}
			return send(rest...)(s)
		}
	}
	kosme := []byte("κόσμε")
	cs = append(cs,
		&Case{ID: id("6.%d.1", n), Desc: "invalid code point in the 2nd of 3 fragments", FailFast: true, Fail: []int{1007},
			Steps: early([]frame{part(OpText, kosme), part(OpCont, []byte("\xf4\x90\x80\x80"))}, []frame{fr(OpCont, []byte("edited"))})},
		&Case{ID: id("6.%d.2", n), Desc: "invalid continuation split over fragments", FailFast: true, Fail: []int{1007},
			Steps: early([]frame{part(OpText, append(kosme, 0xf4)), part(OpCont, []byte{0x90})}, []frame{fr(OpCont, []byte("\x80\x80edited"))})},
		&Case{ID: id("6.%d.3", n), Desc: "invalid byte at the start of a long fragmented message", FailFast: true, Fail: []int{1007},
			Steps: early([]frame{part(OpText, []byte("\xff"))}, fragments(OpCont, textPayload(65536), 4096))},
		&Case{ID: id("6.%d.4", n), Desc: "invalid byte at the start of a 64 KiB frame sent in pieces", FailFast: true, Fail: []int{1007},
			Steps: func(s *Session) error {
				raw := EncodeFrame(true, 0, OpText, append([]byte("\xed\xa0\x80"), textPayload(65533)...))
				if err := s.C.WriteRaw(raw[:4096]); err != nil {
					return err
				}
				if err := s.AwaitClose(); err != nil {
					return err
				}
				return s.C.WriteRaw(raw[4096:])
			}},
	)
	return cs
}

// 7.x: close handling.
func closing() []*Case {
	hello := []byte("Hello, world!")
	cs := []*Case{
		{ID: "7.1.1", Desc: "echo, then close", Steps: send(fr(OpText, hello)), Want: []Msg{text("Hello, world!")}},
		{ID: "7.1.2", Desc: "close twice", Steps: send(closeP(1000, ""), closeP(1000, ""))},
		{ID: "7.1.3", Desc: "ping after close is not answered", Steps: send(closeP(1000, ""), fr(OpPing, hello))},
		{ID: "7.1.4", Desc: "text after close is not echoed", Steps: send(closeP(1000, ""), fr(OpText, hello))},
		{ID: "7.1.5", Desc: "fragmented text interrupted by close", Steps: send(part(OpText, hello), closeP(1000, ""), fr(OpCont, hello))},
		{ID: "7.1.6", Desc: "close right after a 256 KiB message", Informational: true,
			Steps: send(fr(OpText, textPayload(256<<10)), closeP(1000, "")), Want: []Msg{textB(textPayload(256 << 10))}, Optional: true},
		{ID: "7.3.1", Desc: "close with empty payload", Steps: send(fr(OpClose, nil)), CloseCodes: []int{0, 1000}},
		{ID: "7.3.2", Desc: "close with 1-byte payload", Steps: send(fr(OpClose, []byte{0x03})), Fail: []int{1002}},
		{ID: "7.3.3", Desc: "close with code only", Steps: send(closeP(1000, ""))},
		{ID: "7.3.4", Desc: "close with code and reason", Steps: send(closeP(1000, "Hello World!"))},
		{ID: "7.3.5", Desc: "close with 123-byte reason", Steps: send(closeP(1000, string(textPayload(123))))},
		{ID: "7.3.6", Desc: "close with 124-byte reason (payload over 125)", Steps: send(closeP(1000, string(textPayload(124)))), Fail: []int{1002}},
		{ID: "7.5.1", Desc: "close reason not valid UTF-8", Steps: send(closeP(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")), Fail: []int{1007}},
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cs = append(cs, &Case{ID: id("7.7.%d", i+1), Desc: id("close with valid code %d", code),
			Steps: send(closeP(code, "")), CloseCodes: []int{1000, code}})
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cs = append(cs, &Case{ID: id("7.9.%d", i+1), Desc: id("close with invalid code %d", code),
			Steps: send(fr(OpClose, binary.BigEndian.AppendUint16(nil, uint16(code)))), Fail: []int{1002}})
	}
	return cs
}

// 9.x: large messages in various fragment sizes, and messages over the limit.
func limits() []*Case {
	var cs []*Case
	for k, op := range []byte{OpText, OpBinary} {
		n := 1
		for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
			p := textPayload(size)
			if op == OpBinary {
				p = binPayload(size, uint64(size))
			}
			for _, fsz := range []int{0, 64 << 10, 4 << 10, 256} {
				fs := []frame{fr(op, p)}
				desc := "one frame"
				if fsz > 0 {
					fs = fragments(op, p, fsz)
					desc = id("fragments of %d bytes", fsz)
				}
				cs = append(cs, &Case{ID: id("9.%d.%d", k+1, n), Desc: id("op %d, %d bytes, %s", op, size, desc),
					Steps: send(fs...), Want: []Msg{echoOf(op, p)}})
				n++
			}
		}
	}
	over := textPayload(MaxMessage + 1)
	cs = append(cs,
		&Case{ID: "9.9.1", Desc: "text message 1 byte over the limit, one frame", Steps: send(fr(OpText, over)), Fail: []int{1009}},
		&Case{ID: "9.9.2", Desc: "binary message 1 byte over the limit, 64 KiB fragments", Steps: send(fragments(OpBinary, over, 64<<10)...), Fail: []int{1009}},
		&Case{ID: "9.9.3", Desc: "frame header declaring 1 TiB", Fail: []int{1009}, Steps: func(s *Session) error {
			h := []byte{0x82, 0x80 | 127}
			h = binary.BigEndian.AppendUint64(h, 1<<40)
			return s.C.WriteRaw(append(h, 1, 2, 3, 4))
		}},
		&Case{ID: "9.9.4", Desc: "64-bit length with the top bit set", Fail: []int{1002}, Steps: func(s *Session) error {
			h := []byte{0x82, 0x80 | 127}
			h = binary.BigEndian.AppendUint64(h, 1<<63)
			return s.C.WriteRaw(append(h, 1, 2, 3, 4))
		}},
	)
	return cs
}

// 10.x: the client fragments a message automatically at various sizes.
func autoFragmentation() []*Case {
	var cs []*Case
	p := textPayload(64 << 10)
	for i, size := range []int{1300, 1, 125, 16 << 10} {
		cs = append(cs, &Case{ID: id("10.1.%d", i+1), Desc: id("64 KiB text auto-fragmented at %d bytes", size),
			Steps: send(fragments(OpText, p, size)...), Want: []Msg{textB(p)}})
	}
	return cs
}

const offer = "permessage-deflate; client_no_context_takeover; client_max_window_bits"

// 12.x: permessage-deflate messages of many sizes and kinds, whole and fragmented, and
// deflate errors.
func deflateCases() []*Case {
	var cs []*Case
	kinds := []struct {
		name string
		op   byte
		mk   func(n int) []byte
	}{
		{"text", OpText, textPayload},
		{"random binary", OpBinary, func(n int) []byte { return binPayload(n, uint64(n)+9) }},
		{"zeros", OpBinary, func(n int) []byte { return make([]byte, n) }},
	}
	for k, kind := range kinds {
		n := 1
		for _, size := range []int{16, 64, 256, 1024, 4096, 16384, 65536, 131072} {
			var fs []frame
			var want []Msg
			for m := range 10 {
				p := kind.mk(size)
				if len(p) > 0 {
					p[0] ^= byte(m) // every message differs
				}
				fs = append(fs, rsv(4, kind.op, Deflate(p, flate.BestSpeed)))
				want = append(want, echoOf(kind.op, p))
			}
			cs = append(cs, &Case{ID: id("12.%d.%d", k+1, n), Desc: id("10 compressed %s messages of %d bytes", kind.name, size),
				Ext: offer, NeedDeflate: true, Steps: send(fs...), Want: want})
			n++
		}
		for _, size := range []int{4096, 65536} {
			p := kind.mk(size)
			fs := fragments(kind.op, Deflate(p, flate.BestCompression), 1024)
			fs[0].rsv = 4
			cs = append(cs, &Case{ID: id("12.%d.%d", k+1, n), Desc: id("compressed %s message of %d bytes in 1 KiB fragments", kind.name, size),
				Ext: offer, NeedDeflate: true, Steps: send(fs...), Want: []Msg{echoOf(kind.op, p)}})
			n++
		}
	}
	hello := []byte("Hello, world!")
	bomb := Deflate(make([]byte, 4*MaxMessage), flate.BestCompression)
	cs = append(cs,
		&Case{ID: "12.4.1", Desc: "uncompressed message on a deflate connection", Ext: offer, NeedDeflate: true,
			Steps: send(fr(OpText, hello)), Want: []Msg{textB(hello)}},
		&Case{ID: "12.4.2", Desc: "RSV1 on a continuation frame", Ext: offer, NeedDeflate: true, Fail: []int{1002},
			Steps: send(frame{rsv: 4, op: OpText, p: Deflate(hello, 1)}, rsv(4, OpCont, nil))},
		&Case{ID: "12.4.3", Desc: "RSV1 on a ping", Ext: offer, NeedDeflate: true, Fail: []int{1002},
			Steps: send(rsv(4, OpPing, hello))},
		&Case{ID: "12.4.4", Desc: "corrupt compressed data", Ext: offer, NeedDeflate: true, Fail: []int{1007},
			Steps: send(rsv(4, OpBinary, []byte{0xff, 0xff, 0xff, 0xff, 0xff}))},
		&Case{ID: "12.4.5", Desc: "compressed text that is not UTF-8", Ext: offer, NeedDeflate: true, Fail: []int{1007},
			Steps: send(rsv(4, OpText, Deflate([]byte("κόσμε\xed\xa0\x80edited"), 1)))},
		&Case{ID: "12.4.6", Desc: "deflate bomb: 4 MiB of zeros in a few KiB", Ext: offer, NeedDeflate: true, Fail: []int{1009},
			Steps: send(rsv(4, OpBinary, bomb))},
		&Case{ID: "12.4.7", Desc: "RSV2 on a deflate connection", Ext: offer, NeedDeflate: true, Fail: []int{1002},
			Steps: send(rsv(2, OpText, hello))},
		&Case{ID: "12.4.8", Desc: "compressed empty message", Ext: offer, NeedDeflate: true,
			Steps: send(rsv(4, OpText, Deflate(nil, 1)), rsv(4, OpBinary, []byte{0x00})), Want: []Msg{text(""), bin([]byte{})}},
	)
	return cs
}

// 13.x: permessage-deflate offers with parameters.
func deflateOffers() []*Case {
	var cs []*Case
	offers := []struct{ ext, want string }{
		{"permessage-deflate", ""},
		{"permessage-deflate; client_no_context_takeover", ""},
		{"permessage-deflate; server_no_context_takeover", "server_no_context_takeover"},
		{"permessage-deflate; server_max_window_bits=9", "server_max_window_bits=9"},
		{"permessage-deflate; server_max_window_bits=15", ""},
		{"permessage-deflate; client_max_window_bits", ""},
		{"permessage-deflate; client_max_window_bits=9", ""},
		{"permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=8", "server_max_window_bits=8"},
		{"permessage-deflate; server_max_window_bits=8, permessage-deflate", "server_max_window_bits=8"},
		{"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=12", "server_max_window_bits=12"},
	}
	for i, o := range offers {
		for j, size := range []int{64, 4096, 65536} {
			var fs []frame
			var want []Msg
			for m := range 5 {
				p := textPayload(size + m)
				fs = append(fs, rsv(4, OpText, Deflate(p, flate.BestSpeed)))
				want = append(want, textB(p))
			}
			cs = append(cs, &Case{ID: id("13.%d.%d", i+1, j+1), Desc: id("offer %q, 5 messages of ~%d bytes", o.ext, size),
				Ext: o.ext, NeedDeflate: true, WantExt: o.want, Steps: send(fs...), Want: want})
		}
	}
	hello := []byte("Hello, world!")
	for i, ext := range []string{
		"permessage-deflate; foo=1",
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; client_max_window_bits=16",
	} {
		cs = append(cs, &Case{ID: id("13.%d.1", len(offers)+i+1), Desc: id("unacceptable offer %q is declined", ext),
			Ext: ext, RefuseDeflate: true, Steps: send(fr(OpText, hello)), Want: []Msg{textB(hello)}})
	}
	return cs
}
