package sessions

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// site is a net/http app: /set?k=v stores a value, /get?k= prints it, /logout destroys.
func site(m *Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Get(r)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		for k, v := range r.URL.Query() {
			s.Set(k, v[0])
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, _ := FromRequest(r).Get(r.URL.Query().Get("k"))
		_, _ = w.Write([]byte(v))
	})
	mux.HandleFunc("/clear", func(w http.ResponseWriter, r *http.Request) {
		FromRequest(r).Clear()
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Destroy(w, r); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	return m.Handler(mux)
}

func do(h http.Handler, target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://example.com"+target, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	return rr
}

func sessionCookie(t *testing.T, rr *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rr.Result().Cookies() {
		if c.Name == DefaultCookieName {
			return c
		}
	}
	return nil
}

func stores(t *testing.T) map[string]Store {
	return map[string]Store{"cookie": mustCookieStore(t, key1), "memory": NewMemoryStore()}
}

func TestManagerHTTP(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			m := NewManager(store, Options{Secure: true})
			h := site(m)
			if c := sessionCookie(t, do(h, "/get?k=a")); c != nil {
				t.Fatalf("an unchanged session set a cookie: %v", c)
			}
			c := sessionCookie(t, do(h, "/set?a=1"))
			if c == nil {
				t.Fatal("a changed session set no cookie")
			}
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int(DefaultMaxAge/time.Second) {
				t.Fatalf("cookie attributes: %+v", c)
			}
			if body := do(h, "/get?k=a", c).Body.String(); body != "1" {
				t.Fatalf("value read back = %q", body)
			}
			// Tampered cookie: an empty session, no error.
			bad := *c
			bad.Value = "x" + c.Value[1:]
			if rr := do(h, "/get?k=a", &bad); rr.Code != 200 || rr.Body.String() != "" {
				t.Fatalf("tampered cookie: %d %q", rr.Code, rr.Body)
			}
			// Emptying the session clears the cookie.
			cleared := sessionCookie(t, do(h, "/clear", c))
			if cleared == nil || cleared.MaxAge >= 0 {
				t.Fatalf("emptied session: cookie %+v, want one that expires", cleared)
			}
			// Destroy clears the cookie (and the server-side data).
			c2 := sessionCookie(t, do(h, "/set?b=2"))
			d := sessionCookie(t, do(h, "/destroy", c2))
			if d == nil || d.MaxAge >= 0 {
				t.Fatalf("Destroy: cookie %+v", d)
			}
			if _, ok := store.(*MemoryStore); ok {
				if body := do(h, "/get?k=b", c2).Body.String(); body != "" {
					t.Fatalf("destroyed session still readable: %q", body)
				}
			}
		})
	}
}

func TestManagerWithoutHandler(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{CookieName: "sid"})
	r := httptest.NewRequest("POST", "/login", nil)
	s, err := m.Get(r)
	if err != nil || !s.IsNew() {
		t.Fatalf("Get: %v", err)
	}
	s.Set("user", "7")
	rr := httptest.NewRecorder()
	if err := m.Save(rr, r, s); err != nil {
		t.Fatal(err)
	}
	cs := rr.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "sid" || cs[0].Value != s.ID() {
		t.Fatalf("cookies %v", cs)
	}
	r2 := httptest.NewRequest("GET", "/", nil)
	r2.AddCookie(cs[0])
	s2, _ := m.Get(r2)
	if u, _ := s2.Get("user"); u != "7" {
		t.Fatal("saved session not found")
	}
	if FromRequest(r2) != nil {
		t.Fatal("FromRequest without Handler is not nil")
	}
}

func TestManagerChangeAfterHeadWritten(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := FromRequest(r)
		_, _ = w.Write([]byte("head sent"))
		s.Set("late", "yes") // same ID: a server-side store can still keep it
	}))
	first := sessionCookie(t, do(h, "/"))
	if first != nil {
		t.Fatal("cookie set for an unchanged session")
	}
	m2 := NewManager(NewMemoryStore(), Options{})
	s := New()
	s.Set("x", "1")
	rr := httptest.NewRecorder()
	_ = m2.Save(rr, httptest.NewRequest("GET", "/", nil), s)
	c := sessionCookie(t, rr)
	h2 := m2.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("head sent"))
		FromRequest(r).Set("late", "yes")
	}))
	do(h2, "/", c)
	again, _ := m2.Load(t.Context(), c.Value)
	if v, _ := again.Get("late"); v != "yes" {
		t.Fatal("a change after the head was not saved to the server-side store")
	}
}

func TestManagerHandlerNested(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{})
	var a, b *Session
	h := m.Handler(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ = m.Get(r)
		b = FromRequest(r)
		a.Set("k", "v")
	})))
	rr := do(h, "/")
	if a != b || len(rr.Result().Cookies()) != 1 {
		t.Fatalf("nested handlers: same session %v, cookies %v", a == b, rr.Result().Cookies())
	}
}

// Scope side.

type recorder struct{ msgs []channels.Message }

func (r *recorder) Send(ctx context.Context, msg channels.Message) error {
	r.msgs = append(r.msgs, msg)
	return nil
}

func runScope(t *testing.T, app channels.Application, typ string, cookie *http.Cookie) *recorder {
	t.Helper()
	h := http.Header{}
	if cookie != nil {
		h.Set("Cookie", cookie.String())
	}
	scope := &channels.Scope{Type: typ, Path: "/ws/", Headers: h}
	mb := channels.NewMailbox(4)
	if typ == channels.ScopeWebsocket {
		_ = mb.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
		mb.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": 1000})
	} else {
		_ = mb.Inject(channels.Message{"type": channels.TypeHTTPRequest})
		mb.Close(channels.Message{"type": channels.TypeHTTPDisconnect})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := &recorder{}
	if err := app.Serve(ctx, scope, mb, rec); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return rec
}

func setCookieOf(msg channels.Message) *http.Cookie {
	hs, _ := msg["headers"].([][2]string)
	for _, h := range hs {
		if h[0] == "Set-Cookie" {
			c, err := http.ParseSetCookie(h[1])
			if err == nil {
				return c
			}
		}
	}
	return nil
}

// wsApp runs body after websocket.connect, before accept (beforeAccept) and after it.
func wsApp(beforeAccept, afterAccept func(ctx context.Context, scope *channels.Scope)) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if beforeAccept != nil {
			beforeAccept(ctx, scope)
		}
		accept := channels.Message{"type": channels.TypeWebsocketAccept, "headers": [][2]string{{"X-Test", "1"}}}
		if err := send.Send(ctx, accept); err != nil {
			return err
		}
		if len(accept["headers"].([][2]string)) != 1 {
			panic("the middleware changed the application's message")
		}
		if afterAccept != nil {
			afterAccept(ctx, scope)
		}
		_, _ = receive.Receive(ctx)
		return nil
	})
}

func TestScopeSharesHTTPSession(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			m := NewManager(store, Options{})
			c := sessionCookie(t, do(site(m), "/set?room=lobby"))
			var got string
			runScope(t, Middleware(wsApp(func(ctx context.Context, scope *channels.Scope) {
				got, _ = FromScope(scope).Get("room")
			}, nil), m), channels.ScopeWebsocket, c)
			if got != "lobby" {
				t.Fatalf("scope session room = %q", got)
			}
		})
	}
}

func TestScopeSetCookieOnAccept(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			m := NewManager(store, Options{})
			rec := runScope(t, Middleware(wsApp(func(ctx context.Context, scope *channels.Scope) {
				FromScope(scope).Set("seen", "ws")
			}, nil), m), channels.ScopeWebsocket, nil)
			c := setCookieOf(rec.msgs[0])
			if c == nil || !c.HttpOnly {
				t.Fatalf("accept headers %v: no session cookie", rec.msgs[0]["headers"])
			}
			if v := do(site(m), "/get?k=seen", c).Body.String(); v != "ws" {
				t.Fatalf("net/http side reads %q", v)
			}
		})
	}
}

func TestScopeHTTPResponse(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{})
	app := Middleware(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		FromScope(scope).Set("k", "v")
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 200})
	}), m)
	rec := runScope(t, app, channels.ScopeHTTP, nil)
	if setCookieOf(rec.msgs[0]) == nil {
		t.Fatalf("no Set-Cookie in %v", rec.msgs[0])
	}
}

func TestSaveScopeAfterAccept(t *testing.T) {
	tests := []struct {
		name    string
		store   Store
		change  func(s *Session)
		wantErr bool
	}{
		{"memory same id", NewMemoryStore(), func(s *Session) { s.Set("n", "2") }, false},
		{"memory rotated", NewMemoryStore(), func(s *Session) { s.RotateID() }, true},
		{"memory flushed", NewMemoryStore(), func(s *Session) { s.Flush() }, false},
		{"cookie changed", mustCookieStore(t, key1), func(s *Session) { s.Set("n", "2") }, true},
		{"cookie flushed", mustCookieStore(t, key1), func(s *Session) { s.Flush() }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(tt.store, Options{})
			c := sessionCookie(t, do(site(m), "/set?n=1"))
			var err error
			runScope(t, Middleware(wsApp(nil, func(ctx context.Context, scope *channels.Scope) {
				tt.change(FromScope(scope))
				err = SaveScope(ctx, scope)
			}), m), channels.ScopeWebsocket, c)
			if gotErr := errors.Is(err, ErrCookieNotDelivered); gotErr != tt.wantErr || (err != nil && !gotErr) {
				t.Fatalf("SaveScope: %v, want ErrCookieNotDelivered: %v", err, tt.wantErr)
			}
			if tt.name == "memory same id" {
				if v := do(site(m), "/get?k=n", c).Body.String(); v != "2" {
					t.Fatalf("net/http side reads %q after SaveScope", v)
				}
			}
		})
	}
}

func TestSaveScopeBeforeAcceptAndErrors(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{})
	rec := runScope(t, Middleware(wsApp(func(ctx context.Context, scope *channels.Scope) {
		FromScope(scope).Set("a", "1")
		if err := SaveScope(ctx, scope); err != nil {
			t.Errorf("SaveScope before accept: %v", err)
		}
	}, nil), m), channels.ScopeWebsocket, nil)
	if setCookieOf(rec.msgs[0]) == nil {
		t.Fatal("cookie saved before accept not sent with it")
	}
	if err := SaveScope(t.Context(), &channels.Scope{}); err == nil || !strings.Contains(err.Error(), "Middleware is missing") {
		t.Fatalf("SaveScope without middleware: %v", err)
	}
	if FromScope(&channels.Scope{}) != nil {
		t.Fatal("FromScope without middleware is not nil")
	}
	// Channel scopes pass through without a session.
	ran := false
	_ = Middleware(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		ran = FromScope(scope) == nil
		return nil
	}), m).Serve(t.Context(), &channels.Scope{Type: channels.ScopeChannel}, channels.NewMailbox(1), &recorder{})
	if !ran {
		t.Fatal("channel scope")
	}
}

func TestScopeHeadersAsStringSlices(t *testing.T) {
	m := NewManager(NewMemoryStore(), Options{})
	app := Middleware(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		FromScope(scope).Set("k", "v")
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 200, "headers": [][]string{{"X-A", "1"}}})
	}), m)
	rec := runScope(t, app, channels.ScopeHTTP, nil)
	hs, _ := rec.msgs[0]["headers"].([][2]string)
	if len(hs) != 2 || hs[0] != [2]string{"X-A", "1"} || setCookieOf(rec.msgs[0]) == nil {
		t.Fatalf("headers %v", rec.msgs[0]["headers"])
	}
}
