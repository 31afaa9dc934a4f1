package ops

import (
	"context"
	"errors"
	"sync"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

// Instrument returns app wrapped so that every scope it serves is counted: connections,
// messages and bytes in and out, WebSocket close codes and who closed, slow-client closes,
// handshake refusals, failures (panics, returned errors, 1011 closes) and HTTP responses by
// status class.
//
// The wrapper sees only the events between the server and app; it adds one small
// allocation per scope and a few atomic adds per message. When the Receiver the server
// gives is a channels.Injector (the server's mailbox), so is the wrapped one: Inject is
// delegated, so consumers keep their push delivery from the channel layer, and each
// injected message is counted as delivered, mailbox_full or closed.
//
// A panic in app is counted and goes on up unchanged, for the server to recover and log.
func (m *Metrics) Instrument(app channels.Application) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		t := &tracker{sc: m.counters(scope.Type), recv: receive, send: send}
		switch scope.Type {
		case channels.ScopeWebsocket:
			t.kind = kindWS
		case channels.ScopeHTTP:
			t.kind = kindHTTP
			t.ctx = ctx // for middleware.RecordedResponse
		}
		t.sc.total.Inc()
		t.sc.open.Inc()
		var r channels.Receiver = (*trackRecv)(t)
		if inj, ok := receive.(channels.Injector); ok {
			t.inj = inj
			r = (*trackInjRecv)(t)
			if d, ok := receive.(channels.Detacher); ok {
				// Keep the server's Detacher: a consumer may then run without a goroutine
				// while idle, and the scope is finished when its handler is done.
				t.det, t.m = d, m
				r = (*trackDetRecv)(t)
			}
		}
		returned := false
		defer func() {
			if !returned {
				m.finish(t, nil, true) // a panic (or Goexit) on its way up
			}
		}()
		err := app.Serve(ctx, scope, r, (*trackSend)(t))
		returned = true
		if errors.Is(err, channels.ErrDetached) && t.isDetached() {
			return err // finished by the handler (trackHandler)
		}
		m.finish(t, err, false)
		return err
	})
}

const (
	kindOther = iota
	kindHTTP
	kindWS
)

// tracker follows one scope.
type tracker struct {
	sc   *scopeCounters
	kind uint8
	recv channels.Receiver
	inj  channels.Injector
	send channels.Sender
	ctx  context.Context // an HTTP scope's, for responses written by an http.Handler
	det  channels.Detacher
	m    *Metrics

	mu       sync.Mutex
	accepted bool   // websocket.accept succeeded
	refused  bool   // the application closed before accepting
	gone     bool   // a disconnect arrived before any accept (client left the handshake)
	decided  bool   // the first close is known
	code     int    // its code
	side     string // who closed first
	slow     bool
	status   int // HTTP status sent
	detached bool
}

func (t *tracker) isDetached() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.detached
}

// trackDetRecv is the wrapped Receiver of the server's mailbox: an Injector and a Detacher.
type trackDetRecv tracker

// Receive delegates and counts what arrives.
func (r *trackDetRecv) Receive(ctx context.Context) (channels.Message, error) {
	return (*trackRecv)(r).Receive(ctx)
}

// Inject delegates to the underlying Injector and counts the outcome.
func (r *trackDetRecv) Inject(msg channels.Message) error { return (*trackInjRecv)(r).Inject(msg) }

// Detach hands the events to h through a handler that counts them and finishes the scope.
func (r *trackDetRecv) Detach(ctx context.Context, h channels.EventHandler) error {
	t := (*tracker)(r)
	t.mu.Lock()
	t.detached = true
	t.mu.Unlock()
	if err := t.det.Detach(ctx, &trackHandler{t: t, h: h}); err != nil {
		t.mu.Lock()
		t.detached = false
		t.mu.Unlock()
		return err
	}
	return nil
}

// trackHandler counts the events of a detached scope and finishes it when it is done.
type trackHandler struct {
	t *tracker
	h channels.EventHandler
}

// HandleEvent implements channels.EventHandler.
func (th *trackHandler) HandleEvent(msg channels.Message, err error) (done bool, result error) {
	if err == nil {
		msg = th.t.observeIn(msg)
	}
	ok := false
	defer func() {
		switch {
		case !ok:
			th.t.m.finish(th.t, nil, true) // a panic on its way up
		case done || err != nil:
			th.t.m.finish(th.t, result, false)
		}
	}()
	done, result = th.h.HandleEvent(msg, err)
	ok = true
	return done, result
}

// decide records the first close of a WebSocket; later ones are ignored.
func (t *tracker) decide(code int, side string, slow bool) {
	t.mu.Lock()
	if !t.decided {
		t.decided, t.code, t.side, t.slow = true, code, side, slow
	}
	t.mu.Unlock()
}

// trackRecv is the wrapped Receiver.
type trackRecv tracker

// Receive delegates and counts what arrives.
func (r *trackRecv) Receive(ctx context.Context) (channels.Message, error) {
	msg, err := r.recv.Receive(ctx)
	if err == nil {
		msg = (*tracker)(r).observeIn(msg)
	}
	return msg, err
}

// trackInjRecv is the wrapped Receiver of a receiver that is also an Injector.
type trackInjRecv tracker

// Receive delegates and counts what arrives.
func (r *trackInjRecv) Receive(ctx context.Context) (channels.Message, error) {
	return (*trackRecv)(r).Receive(ctx)
}

// Inject delegates to the underlying Injector and counts the outcome.
func (r *trackInjRecv) Inject(msg channels.Message) error {
	err := r.inj.Inject(msg)
	switch {
	case err == nil:
		r.sc.layerOK.Inc()
	case errors.Is(err, channels.ErrMailboxFull):
		r.sc.layerFull.Inc()
	default:
		r.sc.layerClosed.Inc()
	}
	return err
}

// observeIn counts an event from the server and returns it, a websocket.disconnect with
// its ClosedByKey added.
func (t *tracker) observeIn(msg channels.Message) channels.Message {
	switch msg.Type() {
	case channels.TypeWebsocketReceive:
		t.sc.msgIn.Inc()
		t.sc.bytesIn.Add(float64(payloadLen(msg, "text", "bytes")))
	case channels.TypeHTTPRequest:
		if n := len(msg.Bytes("body")); n > 0 {
			t.sc.bytesIn.Add(float64(n))
		}
	case channels.TypeWebsocketDisconnect:
		code, _ := msg.Int("code")
		t.mu.Lock()
		if !t.accepted && !t.refused {
			t.gone = true
		}
		t.mu.Unlock()
		reason := msg.String("reason")
		side := disconnectSide(code, reason)
		switch by := msg.String(ClosedByKey); by {
		case SideServer, SideClient:
			side = by // the server said who closed
		case "":
			m := make(channels.Message, len(msg)+1)
			for k, v := range msg {
				m[k] = v
			}
			m[ClosedByKey] = side
			msg = m
		}
		t.decide(code, side, channels.IsSlowClient(code, reason))
	}
	return msg
}

// payloadLen is the length of msg's text or bytes payload.
func payloadLen(msg channels.Message, textKey, bytesKey string) int {
	switch v := msg[textKey].(type) {
	case string:
		return len(v)
	case []byte:
		return len(v)
	}
	switch v := msg[bytesKey].(type) {
	case []byte:
		return len(v)
	case string:
		return len(v)
	}
	return 0
}

// trackSend is the wrapped Sender.
type trackSend tracker

// Send delegates and counts what the server took.
func (s *trackSend) Send(ctx context.Context, msg channels.Message) error {
	err := s.send.Send(ctx, msg)
	t := (*tracker)(s)
	switch msg.Type() {
	case channels.TypeWebsocketSend:
		t.sentFrame(payloadLen(msg, "text", "bytes"), err)
	case channels.TypeHTTPResponseBody:
		if err == nil {
			if n := payloadLen(msg, "body", ""); n > 0 {
				t.sc.bytesOut.Add(float64(n))
			}
		}
	case channels.TypeHTTPResponseStart:
		if err == nil {
			st, _ := msg.Int("status")
			t.mu.Lock()
			t.status = st
			t.mu.Unlock()
		}
	case channels.TypeWebsocketAccept:
		t.mu.Lock()
		if err == nil {
			t.accepted = true
		} else if !t.refused {
			t.gone = true // the handshake failed: the client left or it timed out
		}
		t.mu.Unlock()
	case channels.TypeWebsocketClose:
		if err == nil {
			t.appClosed(msg)
		}
	}
	return err
}

// SendText delegates (see channels.TextSender) and counts as Send does.
func (s *trackSend) SendText(ctx context.Context, text string) error {
	err := channels.SendText(ctx, s.send, text)
	(*tracker)(s).sentFrame(len(text), err)
	return err
}

// sentFrame counts a WebSocket frame of n payload bytes that the server took (err nil), or
// records the close that refused it.
func (t *tracker) sentFrame(n int, err error) {
	if err == nil {
		t.sc.msgOut.Inc()
		t.sc.bytesOut.Add(float64(n))
		return
	}
	var ce *channels.CloseError
	if errors.As(err, &ce) {
		if channels.IsSlowClient(ce.Code, ce.Reason) {
			t.decide(ce.Code, SideServer, true)
		} else {
			t.decide(ce.Code, SideClient, false) // the peer's close
		}
	}
}

// appClosed records a websocket.close the server took.
func (t *tracker) appClosed(msg channels.Message) {
	code := channels.CloseNormal
	if n, ok := msg.Int("code"); ok {
		code = n
	}
	t.mu.Lock()
	if !t.accepted {
		if !t.gone {
			t.refused = true
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	if code == channels.CloseInternalError {
		t.sc.failAppClose11.Inc()
	}
	t.decide(code, SideApplication, false)
}

// finish counts the end of a scope.
func (m *Metrics) finish(t *tracker, err error, panicked bool) {
	t.sc.open.Dec()
	var ce *channels.CloseError
	failed := false
	switch {
	case panicked:
		t.sc.failPanic.Inc()
		failed = true
	case err == nil, errors.As(err, &ce), errors.Is(err, channels.ErrClosed), errors.Is(err, context.Canceled):
	default:
		t.sc.failError.Inc()
		failed = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.kind {
	case kindHTTP:
		status := t.status
		if status == 0 {
			// Written by an http.Handler to the ResponseWriter (FromHTTPHandler), when the
			// server is mounted through InstrumentHandler.
			if st, n, ok := middleware.RecordedResponse(t.ctx); ok && st != 0 {
				status = st
				t.sc.bytesOut.Add(float64(n))
			}
		}
		switch {
		case status >= 100 && status < 600:
			m.httpClasses[status/100].Inc()
		case status == 0 && (failed || err != nil):
			m.httpClasses[5].Inc() // the server answers 500
		default:
			m.httpClasses[0].Inc()
		}
	case kindWS:
		if !t.accepted {
			if t.refused || (!t.gone && !t.decided) {
				m.refused.Inc()
			}
			return
		}
		if !t.decided {
			t.decided, t.side = true, SideApplication
			switch {
			case failed:
				t.code = channels.CloseInternalError
			case ce != nil:
				t.code = ce.Code
			case err == nil:
				t.code = channels.CloseNormal
			default: // ErrClosed or a cancel with no close seen
				t.code, t.side = channels.CloseAbnormal, SideUnknown
			}
		}
		if t.slow {
			m.slow.Inc()
		}
		m.closeCounter(t.code, t.side).Inc()
	}
}

// disconnectSide tells who closed a WebSocket from the disconnect event that reached the
// application before it closed itself.
func disconnectSide(code int, reason string) string {
	if channels.ClosedByServer(code, reason) {
		return SideServer
	}
	return SideClient
}
