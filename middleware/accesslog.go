package middleware

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// AccessLog returns middleware that writes one log line per scope when it ends, to logger
// (slog.Default() when nil): the scope type, path, client address, the HTTP status or the
// WebSocket close code, who closed first ("application", "client" or "server"), the
// duration, and the payload bytes received and sent. The level is Info, and Warn for a 5xx
// response or a 1011 close; a refused WebSocket handshake is logged with status 403. The
// status and size of responses an http.Handler writes itself (channels.FromHTTPHandler) are
// known when the server is mounted through RecordResponses.
//
// It costs a small allocation per scope and a few additions per message; it keeps the
// Receiver's channels.Injector, so consumers keep their push delivery from the layer.
// Channel scopes (background workers) are passed through unlogged.
//
// Who closed is read from the events: a websocket.disconnect with "closed_by" ("server" or
// "client", as ops.Instrument adds when it wraps AccessLog) is believed; otherwise it is told
// from the code and reason (see the ops package for the rules), since the server reports its
// own closes (slow client, idle timeout, shutdown, protocol errors) with known ones.
func AccessLog(app channels.Application, logger *slog.Logger) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type != channels.ScopeHTTP && scope.Type != channels.ScopeWebsocket {
			return app.Serve(ctx, scope, receive, send)
		}
		a := &accessEntry{start: time.Now(), recv: receive, send: send,
			typ: scope.Type, path: scope.Path, client: scope.Client, method: scope.Method}
		var r channels.Receiver = (*accessRecv)(a)
		if inj, ok := receive.(channels.Injector); ok {
			a.inj = inj
			r = (*accessInjRecv)(a)
			if d, ok := receive.(channels.Detacher); ok {
				// Keep the server's Detacher; the line is logged when the handler is done.
				a.det, a.ctx, a.logger = d, ctx, logger
				r = (*accessDetRecv)(a)
			}
		}
		returned := false
		defer func() {
			if !returned {
				a.log(ctx, logger, nil, true)
			}
		}()
		err := app.Serve(ctx, scope, r, (*accessSend)(a))
		returned = true
		if errors.Is(err, channels.ErrDetached) && a.isDetached() {
			return err // logged by the handler (accessHandler)
		}
		a.log(ctx, logger, err, false)
		return err
	})
}

// accessEntry follows one scope for its log line.
type accessEntry struct {
	start time.Time
	recv  channels.Receiver
	inj   channels.Injector
	send  channels.Sender

	// What the line tells of the scope: kept, rather than the scope and its headers, for
	// the whole life of a detached (idle) WebSocket.
	typ, path, client, method string

	det    channels.Detacher // for a detached scope: what its log line needs
	ctx    context.Context
	logger *slog.Logger

	mu       sync.Mutex
	in, out  int64
	status   int
	accepted bool
	refused  bool // closed before accepting
	decided  bool
	code     int
	side     string
	detached bool
}

func (a *accessEntry) isDetached() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.detached
}

type accessDetRecv accessEntry

// Receive delegates and adds up the payload received.
func (r *accessDetRecv) Receive(ctx context.Context) (channels.Message, error) {
	return (*accessRecv)(r).Receive(ctx)
}

// Inject delegates to the server's Injector.
func (r *accessDetRecv) Inject(msg channels.Message) error { return r.inj.Inject(msg) }

// Detach hands the events to h through a handler that counts them and logs the line.
func (r *accessDetRecv) Detach(ctx context.Context, h channels.EventHandler) error {
	a := (*accessEntry)(r)
	a.mu.Lock()
	a.detached = true
	a.mu.Unlock()
	if err := a.det.Detach(ctx, &accessHandler{a: a, h: h}); err != nil {
		a.mu.Lock()
		a.detached = false
		a.mu.Unlock()
		return err
	}
	return nil
}

// accessHandler observes the events of a detached scope and logs its line at the end.
type accessHandler struct {
	a *accessEntry
	h channels.EventHandler
}

// HandleEvent implements channels.EventHandler.
func (ah *accessHandler) HandleEvent(msg channels.Message, err error) (done bool, result error) {
	a := ah.a
	if err == nil {
		msg = a.observe(msg)
	}
	ok := false
	defer func() {
		switch {
		case !ok:
			a.log(a.ctx, a.logger, nil, true)
		case done || err != nil:
			a.log(a.ctx, a.logger, result, false)
		}
	}()
	done, result = ah.h.HandleEvent(msg, err)
	ok = true
	return done, result
}

func (a *accessEntry) decide(code int, side string) {
	if !a.decided {
		a.decided, a.code, a.side = true, code, side
	}
}

type accessRecv accessEntry

// Receive delegates and adds up the payload received.
func (r *accessRecv) Receive(ctx context.Context) (channels.Message, error) {
	msg, err := r.recv.Receive(ctx)
	if err != nil {
		return msg, err
	}
	return (*accessEntry)(r).observe(msg), nil
}

// observe adds up an event received.
func (a *accessEntry) observe(msg channels.Message) channels.Message {
	switch msg.Type() {
	case channels.TypeWebsocketReceive, channels.TypeHTTPRequest:
		n := len(msg.String("text")) + len(msg.Bytes("bytes")) + len(msg.Bytes("body"))
		a.mu.Lock()
		a.in += int64(n)
		a.mu.Unlock()
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

type accessInjRecv accessEntry

// Receive delegates and adds up the payload received.
func (r *accessInjRecv) Receive(ctx context.Context) (channels.Message, error) {
	return (*accessRecv)(r).Receive(ctx)
}

// Inject delegates to the server's Injector.
func (r *accessInjRecv) Inject(msg channels.Message) error { return r.inj.Inject(msg) }

type accessSend accessEntry

// Send delegates and records the status, the close and the payload sent.
func (s *accessSend) Send(ctx context.Context, msg channels.Message) error {
	err := s.send.Send(ctx, msg)
	a := (*accessEntry)(s)
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
	return err
}

// SendText delegates (see channels.TextSender) and records as Send does.
func (s *accessSend) SendText(ctx context.Context, text string) error {
	err := channels.SendText(ctx, s.send, text)
	a := (*accessEntry)(s)
	a.mu.Lock()
	a.sentLocked(len(text), err)
	a.mu.Unlock()
	return err
}

// sentLocked adds up n payload bytes sent (err nil), or records the close that refused them.
// a.mu is held.
func (a *accessEntry) sentLocked(n int, err error) {
	if err == nil {
		a.out += int64(n)
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

// log writes the scope's line.
func (a *accessEntry) log(ctx context.Context, logger *slog.Logger, err error, panicked bool) {
	if logger == nil {
		logger = slog.Default()
	}
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
			if st, n, ok := RecordedResponse(ctx); ok && st != 0 {
				status = st
				a.out += n
			}
		}
		if status == 0 && failed {
			status = 500 // the server answers for a failed application
		}
		if status >= 500 {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.String("method", a.method), slog.Int("status", status))
	} else if !a.accepted && (a.refused || !a.decided) {
		attrs = append(attrs, slog.Int("status", 403), slog.String("closed_by", "application"))
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
	attrs = append(attrs, slog.Duration("duration", time.Since(a.start)), slog.Int64("bytes_in", a.in), slog.Int64("bytes_out", a.out))
	if failed {
		if panicked {
			attrs = append(attrs, slog.String("error", "panic"))
		} else {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
	}
	logger.LogAttrs(ctx, level, "access", attrs...)
}

// closeSide tells who closed a WebSocket from the disconnect event the server delivered.
func closeSide(code int, reason string) string {
	if channels.ClosedByServer(code, reason) {
		return "server"
	}
	return "client"
}
