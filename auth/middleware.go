package auth

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/sessions"
)

type userKey struct{}

// Middleware returns middleware that loads the scope's user from its session (put there by
// sessions.Middleware, which must run outside this one) once, when the scope starts, and puts
// it in the scope for UserFrom. Without a session, or when the session names no valid user,
// the scope's user is Anonymous.
func Middleware(app channels.Application, loader UserLoader) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type != channels.ScopeChannel {
			SetUser(scope, UserForSession(ctx, loader, sessions.FromScope(scope)))
		}
		return app.Serve(ctx, scope, receive, send)
	})
}

// Stack wraps app in Cookies, sessions.Middleware and Middleware, in that order, like Django
// Channels' AuthMiddlewareStack. Use the same Manager for the site's net/http side.
func Stack(app channels.Application, m *sessions.Manager, loader UserLoader) channels.Application {
	return middleware.Cookies(sessions.Middleware(Middleware(app, loader), m))
}

// UserFrom returns the scope's user, or Anonymous when there is none.
func UserFrom(scope *channels.Scope) User {
	if u, ok := scope.Value(userKey{}).(User); ok && u != nil {
		return u
	}
	return Anonymous
}

// SetUser replaces the scope's user (LoginScope and LogoutScope do this).
func SetUser(scope *channels.Scope, user User) {
	if user == nil {
		user = Anonymous
	}
	scope.Set(userKey{}, user)
}

// LoginScope logs user in on the scope's session (Login), makes it the scope's user and saves
// the session (sessions.SaveScope). Call it before accepting a WebSocket so that the new
// session cookie goes out with the handshake response; after accept it returns an error
// wrapping sessions.ErrCookieNotDelivered, because the client keeps its old cookie.
func LoginScope(ctx context.Context, scope *channels.Scope, user User) error {
	if err := Login(ctx, sessions.FromScope(scope), user); err != nil {
		return err
	}
	SetUser(scope, user)
	return sessions.SaveScope(ctx, scope)
}

// LogoutScope logs the scope's session out (Logout), makes the scope's user Anonymous and
// saves the session. With a server-side store this takes effect even over an open WebSocket:
// the old session is deleted.
func LogoutScope(ctx context.Context, scope *channels.Scope) error {
	s := sessions.FromScope(scope)
	SetUser(scope, Anonymous)
	if s == nil {
		return nil
	}
	if g := groupsOfScope(scope); g != nil && userGroupsFrom(ctx) == nil {
		ctx = WithUserGroups(ctx, g)
	}
	if err := Logout(ctx, s); err != nil {
		return err
	}
	return sessions.SaveScope(ctx, scope)
}

// RequireUser returns middleware that refuses scopes whose user (UserFrom) is not
// authenticated with middleware.Deny: a WebSocket handshake gets HTTP 403 before any accept,
// an HTTP request a 403 response. Put it inside Middleware (or Stack). RequireUserWith
// refuses with a response of your own.
func RequireUser(app channels.Application) channels.Application {
	return RequireUserWith(app, nil)
}

// RequireUserWith is RequireUser with denied serving the refused scopes instead of
// middleware.Deny: middleware.DenyWith(&channels.Denial{Status: 401, ...}) answers an
// anonymous handshake with that status, headers and body. A nil denied is middleware.Deny.
func RequireUserWith(app, denied channels.Application) channels.Application {
	if denied == nil {
		denied = channels.ApplicationFunc(middleware.Deny)
	}
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if !UserFrom(scope).IsAuthenticated() {
			return denied.Serve(ctx, scope, receive, send)
		}
		return app.Serve(ctx, scope, receive, send)
	})
}

type requestUser struct {
	m      *sessions.Manager
	loader UserLoader
	once   sync.Once
	user   User
}

// Handler returns net/http middleware that makes the request's user available to
// UserFromRequest, loaded from the session on first use. It includes m.Handler (harmless when
// m.Handler is also outside it), so the session is saved as described there.
func Handler(next http.Handler, m *sessions.Manager, loader UserLoader) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ru := &requestUser{m: m, loader: loader}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, ru)))
	})
	return m.Handler(inner)
}

// UserFromRequest returns the request's user, loading it from the session on the first call;
// Anonymous when the request did not pass through Handler or names no valid user. After Login
// or Logout in the same request it returns the user as it was when first loaded.
func UserFromRequest(r *http.Request) User {
	ru, ok := r.Context().Value(userKey{}).(*requestUser)
	if !ok {
		return Anonymous
	}
	ru.once.Do(func() {
		s, err := ru.m.Get(r)
		if err != nil {
			slog.ErrorContext(r.Context(), "auth: session load failed; treating the request as anonymous", "err", err)
			ru.user = Anonymous
			return
		}
		ru.user = UserForSession(r.Context(), ru.loader, s)
	})
	return ru.user
}

// RequireUserHandler answers 403 Forbidden to requests whose user (UserFromRequest) is not
// authenticated and passes the others to next. Put it inside Handler.
func RequireUserHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !UserFromRequest(r).IsAuthenticated() {
			http.Error(w, "403 Forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
