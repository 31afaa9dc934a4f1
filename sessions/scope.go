package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

type scopeKey struct{}

// scopeState is the session of one scope.
type scopeState struct {
	m           *Manager
	s           *Session
	clientValue string

	mu       sync.Mutex
	headSent bool         // http.response.start or websocket.accept went out
	pending  *http.Cookie // a cookie from SaveScope before the head, to send with it
}

// Middleware returns middleware that loads the session named by the scope's session cookie
// (parsed with middleware.CookiesFrom) and puts it in the scope for FromScope, like Django
// Channels' SessionMiddleware. Channel scopes (background workers) have no cookie and get no
// session.
//
// When the application has changed the session by the time it sends "http.response.start"
// or "websocket.accept", the session is saved and a Set-Cookie header added to that event
// (browsers honour Set-Cookie on the WebSocket handshake response). A change made later is
// saved when the scope ends (or at once with SaveScope) and, when the cookie would have to
// change, logged as not delivered: see SaveScope.
//
// A failure of the store to load the session ends the scope with that error.
func Middleware(app channels.Application, m *Manager) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type == channels.ScopeChannel {
			return app.Serve(ctx, scope, receive, send)
		}
		value := middleware.CookiesFrom(scope)[m.opts.CookieName]
		s, err := m.Load(ctx, value)
		if err != nil {
			return fmt.Errorf("sessions: scope %s: %w", scope.Path, err)
		}
		st := &scopeState{m: m, s: s, clientValue: value}
		scope.Set(scopeKey{}, st)
		err = app.Serve(ctx, scope, receive, channels.SendFunc(func(ctx context.Context, msg channels.Message) error {
			switch msg.Type() {
			case channels.TypeHTTPResponseStart, channels.TypeWebsocketAccept:
				msg = st.beforeHead(ctx, msg)
			}
			return send.Send(ctx, msg)
		}))
		if s.Modified() {
			if serr := st.save(ctx); serr != nil {
				slog.WarnContext(ctx, "session not saved at the end of the scope", "path", scope.Path, "err", serr)
			}
		}
		return err
	})
}

// FromScope returns the scope's session, or nil when no session Middleware ran for it.
func FromScope(scope *channels.Scope) *Session {
	if st, ok := scope.Value(scopeKey{}).(*scopeState); ok {
		return st.s
	}
	return nil
}

// SaveScope saves the scope's session now (a session with no data is deleted). Before the
// response head ("http.response.start", "websocket.accept") the cookie goes out with the head.
// After it, the cookie the client holds cannot be changed any more: over an open WebSocket
// that is always so. Then SaveScope still saves the data and returns an error wrapping
// ErrCookieNotDelivered when the client's cookie no longer matches: always for a cookie store
// (whose cookie is the data, so the change is lost), and for a server-side store only when the
// ID changed (RotateID or Flush of a session that still holds data); a server-side session
// saved under its old ID, or emptied and deleted, needs no new cookie. Log in over HTTP, or
// before accepting the WebSocket.
func SaveScope(ctx context.Context, scope *channels.Scope) error {
	st, ok := scope.Value(scopeKey{}).(*scopeState)
	if !ok {
		return errors.New("sessions: SaveScope: no session in the scope (sessions.Middleware is missing)")
	}
	return st.save(ctx)
}

func (st *scopeState) save(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	c, err := st.m.commit(ctx, st.s, st.clientValue)
	if err != nil {
		return err
	}
	if !st.headSent {
		st.pending = c
		return nil
	}
	if c == nil || c.Value == st.clientValue || st.m.staleIsEmpty(ctx, c, st.clientValue) {
		return nil
	}
	return fmt.Errorf("sessions: session %s saved: %w", st.s.ID(), ErrCookieNotDelivered)
}

// beforeHead saves a changed session and returns msg with the Set-Cookie header added (a copy;
// msg itself is not changed).
func (st *scopeState) beforeHead(ctx context.Context, msg channels.Message) channels.Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.headSent {
		return msg
	}
	st.headSent = true
	c := st.pending
	st.pending = nil
	if st.s.Modified() {
		var err error
		c, err = st.m.commit(ctx, st.s, st.clientValue)
		if err != nil {
			slog.ErrorContext(ctx, "session save failed", "err", err)
			return msg
		}
	}
	if c == nil {
		return msg
	}
	var headers [][2]string
	switch h := msg["headers"].(type) {
	case nil:
	case [][2]string:
		headers = h
	case [][]string:
		for _, kv := range h {
			if len(kv) != 2 {
				slog.ErrorContext(ctx, "session cookie not sent: malformed event header", "type", msg.Type())
				return msg
			}
			headers = append(headers, [2]string{kv[0], kv[1]})
		}
	default:
		slog.ErrorContext(ctx, "session cookie not sent: event headers are not [][2]string or [][]string", "type", msg.Type())
		return msg
	}
	msg = msg.Clone()
	msg["headers"] = append(headers[:len(headers):len(headers)], [2]string{"Set-Cookie", c.String()})
	st.clientValue = c.Value
	return msg
}
