package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/gochannels/gochannels/channels"
)

// ErrNoRoute is wrapped by the errors routers return when nothing handles a scope.
var ErrNoRoute = errors.New("router: no route")

// ProtocolType routes a scope by its Type: router.ProtocolType{"http": a, "websocket": b,
// "channel": c}. A scope of a type it does not list is an error wrapping ErrNoRoute that names
// the type and the known ones.
type ProtocolType map[string]channels.Application

// Serve implements channels.Application.
func (p ProtocolType) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	app, ok := p[scope.Type]
	if !ok || app == nil {
		return fmt.Errorf("%w: no application for protocol type %q (known: %s)", ErrNoRoute, scope.Type, strings.Join(sortedKeys(p), ", "))
	}
	return app.Serve(ctx, scope, receive, send)
}

// ChannelName routes channel scopes (background consumers) by scope.Channel:
// router.ChannelName{"background-tasks": app}. A channel it does not list, or a scope of
// another type, is an error wrapping ErrNoRoute.
type ChannelName map[string]channels.Application

// Serve implements channels.Application.
func (c ChannelName) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if scope.Type != channels.ScopeChannel {
		return fmt.Errorf("%w: ChannelName router got a %q scope; it routes %q scopes only", ErrNoRoute, scope.Type, channels.ScopeChannel)
	}
	app, ok := c[scope.Channel]
	if !ok || app == nil {
		return fmt.Errorf("%w: no application for channel %q (known: %s)", ErrNoRoute, scope.Channel, strings.Join(c.Names(), ", "))
	}
	return app.Serve(ctx, scope, receive, send)
}

// Names returns the channel names the router serves, sorted: the channels a worker listens
// on.
func (c ChannelName) Names() []string { return sortedKeys(c) }

func sortedKeys(m map[string]channels.Application) []string {
	return slices.Sorted(maps.Keys(m))
}

// notFound answers a scope no route matched: a WebSocket handshake is refused (the server
// answers 403), an HTTP request gets 404 "Not Found", anything else is an error. It logs one
// line.
func notFound(ctx context.Context, logger *slog.Logger, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "router: no route", "type", scope.Type, "path", scope.Path, "root_path", scope.RootPath)
	switch scope.Type {
	case channels.ScopeWebsocket:
		for {
			ev, err := receive.Receive(ctx)
			if err != nil {
				return nil // the client went away before we could refuse it
			}
			switch ev.Type() {
			case channels.TypeWebsocketConnect:
				return send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose})
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	case channels.ScopeHTTP:
		err := send.Send(ctx, channels.Message{
			"type":    channels.TypeHTTPResponseStart,
			"status":  404,
			"headers": [][2]string{{"Content-Type", "text/plain; charset=utf-8"}},
		})
		if err != nil {
			return err
		}
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte("Not Found")})
	default:
		return fmt.Errorf("%w: no route for path %q (scope type %q)", ErrNoRoute, scope.Path, scope.Type)
	}
}
