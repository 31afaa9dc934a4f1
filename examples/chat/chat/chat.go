// Package chat is the Django Channels tutorial's chat server in Go: rooms at /chat/{room}/,
// a WebSocket at /ws/chat/{room_name}/ speaking the tutorial's protocol (the client sends
// {"message": m}; every member of the group chat_{room_name} receives {"message": m}). A
// Django process running the tutorial and this one can share a Redis channel layer and the
// same rooms.
package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
)

// WebsocketPath is the route of the chat WebSocket; room_name is the room.
const WebsocketPath = "/ws/chat/{room_name}/"

// SendTimeout bounds the group send of one chat message. When the channel layer fails or
// takes longer (Redis away), the sender gets an error frame instead of a hang.
const SendTimeout = 5 * time.Second

// ErrorUndelivered is the "error" of the frame a client receives when its message could not
// be handed to the channel layer: {"error": ErrorUndelivered, "message": m}. The connection
// stays open; the client may send again.
const ErrorUndelivered = "MESSAGE_NOT_DELIVERED"

// MessageType is the type of the group message that carries a chat message, as in the
// tutorial ("chat.message", handled by ChatMessage).
const MessageType = "chat.message"

// Consumer is one chat connection: it joins its room's group, forwards what its client sends
// to the group, and sends the group's messages to its client.
type Consumer struct {
	consumer.JSONWebsocketConsumer
	group string
}

var _ consumer.Connecter = (*Consumer)(nil)

// GroupName returns the group of a room: "chat_" + room.
func GroupName(room string) string { return "chat_" + room }

// Connect joins the room's group and accepts. A room whose group name the layer cannot take
// (characters other than ASCII letters, digits, '-', '_', '.'; too long) is refused.
func (c *Consumer) Connect(ctx context.Context) error {
	room := c.Scope().Param("room_name")
	c.group = GroupName(room)
	if err := layers.ValidateGroupName(c.group); err != nil {
		return fmt.Errorf("%w: room %q: %w", consumer.ErrDeny, room, err)
	}
	// Joined groups are left automatically when the connection ends.
	if err := c.GroupAdd(ctx, c.group); err != nil {
		return err
	}
	return c.Accept(ctx)
}

// ReceiveJSON takes {"message": m} from the client and sends m to the room. Anything else
// (not an object, or no "message") closes the connection with 1007, as bad JSON does.
func (c *Consumer) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	m, ok := decodeMessage(content)
	if !ok {
		return c.CloseReason(ctx, channels.CloseInvalidPayload, `want {"message": ...}`)
	}
	sctx, cancel := context.WithTimeout(ctx, SendTimeout)
	err := c.GroupSend(sctx, c.group, channels.Message{"type": MessageType, "message": m})
	cancel()
	if err == nil || ctx.Err() != nil {
		return err
	}
	// The layer failed (Redis away for longer than its send_timeout, say: an error wrapping
	// layers.ErrUnavailable): the consumer's policy would close the socket with 1013. A chat
	// room outlives a layer outage better if the client is told and stays connected; the
	// layer reconnects by itself.
	c.Logger().Warn("chat: message not delivered", "group", c.group, "error", err)
	return c.SendJSON(ctx, map[string]any{"error": ErrorUndelivered, "message": m})
}

// ChatMessage handles a "chat.message" from the group: the message goes to the client.
func (c *Consumer) ChatMessage(ctx context.Context, msg channels.Message) error {
	return c.SendSharedJSON(ctx, chatFrames, msg)
}

// chatFrames encodes each group message's frame, {"message": m}, once for all the room's
// members in this process.
var chatFrames = consumer.NewSharedJSON(func(msg channels.Message) any {
	return map[string]any{"message": msg["message"]}
})

// positionFrames are chatFrames with the message's position, when its room keeps history:
// {"message": m, "pos": {"stream": "chat_<room>", "offset": n, "epoch": e}}.
var positionFrames = consumer.NewSharedJSON(func(msg channels.Message) any {
	return consumer.AddPosition(map[string]any{"message": msg["message"]}, msg)
})

// resumingConsumer is a Consumer whose client may resume (Options.Resume): it joins the room
// with JoinResumed, so that a reconnecting client that gives ?resume= its last position gets
// the messages it missed, then a "recovered" (or "unrecoverable") frame, before newer ones.
type resumingConsumer struct {
	Consumer
}

// Connect checks the room as Consumer.Connect does, then accepts and joins its group with
// JoinResumed (a bad resume parameter refuses the handshake with 400).
func (c *resumingConsumer) Connect(ctx context.Context) error {
	room := c.Scope().Param("room_name")
	c.group = GroupName(room)
	if err := layers.ValidateGroupName(c.group); err != nil {
		return fmt.Errorf("%w: room %q: %w", consumer.ErrDeny, room, err)
	}
	_, err := c.JoinResumed(ctx, c.group)
	return err
}

// ChatMessage sends the message to the client with its position (when the room keeps
// history), replayed or live.
func (c *resumingConsumer) ChatMessage(ctx context.Context, msg channels.Message) error {
	return c.SendSharedJSON(ctx, positionFrames, msg)
}

// Options changes the chat's behaviour beyond the tutorial.
type Options struct {
	// Resume lets clients resume after a reconnect: the consumer joins the room through
	// consumer.JoinResumed, so ?resume={"chat_<room>": {"offset": n, "epoch": e}} on the
	// socket's URL replays the messages after that position, then sends
	// {"gochannels": "recovered", ...} (or "unrecoverable"). Rooms need history on the layer
	// (e.g. the layer URL parameter history=chat_*:1000:0): their messages then carry "pos".
	// Off, the wire is exactly the tutorial's.
	Resume bool
}

// layerValue turns decoded JSON into values every layer carries as Python does: whole
// numbers as integers, others as floats.
func layerValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = layerValue(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = layerValue(v[k])
		}
	}
	return v
}

// NewWebsocketApplication returns the chat WebSocket application, routed at WebsocketPath.
func NewWebsocketApplication(layer layers.Layer, logger *slog.Logger) channels.Application {
	return NewWebsocketApplicationWith(layer, logger, Options{})
}

// NewWebsocketApplicationWith is NewWebsocketApplication with opts.
func NewWebsocketApplicationWith(layer layers.Layer, logger *slog.Logger, opts Options) channels.Application {
	if logger == nil {
		logger = slog.Default()
	}
	copts := []consumer.Option{consumer.WithLayer(layer), consumer.WithLogger(logger), consumer.WithoutIdleGoroutine()}
	ws := consumer.JSONWebsocket[Consumer](copts...)
	if opts.Resume {
		ws = consumer.JSONWebsocket[resumingConsumer](copts...)
	}
	r := router.URL(router.Path(WebsocketPath, ws))
	r.Logger = logger
	return r
}

// NewApplication returns the whole chat site: the pages over HTTP and the chat WebSocket.
func NewApplication(layer layers.Layer, logger *slog.Logger) channels.Application {
	return NewApplicationWith(layer, logger, Options{})
}

// NewApplicationWith is NewApplication with opts.
func NewApplicationWith(layer layers.Layer, logger *slog.Logger, opts Options) channels.Application {
	return router.ProtocolType{
		channels.ScopeHTTP:      channels.FromHTTPHandler(Pages()),
		channels.ScopeWebsocket: NewWebsocketApplicationWith(layer, logger, opts),
	}
}
