package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/wsproto"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/sessions"
)

// Group name prefixes of UserGroup and SessionGroup.
const (
	// UserGroupPrefix starts the group of a user whose ID is a valid group name part.
	UserGroupPrefix = "user."
	// HashedUserGroupPrefix starts the group of a user whose ID is not (see UserGroup).
	HashedUserGroupPrefix = "userx."
	// SessionGroupPrefix starts the group of a session (see SessionGroup).
	SessionGroupPrefix = "session."
	// sessionGroupDomain separates SessionGroup's hash from any other use of a session ID.
	sessionGroupDomain = "gochannels.session-group:"
)

// Close codes of the connections UserGroups closes.
const (
	// CloseLoggedOut closes the sockets of a session that logged out (Logout).
	CloseLoggedOut = 4001
	// CloseRevoked is the code to close a user's sockets with when their access is revoked:
	// a password change, a ban, a deleted account (UserGroups.CloseUser).
	CloseRevoked = 4003
)

// cleanupTimeout bounds the leaving of the groups after a scope ended.
const cleanupTimeout = 5 * time.Second

// UserGroup returns the channel-layer group of every authenticated socket of the user with
// id (see UserGroups): "user.<id>" when id is made of ASCII letters, digits, '-', '_' and
// '.' and is at most 80 characters (Django's integer IDs always are), else "userx." followed
// by the first 40 hex digits of the SHA-256 of id.
func UserGroup(id string) string {
	if len(id) > 0 && len(id) <= 80 && nameChars(id) {
		return UserGroupPrefix + id
	}
	sum := sha256.Sum256([]byte(id))
	return HashedUserGroupPrefix + hex.EncodeToString(sum[:20])
}

// SessionGroup returns the channel-layer group of every authenticated socket of the session
// with ID sessionID: "session." followed by the first 32 hex digits of the SHA-256 of
// "gochannels.session-group:" + sessionID. The ID itself (a secret: it is the cookie) never
// appears in a group name. From Python:
//
//	"session." + hashlib.sha256(b"gochannels.session-group:" + session_key.encode()).hexdigest()[:32]
func SessionGroup(sessionID string) string {
	sum := sha256.Sum256([]byte(sessionGroupDomain + sessionID))
	return SessionGroupPrefix + hex.EncodeToString(sum[:16])
}

func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// UserGroups makes every authenticated WebSocket reachable by its user and its session from
// any process that shares the channel layer: its Middleware puts each one in UserGroup(user
// ID) and SessionGroup(session ID); SendUser reaches all of a user's sockets, on every server;
// CloseUser and CloseSession close them with a close code, through the reserved
// channels.TypeClose message that the server carries out for every application.
//
// A Django process sharing the Redis layer (channels_redis) does the same with group_send:
//
//	async_to_sync(layer.group_send)("user.42", {"type": "chat.message", "text": "hi"})
//	async_to_sync(layer.group_send)("user.42", {"type": "gochannels.close", "code": 4003, "reason": "banned"})
//
// Logout (and LogoutScope) close the session's sockets everywhere with CloseLoggedOut when
// the UserGroups is known: through Handler on the net/http side, Middleware for scopes, or
// WithUserGroups for any context. On a password change or a ban, call
// CloseUser(ctx, id, CloseRevoked, "password changed"): the sockets close at once, and the
// SessionHasher check refuses the old sessions on their next handshake.
//
// Django consumers that join these groups too receive "gochannels.close" as any other
// message: give them a gochannels_close handler (one that closes, say).
type UserGroups struct {
	layer  layers.Layer
	logger *slog.Logger
}

// NewUserGroups returns a UserGroups on layer, logging to logger (slog.Default() when nil).
func NewUserGroups(layer layers.Layer, logger *slog.Logger) *UserGroups {
	if logger == nil {
		logger = slog.Default()
	}
	return &UserGroups{layer: layer, logger: logger}
}

// Layer returns the channel layer.
func (g *UserGroups) Layer() layers.Layer { return g.layer }

// SendUser sends msg to every socket of the user with id, on every server: the message is
// handled like any channel-layer message (a consumer's handler for its type).
func (g *UserGroups) SendUser(ctx context.Context, id string, msg channels.Message) error {
	if err := g.layer.GroupSend(ctx, UserGroup(id), msg); err != nil {
		return fmt.Errorf("auth: send %q to user %q: %w", msg.Type(), id, err)
	}
	return nil
}

// CloseUser closes every socket of the user with id, on every server, with code (1000,
// or 3000 to 4999 for an application's own; CloseRevoked is the usual one) and reason (at
// most 123 bytes).
func (g *UserGroups) CloseUser(ctx context.Context, id string, code int, reason string) error {
	return g.close(ctx, UserGroup(id), "user", code, reason)
}

// CloseSession closes every socket of the session with ID sessionID, on every server (see
// CloseUser).
func (g *UserGroups) CloseSession(ctx context.Context, sessionID string, code int, reason string) error {
	return g.close(ctx, SessionGroup(sessionID), "session", code, reason)
}

func (g *UserGroups) close(ctx context.Context, group, what string, code int, reason string) error {
	if !wsproto.ValidCloseCode(code) {
		return fmt.Errorf("auth: close %s: invalid close code %d", what, code)
	}
	if len(reason) > wsproto.MaxCloseReasonBytes {
		return fmt.Errorf("auth: close %s: reason of %d bytes, at most %d allowed", what, len(reason), wsproto.MaxCloseReasonBytes)
	}
	if err := g.layer.GroupSend(ctx, group, channels.CloseMessage(code, reason)); err != nil {
		return fmt.Errorf("auth: close %s (group %s): %w", what, group, err)
	}
	return nil
}

type groupsKey struct{}

// WithUserGroups returns ctx carrying g, so that Logout(ctx, s) closes the session's sockets.
func WithUserGroups(ctx context.Context, g *UserGroups) context.Context {
	return context.WithValue(ctx, groupsKey{}, g)
}

// userGroupsFrom returns the UserGroups of ctx, or nil.
func userGroupsFrom(ctx context.Context) *UserGroups {
	g, _ := ctx.Value(groupsKey{}).(*UserGroups)
	return g
}

// scopeGroupsKey is the scope key of the UserGroups whose Middleware served the scope.
type scopeGroupsKey struct{}

// membership is one socket's place in its user's and session's groups; it is the Observer
// that leaves them when the scope ends.
type membership struct {
	g       *UserGroups
	ctx     context.Context
	channel string
	groups  []string
	stop    func()
}

// Received implements channels.Observer.
func (m *membership) Received(msg channels.Message) channels.Message { return msg }

// Sent implements channels.Observer.
func (m *membership) Sent(channels.Message, error) {}

// Ended leaves the groups and closes the channel.
func (m *membership) Ended(error, bool) {
	m.stop()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), cleanupTimeout)
	defer cancel()
	for _, grp := range m.groups {
		if err := m.g.layer.GroupDiscard(ctx, grp, m.channel); err != nil {
			// The layer expires stale memberships (group_expiry) in the end.
			m.g.logger.Warn("auth: leaving a user group failed", "group", grp, "err", err)
		}
	}
}

// Middleware returns middleware that puts every authenticated WebSocket (UserFrom, so put it
// inside Middleware or Stack) in its user's group and, when it has a session, its session's
// group, for as long as the connection lasts. It opens a channel of its own on the layer
// for the socket; the messages sent to those groups are handed to the application's
// Receiver, as a consumer's own channel-layer messages are (a consumer handles them with a
// handler for their type), and a channels.TypeClose message closes the socket whatever the
// application. The groups are joined from the user and session at the start of the scope.
//
// The Receiver must take injected events (channels.Injector: the server's does, and so does
// one wrapped with channels.Observe); otherwise the socket joins no group and a warning is
// logged. A handshake whose groups cannot be joined because the layer is unavailable is
// refused with 1013 (HTTP 503), like a consumer's. HTTP and channel scopes pass through
// untouched. Don't also add the consumer's own channel to these groups: it would get each
// message twice.
func (g *UserGroups) Middleware(app channels.Application) channels.Application {
	observed := channels.Observe(app, func(ctx context.Context, scope *channels.Scope) channels.Observer {
		if m, ok := scope.Value(membershipKey{}).(*membership); ok {
			return m
		}
		return nil
	})
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type == channels.ScopeChannel {
			return app.Serve(ctx, scope, receive, send)
		}
		scope.Set(scopeGroupsKey{}, g)
		u := UserFrom(scope)
		if scope.Type != channels.ScopeWebsocket || !u.IsAuthenticated() {
			return app.Serve(ctx, scope, receive, send)
		}
		inj, ok := receive.(channels.Injector)
		if !ok {
			g.logger.WarnContext(ctx, "auth: the Receiver takes no injected events; the socket joins no user group", "path", scope.Path)
			return app.Serve(ctx, scope, receive, send)
		}
		groups := []string{UserGroup(u.ID())}
		if s := sessions.FromScope(scope); s != nil {
			groups = append(groups, SessionGroup(s.ID()))
		}
		m, err := g.join(ctx, inj, groups)
		if err != nil {
			if errors.Is(err, layers.ErrUnavailable) {
				g.logger.WarnContext(ctx, "auth: connection refused: cannot join the user's groups, the channel layer is unavailable", "path", scope.Path, "err", err)
				return &channels.CloseError{Code: channels.CloseTryAgainLater, Reason: "channel layer unavailable"}
			}
			return err
		}
		scope.Set(membershipKey{}, m)
		return observed.Serve(ctx, scope, receive, send)
	})
}

// membershipKey is the scope key of the socket's membership.
type membershipKey struct{}

// join opens the socket's channel and adds it to groups.
func (g *UserGroups) join(ctx context.Context, inj channels.Injector, groups []string) (*membership, error) {
	channel, stop, err := layers.Listen(ctx, g.layer, "specific", func(msg channels.Message) bool {
		// A refusal is the mailbox's overflow policy at work: it closes the socket (1008) or
		// counts the drop, and logs it.
		return inj.Inject(msg) == nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: open the socket's channel: %w", err)
	}
	m := &membership{g: g, ctx: ctx, channel: channel, stop: stop}
	for _, grp := range groups {
		if err := g.layer.GroupAdd(ctx, grp, channel); err != nil {
			m.Ended(nil, false)
			return nil, fmt.Errorf("auth: join group %s: %w", grp, err)
		}
		m.groups = append(m.groups, grp)
	}
	return m, nil
}

// groupsOfScope returns the UserGroups whose Middleware served scope, or nil.
func groupsOfScope(scope *channels.Scope) *UserGroups {
	g, _ := scope.Value(scopeGroupsKey{}).(*UserGroups)
	return g
}

// Handler returns net/http middleware that makes g known to Logout in the requests it
// serves (WithUserGroups), so that logging out closes the session's sockets everywhere.
func (g *UserGroups) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithUserGroups(r.Context(), g)))
	})
}
