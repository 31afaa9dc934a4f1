package django

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

// reasonUnavailable is the close reason of a handshake refused because the site's store
// failed (503 with Retry-After).
const reasonUnavailable = "django session store unavailable"

// Middleware returns middleware that authenticates each HTTP and WebSocket scope from the
// Django session cookie in its headers (Authenticate) and makes the user the scope's
// auth user (auth.UserFrom); a client that is not authenticated gets auth.Anonymous. Put
// auth.RequireUser inside it to refuse anonymous clients (a WebSocket handshake then gets
// 403). When the session store fails (the database or Redis is down) the scope is refused
// as unavailable, not forbidden: a WebSocket handshake with 503 and Retry-After
// (channels.CloseTryAgainLater), and the failure is logged. Channel scopes pass through.
//
// The check is made once, at the start of the scope: a socket stays open after its user
// logs out on the Django side.
func (s *Site) Middleware(app channels.Application) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type != channels.ScopeHTTP && scope.Type != channels.ScopeWebsocket {
			return app.Serve(ctx, scope, receive, send)
		}
		u, err := s.Authenticate(ctx, middleware.CookiesFrom(scope)[s.cfg.SessionCookieName])
		switch {
		case err == nil:
			auth.SetUser(scope, u)
		case errors.Is(err, ErrNotAuthenticated):
			slog.DebugContext(ctx, "django: anonymous scope", "path", scope.Path, "why", err)
			auth.SetUser(scope, auth.Anonymous)
		default:
			slog.ErrorContext(ctx, "django: session store failed; refusing the scope as unavailable", "path", scope.Path, "err", err)
			if scope.Type == channels.ScopeHTTP {
				return unavailable(ctx, send)
			}
			return &channels.CloseError{Code: channels.CloseTryAgainLater, Reason: reasonUnavailable}
		}
		return app.Serve(ctx, scope, receive, send)
	})
}

// unavailable answers an HTTP scope with 503 Service Unavailable.
func unavailable(ctx context.Context, send channels.Sender) error {
	body := []byte("503 Service Unavailable\n")
	err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": http.StatusServiceUnavailable,
		"headers": [][2]string{{"Content-Type", "text/plain; charset=utf-8"}, {"Retry-After", "2"}}})
	if err == nil {
		err = send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": body})
	}
	if err != nil && !errors.Is(err, channels.ErrClosed) {
		return fmt.Errorf("django: answer 503: %w", err)
	}
	return nil
}

// RequestUser returns the Django user of a net/http request (from its session cookie), or
// auth.Anonymous when the client is not authenticated (error nil); the error is the
// store's failure.
func (s *Site) RequestUser(r *http.Request) (auth.User, error) {
	c, err := r.Cookie(s.cfg.SessionCookieName)
	if err != nil {
		return auth.Anonymous, nil
	}
	u, err := s.Authenticate(r.Context(), c.Value)
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, ErrNotAuthenticated):
		return auth.Anonymous, nil
	}
	return auth.Anonymous, err
}
