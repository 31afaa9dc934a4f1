package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/sessions"
)

type testUser struct {
	id, name, hash string
	staff          bool
}

func (u *testUser) ID() string            { return u.id }
func (u *testUser) Username() string      { return u.name }
func (u *testUser) IsAuthenticated() bool { return true }
func (u *testUser) IsStaff() bool         { return u.staff }
func (u *testUser) SessionHash() string   { return u.hash }

type userDB map[string]*testUser

func (db userDB) LoadUser(ctx context.Context, id string) (User, error) {
	if id == "broken" {
		return nil, errors.New("database is down")
	}
	u, ok := db[id]
	if !ok {
		return nil, ErrUserNotFound
	}
	return u, nil
}

func newDB() userDB {
	return userDB{"1": {id: "1", name: "alice", hash: "h1"}, "2": {id: "2", name: "bob", hash: "h2", staff: true}}
}

// site serves POST /login?user=ID, POST /logout and GET /me behind Handler.
func site(m *sessions.Manager, db userDB) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		u, err := db.LoadUser(r.Context(), r.URL.Query().Get("user"))
		if err != nil {
			http.Error(w, "no such user", 400)
			return
		}
		s, _ := m.Get(r)
		if err := Login(r.Context(), s, u); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s, _ := m.Get(r)
		_ = Logout(r.Context(), s)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(UserFromRequest(r).Username()))
	})
	mux.Handle("GET /staff", RequireUserHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("welcome"))
	})))
	return Handler(mux, m, db)
}

func do(h http.Handler, method, target string, c *http.Cookie) (*httptest.ResponseRecorder, *http.Cookie) {
	r := httptest.NewRequest(method, "http://example.com"+target, nil)
	if c != nil {
		r.AddCookie(c)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	for _, nc := range rr.Result().Cookies() {
		if nc.Name == sessions.DefaultCookieName {
			return rr, nc
		}
	}
	return rr, nil
}

func login(t *testing.T, h http.Handler, id string, c *http.Cookie) *http.Cookie {
	t.Helper()
	rr, nc := do(h, "POST", "/login?user="+url.QueryEscape(id), c)
	if rr.Code != 200 || nc == nil {
		t.Fatalf("login: %d %s, cookie %v", rr.Code, rr.Body, nc)
	}
	return nc
}

func managers(t *testing.T) map[string]*sessions.Manager {
	cs, err := sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*sessions.Manager{
		"memory": sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{}),
		"cookie": sessions.NewManager(cs, sessions.Options{}),
	}
}

func TestHTTPLoginLogout(t *testing.T) {
	for name, m := range managers(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB()
			h := site(m, db)
			if rr, _ := do(h, "GET", "/staff", nil); rr.Code != 403 {
				t.Fatalf("anonymous /staff: %d", rr.Code)
			}
			c := login(t, h, "1", nil)
			if rr, _ := do(h, "GET", "/me", c); rr.Body.String() != "alice" {
				t.Fatalf("/me = %q", rr.Body)
			}
			if rr, _ := do(h, "GET", "/staff", c); rr.Code != 200 {
				t.Fatalf("logged-in /staff: %d", rr.Code)
			}
			// A changed session hash (new password) ends the session.
			db["1"].hash = "h1-new"
			if rr, _ := do(h, "GET", "/me", c); rr.Body.String() != "" {
				t.Fatalf("stale hash: /me = %q", rr.Body)
			}
			db["1"].hash = "h1"
			// Logout clears the cookie.
			_, out := do(h, "POST", "/logout", c)
			if out == nil || out.MaxAge >= 0 {
				t.Fatalf("logout cookie %+v", out)
			}
			if name == "memory" {
				if rr, _ := do(h, "GET", "/me", c); rr.Body.String() != "" {
					t.Fatalf("old cookie after logout: /me = %q", rr.Body)
				}
			}
		})
	}
}

func TestLoginRotatesAndFlushes(t *testing.T) {
	ctx := t.Context()
	db := newDB()
	s := sessions.New()
	s.Set("cart", "3 items")
	id0 := s.ID()
	if err := Login(ctx, s, db["1"]); err != nil {
		t.Fatal(err)
	}
	if s.ID() == id0 {
		t.Fatal("Login kept the session ID")
	}
	if v, _ := s.Get("cart"); v != "3 items" {
		t.Fatal("Login of the first user lost the session data")
	}
	id1 := s.ID()
	if err := Login(ctx, s, db["1"]); err != nil || s.ID() == id1 {
		t.Fatal("second Login of the same user did not rotate")
	}
	if v, _ := s.Get("cart"); v != "3 items" {
		t.Fatal("Login of the same user again lost the data")
	}
	if err := Login(ctx, s, db["2"]); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("cart"); ok {
		t.Fatal("Login of another user kept the previous user's data")
	}
	if got := UserForSession(ctx, db, s); got.ID() != "2" {
		t.Fatalf("user = %q", got.ID())
	}
	for _, bad := range []User{nil, Anonymous, &anonWithID{}} {
		if err := Login(ctx, s, bad); err == nil {
			t.Errorf("Login(%v) succeeded", bad)
		}
	}
	if err := Login(ctx, nil, db["1"]); err == nil {
		t.Error("Login with a nil session succeeded")
	}
}

type anonWithID struct{ AnonymousUser }

func (anonWithID) ID() string { return "x" }

func TestUserForSessionFailures(t *testing.T) {
	ctx := t.Context()
	db := newDB()
	for _, id := range []string{"", "999", "broken"} {
		s := sessions.New()
		if id != "" {
			s.Set(SessionKey, id)
		}
		if u := UserForSession(ctx, db, s); u.IsAuthenticated() {
			t.Errorf("session user %q: got %v", id, u)
		}
	}
	if UserForSession(ctx, db, nil) != Anonymous {
		t.Error("nil session")
	}
}

// Scopes.

type recorder struct{ msgs []channels.Message }

func (r *recorder) Send(ctx context.Context, msg channels.Message) error {
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *recorder) types() []string {
	var ts []string
	for _, m := range r.msgs {
		ts = append(ts, m.Type())
	}
	return ts
}

func runScope(t *testing.T, app channels.Application, typ string, c *http.Cookie) *recorder {
	t.Helper()
	h := http.Header{}
	if c != nil {
		h.Set("Cookie", c.String())
	}
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
	if err := app.Serve(ctx, &channels.Scope{Type: typ, Path: "/ws/", Headers: h}, mb, rec); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return rec
}

// acceptor accepts (or answers 200) and reports the scope's user.
func acceptor(user *User, after func(ctx context.Context, scope *channels.Scope)) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		*user = UserFrom(scope)
		if scope.Type == channels.ScopeHTTP {
			return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 200})
		}
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
			return err
		}
		if after != nil {
			after(ctx, scope)
		}
		_, _ = receive.Receive(ctx)
		return nil
	})
}

func TestStackSharesLoginWithHTTP(t *testing.T) {
	for name, m := range managers(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB()
			c := login(t, site(m, db), "2", nil)
			var u User
			rec := runScope(t, Stack(RequireUser(acceptor(&u, nil)), m, db), channels.ScopeWebsocket, c)
			if u == nil || u.Username() != "bob" || !u.IsStaff() {
				t.Fatalf("scope user %v", u)
			}
			if !slices.Equal(rec.types(), []string{channels.TypeWebsocketAccept}) {
				t.Fatalf("sent %v", rec.types())
			}
		})
	}
}

func TestRequireUserRefuses(t *testing.T) {
	m := managers(t)["memory"]
	db := newDB()
	var u User
	rec := runScope(t, Stack(RequireUser(acceptor(&u, nil)), m, db), channels.ScopeWebsocket, nil)
	if u != nil || !slices.Equal(rec.types(), []string{channels.TypeWebsocketClose}) {
		t.Fatalf("anonymous WebSocket: app ran %v, sent %v", u != nil, rec.types())
	}
	rec = runScope(t, Stack(RequireUser(acceptor(&u, nil)), m, db), channels.ScopeHTTP, nil)
	if st, _ := rec.msgs[0].Int("status"); u != nil || st != 403 {
		t.Fatalf("anonymous HTTP: app ran %v, status %d", u != nil, st)
	}
	// A session naming a user the loader fails on is anonymous too.
	s := sessions.New()
	s.Set(SessionKey, "broken")
	rr := httptest.NewRecorder()
	_ = m.Save(rr, httptest.NewRequest("GET", "/", nil), s)
	c := rr.Result().Cookies()[0]
	runScope(t, Stack(acceptor(&u, nil), m, db), channels.ScopeWebsocket, c)
	if u.IsAuthenticated() {
		t.Fatal("loader error gave an authenticated user")
	}
}

func TestLogoutScopeOverOpenWebsocket(t *testing.T) {
	m := managers(t)["memory"]
	db := newDB()
	h := site(m, db)
	c := login(t, h, "1", nil)
	var u User
	var err error
	runScope(t, Stack(acceptor(&u, func(ctx context.Context, scope *channels.Scope) {
		err = LogoutScope(ctx, scope)
		if UserFrom(scope).IsAuthenticated() {
			t.Error("scope user still authenticated after LogoutScope")
		}
	}), m, db), channels.ScopeWebsocket, c)
	if err != nil {
		t.Fatalf("LogoutScope: %v", err)
	}
	if rr, _ := do(h, "GET", "/me", c); rr.Body.String() != "" {
		t.Fatalf("after LogoutScope the HTTP side still sees %q", rr.Body)
	}
}

func TestLoginScope(t *testing.T) {
	m := managers(t)["memory"]
	db := newDB()
	// Before accept: the new cookie goes out with the handshake response.
	app := Stack(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := LoginScope(ctx, scope, db["1"]); err != nil {
			return err
		}
		if UserFrom(scope).Username() != "alice" {
			t.Error("scope user not set by LoginScope")
		}
		return send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept})
	}), m, db)
	rec := runScope(t, app, channels.ScopeWebsocket, nil)
	hs, _ := rec.msgs[0]["headers"].([][2]string)
	if len(hs) != 1 || hs[0][0] != "Set-Cookie" {
		t.Fatalf("accept headers %v", hs)
	}
	c, err := http.ParseSetCookie(hs[0][1])
	if err != nil {
		t.Fatal(err)
	}
	if rr, _ := do(site(m, db), "GET", "/me", c); rr.Body.String() != "alice" {
		t.Fatalf("HTTP side after LoginScope: %q", rr.Body)
	}
	// After accept: the client cannot get the new ID.
	var u User
	runScope(t, Stack(acceptor(&u, func(ctx context.Context, scope *channels.Scope) {
		err = LoginScope(ctx, scope, db["2"])
	}), m, db), channels.ScopeWebsocket, nil)
	if !errors.Is(err, sessions.ErrCookieNotDelivered) {
		t.Fatalf("LoginScope after accept: %v", err)
	}
}

func TestUserFromDefaults(t *testing.T) {
	if UserFrom(&channels.Scope{}) != Anonymous {
		t.Error("UserFrom without middleware")
	}
	if UserFromRequest(httptest.NewRequest("GET", "/", nil)) != Anonymous {
		t.Error("UserFromRequest without Handler")
	}
	a := Anonymous
	if a.ID() != "" || a.Username() != "" || a.IsAuthenticated() || a.IsStaff() {
		t.Error("Anonymous")
	}
}
