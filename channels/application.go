package channels

import "context"

// Application handles one scope: it is called once per connection (or, for a background
// consumer, once per channel), reads events with receive and emits events with send, and
// returns when the scope is over. It is the ASGI application, done with Go types.
//
// ctx is canceled when the server gives up on the scope (a forced shutdown, or the connection
// is gone and the application failed to return after its disconnect event). A WebSocket
// application normally returns after it receives TypeWebsocketDisconnect.
//
// A returned *CloseError closes a WebSocket with its code and reason if it is still open; any
// other non-nil error is logged and closes it with 1011 (internal error).
type Application interface {
	Serve(ctx context.Context, scope *Scope, receive Receiver, send Sender) error
}

// ApplicationFunc adapts a function to the Application interface.
type ApplicationFunc func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error

// Serve calls f(ctx, scope, receive, send).
func (f ApplicationFunc) Serve(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
	return f(ctx, scope, receive, send)
}

// Receiver yields a scope's incoming events in order. Receive blocks until an event arrives,
// ctx is done (it returns ctx.Err()), or no event can follow (ErrClosed).
type Receiver interface {
	Receive(ctx context.Context) (Message, error)
}

// Sender emits an application's events. Send returns ErrClosed (or a *CloseError) once the
// connection is gone, and an error describing the problem for an event it cannot carry out.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// TextSender is implemented by a Sender that sends a WebSocket text frame without building a
// Message: SendText(ctx, text) does what Send(ctx, Message{"type": "websocket.send", "text":
// text}) does, with the same errors. The server's WebSocket Sender implements it, and so
// does the Sender of an application wrapped with Observe; consumers use it through the
// SendText function. A middleware that wraps a Sender by hand either implements TextSender
// as well or leaves it out, in which case every frame reaches its Send as a Message.
type TextSender interface {
	Sender
	SendText(ctx context.Context, text string) error
}

// SendText sends a WebSocket text frame through s: through s.SendText when s is a TextSender,
// otherwise as a websocket.send Message.
func SendText(ctx context.Context, s Sender, text string) error {
	if ts, ok := s.(TextSender); ok {
		return ts.SendText(ctx, text)
	}
	return s.Send(ctx, Message{"type": TypeWebsocketSend, "text": text})
}

// Injector is implemented by a Receiver that also takes events from other sources: the channel
// layer hands a consumer's channel messages to the same Receiver that carries its connection's
// events, so that one goroutine handles both, one event at a time. Inject never blocks; it
// returns ErrClosed after the scope ended and, when there is no room, ErrMailboxFull (the
// event is dropped), ErrEventOverflow (dropped, and the scope closed) or ErrDroppedOldest
// (queued, older events dropped), as the queue's OverflowPolicy says. Any error means one
// event was lost.
type Injector interface {
	Inject(msg Message) error
}

// ReceiveFunc adapts a function to the Receiver interface.
type ReceiveFunc func(ctx context.Context) (Message, error)

// Receive calls f(ctx).
func (f ReceiveFunc) Receive(ctx context.Context) (Message, error) { return f(ctx) }

// SendFunc adapts a function to the Sender interface.
type SendFunc func(ctx context.Context, msg Message) error

// Send calls f(ctx, msg).
func (f SendFunc) Send(ctx context.Context, msg Message) error { return f(ctx, msg) }

// EventHandler handles the events of a scope whose application detached from its goroutine
// (see Detacher). The Receiver calls HandleEvent once per event, in order and one call at a
// time, on a goroutine that exists only while events are waiting.
type EventHandler interface {
	// HandleEvent handles msg (err is nil), or the end of the events: msg is nil and err is
	// what Receive would have returned, ErrClosed once the Receiver is closed and drained, or
	// ctx.Err() when the context given to Detach is done. It returns done true, with result
	// as the application's return value, when the scope is over; it is not called again
	// after that. Returning done false after an error is taken as done with result nil.
	HandleEvent(msg Message, err error) (done bool, result error)
}

// TypedEventHandler is an EventHandler that can be told the type of each event: a caller
// that has read the event's "type" already (the handler of Observe, which reads it for its
// Observer) calls HandleTypedEvent instead of HandleEvent, so that the type is read once per
// event rather than once by each. The calls keep HandleEvent's rules.
type TypedEventHandler interface {
	EventHandler
	// HandleTypedEvent is HandleEvent for an event whose "type" is typ (msg.Type() when err
	// is nil, "" otherwise).
	HandleTypedEvent(typ string, msg Message, err error) (done bool, result error)
}

// Detacher is implemented by a Receiver that can run an application without a goroutine per
// idle scope: after Detach the Receiver hands each event to the handler as it arrives, and the
// application returns ErrDetached from Serve right away. Ordering and failure semantics stay
// those of a goroutine looping on Receive: one event at a time, in order, and the scope ends
// when the handler reports done (its result counts as Serve's return value) or panics (as a
// panicking Serve does: the connection closes with 1011).
//
// The server's WebSocket Receiver (its *Mailbox) is a Detacher; other Receivers may not be,
// and a Mailbox made with NewMailbox refuses with ErrNotDetachable. A middleware that acts
// when the scope ends (a log line, a final save) uses Observe, whose Observer is told the
// end of a detached scope; one that passes the server's Receiver through unchanged must
// return the application's ErrDetached unchanged, and one that wraps the Receiver by hand
// without forwarding Detacher keeps the application on its goroutine.
type Detacher interface {
	// Detach hands the remaining events to h. ctx is the context the application was given:
	// when it is done and no event is waiting, h gets ctx.Err(). On success the caller must
	// not call Receive again and should return ErrDetached from Serve.
	Detach(ctx context.Context, h EventHandler) error
}
