package multichat

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// noFollow returns b's client (same cookie jar) that stops at the first response.
func (b *browserish) noFollow() *http.Client {
	c := *b.c
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// get fetches path with b's cookies, not following redirects: status, Location and body.
func (b *browserish) get(path string) (status int, location, body string) {
	b.t.Helper()
	resp, err := b.noFollow().Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

// formFlash posts a form as the page does and checks post/redirect/get: the POST answers 303;
// it returns where to, and the page that GET then shows.
func (b *browserish) formFlash(path string, form url.Values) (location, page string) {
	b.t.Helper()
	if b.cookie("csrftoken") == "" {
		b.get("/")
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRFToken", b.cookie("csrftoken"))
	resp, err := b.noFollow().Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST %s: status %d, want 303 (post/redirect/get)", path, resp.StatusCode)
	}
	location = resp.Header.Get("Location")
	st, _, page := b.get(location)
	if st != http.StatusOK {
		b.t.Fatalf("GET %s after POST %s: status %d", location, path, st)
	}
	return location, page
}

// TestFormsPostRedirectGet: every failed form ends in a redirect to the page, which shows the
// message once, for the form that failed (Form), keeping the typed username; reloading the page
// or the form's URL never gives 405.
func TestFormsPostRedirectGet(t *testing.T) {
	p := startProcess(t, "memory://", filepath.Join(t.TempDir(), "multichat.db"))
	alice := newBrowserish(t, p.base)
	alice.signup("alice") // staff
	alice.post("/logout", nil)

	b := newBrowserish(t, p.base)
	cases := []struct {
		path, form, msg string
		values          url.Values
	}{
		{"/login", formLogin, "Wrong username or password.", url.Values{"username": {"alice"}, "password": {"nope-nope"}}},
		{"/signup", formSignup, "That username is taken.", url.Values{"username": {"ALICE"}, "password": {"password-1"}, "password2": {"password-1"}}},
		{"/signup", formSignup, "The two passwords differ.", url.Values{"username": {"carol"}, "password": {"password-1"}, "password2": {"password-2"}}},
		{"/signup", formSignup, "A password has 8 to 72 characters (accented letters and emoji count as 2 to 4).", url.Values{"username": {"carol"}, "password": {"short"}, "password2": {"short"}}},
		{"/signup", formSignup, "A username may hold only letters, digits, dots, dashes and underscores.", url.Values{"username": {"ca rol"}, "password": {"password-1"}, "password2": {"password-1"}}},
	}
	for _, c := range cases {
		loc, page := b.formFlash(c.path, c.values)
		if loc != "/" {
			t.Errorf("%s: redirected to %q, want /", c.path, loc)
		}
		if !strings.Contains(page, c.msg) {
			t.Errorf("%s: the page does not show %q", c.path, c.msg)
		}
		// The message sits inside the form that failed, and only there.
		if !regexp.MustCompile(`(?s)<form[^>]*id="`+c.form+`".*?id="`+c.form+`-error"[^>]*>`+regexp.QuoteMeta(c.msg)+`.*?</form>`).MatchString(page) ||
			strings.Count(page, c.msg) != 1 {
			t.Errorf("%s: the message %q is not shown once, inside the %s form", c.path, c.msg, c.form)
		}
		if strings.Contains(page, "..") {
			t.Errorf("%s: a double period on the page", c.path)
		}
		// The flash is one-shot: reloading the page shows no message any more.
		if _, _, again := b.get("/"); strings.Contains(again, c.msg) {
			t.Errorf("%s: the message %q is still there after a reload", c.path, c.msg)
		}
	}
	// The typed username comes back in the form that failed, not the other one.
	_, page := b.formFlash("/login", url.Values{"username": {"someone"}, "password": {"password-1"}})
	if !regexp.MustCompile(`id="login-username"[^>]*value="someone"`).MatchString(page) ||
		regexp.MustCompile(`id="signup-username"[^>]*value="someone"`).MatchString(page) {
		t.Error("the typed username is not kept in the log-in form only")
	}

	// Reload or Enter on a form's URL: a redirect to the page, never 405.
	for _, path := range []string{"/login", "/signup", "/rooms", "/logout"} {
		if st, loc, _ := b.get(path); st != http.StatusSeeOther || loc != "/" {
			t.Errorf("GET %s: status %d to %q, want 303 to /", path, st, loc)
		}
	}
	// Any other method: the site's own 405 page.
	req, _ := http.NewRequest(http.MethodPut, p.base+"/login", nil)
	req.Header.Set("X-CSRFToken", b.cookie("csrftoken"))
	resp, err := b.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" || !strings.Contains(string(body), "/static/style.css") {
		t.Errorf("PUT /login: status %d, Allow %q; want the site's 405 page", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestRoomFormFlash: a refused room title comes back as a one-shot message for the room form;
// a created room sends its creator into it (/?room=<id>) with no message left behind.
func TestRoomFormFlash(t *testing.T) {
	p := startProcess(t, "memory://", filepath.Join(t.TempDir(), "multichat.db"))
	alice := newBrowserish(t, p.base)
	alice.signup("alice")

	for _, c := range []struct{ title, msg string }{
		{"   ", "A room title has 1 to 60 characters."},
		{"lobby", "A room with that title exists already (titles are compared ignoring case)."},
	} {
		loc, page := alice.formFlash("/rooms", url.Values{"title": {c.title}})
		if loc != "/" || !strings.Contains(page, c.msg) {
			t.Errorf("title %q: redirected to %q; want / and the page saying %q", c.title, loc, c.msg)
		}
		if !regexp.MustCompile(`(?s)<form[^>]*action="/rooms".*?id="rooms-error"[^>]*>`+regexp.QuoteMeta(c.msg)+`.*?</form>`).MatchString(page) ||
			strings.Count(page, c.msg) != 1 {
			t.Errorf("title %q: the message is not shown once, inside the room form", c.title)
		}
		if strings.Contains(page, "multichat:") || strings.Contains(page, "create room") {
			t.Errorf("title %q: internal wording reaches the page", c.title)
		}
		if _, _, again := alice.get("/"); strings.Contains(again, c.msg) {
			t.Errorf("title %q: the message is still shown after a reload", c.title)
		}
	}
	loc, page := alice.formFlash("/rooms", url.Values{"title": {"Go fans"}})
	rooms, err := p.app.store.Rooms(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	last := rooms[len(rooms)-1]
	if last.Title != "Go fans" || loc != "/?room="+last.StringID() {
		t.Errorf("created room: redirected to %q, last room %+v", loc, last)
	}
	if strings.Contains(page, `class="error`) {
		t.Error("a banner is shown after creating a room")
	}
}

// TestErrorPages: 404 and 403 are HTML pages in the site's style, not net/http's plain text.
func TestErrorPages(t *testing.T) {
	p := startProcess(t, "memory://", filepath.Join(t.TempDir(), "multichat.db"))
	anon := newBrowserish(t, p.base)
	for _, path := range []string{"/no/such/page", "/static/nothing.css", "/static/index.html"} {
		st, _, body := anon.get(path)
		if st != http.StatusNotFound || !strings.Contains(body, `<link rel="stylesheet" href="/static/style.css">`) || !strings.Contains(body, "Page not found") {
			t.Errorf("GET %s: status %d, body %.120q; want the site's 404 page", path, st, body)
		}
	}

	alice := newBrowserish(t, p.base)
	alice.signup("alice")
	bob := newBrowserish(t, p.base)
	bob.signup("bob")
	bob.get("/")
	req, _ := http.NewRequest(http.MethodPost, p.base+"/rooms", strings.NewReader("title=Mine"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRFToken", bob.cookie("csrftoken"))
	resp, err := bob.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Only staff can create rooms.") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("non-staff room creation: status %d, body %.120q; want the site's 403 page", resp.StatusCode, body)
	}

	// A form without its CSRF token: the site's 403 page too.
	resp, err = http.PostForm(p.base+"/login", url.Values{"username": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Form expired") {
		t.Errorf("forged form: status %d, body %.120q; want the site's 403 page", resp.StatusCode, body)
	}
}
