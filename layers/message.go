package layers

import (
	"fmt"

	"github.com/gochannels/gochannels/channels"
)

// reservedKey is the key the Redis layer uses to route messages inside a process inbox; a
// message may not carry it, on any layer, so that code behaves the same on all of them.
const reservedKey = "__asgi_channel__"

// checkMessage rejects messages no layer can carry.
func checkMessage(msg channels.Message) error {
	if msg == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if t, ok := msg["type"].(string); !ok || t == "" {
		return fmt.Errorf("%w: message needs a non-empty string \"type\" (got %T %v)", ErrInvalidMessage, msg["type"], msg["type"])
	}
	if _, ok := msg[reservedKey]; ok {
		return fmt.Errorf("%w: message key %q is reserved for the layer", ErrInvalidMessage, reservedKey)
	}
	return nil
}
