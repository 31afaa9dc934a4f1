package conformance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	// seen everything gets NON-STRICT (Autobahn's 6.4.x: failing on the invalid fragment is
	// strict, failing at the end of the message is accepted).
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

// MustFail reports whether the protocol requires the server to fail the connection in
// this case: it must close it (a close frame with one of Fail, or a TCP close) within the
// run's Timeout, or the case is FAILED.
func (c *Case) MustFail() bool { return c.Fail != nil }

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
	// Duration is how long the case took to play and judge.
	Duration time.Duration
}

// Options tunes a run. The zero value plays one case at a time with the default deadlines.
type Options struct {
	// Timeout is the per-case deadline, counted from the client's last step: the time the
	// server has to answer, to fail the connection in a must-fail case, and to close the TCP
	// connection after the closing handshake. Default 10s.
	Timeout time.Duration
	// FailFastWait is how long a fail-fast case waits for the server to fail the connection
	// on the invalid part before it sends the rest of the message. Default 2s.
	FailFastWait time.Duration
	// Parallel is how many cases RunAll plays at once, each on its own connection. Default 1.
	Parallel int
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.FailFastWait <= 0 {
		o.FailFastWait = 2 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	return o
}

// Session is the client's side of one running case.
type Session struct {
	C *Client

	failFastWait time.Duration
	got          []Msg
	sentClose    bool
	gotClose     bool
	closeCode    int // 0: no status code
	closeFirst   bool
	early        bool // the server closed during AwaitClose
	eof          bool // the server closed the TCP connection (or reading must stop)
	violation    string
	fragOp       byte
	fragRsv1     bool
	frag         []byte
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

// AwaitClose reads what the server sends for up to the run's FailFastWait; it returns
// errStop if the server closed the connection meanwhile.
func (s *Session) AwaitClose() error {
	deadline := time.Now().Add(s.failFastWait)
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
		var fe *FrameError
		switch {
		case errors.As(err, &fe):
			s.violate(fe.Error())
			s.eof = true // the stream cannot be read further
		case !isTimeout(err):
			s.eof = true // EOF, or the connection reset: the server closed it
		}
		return err
	}
	if s.gotClose {
		s.violate(fmt.Sprintf("server sent a frame (op %d) after its close frame", f.Op))
	}
	if f.Masked {
		s.violate("server frame is masked")
	}
	if f.Op >= OpClose && (!f.Fin || len(f.Payload) > 125) {
		s.violate(fmt.Sprintf("server control frame op %d is fragmented or longer than 125 bytes (%d)", f.Op, len(f.Payload)))
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
			if !sendableCloseCode(s.closeCode) {
				s.violate(fmt.Sprintf("server close code %d may not be sent", s.closeCode))
			}
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

// sendableCloseCode reports whether an endpoint may put code in a close frame (RFC 6455
// §7.4: 1004-1006 and 1015 are reserved, 1016-2999 unassigned, 5000 and above invalid).
func sendableCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// handshakeTimeout bounds dialing and the opening handshake (at least; Options.Timeout
// when longer): the per-case deadline is for the server's answers, not for connecting.
const handshakeTimeout = 10 * time.Second

// RunAll plays cases against the server at addr, opts.Parallel at a time, and returns their
// results in the order of cases.
func RunAll(addr, path string, cases []*Case, opts Options) []Result {
	opts = opts.withDefaults()
	results := make([]Result, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Parallel, len(cases)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = Run(addr, path, cases[i], opts)
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// Run plays one case against the server at addr and judges it.
func Run(addr, path string, c *Case, opts Options) Result {
	opts = opts.withDefaults()
	start := time.Now()
	res := play(addr, path, c, opts)
	res.Duration = time.Since(start)
	return res
}

func play(addr, path string, c *Case, opts Options) Result {
	res := Result{Case: c}
	fail := func(format string, args ...any) Result {
		res.Verdict, res.Detail = Failed, fmt.Sprintf(format, args...)
		return res
	}
	cl, err := Dial(addr, path, c.Ext, max(opts.Timeout, handshakeTimeout))
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
	s := &Session{C: cl, failFastWait: opts.FailFastWait}
	if c.Steps != nil {
		_ = c.Steps(s) // write errors are expected once the server has failed the connection
	}
	deadline := time.Now().Add(opts.Timeout)
	if !c.MustFail() && !s.sentClose {
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
	// clean: the closing handshake completed and then the server closed the TCP connection,
	// which is its duty (RFC 6455 §7.1.1); Autobahn's wasClean.
	clean := false
	if s.gotClose {
		for !s.eof {
			if s.readOne(deadline) != nil {
				break
			}
		}
		clean = s.eof
	}
	return judge(c, s, clean, opts.Timeout, res)
}

// judge gives the verdict. For a must-fail case the server must fail the connection within
// timeout: no close at all is FAILED, a close frame with a code not in Fail is FAILED, and
// dropping the TCP connection without a close frame is NON-STRICT (RFC 6455 §7.1.7: the
// endpoint SHOULD send a close frame first). As in Autobahn, a must-fail case does not
// require a clean close; a server that sends its close frame but then leaves the TCP
// connection open gets NON-STRICT (Autobahn: "It is preferred that the server close the TCP
// connection"). Every other case must end in a clean closing handshake, or it is UNCLEAN.
func judge(c *Case, s *Session, clean bool, timeout time.Duration, res Result) Result {
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
	if c.MustFail() {
		switch {
		case !s.gotClose && !s.eof:
			return set(Failed, "the server did not fail the connection within %v (want a close with one of %v)", timeout, c.Fail)
		case !s.gotClose:
			verdict, detail = NonStrict, "the server dropped the connection without a close frame"
		case !slices.Contains(c.Fail, s.closeCode):
			return set(Failed, "the server closed with %d, want one of %v", s.closeCode, c.Fail)
		case c.FailFast && !s.early:
			verdict, detail = NonStrict, "the server failed the connection only after the whole message"
		case !clean:
			verdict, detail = NonStrict, "the server did not close the TCP connection after the closing handshake"
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
