package ops

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

// Instrument returns app wrapped so that every scope it serves is counted: connections,
// messages and bytes in and out, WebSocket close codes and who closed, slow-client closes,
// handshake refusals, failures (panics, returned errors, 1011 closes) and HTTP responses by
// status class.
//
// The wrapper is a channels.Observer (see channels.Observe): it sees only the events between
// the server and app, adds one small allocation per scope and a few atomic adds per message
// (on the scope's own counters, which every scrape sums: /metrics is exact at each scrape),
// and keeps the optional interfaces of the server's Receiver and Sender, so consumers keep
// their push delivery from the channel layer (each injected message is counted as
// delivered, mailbox_full, overflow or closed) and may detach from their goroutine while idle (the
// scope is counted as ended when it really ends).
//
// A panic in app is counted and goes on up unchanged, for the server to recover and log.
func (m *Metrics) Instrument(app channels.Application) channels.Application {
	return channels.Observe(app, func(ctx context.Context, scope *channels.Scope) channels.Observer {
		t := &tracker{m: m, sc: m.counters(scope.Type)}
		switch scope.Type {
		case channels.ScopeWebsocket:
			t.kind = kindWS
		case channels.ScopeHTTP:
			t.kind = kindHTTP
			t.ctx = ctx // for middleware.RecordedResponse
		}
		t.sc.total.Inc()
		t.sc.open.Inc()
		m.live.track(t)
		return t
	})
}

const (
	kindOther = iota
	kindHTTP
	kindWS
)

// tracker follows one scope; it is the scope's channels.Observer.
type tracker struct {
	m    *Metrics
	sc   *scopeCounters
	kind uint8
	ctx  context.Context // an HTTP scope's, for responses written by an http.Handler

	prev, next *tracker    // in Metrics.live, guarded by its lock
	_          [64]byte    // keeps n off the lines of the fields above
	n          tallies     // the scope's per-message counts (see tally.go)
	ended      atomic.Bool // folded into sc.base: later adds fold themselves; read-mostly
	_          [63]byte

	mu       sync.Mutex
	accepted bool   // websocket.accept succeeded
	refused  bool   // the application closed before accepting
	gone     bool   // a disconnect arrived before any accept (client left the handshake)
	decided  bool   // the first close is known
	code     int    // its code
	side     string // who closed first
	slow     string // channels.SlowCloseKind of the first close
	status   int    // HTTP status sent
}

// decide records the first close of a WebSocket; later ones are ignored.
func (t *tracker) decide(code int, side string, slow string) {
	t.mu.Lock()
	if !t.decided {
		t.decided, t.code, t.side, t.slow = true, code, side, slow
	}
	t.mu.Unlock()
}

// Injected counts the outcome of a message injected into the scope's Receiver (see
// channels.InjectObserver).
func (t *tracker) Injected(msg channels.Message, err error) {
	switch {
	case err == nil:
		t.add(tLayerOK, 1)
	case errors.Is(err, channels.ErrDroppedOldest):
		// Queued, after an older message was dropped.
		t.add(tLayerOK, 1)
		t.add(tLayerFull, 1)
	case errors.Is(err, channels.ErrMailboxFull):
		t.add(tLayerFull, 1)
	case errors.Is(err, channels.ErrEventOverflow):
		t.add(tLayerOverflow, 1)
	default:
		t.add(tLayerClosed, 1)
	}
}

// Received counts an event from the server and returns it, a websocket.disconnect with its
// ClosedByKey added (see channels.Observer).
func (t *tracker) Received(msg channels.Message) channels.Message {
	return t.ReceivedType(msg.Type(), msg)
}

// ReceivedType is Received for an event of type typ (see channels.TypedObserver).
func (t *tracker) ReceivedType(typ string, msg channels.Message) channels.Message {
	switch typ {
	case channels.TypeWebsocketReceive:
		t.add(tMsgIn, 1)
		t.add(tBytesIn, uint64(payloadLen(msg, "text", "bytes")))
	case channels.TypeHTTPRequest:
		if n := len(msg.Bytes("body")); n > 0 {
			t.add(tBytesIn, uint64(n))
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
		t.decide(code, side, channels.SlowCloseKind(code, reason))
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

// Sent counts what the server took (see channels.Observer).
func (t *tracker) Sent(msg channels.Message, err error) {
	switch msg.Type() {
	case channels.TypeWebsocketSend:
		t.sentFrame(payloadLen(msg, "text", "bytes"), err)
	case channels.TypeHTTPResponseBody:
		if err == nil {
			if n := payloadLen(msg, "body", ""); n > 0 {
				t.add(tBytesOut, uint64(n))
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
}

// SentText counts a text frame as Sent does (see channels.TextObserver).
func (t *tracker) SentText(text string, err error) { t.sentFrame(len(text), err) }

// sentFrame counts a WebSocket frame of n payload bytes that the server took (err nil), or
// records the close that refused it.
func (t *tracker) sentFrame(n int, err error) {
	if err == nil {
		t.add(tMsgOut, 1)
		t.add(tBytesOut, uint64(n))
		return
	}
	var ce *channels.CloseError
	if errors.As(err, &ce) {
		if kind := channels.SlowCloseKind(ce.Code, ce.Reason); kind != "" {
			t.decide(ce.Code, SideServer, kind)
		} else {
			t.decide(ce.Code, SideClient, "") // the peer's close
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
	t.decide(code, SideApplication, "")
}

// Ended counts the end of the scope (see channels.Observer).
func (t *tracker) Ended(err error, panicked bool) {
	m := t.m
	defer m.live.untrack(t) // after the last bytes of an HTTP response
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
				if n > 0 {
					t.add(tBytesOut, uint64(n))
				}
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
		if t.slow != "" {
			m.slow.Inc()
			m.slowBy[t.slow].Inc()
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
