package channels

import (
	"context"
	"errors"
	"sync/atomic"
	"unsafe"
)

// Observer watches one scope's events on their way between the server and an application
// wrapped with Observe: what the application receives, what it sends, and how the scope
// ends. Its methods may be called from more than one goroutine (an application may send
// while it receives), so an Observer guards its own state.
//
// An Observer that also implements TextObserver or InjectObserver is told of text frames
// and injected events as well.
type Observer interface {
	// Received is called with each event before the application gets it, from Receive or,
	// for an application that detached (see Detacher), before its EventHandler. It returns
	// the event the application gets: msg itself, or a copy with keys added (msg may be
	// shared, so it is never changed in place).
	Received(msg Message) Message
	// Sent is called after each Send of the application with Send's error (nil when the
	// server took the event).
	Sent(msg Message, err error)
	// Ended is called once, when the scope is over: when Serve returns or, for an
	// application that detached, when its EventHandler is done. result is the application's
	// result; panicked is true when it panicked (or called runtime.Goexit), in which case
	// the panic goes on up unchanged after Ended.
	Ended(result error, panicked bool)
}

// TextObserver is an Observer that takes the text frames sent with SendText (see
// TextSender) as they are: SentText is called for them instead of Sent, so that no Message
// is built. Sent gets every other event.
type TextObserver interface {
	Observer
	SentText(text string, err error)
}

// InjectObserver is an Observer that also sees the events injected into the scope's
// Receiver from other sources (see Injector), such as the channel layer's messages:
// Injected is called after each Inject with its error. It may run on any goroutine.
type InjectObserver interface {
	Observer
	Injected(msg Message, err error)
}

// TypedObserver is an Observer told the type of each event it receives: ReceivedType is
// called instead of Received, with typ the event's "type". When Observe wrappers are nested
// (one observer's application is another's, as with ops.Instrument around
// middleware.AccessLog), the type is read once per event for all of them, rather than once
// by each observer. ReceivedType returns what Received would (an observer that adds keys to
// a copy keeps the type).
type TypedObserver interface {
	Observer
	ReceivedType(typ string, msg Message) Message
}

// Observe returns app wrapped so that each scope it serves is watched by the Observer that
// observe returns for it; when observe returns nil the scope is served as app alone would.
// The Receiver and Sender that app gets report to the Observer and keep the optional
// interfaces of those the server gave:
//
//   - Injector: the channel layer keeps delivering to the scope's own queue (and
//     InjectLimiter, forwarded when the server's Receiver is one);
//   - Detacher: an application can still run without a goroutine while idle (a consumer made
//     with consumer.WithoutIdleGoroutine), and Ended waits for the end of its events rather
//     than the ErrDetached that Serve returns at once;
//   - TextSender: text frames go to the server without a Message.
//
// This is the way for middleware to see a connection's traffic: one that wraps the
// Receiver or Sender by hand loses these interfaces unless it repeats them all. A
// middleware that only changes the scope, or acts before calling app, passes the
// Receiver and Sender through unchanged and needs none of this.
func Observe(app Application, observe func(ctx context.Context, scope *Scope) Observer) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		obs := observe(ctx, scope)
		if obs == nil {
			return app.Serve(ctx, scope, receive, send)
		}
		o := &observation{obs: obs, recv: receive, send: send}
		o.text, _ = obs.(TextObserver)
		o.typed, _ = obs.(TypedObserver)
		o.injObs, _ = obs.(InjectObserver)
		o.inj, _ = receive.(Injector)
		o.det, _ = receive.(Detacher)
		returned := false
		defer func() {
			if !returned {
				obs.Ended(nil, true) // a panic (or Goexit) on its way up
			}
		}()
		err := app.Serve(ctx, scope, o.receiver(), (*observedSender)(o))
		returned = true
		if errors.Is(err, ErrDetached) && o.detached.Load() {
			return err // ended by the handler (observedHandler)
		}
		obs.Ended(err, false)
		return err
	})
}

// observation is the state of one observed scope.
type observation struct {
	obs    Observer
	text   TextObserver   // obs, when it is one
	typed  TypedObserver  // obs, when it is one
	injObs InjectObserver // obs, when it is one
	recv   Receiver
	inj    Injector // recv, when it is one
	det    Detacher // recv, when it is one
	send   Sender

	detached atomic.Bool // the application detached: the handler ends the scope
}

// receiver returns the wrapped Receiver, with recv's optional interfaces.
func (o *observation) receiver() Receiver {
	switch {
	case o.inj != nil && o.det != nil:
		return (*observedMailbox)(o)
	case o.inj != nil:
		return (*observedInjector)(o)
	case o.det != nil:
		return (*observedDetacher)(o)
	}
	return (*observedReceiver)(o)
}

func (o *observation) receive(ctx context.Context) (Message, error) {
	_, msg, err := o.receiveTyped(ctx)
	return msg, err
}

// receiveTyped receives an event and reports it; it returns the event's type too, read
// once: from the wrapped Receiver when it is another observation's.
func (o *observation) receiveTyped(ctx context.Context) (string, Message, error) {
	var typ string
	var msg Message
	var err error
	if tr, ok := o.recv.(typedReceiver); ok {
		typ, msg, err = tr.receiveTyped(ctx)
	} else {
		msg, err = o.recv.Receive(ctx)
		if err == nil {
			typ = msg.Type()
		}
	}
	if err != nil {
		return "", msg, err
	}
	typ, msg = o.received(typ, msg)
	return typ, msg, nil
}

// received reports an event of type typ to the Observer, and returns the event the
// application gets and its type.
func (o *observation) received(typ string, msg Message) (string, Message) {
	if o.typed == nil {
		got := o.obs.Received(msg)
		if !sameMessage(got, msg) {
			typ = got.Type()
		}
		return typ, got
	}
	got := o.typed.ReceivedType(typ, msg)
	if !sameMessage(got, msg) {
		typ = got.Type()
	}
	return typ, got
}

// sameMessage tells whether a and b are the same map (not only equal ones): a map value is
// a pointer to its header.
func sameMessage(a, b Message) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// typedReceiver is a wrapped Receiver of this file, which tells the type of the events it
// returns (see receiveTyped).
type typedReceiver interface {
	receiveTyped(ctx context.Context) (string, Message, error)
}

func (o *observation) limitInjected(maxBytes int, policy OverflowPolicy) {
	if l, ok := o.recv.(InjectLimiter); ok {
		l.LimitInjected(maxBytes, policy)
	}
}

func (o *observation) inject(msg Message) error {
	err := o.inj.Inject(msg)
	if o.injObs != nil {
		o.injObs.Injected(msg, err)
	}
	return err
}

func (o *observation) detach(ctx context.Context, h EventHandler) error {
	o.detached.Store(true)
	oh := &observedHandler{o: o, h: h}
	oh.inner, _ = h.(*observedHandler)
	oh.typed, _ = h.(TypedEventHandler)
	if err := o.det.Detach(ctx, oh); err != nil {
		o.detached.Store(false)
		return err
	}
	return nil
}

// observedReceiver is the wrapped Receiver of a plain Receiver.
type observedReceiver observation

// Receive receives from the wrapped Receiver and reports the event.
func (r *observedReceiver) Receive(ctx context.Context) (Message, error) {
	return (*observation)(r).receive(ctx)
}

func (r *observedReceiver) receiveTyped(ctx context.Context) (string, Message, error) {
	return (*observation)(r).receiveTyped(ctx)
}

// observedInjector is the wrapped Receiver of an Injector.
type observedInjector observation

// Receive receives from the wrapped Receiver and reports the event.
func (r *observedInjector) Receive(ctx context.Context) (Message, error) {
	return (*observation)(r).receive(ctx)
}

func (r *observedInjector) receiveTyped(ctx context.Context) (string, Message, error) {
	return (*observation)(r).receiveTyped(ctx)
}

// Inject injects into the wrapped Receiver and reports the outcome.
func (r *observedInjector) Inject(msg Message) error { return (*observation)(r).inject(msg) }

// LimitInjected forwards to the wrapped Receiver when it is an InjectLimiter.
func (r *observedInjector) LimitInjected(maxBytes int, policy OverflowPolicy) {
	(*observation)(r).limitInjected(maxBytes, policy)
}

// observedDetacher is the wrapped Receiver of a Detacher.
type observedDetacher observation

// Receive receives from the wrapped Receiver and reports the event.
func (r *observedDetacher) Receive(ctx context.Context) (Message, error) {
	return (*observation)(r).receive(ctx)
}

func (r *observedDetacher) receiveTyped(ctx context.Context) (string, Message, error) {
	return (*observation)(r).receiveTyped(ctx)
}

// Detach detaches the wrapped Receiver with a handler that reports the events and the end.
func (r *observedDetacher) Detach(ctx context.Context, h EventHandler) error {
	return (*observation)(r).detach(ctx, h)
}

// observedMailbox is the wrapped Receiver of an Injector and Detacher (the server's Mailbox).
type observedMailbox observation

// Receive receives from the wrapped Receiver and reports the event.
func (r *observedMailbox) Receive(ctx context.Context) (Message, error) {
	return (*observation)(r).receive(ctx)
}

func (r *observedMailbox) receiveTyped(ctx context.Context) (string, Message, error) {
	return (*observation)(r).receiveTyped(ctx)
}

// Inject injects into the wrapped Receiver and reports the outcome.
func (r *observedMailbox) Inject(msg Message) error { return (*observation)(r).inject(msg) }

// LimitInjected forwards to the wrapped Receiver when it is an InjectLimiter.
func (r *observedMailbox) LimitInjected(maxBytes int, policy OverflowPolicy) {
	(*observation)(r).limitInjected(maxBytes, policy)
}

// Detach detaches the wrapped Receiver with a handler that reports the events and the end.
func (r *observedMailbox) Detach(ctx context.Context, h EventHandler) error {
	return (*observation)(r).detach(ctx, h)
}

// observedHandler reports the events of a detached scope, and its end.
type observedHandler struct {
	o     *observation
	h     EventHandler
	inner *observedHandler  // h, when it is one (nested Observe wrappers)
	typed TypedEventHandler // h, when it is one
}

// HandleEvent implements EventHandler.
func (oh *observedHandler) HandleEvent(msg Message, err error) (done bool, result error) {
	var typ string
	if err == nil {
		typ = msg.Type()
	}
	return oh.handleTyped(typ, msg, err)
}

// handleTyped is HandleEvent for an event of type typ (read by the caller): an observed
// handler wrapped by another passes the type it read on.
func (oh *observedHandler) handleTyped(typ string, msg Message, err error) (done bool, result error) {
	obs := oh.o.obs
	if err == nil {
		typ, msg = oh.o.received(typ, msg)
	}
	ok := false
	defer func() {
		switch {
		case !ok:
			obs.Ended(nil, true) // a panic (or Goexit) on its way up
		case done || err != nil:
			obs.Ended(result, false)
		}
	}()
	switch {
	case oh.inner != nil:
		done, result = oh.inner.handleTyped(typ, msg, err)
	case oh.typed != nil:
		done, result = oh.typed.HandleTypedEvent(typ, msg, err)
	default:
		done, result = oh.h.HandleEvent(msg, err)
	}
	ok = true
	return done, result
}

// observedSender is the wrapped Sender; it is a TextSender whatever the wrapped one is.
type observedSender observation

// Send sends through the wrapped Sender and reports the event.
func (s *observedSender) Send(ctx context.Context, msg Message) error {
	err := s.send.Send(ctx, msg)
	s.obs.Sent(msg, err)
	return err
}

// SendText sends through the wrapped Sender (see SendText) and reports the frame: to
// SentText, or to Sent as a websocket.send Message.
func (s *observedSender) SendText(ctx context.Context, text string) error {
	err := SendText(ctx, s.send, text)
	if s.text != nil {
		s.text.SentText(text, err)
	} else {
		s.obs.Sent(Message{"type": TypeWebsocketSend, "text": text}, err)
	}
	return err
}
