package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/gochannels/gochannels/channels"
)

// JSONWebsocketConsumer is the base of a WebSocket consumer that speaks JSON text frames.
// Embed it and build the application with JSONWebsocket. Besides the WebsocketConsumer hooks
// (except Receive) the struct may define:
//
//	ReceiveJSON(ctx context.Context, content json.RawMessage) error   // one valid JSON text frame
//	ReceiveInvalidJSON(ctx context.Context, frame []byte, err error) error // a text frame that is not JSON
//	ReceiveBinary(ctx context.Context, data []byte) error              // a binary frame
//
// Invalid JSON: without a ReceiveInvalidJSON hook the policy set by WithInvalidJSON applies;
// by default the connection closes with 1007 (invalid payload data). Binary frames: without a
// ReceiveBinary hook the connection closes with 1003 (unsupported data). Either way, one bad
// frame ends at most its own connection, never the process.
type JSONWebsocketConsumer struct {
	WebsocketConsumer
}

func (j *JSONWebsocketConsumer) jsonBase() *JSONWebsocketConsumer { return j }

// SendJSON encodes v with encoding/json and sends it as one text frame.
func (j *JSONWebsocketConsumer) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("consumer: SendJSON: encode %T: %w", v, err)
	}
	// b is not used again, so the text can share its bytes.
	return j.SendText(ctx, unsafe.String(unsafe.SliceData(b), len(b)))
}

// JSONWebsocket returns an Application that serves each WebSocket scope with a new T, which
// embeds JSONWebsocketConsumer. It behaves as Websocket, and decodes text frames as JSON
// for ReceiveJSON; see JSONWebsocketConsumer for the hooks and the bad-input policy.
//
// JSONWebsocket panics with a *ShapeError when T's hooks or handlers have the wrong
// signature, or T defines Receive (which a JSON consumer never calls).
func JSONWebsocket[T any, P interface {
	*T
	jsonBase
}](opts ...Option) channels.Application {
	return Websocket[T, P](opts...)
}

// invalidJSONReply is the frame InvalidJSONReply sends.
const invalidJSONReply = `{"error":"invalid JSON"}`

func receiveJSON[P any](ctx context.Context, ti *typeInfo[P], o *options, p P, w *WebsocketConsumer, text string, isText bool, data []byte) error {
	if !isText {
		if ti.receiveBinary != nil {
			return protect(func() error { return ti.receiveBinary(p, ctx, data) })
		}
		w.Logger().Debug("consumer: binary frame refused by a JSON consumer", "consumer", ti.name, "bytes", len(data))
		return w.CloseReason(ctx, channels.CloseUnsupportedData, "binary frames are not supported")
	}
	raw := []byte(text)
	if !json.Valid(raw) {
		err := fmt.Errorf("consumer %s: text frame of %d bytes is not valid JSON", ti.name, len(raw))
		if ti.receiveInvalidJSON != nil {
			return protect(func() error { return ti.receiveInvalidJSON(p, ctx, raw, err) })
		}
		switch o.invalidJSON {
		case InvalidJSONReply:
			w.Logger().Debug("consumer: invalid JSON answered with an error frame", "consumer", ti.name, "error", err)
			return w.SendText(ctx, invalidJSONReply)
		case InvalidJSONIgnore:
			w.Logger().Debug("consumer: invalid JSON ignored", "consumer", ti.name, "error", err)
			return nil
		default:
			w.Logger().Debug("consumer: invalid JSON closes the connection", "consumer", ti.name, "error", err)
			return w.CloseReason(ctx, channels.CloseInvalidPayload, "invalid JSON")
		}
	}
	if ti.receiveJSON == nil {
		return nil
	}
	return protect(func() error { return ti.receiveJSON(p, ctx, raw) })
}
