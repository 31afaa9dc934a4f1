package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// WebsocketConsumer is the base of a WebSocket consumer. Embed it in a struct and build the
// application with Websocket. The struct may define these hooks (all optional):
//
//	Groups() []string                                     // groups to join before Connect
//	Connect(ctx context.Context) error                    // default: accept
//	Receive(ctx context.Context, text string, data []byte) error // one frame: text, or binary data
//	Disconnect(ctx context.Context, code int) error       // the connection is gone
//
// and a handler method for each channel-layer message type it expects ("chat.message" →
// ChatMessage(ctx context.Context, msg channels.Message) error). The hooks' interfaces,
// Grouper, Connecter, FrameReceiver and Disconnecter, let the compiler check them:
// var _ consumer.Connecter = (*ChatConsumer)(nil).
type WebsocketConsumer struct {
	Consumer
	accepted bool
	closed   bool
}

func (w *WebsocketConsumer) websocketBase() *WebsocketConsumer { return w }

// Accept accepts the connection. Connect accepts by itself when it returns nil without
// having called Accept or Close.
func (w *WebsocketConsumer) Accept(ctx context.Context) error {
	return w.AcceptSubprotocol(ctx, "", nil)
}

// AcceptSubprotocol accepts the connection choosing subprotocol (one of
// Scope().Subprotocols, or "" for none) and adding headers to the handshake response.
func (w *WebsocketConsumer) AcceptSubprotocol(ctx context.Context, subprotocol string, headers [][2]string) error {
	switch {
	case w.closed:
		return fmt.Errorf("consumer: accept: the connection was already closed: %w", channels.ErrClosed)
	case w.accepted:
		return errors.New("consumer: accept: the connection was already accepted")
	}
	msg := channels.Message{"type": channels.TypeWebsocketAccept}
	if subprotocol != "" {
		msg["subprotocol"] = subprotocol
	}
	if len(headers) > 0 {
		msg["headers"] = headers
	}
	if err := w.Emit(ctx, msg); err != nil {
		return fmt.Errorf("consumer: accept: %w", err)
	}
	w.accepted = true
	return nil
}

// SendText sends a text frame.
func (w *WebsocketConsumer) SendText(ctx context.Context, text string) error {
	if err := w.canSend(); err != nil {
		return err
	}
	return w.emitText(ctx, text)
}

// SendBytes sends a binary frame.
func (w *WebsocketConsumer) SendBytes(ctx context.Context, data []byte) error {
	if err := w.canSend(); err != nil {
		return err
	}
	return w.Emit(ctx, channels.Message{"type": channels.TypeWebsocketSend, "bytes": data})
}

func (w *WebsocketConsumer) canSend() error {
	switch {
	case w.closed:
		return fmt.Errorf("consumer: send on a closed WebSocket: %w", channels.ErrClosed)
	case !w.accepted:
		return errors.New("consumer: send on a WebSocket that is not accepted yet (call Accept first)")
	}
	return nil
}

// Close closes the connection with code (refusing it with HTTP 403 when it was not
// accepted yet). The consumer keeps running until the disconnect arrives, then Disconnect is
// called; events other than the disconnect are dropped meanwhile. Closing twice is a no-op.
func (w *WebsocketConsumer) Close(ctx context.Context, code int) error {
	return w.CloseReason(ctx, code, "")
}

// CloseReason is Close with a reason (at most 123 bytes) for the close frame.
func (w *WebsocketConsumer) CloseReason(ctx context.Context, code int, reason string) error {
	if w.closed {
		return nil
	}
	w.closed = true
	msg := channels.Message{"type": channels.TypeWebsocketClose, "code": code}
	if reason != "" {
		msg["reason"] = reason
	}
	if err := w.Emit(ctx, msg); err != nil {
		return fmt.Errorf("consumer: close %d: %w", code, err)
	}
	return nil
}

// Accepted reports whether the connection was accepted.
func (w *WebsocketConsumer) Accepted() bool { return w.accepted }

// Closed reports whether the consumer closed (or refused) the connection.
func (w *WebsocketConsumer) Closed() bool { return w.closed }

// Websocket returns an Application that serves each WebSocket scope with a new T. T embeds
// WebsocketConsumer (or JSONWebsocketConsumer, which Websocket then runs as JSONWebsocket
// does); see WebsocketConsumer for the hooks it may define.
//
// Events are handled one at a time, in the goroutine that calls Serve: the connection's
// events and the messages sent to the consumer's channel on the layer arrive through the
// same Receiver. With WithoutIdleGoroutine, once the connect is handled, they are handled
// one at a time on a goroutine that exists only while there are events, and Serve returns
// channels.ErrDetached (when the Receiver is a channels.Detacher).
//
// Failure policy: a hook or handler that fails or panics, and a channel-layer message with no
// handler (as Django raises), is logged and closes the connection with 1011 (internal
// error); a Connect that fails refuses the handshake (HTTP 403). Connect returning ErrDeny
// refuses quietly; returning a *channels.CloseError closes with its code; returning a
// *channels.Denial refuses with its status, headers and body (see Deny). A channels.TypeClose
// message ("gochannels.close") closes the connection with its code, whatever the consumer's
// handlers. An error wrapping
// layers.ErrUnavailable (the channel layer is down: its channel cannot be opened, its Groups
// cannot be joined, or a hook or handler returns such an error) is not the client's fault: it
// is logged as a warning and closes with 1013, try again later, which before accept refuses
// the handshake with HTTP 503 and Retry-After instead of 403. A handler that would rather keep
// the connection answers the client itself (see the package documentation). Groups are joined
// before Connect and left after Disconnect, however the connection ends. Serve returns nil
// once the disconnect has been handled, and ctx.Err() when ctx ends first.
//
// Websocket panics with a *ShapeError when T's hooks or handlers have the wrong signature.
func Websocket[T any, P interface {
	*T
	websocketBase
}](opts ...Option) channels.Application {
	k := kindWebsocket
	if _, ok := any(P(nil)).(jsonBase); ok {
		k = kindJSON
	}
	ti, err := lookupInfo[P](k)
	if err != nil {
		panic(err)
	}
	return &websocketApp[T, P]{ti: ti, o: buildOptions(opts)}
}

type websocketApp[T any, P interface {
	*T
	websocketBase
}] struct {
	ti *typeInfo[P]
	o  *options
}

// Serve implements channels.Application.
func (a *websocketApp[T, P]) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	p := P(new(T))
	w := p.websocketBase()
	c := &w.Consumer
	recv, stop, err := c.start(ctx, a.o, scope, receive, send)
	if err != nil {
		if errors.Is(err, layers.ErrUnavailable) {
			// Refused with 503 and Retry-After (see channels.CloseTryAgainLater), not 500.
			c.Logger().Warn("consumer: connection refused: the channel layer is unavailable",
				"consumer", a.ti.name, "path", scope.Path, "error", err)
			return &channels.CloseError{Code: channels.CloseTryAgainLater, Reason: reasonUnavailable}
		}
		return fmt.Errorf("consumer %s: %w", a.ti.name, err)
	}
	c.replay = func(ctx context.Context, m channels.Message) error { return a.ti.dispatch(p, ctx, m) }
	c.self = p
	r := &wsRun[T, P]{a: a, ctx: ctx, p: p, w: w, stop: stop}
	det, canDetach := recv.(channels.Detacher)
	canDetach = canDetach && a.o.detach
	for {
		msg, err := recv.Receive(ctx)
		if done, result := r.HandleEvent(msg, err); done {
			return result
		}
		// Once connected, a detaching consumer hands its events to r as they come and lets
		// this goroutine go: an idle connection then holds no goroutine of its own.
		if canDetach && r.connected {
			canDetach = false
			if det.Detach(ctx, r) == nil {
				return channels.ErrDetached
			}
		}
	}
}

// wsRun is one running WebSocket consumer: the state of its event loop, so that the loop can
// run in Serve's goroutine or, detached, one event at a time as the events arrive.
type wsRun[T any, P interface {
	*T
	websocketBase
}] struct {
	a         *websocketApp[T, P]
	ctx       context.Context
	p         P
	w         *WebsocketConsumer
	stop      func() // closes the consumer's channel on the layer; called once, at the end
	connected bool
}

// HandleEvent implements channels.EventHandler: it handles one event, or the end of the
// events (err not nil), and reports whether the consumer is done.
func (r *wsRun[T, P]) HandleEvent(msg channels.Message, err error) (done bool, result error) {
	var typ string
	if err == nil {
		typ = msg.Type()
	}
	return r.HandleTypedEvent(typ, msg, err)
}

// HandleTypedEvent implements channels.TypedEventHandler: HandleEvent for an event of type
// typ, read by the caller (the handler of an observed scope reads it for its Observer).
func (r *wsRun[T, P]) HandleTypedEvent(typ string, msg channels.Message, err error) (done bool, result error) {
	finished := false
	defer func() {
		if done || !finished {
			r.stop() // the end, or a panic on its way up
		}
	}()
	done, result = r.handle(typ, msg, err)
	finished = true
	return done, result
}

func (r *wsRun[T, P]) handle(typ string, msg channels.Message, err error) (bool, error) {
	a, ctx, p, w := r.a, r.ctx, r.p, r.w
	if err != nil {
		// The scope ended without a disconnect event, or ctx is done.
		a.disconnect(ctx, p, w, channels.CloseAbnormal)
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, nil
	}
	switch typ {
	case channels.TypeWebsocketConnect:
		if r.connected {
			return false, nil
		}
		r.connected = true
		a.connect(ctx, p, w)
	case channels.TypeWebsocketReceive:
		if w.closed || !w.accepted {
			return false, nil
		}
		if err := a.receive(ctx, p, w, msg); err != nil {
			a.fail(ctx, w, "receive", typ, err)
		}
	case channels.TypeWebsocketDisconnect:
		code, ok := msg.Int("code")
		if !ok {
			code = channels.CloseNoStatus
		}
		a.disconnect(ctx, p, w, code)
		return true, nil
	default:
		if w.closed {
			w.Logger().Debug("consumer: message dropped: the connection is closing", "consumer", a.ti.name, "type", typ)
			return false, nil
		}
		if typ == channels.TypeClose {
			w.closeFromLayer(ctx, msg)
			return false, nil
		}
		if w.replayed(ctx, msg) {
			return false, nil
		}
		if err := a.ti.dispatchType(p, ctx, msg, typ); err != nil {
			a.fail(ctx, w, "handler", typ, err)
		}
	}
	return false, nil
}

func (a *websocketApp[T, P]) connect(ctx context.Context, p P, w *WebsocketConsumer) {
	if err := joinGroups(ctx, a.ti, p, &w.Consumer); err != nil {
		if errors.Is(err, layers.ErrUnavailable) {
			w.Logger().Warn("consumer: connection refused: cannot join its groups, the channel layer is unavailable",
				"consumer", a.ti.name, "path", w.scope.Path, "error", err)
			_ = w.CloseReason(ctx, channels.CloseTryAgainLater, reasonUnavailable)
			return
		}
		a.fail(ctx, w, "Groups", channels.TypeWebsocketConnect, err)
		return
	}
	var err error
	if a.ti.connect != nil {
		err = protect(func() error { return a.ti.connect(p, ctx) })
	}
	var ce *channels.CloseError
	var den *channels.Denial
	switch {
	case err == nil:
		if !w.accepted && !w.closed {
			if err := w.Accept(ctx); err != nil {
				w.Logger().Debug("consumer: accept failed", "consumer", a.ti.name, "error", err)
			}
		}
	case errors.Is(err, ErrDeny):
		w.Logger().Debug("consumer: connection denied", "consumer", a.ti.name, "path", w.scope.Path, "error", err)
		_ = w.Close(ctx, channels.CloseNormal)
	case errors.As(err, &ce):
		_ = w.CloseReason(ctx, ce.Code, ce.Reason)
	case errors.As(err, &den):
		w.Logger().Debug("consumer: connection denied", "consumer", a.ti.name, "path", w.scope.Path, "status", den.Status)
		w.denyOrClose(ctx, den)
	default:
		a.fail(ctx, w, "Connect", channels.TypeWebsocketConnect, err)
	}
}

// reasonUnavailable is the close reason of a connection refused or closed because the
// channel layer is unavailable (with 1013, try again later).
const reasonUnavailable = "channel layer unavailable"

// receive hands one frame to the Receive hook, or for a JSON consumer to ReceiveJSON.
func (a *websocketApp[T, P]) receive(ctx context.Context, p P, w *WebsocketConsumer, msg channels.Message) error {
	text, isText := msg["text"].(string)
	data := msg.Bytes("bytes")
	if a.ti.kind == kindJSON {
		return receiveJSON(ctx, a.ti, a.o, p, w, text, isText, data)
	}
	if a.ti.receive == nil {
		return nil
	}
	return protect(func() error { return a.ti.receive(p, ctx, text, data) })
}

// disconnect runs the Disconnect hook and leaves the groups.
func (a *websocketApp[T, P]) disconnect(ctx context.Context, p P, w *WebsocketConsumer, code int) {
	w.closed = true
	hookCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		hookCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
	}
	if a.ti.disconnectWS != nil {
		if err := protect(func() error { return a.ti.disconnectWS(p, hookCtx, code) }); err != nil {
			w.logFailure(a.ti.name, "Disconnect", channels.TypeWebsocketDisconnect, err)
		}
	}
	w.leaveGroups(ctx, a.ti.name)
}

// fail logs a failure and closes the connection: with the code of a *channels.CloseError,
// and with 1011 for anything else.
func (a *websocketApp[T, P]) fail(ctx context.Context, w *WebsocketConsumer, what, typ string, err error) {
	var ce *channels.CloseError
	if errors.As(err, &ce) {
		_ = w.CloseReason(ctx, ce.Code, ce.Reason)
		return
	}
	var den *channels.Denial
	if errors.As(err, &den) {
		w.denyOrClose(ctx, den)
		return
	}
	if errors.Is(err, channels.ErrClosed) {
		// A send found the connection gone: its disconnect event follows.
		w.Logger().Debug("consumer: connection gone", "consumer", a.ti.name, "hook", what, "type", typ, "error", err)
		w.closed = true
		return
	}
	w.logFailure(a.ti.name, what, typ, err)
	if errors.Is(err, layers.ErrUnavailable) {
		// Not the application's fault: 1013, try again later (before accept: HTTP 503).
		_ = w.CloseReason(ctx, channels.CloseTryAgainLater, reasonUnavailable)
		return
	}
	_ = w.Close(ctx, channels.CloseInternalError)
}
