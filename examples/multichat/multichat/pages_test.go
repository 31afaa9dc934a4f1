package multichat

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestPagesAccountsAndCSRF(t *testing.T) {
	p := startProcess(t, "memory://", filepath.Join(t.TempDir(), "multichat.db"))

	// A form post without the CSRF token is refused and creates nothing.
	resp, err := http.PostForm(p.base+"/signup", url.Values{"username": {"mallory"}, "password": {"password1"}, "password2": {"password1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("signup without CSRF token: status %d, want 403", resp.StatusCode)
	}
	if _, err := p.app.store.Authenticate(t.Context(), "mallory", "password1"); err == nil {
		t.Error("the forged sign-up created an account")
	}

	// The page carries the token in every form.
	b := newBrowserish(t, p.base)
	resp, err = b.c.Get(p.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(body), `name="csrfmiddlewaretoken"`); n != 2 {
		t.Errorf("login page has %d CSRF fields, want 2", n)
	}

	b.signup("alice") // first account: staff
	bob := newBrowserish(t, p.base)
	bob.signup("bob")

	if st := bob.post("/rooms", url.Values{"title": {"Bob's room"}}); st != http.StatusForbidden {
		t.Errorf("non-staff room creation: status %d, want 403", st)
	}
	if st := b.post("/rooms", url.Values{"title": {"Secret <room>"}, "staff_only": {"on"}}); st != http.StatusOK {
		t.Errorf("staff room creation: status %d", st)
	}
	titles := func(c *browserish) string {
		resp, err := c.c.Get(p.base + "/rooms.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Rooms []roomJSON `json:"rooms"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range out.Rooms {
			s = append(s, r.Title)
		}
		return strings.Join(s, ",")
	}
	if got := titles(b); got != "Lobby,Random,Staff only,Secret <room>" {
		t.Errorf("staff sees rooms %q", got)
	}
	if got := titles(bob); got != "Lobby,Random" {
		t.Errorf("non-staff sees rooms %q", got)
	}

	// Log out, then a wrong password, then the right one.
	if st := bob.post("/logout", nil); st != http.StatusOK {
		t.Errorf("logout: status %d", st)
	}
	resp, err = bob.c.Get(p.base + "/rooms.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("rooms.json after logout: status %d, want 403", resp.StatusCode)
	}
	if loc, page := bob.formFlash("/login", url.Values{"username": {"bob"}, "password": {"wrong-password"}}); loc != "/" || !strings.Contains(page, "Wrong username or password.") {
		t.Errorf("wrong password: redirected to %q, page without the message", loc)
	}
	if st := bob.post("/login", url.Values{"username": {"bob"}, "password": {"password-bob"}}); st != http.StatusOK {
		t.Errorf("login: status %d", st)
	}
	if got := titles(bob); got != "Lobby,Random" {
		t.Errorf("after login bob sees rooms %q", got)
	}
	if _, page := bob.formFlash("/signup", url.Values{"username": {"BOB"}, "password": {"password-x"}, "password2": {"password-x"}}); !strings.Contains(page, "That username is taken.<") {
		t.Errorf("duplicate username (other case): the page does not say \"That username is taken.\"")
	}
}

func TestStaffFlag(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "multichat.db")
	a := newTestApp(t, memoryLayer(t), dbPath)
	mustUser(t, a, "alice")
	bob := mustUser(t, a, "bob")
	if bob.Staff {
		t.Fatal("the second account is staff")
	}
	a.Close()
	a2, err := New(t.Context(), Config{DBPath: dbPath, Layer: memoryLayer(t), Staff: "bob", BcryptCost: 4, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	u, err := a2.store.Authenticate(t.Context(), "bob", "password-bob")
	if err != nil || !u.Staff {
		t.Fatalf("bob after -staff bob: %+v, %v", u, err)
	}
	// The secret key is kept in the database: both Apps sign cookies alike.
	k1, _ := a2.store.SecretKey(t.Context())
	k2, _ := a2.store.SecretKey(t.Context())
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Error("the stored secret key changes")
	}
}
