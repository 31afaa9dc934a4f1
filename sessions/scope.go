package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

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
// The end of the scope is observed with channels.Observe, so the Receiver and Sender keep
// their optional interfaces (Injector, Detacher, TextSender): a consumer made with
// consumer.WithoutIdleGoroutine still detaches from its goroutine, and its session is saved
// when its scope really ends, not when Serve returns channels.ErrDetached.
//
// A failure of the store to load the session ends the scope with that error.
func Middleware(app channels.Application, m *Manager) channels.Application {
	observed := channels.Observe(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		st, _ := scope.Value(scopeKey{}).(*scopeState)
		return app.Serve(ctx, scope, receive, &scopeSender{st: st, send: send})
	}), func(ctx context.Context, scope *channels.Scope) channels.Observer {
		st, _ := scope.Value(scopeKey{}).(*scopeState)
		return &scopeEnd{st: st, ctx: ctx, path: scope.Path}
	})
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type == channels.ScopeChannel {
			return app.Serve(ctx, scope, receive, send)
		}
		value := middleware.CookiesFrom(scope)[m.opts.CookieName]
		s, err := m.Load(ctx, value)
		if err != nil {
			return fmt.Errorf("sessions: scope %s: %w", scope.Path, err)
		}
		scope.Set(scopeKey{}, &scopeState{m: m, s: s, clientValue: value})
		return observed.Serve(ctx, scope, receive, send)
	})
}

// finalSaveTimeout bounds the save at the end of a scope, which runs on a context that is no
// longer canceled with the scope's.
const finalSaveTimeout = 10 * time.Second

// scopeEnd saves a changed session when its scope ends; it is the scope's channels.Observer.
type scopeEnd struct {
	st   *scopeState
	ctx  context.Context
	path string
}

// Received passes msg through (see channels.Observer).
func (e *scopeEnd) Received(msg channels.Message) channels.Message { return msg }

// Sent does nothing: the head is handled by scopeSender (see channels.Observer).
func (e *scopeEnd) Sent(msg channels.Message, err error) {}

// Ended saves the session if it was changed since it was last saved, unless the application
// panicked (see channels.Observer). The scope's context may be done by now (the server canceled it), so the save runs on a
// copy that is not canceled with it, bounded by finalSaveTimeout.
func (e *scopeEnd) Ended(result error, panicked bool) {
	if panicked || !e.st.s.Modified() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), finalSaveTimeout)
	defer cancel()
	if err := e.st.save(ctx); err != nil {
		slog.WarnContext(ctx, "session not saved at the end of the scope", "path", e.path, "err", err)
	}
}

// scopeSender adds the session cookie to the response head. It is a channels.TextSender
// whatever the Sender it wraps is: text frames carry no cookie and go straight through.
type scopeSender struct {
	st   *scopeState
	send channels.Sender
}

// Send saves a changed session before the response head goes out, with its cookie.
func (ss *scopeSender) Send(ctx context.Context, msg channels.Message) error {
	switch msg.Type() {
	case channels.TypeHTTPResponseStart, channels.TypeWebsocketAccept:
		msg = ss.st.beforeHead(ctx, msg)
	}
	return ss.send.Send(ctx, msg)
}

// SendText sends a text frame through the wrapped Sender (see channels.SendText).
func (ss *scopeSender) SendText(ctx context.Context, text string) error {
	return channels.SendText(ctx, ss.send, text)
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
	// The session ID is a bearer secret: it never goes into an error (errors end up in logs).
	return fmt.Errorf("sessions: session saved: %w", ErrCookieNotDelivered)
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
