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

// Injector is implemented by a Receiver that also takes events from other sources: the channel
// layer hands a consumer's channel messages to the same Receiver that carries its connection's
// events, so that one goroutine handles both, one event at a time. Inject never blocks; it
// returns ErrMailboxFull when there is no room and ErrClosed after the scope ended.
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
