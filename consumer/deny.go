package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/gochannels/gochannels/channels"
)

// Deny refuses the connection with d, the application's own HTTP response (status, headers,
// body), instead of the bare 403 of Close. It must be called before Accept, normally from
// Connect; returning d (or an error wrapping it) from Connect does the same. After accept it
// returns an error and the connection stays as it is.
//
// As with Close, the consumer keeps running until the disconnect arrives.
func (w *WebsocketConsumer) Deny(ctx context.Context, d *channels.Denial) error {
	switch {
	case w.closed:
		return nil
	case w.accepted:
		return errors.New("consumer: deny: the connection was already accepted (use Close)")
	}
	w.closed = true
	if err := d.Send(ctx, w.scope, w.send); err != nil {
		return fmt.Errorf("consumer: deny with %d: %w", d.Status, err)
	}
	return nil
}

// denyOrClose answers a *channels.Denial returned by a hook: the response before accept, a
// close with 1008 (policy violation) after.
func (w *WebsocketConsumer) denyOrClose(ctx context.Context, d *channels.Denial) {
	if w.accepted {
		_ = w.CloseReason(ctx, channels.ClosePolicyViolation, "")
		return
	}
	if err := w.Deny(ctx, d); err != nil {
		w.Logger().Debug("consumer: deny failed", "error", err)
	}
}

// closeFromLayer carries out a channels.TypeClose message that reached the consumer through
// a Receiver other than the server's (the server carries it out itself otherwise).
func (w *WebsocketConsumer) closeFromLayer(ctx context.Context, msg channels.Message) {
	code, reason := channels.CloseCodeReason(msg)
	_ = w.CloseReason(ctx, code, reason)
}
