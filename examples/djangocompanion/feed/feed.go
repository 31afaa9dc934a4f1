// Package feed is the djangocompanion example's live notification feed: a WebSocket at
// Path that only users of the Django site may open (auth/django puts them in the scope),
// each socket in its user's group UserGroup(id), and every "notify" message that Django
// code sends to that group, through channels_redis, forwarded to the socket as JSON.
package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
)

// Path is the route of the feed's WebSocket.
const Path = "/ws/notifications/"

// MessageType is the type of the group message that carries a notification: Django sends
// {"type": "notify", "event": {...}} to UserGroup(id); the socket gets
// {"type": "notify", "event": {...}}.
const MessageType = "notify"

// UserGroup is the group of all of one Django user's sockets, on every Go process that
// shares the channel layer: auth.UserGroup, "user.<id>" for auth_user.id, the same group
// auth.UserGroups uses, so auth.SendUser and auth.CloseUser reach these sockets too.
func UserGroup(userID string) string { return auth.UserGroup(userID) }

// Consumer is one feed socket.
type Consumer struct {
	consumer.JSONWebsocketConsumer
}

var _ consumer.Connecter = (*Consumer)(nil)

// Connect puts the socket in its user's group, accepts it and greets the user with
// {"type": "hello", "user": username}. The application refuses anonymous clients before
// this (auth.RequireUser), so the user is a Django user.
func (c *Consumer) Connect(ctx context.Context) error {
	u := auth.UserFrom(c.Scope())
	if !u.IsAuthenticated() {
		return fmt.Errorf("%w: not logged in on the Django site", consumer.ErrDeny)
	}
	if err := c.GroupAdd(ctx, UserGroup(u.ID())); err != nil {
		return err
	}
	if err := c.Accept(ctx); err != nil {
		return err
	}
	return c.SendJSON(ctx, map[string]any{"type": "hello", "user": u.Username()})
}

// ReceiveJSON answers a frame from the client, which the feed does not take (it only
// speaks), by closing the socket with 1003 (unsupported data).
func (c *Consumer) ReceiveJSON(ctx context.Context, _ json.RawMessage) error {
	return c.CloseReason(ctx, channels.CloseUnsupportedData, "the notification feed takes no frames")
}

// Notify forwards a "notify" message of the user's group to the socket.
func (c *Consumer) Notify(ctx context.Context, msg channels.Message) error {
	return c.SendJSON(ctx, map[string]any{"type": MessageType, "event": msg["event"]})
}

// NewApplication returns the feed's WebSocket application, routed at Path, for users that
// an outer middleware (auth/django's Site.Middleware) put in the scope; the others are
// refused with 403.
func NewApplication(layer layers.Layer, logger *slog.Logger) channels.Application {
	if logger == nil {
		logger = slog.Default()
	}
	ws := consumer.JSONWebsocket[Consumer](consumer.WithLayer(layer), consumer.WithLogger(logger), consumer.WithoutIdleGoroutine())
	r := router.URL(router.Path(Path, ws))
	r.Logger = logger
	return auth.RequireUser(r)
}
