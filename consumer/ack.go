package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Acknowledgements: with WithAcks, a JSON WebSocket consumer answers each client frame that
// carries a top-level "gc_id" once its ReceiveJSON hook has returned, so that a client (the
// browser module of package jsclient) can show a send as pending, acknowledged or failed.
//
//	client → {"text": "hi", "gc_id": "7"}
//	server → {"gochannels": "ack", "id": "7"}                          ReceiveJSON returned nil
//	server → {"gochannels": "nack", "id": "7", "code": "unavailable",
//	          "message": "...", "retry_after": 2}                        ReceiveJSON returned an error
//
// Frames without gc_id are handled as before and not acknowledged.

// AckIDKey is the top-level key of a client frame that asks for an acknowledgement; its
// value is a string of 1 to MaxAckIDLen bytes.
const AckIDKey = "gc_id"

// MaxAckIDLen bounds the length in bytes of a gc_id.
const MaxAckIDLen = 64

// Nack codes the framework sets itself. A handler sets any other code with a *SendError.
const (
	// NackUnavailable: the handler returned an error wrapping layers.ErrUnavailable (the
	// channel layer gave up on the message); the connection stays open and the client may
	// send again after retry_after seconds.
	NackUnavailable = "unavailable"
	// NackInternal: the handler failed (or panicked) with an error that is not a *SendError;
	// the failure policy then applies as without acks (the connection closes with 1011).
	NackInternal = "internal"
	// NackBadID: the frame's gc_id is not a string of 1 to MaxAckIDLen bytes; the frame is
	// not handed to ReceiveJSON, and the nack's id is "".
	NackBadID = "bad_gc_id"
	// NackRejected is the code of a *SendError whose Code is empty.
	NackRejected = "rejected"
)

// unavailableRetryAfter is the retry_after of a nack for layers.ErrUnavailable: the layer
// already waited its send timeout, so a client should not retry at once.
const unavailableRetryAfter = 2 * time.Second

// WithAcks makes a JSON WebSocket consumer (JSONWebsocket) acknowledge the client frames
// that carry a top-level "gc_id" string (1 to MaxAckIDLen bytes), after its ReceiveJSON hook
// returns for the frame (frames a hook sent meanwhile go first):
//
//   - nil: {"gochannels": "ack", "id": gc_id};
//   - a *SendError (or an error wrapping one): {"gochannels": "nack", "id", "code",
//     "message", "retry_after"} with its fields, and the connection stays open;
//   - an error wrapping layers.ErrUnavailable: a nack with code "unavailable" and
//     retry_after 2, and the connection stays open (rather than closing with 1013);
//   - a *channels.CloseError, or a send that found the connection closed: no frame (the
//     connection is closing; a client counts its pending sends as failed);
//   - any other error, or a panic: a nack with code "internal" and a generic message (the
//     error is logged, not sent), then the usual failure policy: 1011.
//
// A gc_id that is not such a string gets a nack with code "bad_gc_id" and id "", and the
// frame is not handed to ReceiveJSON. Frames without gc_id are handled as without acks. The
// option has no effect on other kinds of consumer.
func WithAcks() Option { return func(o *options) { o.acks = true } }

// SendError is the error a ReceiveJSON hook returns to refuse one client frame with a nack
// of its choosing while keeping the connection open (with WithAcks; without it, or for a
// frame without gc_id, the error is handled as any other: logged, and the connection closes
// with 1011). Code is a short machine-readable word ("rejected" when empty), Message a text
// for a person, RetryAfter, when positive, how long the client should wait before sending
// again (rounded up to whole seconds). Err, optional, is the cause, logged but not sent.
type SendError struct {
	Code       string
	Message    string
	RetryAfter time.Duration
	Err        error
}

// Error implements error.
func (e *SendError) Error() string {
	code := e.Code
	if code == "" {
		code = NackRejected
	}
	s := "consumer: send refused (" + code + ")"
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

// ackFrame is an ack or a nack as sent to the client.
type ackFrame struct {
	Gochannels string `json:"gochannels"`
	ID         string `json:"id"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	RetryAfter int64  `json:"retry_after,omitempty"`
}

// ackID finds the top-level gc_id of a JSON object, as a decoder of the frame sees it (the
// last one when the key appears twice, escapes in the key decoded). present is false when
// the frame has none (or is not an object); ok is false when it has one that is not a valid
// id.
func ackID(raw []byte) (id string, present, ok bool) {
	if !bytes.Contains(raw, []byte(`"`+AckIDKey+`"`)) && !bytes.Contains(raw, []byte(`\u`)) {
		return "", false, false // the cheap test that almost every frame without an id takes
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false, false
	}
	var value json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false, false
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", false, false
		}
		if key == AckIDKey {
			value, present = v, true
		}
	}
	if !present {
		return "", false, false
	}
	var s string
	if json.Unmarshal(value, &s) != nil || s == "" || len(s) > MaxAckIDLen {
		return "", true, false
	}
	return s, true, true
}

// receiveAcked hands one valid JSON frame to ReceiveJSON and, when it carries a gc_id,
// acknowledges it (see WithAcks).
func receiveAcked[P any](ctx context.Context, ti *typeInfo[P], p P, w *WebsocketConsumer, raw []byte) error {
	id, present, ok := ackID(raw)
	if !present {
		return callReceiveJSON(ctx, ti, p, raw)
	}
	if !ok {
		w.Logger().Debug("consumer: frame with an invalid gc_id refused", "consumer", ti.name)
		return sendAck(ctx, w, ackFrame{Gochannels: "nack", Code: NackBadID,
			Message: fmt.Sprintf("gc_id must be a string of 1 to %d bytes", MaxAckIDLen)})
	}
	err := callReceiveJSON(ctx, ti, p, raw)
	var se *SendError
	var ce *channels.CloseError
	switch {
	case err == nil:
		return sendAck(ctx, w, ackFrame{Gochannels: "ack", ID: id})
	case errors.As(err, &ce), errors.Is(err, channels.ErrClosed):
		return err
	case errors.As(err, &se):
		code := se.Code
		if code == "" {
			code = NackRejected
		}
		w.Logger().Debug("consumer: frame refused with a nack", "consumer", ti.name, "code", code, "error", err)
		return sendAck(ctx, w, ackFrame{Gochannels: "nack", ID: id, Code: code, Message: se.Message, RetryAfter: seconds(se.RetryAfter)})
	case errors.Is(err, layers.ErrUnavailable):
		w.Logger().Warn("consumer: frame refused with a nack: the channel layer is unavailable", "consumer", ti.name, "error", err)
		return sendAck(ctx, w, ackFrame{Gochannels: "nack", ID: id, Code: NackUnavailable,
			Message: "the service is unavailable for a moment; try again", RetryAfter: seconds(unavailableRetryAfter)})
	default:
		if sendErr := sendAck(ctx, w, ackFrame{Gochannels: "nack", ID: id, Code: NackInternal, Message: "internal error"}); sendErr != nil {
			w.Logger().Debug("consumer: nack not sent", "consumer", ti.name, "error", sendErr)
		}
		return err // the failure policy applies: logged, 1011
	}
}

func callReceiveJSON[P any](ctx context.Context, ti *typeInfo[P], p P, raw []byte) error {
	if ti.receiveJSON == nil {
		return nil
	}
	return protect(func() error { return ti.receiveJSON(p, ctx, raw) })
}

// sendAck sends an ack or nack frame, unless the handler already closed the connection.
func sendAck(ctx context.Context, w *WebsocketConsumer, f ackFrame) error {
	if w.closed {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("consumer: encode %s: %w", f.Gochannels, err)
	}
	return w.SendText(ctx, string(b))
}

// seconds rounds d up to whole seconds (0 for d <= 0).
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
