// Package storetest checks that a server-side sessions.Store keeps the Store contract:
// round trips, unknown and malformed IDs, expiry, rotation (the old ID deleted) and
// deletion. The stores' own tests run it against a real Redis or a real database.
package storetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/sessions"
)

// Run checks st. Each store under test should be empty of the IDs it makes (they are
// random).
func Run(t *testing.T, st sessions.Store) {
	t.Helper()
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)

	mustLoad := func(t *testing.T, id string) *sessions.Session {
		t.Helper()
		s, err := st.Load(ctx, id)
		if err != nil {
			t.Fatalf("Load(%q): %v", id, err)
		}
		return s
	}
	mustSave := func(t *testing.T, s *sessions.Session) string {
		t.Helper()
		v, err := st.Save(ctx, s)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		if v != s.ID() {
			t.Fatalf("Save returned %q, want the ID %q", v, s.ID())
		}
		return v
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s := sessions.Restore(sessions.NewID(), map[string]string{"user": "42", "odd": "a\x00b ü \"q\""}, exp)
		v := mustSave(t, s)
		s.Set("user", "changed after save")
		got := mustLoad(t, v)
		if got.IsNew() || got.ID() != v || got.Modified() {
			t.Fatalf("loaded: new %v, same ID %v, modified %v", got.IsNew(), got.ID() == v, got.Modified())
		}
		if u, _ := got.Get("user"); u != "42" {
			t.Fatalf("user = %q", u)
		}
		if o, _ := got.Get("odd"); o != "a\x00b ü \"q\"" {
			t.Fatalf("odd = %q", o)
		}
		if !got.Expires().Equal(exp) {
			t.Fatalf("expires %v, want %v", got.Expires(), exp)
		}
		// Saving again replaces the data.
		got.Set("user", "43")
		mustSave(t, got)
		if u, _ := mustLoad(t, v).Get("user"); u != "43" {
			t.Fatalf("after a second save user = %q", u)
		}
	})

	t.Run("UnknownAndMalformed", func(t *testing.T) {
		for _, bad := range []string{"", "x", sessions.NewID(), strings.Repeat("!", 43), sessions.NewID() + "x", "' OR 1=1 --", "*"} {
			got := mustLoad(t, bad)
			if !got.IsNew() || got.ID() == bad || got.Len() != 0 {
				t.Errorf("Load(%q): new %v, kept the ID %v, %d keys", bad, got.IsNew(), got.ID() == bad, got.Len())
			}
		}
	})

	t.Run("Expired", func(t *testing.T) {
		s := sessions.Restore(sessions.NewID(), map[string]string{"a": "1"}, time.Now().Add(-time.Second))
		v := mustSave(t, s)
		if got := mustLoad(t, v); !got.IsNew() {
			t.Fatal("a session saved with a past expiry loaded")
		}
		// A live session saved again with a past expiry is gone.
		live := sessions.Restore(sessions.NewID(), map[string]string{"a": "1"}, exp)
		lv := mustSave(t, live)
		mustSave(t, sessions.Restore(lv, map[string]string{"a": "1"}, time.Now().Add(-time.Second)))
		if got := mustLoad(t, lv); !got.IsNew() {
			t.Fatal("a session re-saved with a past expiry still loads")
		}
	})

	t.Run("RotateDeletesOldID", func(t *testing.T) {
		s := sessions.Restore(sessions.NewID(), map[string]string{"cart": "3"}, exp)
		old := mustSave(t, s)
		loaded := mustLoad(t, old)
		loaded.RotateID()
		loaded.Set("_auth_user_id", "7")
		if loaded.PreviousID() != old {
			t.Fatalf("PreviousID = %q", loaded.PreviousID())
		}
		nv := mustSave(t, loaded)
		if nv == old {
			t.Fatal("rotation kept the ID")
		}
		if got := mustLoad(t, old); !got.IsNew() {
			t.Fatal("the old ID still loads after rotation")
		}
		got := mustLoad(t, nv)
		if c, _ := got.Get("cart"); c != "3" || got.IsNew() {
			t.Fatal("the rotated session lost its data")
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := sessions.Restore(sessions.NewID(), map[string]string{"a": "1"}, exp)
		v := mustSave(t, s)
		// Deleting after a rotation removes both IDs.
		loaded := mustLoad(t, v)
		loaded.Flush()
		if err := st.Delete(ctx, loaded); err != nil {
			t.Fatal(err)
		}
		if got := mustLoad(t, v); !got.IsNew() {
			t.Fatal("deleted session loads")
		}
		if err := st.Delete(ctx, sessions.New()); err != nil {
			t.Fatalf("deleting a session that is not stored: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				s := sessions.Restore(sessions.NewID(), map[string]string{"i": fmt.Sprint(i)}, exp)
				for range 5 {
					if _, err := st.Save(ctx, s); err != nil {
						errs <- err
						return
					}
					got, err := st.Load(ctx, s.ID())
					if err != nil {
						errs <- err
						return
					}
					if v, _ := got.Get("i"); v != fmt.Sprint(i) {
						errs <- fmt.Errorf("session %d loaded %q", i, v)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Manager checks a Manager on st the way a site uses it over HTTP: a visitor's session,
// login (auth.Login: a new ID, the old one deleted from the store), logout (auth.Logout:
// the session deleted, the cookie cleared).
func Manager(t *testing.T, st sessions.Store) {
	t.Helper()
	m := sessions.NewManager(st, sessions.Options{MaxAge: time.Hour})
	mux := http.NewServeMux()
	mux.HandleFunc("/visit", func(w http.ResponseWriter, r *http.Request) {
		sessions.FromRequest(r).Set("cart", "3")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := auth.Login(r.Context(), sessions.FromRequest(r), loginUser{}); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		_ = auth.Logout(r.Context(), sessions.FromRequest(r))
	})
	h := m.Handler(mux)
	do := func(path string, c *http.Cookie) *http.Cookie {
		t.Helper()
		r := httptest.NewRequest("POST", "http://example.com"+path, nil)
		if c != nil {
			r.AddCookie(c)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, r)
		if rr.Code != 200 {
			t.Fatalf("%s: %d %s", path, rr.Code, rr.Body)
		}
		for _, nc := range rr.Result().Cookies() {
			if nc.Name == sessions.DefaultCookieName {
				return nc
			}
		}
		return nil
	}
	load := func(v string) *sessions.Session {
		t.Helper()
		s, err := st.Load(t.Context(), v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c0 := do("/visit", nil)
	if c0 == nil || load(c0.Value).IsNew() {
		t.Fatal("the visitor's session was not stored")
	}
	c1 := do("/login", c0)
	if c1 == nil || c1.Value == c0.Value {
		t.Fatalf("login did not give a new session ID: %v", c1)
	}
	if !load(c0.Value).IsNew() {
		t.Fatal("the pre-login session ID still loads after login")
	}
	s := load(c1.Value)
	if u, _ := s.Get(auth.SessionKey); u != "1" || s.IsNew() {
		t.Fatalf("after login the store holds user %q", u)
	}
	if cart, _ := s.Get("cart"); cart != "3" {
		t.Fatal("login lost the visitor's data")
	}
	c2 := do("/logout", c1)
	if c2 == nil || c2.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %v", c2)
	}
	if !load(c1.Value).IsNew() {
		t.Fatal("the session still loads after logout")
	}
}

type loginUser struct{}

func (loginUser) ID() string            { return "1" }
func (loginUser) Username() string      { return "alice" }
func (loginUser) IsAuthenticated() bool { return true }
func (loginUser) IsStaff() bool         { return false }
