package channels

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/netpoll"
	"github.com/gochannels/gochannels/internal/wsproto"
)

// Connection states.
const (
	stateHandshake = iota // waiting for the application's accept or close
	stateOpen             // upgraded
	stateClosing          // a close frame is queued or sent; reading only to finish
	stateClosed           // the socket is closed
)

// wsDecision is the application's answer to websocket.connect.
type wsDecision struct {
	accept      bool
	subprotocol string
	headers     [][2]string
	status      int    // HTTP status of a refusal
	body        []byte // body of a refusal the application wrote itself (custom)
	custom      bool   // a refusal with the application's own response (see Denial)
}

// wsConn is one WebSocket connection. It is the Sender given to the application.
type wsConn struct {
	srv  *Server
	path string   // the scope's path, for log lines (the scope itself is the application's)
	subp []string // the subprotocols the client offered
	mbox *Mailbox
	ctx  context.Context
	stop context.CancelFunc
	key  string

	decision chan wsDecision // capacity 1; the first answer wins; nil (under mu) after the upgrade
	upgraded chan struct{}   // closed when the handshake is over (upgradeErr says how)
	hsOnce   sync.Once
	upErr    error

	conn net.Conn
	desc *netpoll.Desc

	mu          sync.Mutex
	state       int
	out         []outFrame
	spare       []outFrame  // an empty queue array the writer gave back, for the next frames
	outBox      *frameQueue // the box out's array came from (frameQueues), to give it back in
	outBytes    int
	writing     bool
	closeAfter  bool // close the socket once the queued close frame is written
	closeSent   bool // our close frame has been written
	discard     bool // the input can no longer be parsed; discard it until EOF
	appDone     bool
	appErr      error // what the application returned; set on its goroutine
	appCode     int
	appReason   string
	denial      *pendingDenial // a refusal started with websocket.http.response.start
	slotHeld    bool
	busyHeld    bool
	dflOn       bool // permessage-deflate was negotiated (set before the upgrade)
	dflLevel    int8 // flate level of outgoing messages when dflOn
	peerClose   *CloseError
	timer       *time.Timer
	pingSent    int64 // unix nanos of the oldest unanswered ping; 0 when none
	nextPing    int64
	lastRecv    atomic.Int64 // unix nanos of the last frame read
	lastData    atomic.Int64 // unix nanos of the last data message read
	readBlocked atomic.Bool  // the reader waits for room in the mailbox

	rd wsproto.Reader // used by one reader at a time
}

// outFrame is one queued frame, written as hdr[:hn], head, body: a frame built in one buffer
// (control frames, small []byte payloads copied) is all head; a text frame, or a larger
// []byte payload, has its header in hdr and shares its payload with the caller as body.
type outFrame struct {
	head    []byte
	body    []byte
	close   bool
	deflate bool      // body is an uncompressed data message the writer compresses
	op      ws.OpCode // opcode of a frame to compress
	hn      uint8     // length of the header held in hdr, written before head and body
	hdr     [10]byte  // the header of a frame whose payload is body, so it needs no allocation
}

func (f *outFrame) size() int { return int(f.hn) + len(f.head) + len(f.body) }

func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	key, protocols, err := wsproto.CheckRequest(r)
	if err != nil {
		var he *wsproto.HandshakeError
		if errors.As(err, &he) && he.BadVersion {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, ok := w.(http.Hijacker); !ok {
		http.Error(w, "websocket upgrade needs an HTTP/1.1 connection that can be hijacked", http.StatusInternalServerError)
		return
	}
	if ok, reason := s.acquire(); !ok {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	scope := s.newScope(r, ScopeWebsocket)
	scope.Subprotocols = protocols
	c := &wsConn{
		srv:      s,
		path:     scope.Path,
		subp:     protocols,
		mbox:     NewMailbox(s.MailboxCapacity),
		key:      key,
		decision: make(chan wsDecision, 1),
		upgraded: make(chan struct{}),
		slotHeld: true,
	}
	c.mbox.finish = c.detachedDone
	c.mbox.maxBytes, c.mbox.policy = s.eventQueueBytes(), s.EventOverflow
	c.mbox.host = c
	c.rd.MaxFrame, c.rd.MaxMessage = s.maxFrame(), s.maxMessage()
	c.ctx, c.stop = context.WithCancel(s.base)
	c.mbox.hostCtx = c.ctx
	_ = c.mbox.offer(Message{"type": TypeWebsocketConnect})
	go c.runApp(scope)

	// Every path below ends the handshake; this one is for a panic on the way.
	defer c.handshakeDone(errHandshakeAborted)
	deadline := time.NewTimer(s.handshakeTimeout())
	defer deadline.Stop()
	var d wsDecision
	select {
	case d = <-c.decision:
	case <-deadline.C:
		c.refuse(http.StatusServiceUnavailable, "websocket handshake timed out waiting for the application", false)
		http.Error(w, "websocket handshake timed out", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		c.refuse(0, "client went away during the handshake", false)
		return
	case <-s.quit:
		c.refuse(http.StatusServiceUnavailable, "server shutting down", false)
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if !d.accept {
		c.refuse(d.status, "handshake refused", true)
		if d.custom {
			writeDenial(w, d.status, d.headers, d.body)
			return
		}
		msg := "websocket connection refused"
		switch d.status {
		case http.StatusInternalServerError:
			msg = "internal server error"
		case http.StatusServiceUnavailable:
			msg = "service unavailable, try again later"
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, msg, d.status)
		return
	}
	c.negotiateDeflate(r, &d)
	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.refuse(0, "hijack failed", false)
		s.logger().Error("channels: websocket hijack failed", "path", c.path, "err", err)
		http.Error(w, "websocket upgrade failed", http.StatusInternalServerError)
		return
	}
	c.upgrade(netConn, brw.Reader, d)
}

var errHandshakeAborted = fmt.Errorf("channels: websocket handshake aborted: %w", ErrClosed)

// retryAfter is the Retry-After (seconds) of a handshake refused with 503 because the
// application closed with 1013 (try again later).
const retryAfter = "2"

// refusalStatus is the HTTP status of a handshake the application refuses with a close of
// code: 503 for 1013 (try again later: the application cannot serve it now, through no
// fault of the client), 403 for any other code, as Django Channels does.
func refusalStatus(code int) int {
	if code == CloseTryAgainLater {
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}

// refuse ends a handshake that will not be upgraded; the application gets a disconnect
// (1000 from the server when byApp, the application refusing with a close; else 1006).
func (c *wsConn) refuse(status int, why string, byApp bool) {
	c.mu.Lock()
	c.state = stateClosed
	slot := c.slotHeld
	c.slotHeld = false
	c.mu.Unlock()
	if slot {
		c.srv.releaseSlot()
	}
	c.handshakeDone(fmt.Errorf("channels: websocket %s: %w", why, ErrClosed))
	code, by := CloseAbnormal, closedByClient
	if byApp && status != http.StatusInternalServerError {
		code, by = CloseNormal, closedByServer
	}
	c.mbox.Close(disconnectMsg(code, "", by))
}

func (c *wsConn) handshakeDone(err error) {
	c.hsOnce.Do(func() {
		c.upErr = err
		close(c.upgraded)
	})
}

// upgrade writes the 101 response on the hijacked connection and starts serving it.
func (c *wsConn) upgrade(netConn net.Conn, br *bufio.Reader, d wsDecision) {
	s := c.srv
	_ = netConn.SetDeadline(time.Now().Add(s.handshakeTimeout()))
	resp := wsproto.AppendResponse(make([]byte, 0, 256), c.key, d.subprotocol, d.headers)
	c.key = "" // only the handshake goroutine reads it
	_, err := netConn.Write(resp)
	_ = netConn.SetDeadline(time.Time{})
	if err != nil {
		netConn.Close()
		c.refuse(0, "writing the 101 response failed", false)
		return
	}
	now := time.Now().UnixNano()
	c.lastRecv.Store(now)
	c.lastData.Store(now)
	c.mu.Lock()
	c.conn = netConn
	c.state = stateOpen
	c.busyHeld = true
	c.decision = nil // answered: an idle connection keeps no handshake channel
	if pi := s.pingInterval(); pi > 0 {
		c.nextPing = now + int64(pi)
	}
	appDone, appCode, appReason := c.appDone, c.appCode, c.appReason
	c.mu.Unlock()
	s.addBusy()
	c.armTimer()
	c.handshakeDone(nil)
	c.startReading(br)
	switch {
	case appDone:
		// The application returned while the 101 was being written.
		c.closeWith(appCode, appReason)
	case !s.track(c):
		// Shutdown began during the handshake.
		c.closeWith(CloseGoingAway, reasonGoingAway)
	}
}

// runApp calls the application and handles its return. It and callApp keep small frames:
// the application's goroutine is the one goroutine an idle connection holds, and its stack
// stays at the 2 KiB minimum only if little of it is in use while parked in Receive.
//
// The connection keeps no reference to the scope: once the application is done with it (or
// has detached and kept only what it needs), the request headers can be collected.
func (c *wsConn) runApp(scope *Scope) {
	defer c.appExit()
	if f, ok := c.srv.Application.(ApplicationFunc); ok {
		c.appErr = f(c.ctx, scope, c.mbox, c) // one frame less than f.Serve
		return
	}
	c.appErr = c.srv.Application.Serve(c.ctx, scope, c.mbox, c)
}

// appExit runs when the application returns or panics (it is the deferred function, so
// recover works here).
func (c *wsConn) appExit() {
	err := c.appErr
	if p := recover(); p != nil {
		pe := NewPanicError(p)
		err = fmt.Errorf("channels: application: %w", pe)
		c.srv.logger().Error("channels: websocket application panicked", "path", c.path,
			"panic", p, "stack", string(pe.Stack))
	}
	if c.mbox.isDetached() {
		// The application handed its events to a handler (Detacher): the scope ends when
		// the handler says so (detachedDone), whatever Serve returned.
		if err != nil && !errors.Is(err, ErrDetached) {
			c.srv.logger().Debug("channels: detached websocket application returned an error", "path", c.path, "err", err)
		}
		return
	}
	c.appReturned(err)
}

// detachedDone ends the scope of an application that detached from its goroutine: result
// counts as Serve's return value, and a panic as a panicking Serve.
func (c *wsConn) detachedDone(result error, p any, stack []byte) {
	if p != nil {
		result = fmt.Errorf("channels: application: %w", &PanicError{Value: p, Stack: stack})
		c.srv.logger().Error("channels: websocket application panicked", "path", c.path,
			"panic", p, "stack", string(stack))
	}
	c.appReturned(result)
}

// appReturned closes the connection (or refuses the handshake) after the application
// returned err.
func (c *wsConn) appReturned(err error) {
	s := c.srv
	code, reason := CloseNormal, ""
	status := http.StatusForbidden
	var ce *CloseError
	var den *Denial
	decision, pending := c.takeDenial()
	switch {
	case err == nil:
	case errors.As(err, &ce):
		code, reason = ce.Code, ce.Reason
		status = refusalStatus(code)
	case errors.As(err, &den):
		code = ClosePolicyViolation
		if !pending {
			decision, pending = denialDecision(den), true
		}
	default:
		if !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
			s.logger().Error("channels: websocket application failed", "path", c.path, "err", err)
		}
		code, reason, status = CloseInternalError, "internal error", http.StatusInternalServerError
		pending = false // a failure mid-refusal is answered with 500
	}
	if !wsproto.ValidCloseCode(code) {
		code = CloseInternalError
	}
	// Refuse the handshake if it is still pending.
	if !pending {
		decision = wsDecision{status: status}
	}
	c.answer(decision)
	c.mu.Lock()
	c.appDone = true
	c.appCode, c.appReason = code, reason
	st := c.state
	if st == stateClosed && c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if st == stateOpen {
		c.closeWith(code, reason)
	}
	c.stop()
	s.done()
}

// Send carries out one application event.
//
// Send and what it calls on the application's goroutine keep small stack frames (heavy
// work is in separate functions that return before anything waits): a goroutine whose stack
// once grew past 2 KiB keeps 4 KiB for good, because the runtime only shrinks a stack when
// less than a quarter of it, nosplit allowance included, is in use.
func (c *wsConn) Send(ctx context.Context, msg Message) error {
	switch msg.Type() {
	case TypeWebsocketSend:
		return c.sendMsg(msg)
	case TypeWebsocketAccept:
		if err := c.prepareAccept(msg); err != nil {
			return err
		}
		return c.waitUpgrade(ctx)
	case TypeWebsocketClose:
		return c.sendClose(msg)
	case TypeWebsocketHTTPResponseStart:
		return c.denialStart(msg)
	case TypeWebsocketHTTPResponseBody:
		return c.denialBody(msg)
	}
	return unknownEvent(msg)
}

// SendText sends a text frame (see TextSender).
func (c *wsConn) SendText(_ context.Context, text string) error {
	return c.sendData(ws.OpText, nil, text)
}

//go:noinline
func unknownEvent(msg Message) error {
	return fmt.Errorf("channels: websocket application sent unknown event type %q", msg.Type())
}

//go:noinline
func (c *wsConn) sendMsg(msg Message) error {
	if v, ok := msg["text"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("channels: websocket.send \"text\" must be a string, not %T", v)
		}
		return c.sendData(ws.OpText, nil, s)
	}
	if v, ok := msg["bytes"]; ok && v != nil {
		b, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("channels: websocket.send \"bytes\" must be []byte, not %T", v)
		}
		return c.sendData(ws.OpBinary, b, "")
	}
	return errors.New("channels: websocket.send needs \"text\" or \"bytes\"")
}

//go:noinline
func (c *wsConn) sendClose(msg Message) error {
	code := CloseNormal
	if _, present := msg["code"]; present {
		n, ok := msg.Int("code")
		if !ok || !wsproto.ValidCloseCode(n) {
			return fmt.Errorf("channels: websocket.close: invalid close code %v", msg["code"])
		}
		code = n
	}
	reason := msg.String("reason")
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st == stateHandshake {
		c.answer(wsDecision{status: refusalStatus(code)})
		return nil
	}
	if st != stateOpen {
		return c.closedErr()
	}
	c.closeWith(code, wsproto.TruncateReason(reason))
	return nil
}

// prepareAccept validates an accept and hands it to the handshake.
//
//go:noinline
func (c *wsConn) prepareAccept(msg Message) error {
	d := wsDecision{accept: true, subprotocol: msg.String("subprotocol")}
	if d.subprotocol != "" && !slices.Contains(c.subp, d.subprotocol) {
		return fmt.Errorf("channels: websocket.accept: subprotocol %q was not offered by the client (offered %q)",
			d.subprotocol, c.subp)
	}
	if v, ok := msg["headers"]; ok && v != nil {
		hs, err := headerPairs(v)
		if err != nil {
			return fmt.Errorf("channels: websocket.accept: %w", err)
		}
		for _, h := range hs {
			if !wsproto.ValidHeaderName(h[0]) || !wsproto.ValidHeaderValue(h[1]) {
				return fmt.Errorf("channels: websocket.accept: invalid header %q: %q", h[0], h[1])
			}
		}
		d.headers = hs
	}
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st != stateHandshake {
		return fmt.Errorf("channels: websocket.accept after the handshake ended: %w", ErrClosed)
	}
	if !c.answer(d) {
		return fmt.Errorf("channels: websocket.accept after the handshake was answered: %w", ErrClosed)
	}
	return nil
}

// answer hands d to the pending handshake without blocking; it reports whether d is the
// first answer.
func (c *wsConn) answer(d wsDecision) bool {
	c.mu.Lock()
	ch := c.decision
	c.mu.Unlock()
	select {
	case ch <- d:
		return true
	default:
		return false
	}
}

// waitUpgrade waits until the 101 response is written.
func (c *wsConn) waitUpgrade(ctx context.Context) error {
	if ctx == c.ctx {
		// The server's own context ends only after the handshake is over (a forced
		// shutdown refuses pending handshakes first), and waiting on its Done channel
		// would allocate one that every idle connection then keeps.
		<-c.upgraded
		return c.upErr
	}
	select {
	case <-c.upgraded:
		return c.upErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closedErr is what Send returns once the connection is closing or closed.
func (c *wsConn) closedErr() error {
	c.mu.Lock()
	pc := c.peerClose
	c.mu.Unlock()
	if pc != nil {
		return pc
	}
	return ErrClosed
}

// sendData queues one data frame (payload b, or s for text).
func (c *wsConn) sendData(op ws.OpCode, b []byte, s string) error {
	n := len(b) + len(s)
	if c.wantsDeflate(n) {
		return c.queueDeflate(op, b, s)
	}
	var f outFrame
	switch {
	case b == nil:
		// A string cannot change: the frame shares it (a group message's text, encoded once,
		// is shared by every member's frame) and allocates nothing. The writer only reads it.
		f.hn = uint8(len(wsproto.AppendHeader(f.hdr[:0], op, true, n)))
		f.body = unsafe.Slice(unsafe.StringData(s), len(s))
	case n <= 1024:
		// The caller may reuse a small []byte: copy it, with the header, into one buffer.
		f.head = wsproto.AppendHeader(make([]byte, 0, wsproto.HeaderLen(n)+n), op, true, n)
		f.head = append(f.head, b...)
	default:
		f.hn = uint8(len(wsproto.AppendHeader(f.hdr[:0], op, true, n)))
		f.body = b
	}
	return c.enqueue(f, false)
}
