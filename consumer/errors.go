package consumer

import (
	"errors"
	"fmt"
)

var (
	// ErrStop ends a consumer normally when a handler returns it (or an error wrapping it),
	// like Django's StopConsumer. Groups are left as on any other exit.
	ErrStop = errors.New("consumer: stop")
	// ErrDeny refuses a WebSocket connection when Connect returns it (or an error wrapping
	// it): the handshake is answered with HTTP 403 and nothing is logged above debug level.
	// Return a *channels.Denial instead for a status, headers and body of your own.
	ErrDeny = errors.New("consumer: connection denied")
	// ErrNoLayer is returned (wrapped) by the layer shortcuts (Send, GroupAdd, GroupDiscard,
	// GroupSend) of a consumer built without WithLayer.
	ErrNoLayer = errors.New("consumer: no channel layer configured (use consumer.WithLayer)")
	// ErrNoHandler is returned (wrapped, as a *NoHandlerError) for a message whose type has
	// no handler method.
	ErrNoHandler = errors.New("consumer: no handler")
)

// NoHandlerError reports a message type that the consumer has no handler for. It names the
// type and the method that was looked for.
type NoHandlerError struct {
	Consumer string // the consumer type, e.g. "chat.ChatConsumer"
	Type     string // the message type, e.g. "chat.message"
	Method   string // the method looked for, e.g. "ChatMessage" ("" when the type cannot name one)
	Reason   string // why there is no handler
}

// Error implements error.
func (e *NoHandlerError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("consumer %s: no handler for message type %q: %s", e.Consumer, e.Type, e.Reason)
	}
	return fmt.Sprintf("consumer %s: no handler for message type %q: %s (want method %s(context.Context, channels.Message) error)",
		e.Consumer, e.Type, e.Reason, e.Method)
}

// Is reports whether target is ErrNoHandler.
func (e *NoHandlerError) Is(target error) bool { return target == ErrNoHandler }

// ShapeError reports a consumer type that cannot be used: a hook or handler method with the
// right name but the wrong signature, or a method that does not belong on that kind of
// consumer. The constructors (New, Websocket, JSONWebsocket, HTTP) panic with it; Check
// returns it.
type ShapeError struct {
	Consumer string   // the consumer type
	Problems []string // one line per problem
}

// Error implements error.
func (e *ShapeError) Error() string {
	s := "consumer " + e.Consumer + ": invalid consumer type:"
	for _, p := range e.Problems {
		s += "\n\t" + p
	}
	return s
}
