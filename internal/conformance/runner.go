package conformance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Verdict is a case's outcome, as Autobahn defines them.
type Verdict string

// The verdicts.
const (
	// OK: the server behaved exactly as expected.
	OK Verdict = "OK"
	// NonStrict: acceptable, but not the strictest behaviour (for example failing a
	// connection later than possible, or without a close frame).
	NonStrict Verdict = "NON-STRICT"
	// Informational: the case only reports what the server did.
	Informational Verdict = "INFORMATIONAL"
	// Failed: the server broke the protocol or did not do what it must.
	Failed Verdict = "FAILED"
	// Unclean: the server behaved, but the closing handshake did not complete cleanly.
	Unclean Verdict = "UNCLEAN"
)

// Verdicts lists the verdicts in report order.
var Verdicts = []Verdict{OK, NonStrict, Informational, Failed, Unclean}

// Msg is one thing the client expects from the server: a data message (OpText or OpBinary,
// reassembled and inflated) or a pong.
type Msg struct {
	Op   byte
	Data []byte
}

// String describes m for test logs, the payload cut to 24 bytes.
func (m Msg) String() string {
	d := m.Data
	if len(d) > 24 {
		return fmt.Sprintf("op%d[%d bytes %q...]", m.Op, len(d), d[:24])
	}
	return fmt.Sprintf("op%d%q", m.Op, d)
}

// Case is one conformance case.
type Case struct {
	// ID is the Autobahn-style case number ("5.19"); its first field is the family.
	ID string
	// Desc says what the case does.
	Desc string
	// Ext is the Sec-WebSocket-Extensions offer (none when empty).
	Ext string
	// Chunk, when positive, writes every frame in pieces of this many bytes.
	Chunk int
	// Steps plays the client's side; a write error after the server failed the connection
	// is expected and ignored.
	Steps func(s *Session) error
	// Want is what the server must send back, in order, before closing.
	Want []Msg
	// Optional makes receiving only a prefix of Want NON-STRICT instead of FAILED (the
	// server may fail the connection before it gets to answer).
	Optional bool
	// Fail lists the close codes with which the server must fail the connection. When nil
	// the client closes (with 1000 unless Steps sent a close) and CloseCodes applies.
	Fail []int
	// CloseCodes lists the acceptable codes of the server's reply to the client's close
	// (0: no status code); default {1000}.
	CloseCodes []int
	// FailFast: Steps call Session.AwaitClose, and a server that fails only after it has
	// seen everything gets NON-STRICT.
	FailFast bool
	// NeedDeflate: the server must accept the permessage-deflate offer.
	NeedDeflate bool
	// RefuseDeflate: the server must not accept the (unacceptable) offer.
	RefuseDeflate bool
	// WantExt, when set, must appear in the server's extension response.
	WantExt string
	// Informational cases only report.
	Informational bool
}

// Family returns the case's family ("1" for "1.1.2").
func (c *Case) Family() string {
	f, _, _ := strings.Cut(c.ID, ".")
	return f
}

// Result is the outcome of one case.
type Result struct {
	Case    *Case
	Verdict Verdict
	Detail  string
}

// Session is the client's side of one running case.
type Session struct {
	C *Client

	got        []Msg
	sentClose  bool
	gotClose   bool
	closeCode  int // 0: no status code
	closeFirst bool
	early      bool // the server closed during AwaitClose
	eof        bool
	violation  string
	fragOp     byte
	fragRsv1   bool
	frag       []byte
}

// errStop ends Steps early: the server already closed.
var errStop = errors.New("conformance: the server closed the connection")

// Send writes one frame.
func (s *Session) Send(fin bool, rsv, op byte, payload []byte) error {
	if op == OpClose {
		s.sentClose = true
	}
	return s.C.WriteFrame(fin, rsv, op, payload)
}

// SendClose writes a close frame with code (0: empty payload) and reason.
func (s *Session) SendClose(code int, reason string) error {
	return s.Send(true, 0, OpClose, CloseFrame(code, reason))
}

// AwaitClose reads what the server sends for up to d; it returns errStop if the server
// closed the connection meanwhile.
func (s *Session) AwaitClose(d time.Duration) error {
	deadline := time.Now().Add(d)
	for !s.gotClose && !s.eof {
		if err := s.readOne(deadline); err != nil {
			break
		}
	}
	if s.gotClose || s.eof {
		s.early = true
		return errStop
	}
	return nil
}

// Pause sleeps for d.
func (s *Session) Pause(d time.Duration) { time.Sleep(d) }

// readOne reads and records one frame. It returns an error on timeout or a read failure.
func (s *Session) readOne(deadline time.Time) error {
	f, err := s.C.ReadFrame(deadline)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || !isTimeout(err) {
			s.eof = true
		}
		return err
	}
	if f.Masked {
		s.violate("server frame is masked")
	}
	rsvOK := f.Rsv == 0 || (s.C.Deflate && f.Rsv == 4 && (f.Op == OpText || f.Op == OpBinary))
	if !rsvOK {
		s.violate(fmt.Sprintf("server frame op %d has reserved bits %d", f.Op, f.Rsv))
	}
	switch f.Op {
	case OpText, OpBinary:
		if s.fragOp != 0 {
			s.violate("server started a message inside another")
		}
		s.fragOp, s.fragRsv1, s.frag = f.Op, f.Rsv == 4, append([]byte(nil), f.Payload...)
	case OpCont:
		if s.fragOp == 0 {
			s.violate("server sent a continuation without a message")
			return nil
		}
		s.frag = append(s.frag, f.Payload...)
	case OpPing:
		return nil // keepalive: not expected, harmless
	case OpPong:
		s.got = append(s.got, Msg{Op: OpPong, Data: f.Payload})
		return nil
	case OpClose:
		s.gotClose = true
		s.closeFirst = !s.sentClose
		switch {
		case len(f.Payload) == 0:
		case len(f.Payload) == 1:
			s.violate("server close frame of 1 byte")
		default:
			s.closeCode = int(binary.BigEndian.Uint16(f.Payload))
			if !utf8.Valid(f.Payload[2:]) {
				s.violate("server close reason is not UTF-8")
			}
		}
		return nil
	default:
		s.violate(fmt.Sprintf("server sent opcode %d", f.Op))
		return nil
	}
	if !f.Fin {
		return nil
	}
	m := Msg{Op: s.fragOp, Data: s.frag}
	if s.fragRsv1 {
		p, err := Inflate(m.Data)
		if err != nil {
			s.violate("server sent a compressed message that does not inflate: " + err.Error())
		}
		m.Data = p
	}
	if m.Op == OpText && !utf8.Valid(m.Data) {
		s.violate("server sent invalid UTF-8 text")
	}
	s.got = append(s.got, m)
	s.fragOp, s.frag = 0, nil
	return nil
}

func (s *Session) violate(why string) {
	if s.violation == "" {
		s.violation = why
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// Run plays one case against the server at addr and judges it.
func Run(addr, path string, c *Case, timeout time.Duration) Result {
	res := Result{Case: c}
	fail := func(format string, args ...any) Result {
		res.Verdict, res.Detail = Failed, fmt.Sprintf(format, args...)
		return res
	}
	cl, err := Dial(addr, path, c.Ext, timeout)
	if err != nil {
		return fail("%v", err)
	}
	defer cl.Close()
	switch {
	case c.NeedDeflate && !cl.Deflate:
		return fail("permessage-deflate was not accepted (response %q)", cl.Extensions)
	case c.RefuseDeflate && cl.Extensions != "":
		return fail("an unacceptable offer was accepted: %q", cl.Extensions)
	case c.WantExt != "" && !strings.Contains(cl.Extensions, c.WantExt):
		return fail("extension response %q lacks %q", cl.Extensions, c.WantExt)
	}
	cl.Chunk = c.Chunk
	s := &Session{C: cl}
	if c.Steps != nil {
		_ = c.Steps(s) // write errors are expected once the server has failed the connection
	}
	deadline := time.Now().Add(timeout)
	if c.Fail == nil && !s.sentClose {
		for !s.gotClose && !s.eof && len(s.got) < len(c.Want) {
			if s.readOne(deadline) != nil {
				break
			}
		}
		if !s.gotClose && !s.eof {
			_ = s.SendClose(1000, "")
		}
	}
	for !s.gotClose && !s.eof {
		if s.readOne(deadline) != nil {
			break
		}
	}
	if s.gotClose && !s.sentClose {
		// Answer the server's close as a client must.
		_ = s.SendClose(s.closeCode, "")
	}
	clean := false
	if s.gotClose {
		for !s.eof {
			if s.readOne(deadline) != nil {
				break
			}
		}
		clean = s.eof
	}
	return judge(c, s, clean, res)
}

func judge(c *Case, s *Session, clean bool, res Result) Result {
	set := func(v Verdict, format string, args ...any) Result {
		res.Verdict, res.Detail = v, fmt.Sprintf(format, args...)
		return res
	}
	if s.violation != "" {
		return set(Failed, "%s", s.violation)
	}
	verdict, detail := OK, ""
	if !msgsEqual(s.got, c.Want) {
		if !c.Optional || len(s.got) > len(c.Want) || !msgsEqual(s.got, c.Want[:len(s.got)]) {
			return set(Failed, "received %v, want %v", short(s.got), short(c.Want))
		}
		verdict, detail = NonStrict, fmt.Sprintf("received %d of %d answers before the close", len(s.got), len(c.Want))
	}
	if c.Fail != nil {
		switch {
		case !s.gotClose:
			verdict, detail = NonStrict, "the server dropped the connection without a close frame"
		case !slices.Contains(c.Fail, s.closeCode):
			return set(Failed, "the server closed with %d, want one of %v", s.closeCode, c.Fail)
		case c.FailFast && !s.early:
			verdict, detail = NonStrict, "the server failed the connection only after the whole message"
		}
	} else {
		codes := c.CloseCodes
		if codes == nil {
			codes = []int{1000}
		}
		switch {
		case !s.gotClose:
			return set(Unclean, "no close frame from the server (received %v)", short(s.got))
		case s.closeFirst:
			return set(Failed, "the server closed first, with %d", s.closeCode)
		case !slices.Contains(codes, s.closeCode):
			return set(Failed, "the server answered the close with %d, want one of %v", s.closeCode, codes)
		case !clean:
			return set(Unclean, "the server did not close the TCP connection after the closing handshake")
		}
	}
	if c.Informational {
		verdict = Informational
	}
	return set(verdict, "%s", detail)
}

func msgsEqual(a, b []Msg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Op != b[i].Op || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func short(ms []Msg) []string {
	out := make([]string, 0, min(len(ms), 5))
	for i, m := range ms {
		if i == 5 {
			out = append(out, fmt.Sprintf("... %d more", len(ms)-5))
			break
		}
		out = append(out, m.String())
	}
	return out
}
