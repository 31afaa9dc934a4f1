package sessions

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultCookieName is the session cookie's name when Options.CookieName is empty (Django's).
const DefaultCookieName = "sessionid"

// Options are the session cookie's settings. The zero value is usable: cookie "sessionid",
// path "/", SameSite Lax, HttpOnly, not Secure, two weeks.
type Options struct {
	// CookieName defaults to DefaultCookieName.
	CookieName string
	// Path defaults to "/".
	Path string
	// Domain is the cookie's Domain attribute ("" for the exact host only).
	Domain string
	// MaxAge is how long a session lives after it was last saved (DefaultMaxAge).
	MaxAge time.Duration
	// Secure sends the cookie over HTTPS only; set it on any site served over HTTPS.
	Secure bool
	// SameSite defaults to http.SameSiteLaxMode. SameSiteNoneMode requires Secure.
	SameSite http.SameSite
}

// Manager ties a Store to the session cookie's options. Use one Manager for the net/http side
// (Handler, Get, Save, Destroy) and the scope side (Middleware, or auth.Stack) of a site so
// that both read and write the same cookie. It is safe for concurrent use. The session cookie
// is always HttpOnly.
type Manager struct {
	store Store
	opts  Options
}

// NewManager returns a Manager for store with opts (zero fields take their defaults).
func NewManager(store Store, opts Options) *Manager {
	if opts.CookieName == "" {
		opts.CookieName = DefaultCookieName
	}
	if opts.Path == "" {
		opts.Path = "/"
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.SameSite == 0 {
		opts.SameSite = http.SameSiteLaxMode
	}
	return &Manager{store: store, opts: opts}
}

// Store returns the manager's store.
func (m *Manager) Store() Store { return m.store }

// Options returns the manager's options, defaults filled in.
func (m *Manager) Options() Options { return m.opts }

// Load returns the session the cookie value names (see Store.Load).
func (m *Manager) Load(ctx context.Context, value string) (*Session, error) {
	s, err := m.store.Load(ctx, value)
	if err != nil {
		return nil, fmt.Errorf("sessions: load session: %w", err)
	}
	return s, nil
}

// commit saves s (or, when it holds no data, deletes it) and returns the cookie to send, or
// nil when the client's cookie (clientValue) needs no change.
func (m *Manager) commit(ctx context.Context, s *Session, clientValue string) (*http.Cookie, error) {
	version, n := s.state()
	if n == 0 {
		if !s.IsNew() || s.PreviousID() != "" {
			if err := m.store.Delete(ctx, s); err != nil {
				return nil, fmt.Errorf("sessions: delete session: %w", err)
			}
		}
		s.markSaved(version)
		if clientValue == "" {
			return nil, nil
		}
		return m.expiredCookie(), nil
	}
	s.setExpires(time.Now().Add(m.opts.MaxAge).Truncate(time.Second))
	value, err := m.store.Save(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("sessions: save session: %w", err)
	}
	s.markSaved(version)
	return m.cookie(value), nil
}

func (m *Manager) cookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     m.opts.CookieName,
		Value:    value,
		Path:     m.opts.Path,
		Domain:   m.opts.Domain,
		MaxAge:   int(m.opts.MaxAge / time.Second),
		Expires:  time.Now().Add(m.opts.MaxAge).UTC(),
		Secure:   m.opts.Secure,
		HttpOnly: true,
		SameSite: m.opts.SameSite,
	}
}

func (m *Manager) expiredCookie() *http.Cookie {
	c := m.cookie("")
	c.MaxAge = -1
	c.Expires = time.Unix(0, 0).UTC()
	return c
}

type requestKey struct{}

// reqState is the session of one request behind Manager.Handler, loaded on first use.
type reqState struct {
	m           *Manager
	clientValue string

	mu       sync.Mutex
	s        *Session // nil until loaded
	err      error
	headSent bool // the response head was written (or the connection hijacked)
}

func (st *reqState) get(r *http.Request) (*Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.s == nil && st.err == nil {
		st.s, st.err = st.m.Load(r.Context(), st.clientValue)
	}
	return st.s, st.err
}

// Get returns r's session. Behind Handler it is loaded once per request (on the first call)
// and saved automatically when changed; without Handler every call loads a new copy from the
// cookie, and changes must be saved with Save. A missing or invalid cookie gives a new, empty
// session; the error is for a store failure.
func (m *Manager) Get(r *http.Request) (*Session, error) {
	if st, ok := r.Context().Value(requestKey{}).(*reqState); ok && st.m == m {
		return st.get(r)
	}
	return m.Load(r.Context(), m.cookieValue(r))
}

// FromRequest returns the session of a request behind Manager.Handler, loading it on first
// use; nil when the request did not pass through Handler or the store failed (the failure is
// logged).
func FromRequest(r *http.Request) *Session {
	st, ok := r.Context().Value(requestKey{}).(*reqState)
	if !ok {
		return nil
	}
	s, err := st.get(r)
	if err != nil {
		slog.ErrorContext(r.Context(), "session load failed", "err", err)
		return nil
	}
	return s
}

func (m *Manager) cookieValue(r *http.Request) string {
	c, err := r.Cookie(m.opts.CookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// Save saves s now and sets the session cookie on w (a session with no data is deleted and
// its cookie cleared). Call it before the response head is written.
func (m *Manager) Save(w http.ResponseWriter, r *http.Request, s *Session) error {
	c, err := m.commit(r.Context(), s, m.cookieValue(r))
	if err != nil {
		return err
	}
	if c != nil {
		http.SetCookie(w, c)
	}
	return nil
}

// Destroy deletes r's session from the store and clears the cookie. Call it before the
// response head is written.
func (m *Manager) Destroy(w http.ResponseWriter, r *http.Request) error {
	s, err := m.Get(r)
	if err != nil {
		return err
	}
	if err := m.store.Delete(r.Context(), s); err != nil {
		return fmt.Errorf("sessions: delete session: %w", err)
	}
	s.Flush()
	version, _ := s.state()
	s.markSaved(version)
	http.SetCookie(w, m.expiredCookie())
	return nil
}

// Handler returns net/http middleware that gives each request a session (Get, FromRequest),
// loaded on first use, and saves it when it was changed: just before the response head is
// written (so that the cookie goes with it), or when the handler returns without writing.
// A change made after the head was written is still saved when the cookie need not change
// (a server-side store, same ID) and logged as lost otherwise. Save errors are logged.
// Wrapping a handler twice with the same Manager's Handler is harmless: the inner one passes
// requests through.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st, ok := r.Context().Value(requestKey{}).(*reqState); ok && st.m == m {
			next.ServeHTTP(w, r) // this manager's Handler is already outside
			return
		}
		st := &reqState{m: m, clientValue: m.cookieValue(r)}
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, st))
		sw := &sessionWriter{ResponseWriter: w, st: st, r: r}
		next.ServeHTTP(sw, r)
		st.mu.Lock()
		headSent, s := st.headSent, st.s
		st.mu.Unlock()
		if !headSent {
			sw.beforeHead()
			return
		}
		if s == nil || !s.Modified() {
			return
		}
		c, err := m.commit(r.Context(), s, st.clientValue)
		switch {
		case err != nil:
			slog.ErrorContext(r.Context(), "session save failed", "err", err)
		case c != nil && c.Value != st.clientValue && !m.staleIsEmpty(r.Context(), c, st.clientValue):
			slog.WarnContext(r.Context(), "session changed after the response head was written; cookie not updated", "path", r.URL.Path)
		}
	})
}

// staleIsEmpty reports whether a client that keeps clientValue instead of receiving c sees
// the same thing: c clears the cookie and clientValue no longer names a stored session.
func (m *Manager) staleIsEmpty(ctx context.Context, c *http.Cookie, clientValue string) bool {
	if c.MaxAge >= 0 {
		return false
	}
	s, err := m.store.Load(ctx, clientValue)
	return err == nil && s.IsNew()
}

// sessionWriter saves the session before the response head goes out.
type sessionWriter struct {
	http.ResponseWriter
	st *reqState
	r  *http.Request
}

func (w *sessionWriter) beforeHead() {
	st := w.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.headSent {
		return
	}
	st.headSent = true
	s := st.s
	if s == nil || !s.Modified() {
		return
	}
	c, err := st.m.commit(w.r.Context(), s, st.clientValue)
	if err != nil {
		slog.ErrorContext(w.r.Context(), "session save failed", "err", err)
		return
	}
	if c != nil {
		http.SetCookie(w.ResponseWriter, c)
	}
}

// WriteHeader saves the session, then writes the head.
func (w *sessionWriter) WriteHeader(code int) {
	w.beforeHead()
	w.ResponseWriter.WriteHeader(code)
}

// Write saves the session if the head is not written yet, then writes b.
func (w *sessionWriter) Write(b []byte) (int, error) {
	w.beforeHead()
	return w.ResponseWriter.Write(b)
}

// Flush saves the session if needed and flushes the underlying writer when it can.
func (w *sessionWriter) Flush() {
	w.beforeHead()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over (for a WebSocket upgrade through net/http); the session
// is not saved by the middleware after that.
func (w *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.st.mu.Lock()
	w.st.headSent = true
	w.st.mu.Unlock()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
