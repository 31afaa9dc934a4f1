package layers

import (
	"fmt"

	"github.com/gochannels/gochannels/channels"
)

// reservedKey is the key the Redis layer uses to route messages inside a process inbox; a
// message may not carry it, on any layer, so that code behaves the same on all of them.
const reservedKey = "__asgi_channel__"

// CheckMessage returns an error wrapping ErrInvalidMessage for a message that no layer
// carries: nil, without a non-empty string "type", or with the key "__asgi_channel__", which
// the Redis layer uses to route messages inside a process inbox. The error names the type of
// a bad "type", not its value. Layers call it in Send and GroupSend; a layer may reject more
// (a value its wire format cannot encode).
func CheckMessage(msg channels.Message) error {
	if msg == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if t, ok := msg["type"].(string); !ok || t == "" {
		return fmt.Errorf("%w: message needs a non-empty string \"type\" (got %T)", ErrInvalidMessage, msg["type"])
	}
	if _, ok := msg[reservedKey]; ok {
		return fmt.Errorf("%w: message key %q is reserved for the layer", ErrInvalidMessage, reservedKey)
	}
	return nil
}
