package middleware

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// AccessLog returns middleware that writes one log line per scope when it ends, to logger
// (slog.Default() when nil): the scope type, path, client address, the HTTP status or the
// WebSocket close code, who closed first ("application", "client" or "server"), the
// duration, and the payload bytes received (bytes_in: WebSocket frames, or the request body)
// and sent (bytes_out). The level is Info, and Warn for a 5xx
// response or a 1011 close; a refused WebSocket handshake is logged with status 403. The
// status and size of responses an http.Handler writes itself (channels.FromHTTPHandler), and
// the size of the request body it reads, are known when the server is mounted through
// RecordResponses.
//
// It is a channels.Observer (see channels.Observe): it costs a small allocation per scope
// and an atomic addition or two per message (no lock for data frames), and keeps the Receiver's and Sender's optional
// interfaces, so consumers keep their push delivery from the layer and may detach from
// their goroutine while idle (the line is written when the scope really ends). Channel
// scopes (background workers) are passed through unlogged.
//
// Who closed is read from the events: a websocket.disconnect with "closed_by" ("server" or
// "client", as ops.Instrument adds when it wraps AccessLog) is believed; otherwise it is told
// from the code and reason (see the ops package for the rules), since the server reports its
// own closes (slow client, idle timeout, shutdown, protocol errors) with known ones.
func AccessLog(app channels.Application, logger *slog.Logger) channels.Application {
	return channels.Observe(app, func(ctx context.Context, scope *channels.Scope) channels.Observer {
		if scope.Type != channels.ScopeHTTP && scope.Type != channels.ScopeWebsocket {
			return nil
		}
		return &accessEntry{start: time.Now(), ctx: ctx, logger: logger,
			typ: scope.Type, path: scope.Path, client: scope.Client, method: scope.Method}
	})
}

// accessEntry follows one scope for its log line; it is the scope's channels.Observer.
type accessEntry struct {
	start  time.Time
	ctx    context.Context // the application's, for the line and RecordedResponse
	logger *slog.Logger    // nil: slog.Default()

	// What the line tells of the scope: kept, rather than the scope and its headers, for
	// the whole life of a detached (idle) WebSocket.
	typ, path, client, method string

	in, out atomic.Int64 // payload bytes; exact once the scope has ended

	mu       sync.Mutex // guards the rest
	status   int
	accepted bool
	refused  bool // closed before accepting
	decided  bool
	code     int
	side     string
}

func (a *accessEntry) decide(code int, side string) {
	if !a.decided {
		a.decided, a.code, a.side = true, code, side
	}
}

// Received adds up an event received (see channels.Observer).
func (a *accessEntry) Received(msg channels.Message) channels.Message {
	return a.ReceivedType(msg.Type(), msg)
}

// ReceivedType is Received for an event of type typ (see channels.TypedObserver).
func (a *accessEntry) ReceivedType(typ string, msg channels.Message) channels.Message {
	switch typ {
	case channels.TypeWebsocketReceive, channels.TypeHTTPRequest:
		n := len(msg.String("text")) + len(msg.Bytes("bytes")) + len(msg.Bytes("body"))
		a.in.Add(int64(n))
	case channels.TypeWebsocketDisconnect:
		code, _ := msg.Int("code")
		side := msg.String("closed_by") // set by the server or by ops.Instrument
		if side != "server" && side != "client" {
			side = closeSide(code, msg.String("reason"))
		}
		a.mu.Lock()
		a.decide(code, side)
		a.mu.Unlock()
	}
	return msg
}

// Sent records the status, the close and the payload sent (see channels.Observer).
func (a *accessEntry) Sent(msg channels.Message, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch msg.Type() {
	case channels.TypeWebsocketSend, channels.TypeHTTPResponseBody:
		a.sentLocked(len(msg.String("text"))+len(msg.Bytes("bytes"))+len(msg.Bytes("body"))+len(msg.String("body")), err)
	case channels.TypeHTTPResponseStart:
		if err == nil {
			a.status, _ = msg.Int("status")
		}
	case channels.TypeWebsocketAccept:
		a.accepted = a.accepted || err == nil
	case channels.TypeWebsocketHTTPResponseStart:
		if err == nil && !a.accepted {
			a.status, _ = msg.Int("status") // a refusal with the application's own response
		}
	case channels.TypeWebsocketClose:
		if err == nil && !a.accepted && !a.decided {
			a.refused = true
		}
		if err == nil && a.accepted {
			code := channels.CloseNormal
			if n, ok := msg.Int("code"); ok {
				code = n
			}
			a.decide(code, "application")
		}
	}
}

// SentText records a text frame as Sent does (see channels.TextObserver).
func (a *accessEntry) SentText(text string, err error) {
	if err == nil {
		a.out.Add(int64(len(text)))
		return
	}
	a.mu.Lock()
	a.sentLocked(len(text), err)
	a.mu.Unlock()
}

// sentLocked adds up n payload bytes sent (err nil), or records the close that refused them.
// a.mu is held.
func (a *accessEntry) sentLocked(n int, err error) {
	if err == nil {
		a.out.Add(int64(n))
		return
	}
	var ce *channels.CloseError
	if errors.As(err, &ce) {
		side := "client"
		if channels.IsSlowClient(ce.Code, ce.Reason) {
			side = "server"
		}
		a.decide(ce.Code, side)
	}
}

// Ended writes the scope's line (see channels.Observer).
func (a *accessEntry) Ended(err error, panicked bool) {
	var ce *channels.CloseError
	failed := panicked || (err != nil && !errors.As(err, &ce) && !errors.Is(err, channels.ErrClosed) && !errors.Is(err, context.Canceled))
	a.mu.Lock()
	defer a.mu.Unlock()
	level := slog.LevelInfo
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, slog.String("type", a.typ), slog.String("path", a.path), slog.String("client", a.client))
	if a.typ == channels.ScopeHTTP {
		status := a.status
		if status == 0 {
			// Written by an http.Handler to the ResponseWriter (FromHTTPHandler), when the
			// server is mounted through RecordResponses.
			if st, n, ok := RecordedResponse(a.ctx); ok && st != 0 {
				status = st
				a.out.Add(n)
			}
		}
		// The body read by an http.Handler itself (FromHTTPHandler on a server mounted
		// through RecordResponses) goes through no event; when the server delivered it as
		// events it was counted both ways, once each.
		if n, ok := recordedBodyIn(a.ctx); ok && n > a.in.Load() {
			a.in.Store(n)
		}
		if status == 0 && failed {
			status = 500 // the server answers for a failed application
		}
		if status >= 500 {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.String("method", a.method), slog.Int("status", status))
	} else if !a.accepted && (a.refused || !a.decided) {
		status := 403
		if a.status != 0 {
			status = a.status
		}
		attrs = append(attrs, slog.Int("status", status), slog.String("closed_by", "application"))
		if failed {
			level = slog.LevelWarn
		}
	} else {
		if !a.decided {
			a.decided, a.side = true, "application"
			switch {
			case failed:
				a.code = channels.CloseInternalError
			case ce != nil:
				a.code = ce.Code
			case err == nil:
				a.code = channels.CloseNormal
			default:
				a.code, a.side = channels.CloseAbnormal, "unknown"
			}
		}
		if a.code == channels.CloseInternalError {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.Int("close_code", a.code), slog.String("closed_by", a.side))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(a.start)), slog.Int64("bytes_in", a.in.Load()), slog.Int64("bytes_out", a.out.Load()))
	if failed {
		if panicked {
			attrs = append(attrs, slog.String("error", "panic"))
		} else {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
	}
	logger := a.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(a.ctx, level, "access", attrs...)
}

// closeSide tells who closed a WebSocket from the disconnect event the server delivered.
func closeSide(code int, reason string) string {
	if channels.ClosedByServer(code, reason) {
		return "server"
	}
	return "client"
}
