package consumer

import (
	"context"
	"encoding/json"
	"reflect"
)

// The hook interfaces: one per hook method a consumer type may define, named for what it
// does. The framework finds hooks by their method names; these interfaces give each
// method's signature a name, so that a consumer can state at compile time which hooks it
// means to define, and a misspelt name or a wrong signature fails the build:
//
//	var _ consumer.Connecter = (*ChatConsumer)(nil)
//
// Without such a line a misspelt hook is never called, and a hook with the right name but a
// wrong signature makes the constructor panic with a *ShapeError (see Check).
type (
	// Grouper is a consumer of any kind whose Groups names the groups it joins before it
	// starts (before Connect, before Handle, before the first event of a generic consumer).
	// They are left when the consumer ends, as are those joined with GroupAdd.
	Grouper interface {
		Groups() []string
	}

	// Connecter is a WebSocket consumer (WebsocketConsumer or JSONWebsocketConsumer) that
	// decides on the connection: Connect returning nil accepts it (unless Connect called
	// Accept, AcceptSubprotocol or Close itself), ErrDeny refuses it quietly, and a
	// *channels.CloseError closes it with its code; any other error is a failure that
	// refuses the handshake. Without it, every connection is accepted.
	Connecter interface {
		Connect(ctx context.Context) error
	}

	// Disconnecter is a WebSocket consumer told that its connection is gone, with the close
	// code, however it ended; its groups are left afterwards. (An HTTP consumer's Disconnect
	// has no code: see HTTPDisconnecter.)
	Disconnecter interface {
		Disconnect(ctx context.Context, code int) error
	}

	// FrameReceiver is a WebsocketConsumer that receives its client's frames: text for a
	// text frame, data for a binary one. A JSONWebsocketConsumer receives through
	// JSONReceiver, InvalidJSONReceiver and BinaryReceiver instead, and must not define
	// Receive.
	FrameReceiver interface {
		Receive(ctx context.Context, text string, data []byte) error
	}

	// JSONReceiver is a JSONWebsocketConsumer that receives its client's text frames that
	// hold valid JSON.
	JSONReceiver interface {
		ReceiveJSON(ctx context.Context, content json.RawMessage) error
	}

	// InvalidJSONReceiver is a JSONWebsocketConsumer that handles a text frame that is not
	// valid JSON itself, err saying why; without it, the WithInvalidJSON policy applies.
	InvalidJSONReceiver interface {
		ReceiveInvalidJSON(ctx context.Context, frame []byte, err error) error
	}

	// BinaryReceiver is a JSONWebsocketConsumer that accepts binary frames; without it, a
	// binary frame closes the connection with 1003 (unsupported data).
	BinaryReceiver interface {
		ReceiveBinary(ctx context.Context, data []byte) error
	}

	// RequestHandler is an HTTPConsumer's one required hook: Handle answers the request,
	// called once its whole body has arrived (see HTTPConsumer).
	RequestHandler interface {
		Handle(ctx context.Context, req *Request) error
	}

	// HTTPDisconnecter is an HTTP consumer told that its request is over, however it ended;
	// its groups are left afterwards. (A WebSocket consumer's Disconnect has a close code:
	// see Disconnecter.)
	HTTPDisconnecter interface {
		Disconnect(ctx context.Context) error
	}
)

// kindHooks are the hook interfaces each kind of consumer looks for. Their methods are never
// message handlers. A JSON consumer lists FrameReceiver so that a Receive method is reported
// as misplaced rather than taken for a handler.
var kindHooks = [...][]reflect.Type{
	kindGeneric: {reflect.TypeFor[Grouper]()},
	kindWebsocket: {reflect.TypeFor[Grouper](), reflect.TypeFor[Connecter](), reflect.TypeFor[FrameReceiver](),
		reflect.TypeFor[Disconnecter]()},
	kindJSON: {reflect.TypeFor[Grouper](), reflect.TypeFor[Connecter](), reflect.TypeFor[FrameReceiver](),
		reflect.TypeFor[Disconnecter](), reflect.TypeFor[JSONReceiver](), reflect.TypeFor[InvalidJSONReceiver](),
		reflect.TypeFor[BinaryReceiver]()},
	kindHTTP: {reflect.TypeFor[Grouper](), reflect.TypeFor[RequestHandler](), reflect.TypeFor[HTTPDisconnecter]()},
}

// hookMethod returns the one method of the hook interface I: its name and its signature
// without a receiver.
func hookMethod[I any]() reflect.Method { return reflect.TypeFor[I]().Method(0) }
