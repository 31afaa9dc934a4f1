package wsproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Close codes used by this package (RFC 6455 §7.4.1).
const (
	CodeNormal          = 1000
	CodeProtocolError   = 1002
	CodeNoStatus        = 1005
	CodeInvalidPayload  = 1007
	CodeMessageTooBig   = 1009
	MaxControlPayload   = 125
	MaxCloseReasonBytes = MaxControlPayload - 2
)

// Error is a protocol violation by the peer: the connection must be failed with a close frame
// carrying Code and Reason.
type Error struct {
	Code   int
	Reason string
}

// Error describes the violation with its close code.
func (e *Error) Error() string {
	return fmt.Sprintf("websocket protocol error %d: %s", e.Code, e.Reason)
}

func protoErr(code int, reason string) *Error { return &Error{Code: code, Reason: reason} }

// Frame is what Reader.Next returns: a control frame, or a complete data message.
type Frame struct {
	// OpCode is ws.OpText or ws.OpBinary for a complete message (whatever the fragmentation),
	// or a control opcode.
	OpCode ws.OpCode
	// Payload is the unmasked payload; for a data message the caller owns it.
	Payload []byte
	// Code and Reason are the parsed payload of a close frame (Code is CodeNoStatus when
	// the frame carried none).
	Code   int
	Reason string
}

// Reader reads client-to-server frames (which must be masked) and reassembles messages.
// It keeps only the state of a message in progress between calls; the zero value needs
// MaxFrame and MaxMessage set.
type Reader struct {
	// MaxFrame and MaxMessage bound one frame's payload and one reassembled message; past
	// them Next fails with CodeMessageTooBig.
	MaxFrame   int64
	MaxMessage int64
	// MaxInflated bounds a compressed message once inflated (MaxMessage when zero); past it
	// Next fails with CodeMessageTooBig.
	MaxInflated int64

	buf      []byte // payload of the message in progress
	utf8Done int    // bytes of buf known to be complete, valid UTF-8
	hdr      [ws.MaxHeaderSize - 2]byte
	fragOp   ws.OpCode // opcode of the message in progress; 0 when none
	deflated bool      // the message in progress is compressed

	// Deflate is set when permessage-deflate was negotiated: RSV1 on the first frame of a
	// message then means the message is compressed; it is inflated (to at most
	// MaxInflated bytes) before Next returns it. (Last, beside the other bytes, to keep
	// the struct small: every idle connection holds one.)
	Deflate bool
}

// InMessage reports whether a fragmented message is in progress.
func (r *Reader) InMessage() bool { return r.fragOp != 0 }

// Next reads frames from src until it has a control frame or a complete message, or an
// error. A *Error means the peer broke the protocol; any other error comes from src (io.EOF
// when the peer closed cleanly between frames).
func (r *Reader) Next(src io.Reader) (Frame, error) {
	for {
		h, err := ws.ReadHeaderBuffer(src, r.hdr[:])
		if err != nil {
			if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
				return Frame{}, protoErr(CodeProtocolError, "bad frame length")
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return Frame{}, io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		if err := r.check(h); err != nil {
			return Frame{}, err
		}
		if h.OpCode.IsControl() {
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(src, p); err != nil {
				return Frame{}, eofUnexpected(err)
			}
			ws.Cipher(p, h.Mask, 0)
			f := Frame{OpCode: h.OpCode, Payload: p}
			if h.OpCode == ws.OpClose {
				f.Code, f.Reason, err = ParseClose(p)
				if err != nil {
					return Frame{}, err
				}
			}
			return f, nil
		}
		// Data frame.
		start := len(r.buf)
		if h.OpCode != ws.OpContinuation {
			r.fragOp = h.OpCode
			r.utf8Done = 0
			r.deflated = h.Rsv1()
		}
		if int64(start)+h.Length > r.MaxMessage {
			r.reset()
			return Frame{}, protoErr(CodeMessageTooBig, fmt.Sprintf("message larger than %d bytes", r.MaxMessage))
		}
		if r.fragOp == ws.OpText && !r.deflated {
			// Validate text as it arrives, so that a bad byte early in a long frame fails
			// the connection without waiting for the rest (RFC 6455 §8.1).
			if err := r.readText(src, h); err != nil {
				r.reset()
				return Frame{}, err
			}
		} else {
			r.buf, err = readGrowing(src, r.buf, int(h.Length), int(r.MaxMessage))
			if err != nil {
				r.reset()
				return Frame{}, eofUnexpected(err)
			}
			ws.Cipher(r.buf[start:], h.Mask, 0)
		}
		if !h.Fin {
			continue
		}
		if r.deflated {
			limit := r.MaxInflated
			if limit <= 0 {
				limit = r.MaxMessage
			}
			p, err := Decompress(r.buf, limit)
			if err == nil && r.fragOp == ws.OpText && !utf8.Valid(p) {
				err = protoErr(CodeInvalidPayload, "invalid UTF-8 in text message")
			}
			if err != nil {
				r.reset()
				return Frame{}, err
			}
			r.buf = p
		}
		f := Frame{OpCode: r.fragOp, Payload: r.buf}
		if f.Payload == nil {
			f.Payload = []byte{}
		}
		r.reset()
		return f, nil
	}
}

func (r *Reader) reset() { r.buf, r.fragOp, r.utf8Done, r.deflated = nil, 0, 0, false }

func (r *Reader) check(h ws.Header) error {
	switch {
	case h.Rsv != 0 && !(r.Deflate && h.Rsv == 0b100 && h.OpCode.IsData() && h.OpCode != ws.OpContinuation):
		// With permessage-deflate, RSV1 may be set on the first frame of a data message.
		return protoErr(CodeProtocolError, "reserved bits set")
	case h.OpCode.IsReserved():
		return protoErr(CodeProtocolError, fmt.Sprintf("unknown opcode %d", h.OpCode))
	case !h.Masked:
		return protoErr(CodeProtocolError, "client frame not masked")
	case h.OpCode.IsControl() && !h.Fin:
		return protoErr(CodeProtocolError, "fragmented control frame")
	case h.OpCode.IsControl() && h.Length > MaxControlPayload:
		return protoErr(CodeProtocolError, "control frame payload over 125 bytes")
	case h.OpCode == ws.OpContinuation && r.fragOp == 0:
		return protoErr(CodeProtocolError, "continuation frame without a message in progress")
	case h.OpCode.IsData() && h.OpCode != ws.OpContinuation && r.fragOp != 0:
		return protoErr(CodeProtocolError, "new message before the previous one ended")
	case h.Length > r.MaxFrame:
		return protoErr(CodeMessageTooBig, fmt.Sprintf("frame larger than %d bytes", r.MaxFrame))
	}
	return nil
}

// readText reads the payload of an uncompressed text frame, checking UTF-8 on whatever
// has arrived after every read, so that a bad byte early in a long frame fails the
// connection without waiting for the rest. Like readGrowing, it allocates at most about
// twice what arrived.
func (r *Reader) readText(src io.Reader, h ws.Header) error {
	start := len(r.buf)
	want := start + int(h.Length)
	for len(r.buf) < want {
		r.buf = growBuf(r.buf, want-len(r.buf), int(r.MaxMessage))
		n, err := src.Read(r.buf[len(r.buf):min(cap(r.buf), want)])
		if n > 0 {
			off := len(r.buf) - start
			r.buf = r.buf[:len(r.buf)+n]
			ws.Cipher(r.buf[start+off:], h.Mask, off)
			if err := r.checkText(false); err != nil {
				return err
			}
		}
		if err != nil && len(r.buf) < want {
			return eofUnexpected(err)
		}
	}
	return r.checkText(h.Fin)
}

// checkText validates the text received so far, failing at the first impossible byte.
func (r *Reader) checkText(fin bool) error {
	n, ok := CheckUTF8Prefix(r.buf[r.utf8Done:])
	if !ok || (fin && r.utf8Done+n != len(r.buf)) {
		return protoErr(CodeInvalidPayload, "invalid UTF-8 in text message")
	}
	r.utf8Done += n
	return nil
}

// readGrowing appends n bytes from src to buf. It never allocates more than about twice the
// bytes that actually arrived (plus 4 KiB), whatever length the peer declared, and grows
// buf geometrically up to limit, so a message in many small frames is not copied over and
// over.
func readGrowing(src io.Reader, buf []byte, n, limit int) ([]byte, error) {
	want := len(buf) + n
	if buf == nil && n <= 32<<10 {
		buf = make([]byte, n)
		_, err := io.ReadFull(src, buf)
		return buf, err
	}
	for len(buf) < want {
		buf = growBuf(buf, want-len(buf), limit)
		k, err := io.ReadFull(src, buf[len(buf):min(cap(buf), want)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// growBuf returns buf with room for more bytes when it has none: room for the n bytes still
// wanted, but at most max(len(buf), 4096) of them before they arrive; and, to amortize
// copying across frames, at least double the length, up to limit.
func growBuf(buf []byte, n, limit int) []byte {
	if cap(buf) > len(buf) {
		return buf
	}
	newCap := len(buf) + min(n, max(len(buf), 4096))
	newCap = max(newCap, min(2*len(buf), limit))
	nb := make([]byte, len(buf), newCap)
	copy(nb, buf)
	return nb
}

func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ParseClose parses and validates a close frame payload. An empty payload is CodeNoStatus.
func ParseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return CodeNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protoErr(CodeProtocolError, "close frame payload of 1 byte")
	}
	code = int(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return 0, "", protoErr(CodeProtocolError, fmt.Sprintf("invalid close code %d", code))
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", protoErr(CodeInvalidPayload, "invalid UTF-8 in close reason")
	}
	return code, string(p[2:]), nil
}

// ValidCloseCode reports whether code may appear in a close frame: 1000-1003, 1007-1014 and
// 3000-4999 (RFC 6455 §7.4 and the IANA registry).
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// AppendHeader appends the header of an unmasked server frame to dst.
func AppendHeader(dst []byte, op ws.OpCode, fin bool, length int) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	switch {
	case length <= 125:
		return append(dst, b0, byte(length))
	case length <= 0xFFFF:
		return append(dst, b0, 126, byte(length>>8), byte(length))
	default:
		dst = append(dst, b0, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(length))
	}
}

// HeaderLen returns the size of the header AppendHeader writes for a payload of length.
func HeaderLen(length int) int {
	switch {
	case length <= 125:
		return 2
	case length <= 0xFFFF:
		return 4
	}
	return 10
}

// AppendFrame appends a whole unmasked, final frame to dst.
func AppendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	dst = AppendHeader(dst, op, true, len(payload))
	return append(dst, payload...)
}

// AppendClose appends a close frame with code and reason (code CodeNoStatus: an empty
// payload). The reason is cut to MaxCloseReasonBytes at a rune boundary.
func AppendClose(dst []byte, code int, reason string) []byte {
	if code == CodeNoStatus || code == 0 {
		return AppendHeader(dst, ws.OpClose, true, 0)
	}
	reason = TruncateReason(reason)
	dst = AppendHeader(dst, ws.OpClose, true, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// TruncateReason cuts reason to at most MaxCloseReasonBytes, at a rune boundary.
func TruncateReason(reason string) string {
	if len(reason) <= MaxCloseReasonBytes {
		return reason
	}
	n := MaxCloseReasonBytes
	for n > 0 && !utf8.RuneStart(reason[n]) {
		n--
	}
	return reason[:n]
}
