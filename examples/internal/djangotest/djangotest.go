// Package djangotest runs a real Django project for the tests of the examples module: its
// manage.py commands, its development server on a free loopback port, and clients that log
// in through Django's own login form.
//
// The project is auth/django's test project (Project), which has /login/, /logout/,
// /expire/ and /whoami/ views; settings come from the environment given to New.
package djangotest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/logbuf"
)

// Project is the path of auth/django's test project from a package directory of the
// examples module (examples/<name>).
const Project = "../../auth/django/testdata/djangosite"

// Site is a Django project run by one test.
type Site struct {
	// Base is the development server's http://127.0.0.1:port, once Runserver returned.
	Base string

	t   *testing.T
	py  string
	dir string
	env []string
}

// New returns the Django project at dir (relative to the test's directory), run with the
// Python interpreter py and env added to this process's environment.
func New(t *testing.T, py, dir string, env ...string) *Site {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	env = append(append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), env...)
	return &Site{t: t, py: py, dir: abs, env: env}
}

// Start migrates the database, creates users (each with the password "pw-" + name, see
// Login) and starts the development server.
func (s *Site) Start(users ...string) {
	s.t.Helper()
	s.Manage("migrate", "--noinput")
	if len(users) > 0 {
		names, _ := json.Marshal(users)
		s.Shell("from django.contrib.auth.models import User\nfor name in " + string(names) + ":\n    User.objects.create_user(name, \"\", \"pw-\" + name)")
	}
	s.Runserver()
}

// Manage runs manage.py with args and fails the test on an error.
func (s *Site) Manage(args ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.py, append([]string{"manage.py"}, args...)...)
	cmd.Dir, cmd.Env = s.dir, s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("manage.py %s: %v\n%s", args[0], err, out)
	}
}

// Shell runs Python code in the project (manage.py shell -c).
func (s *Site) Shell(code string) { s.t.Helper(); s.Manage("shell", "-c", code) }

// Runserver starts Django's development server on a free loopback port, waits until it
// answers /whoami/ and sets Base. The server is killed when the test ends; its output is
// logged if the test failed.
func (s *Site) Runserver() {
	t := s.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(s.py, "manage.py", "runserver", "--noreload", addr)
	cmd.Dir, cmd.Env = s.dir, s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("Django runserver output:\n%s", logs.String())
		}
	})
	s.Base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := quickClient.Get(s.Base + "/whoami/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("Django runserver exited:\n%s", logs.String())
		case <-time.After(100 * time.Millisecond): // polling for the server to listen, bounded
		}
		if time.Now().After(deadline) {
			t.Fatalf("Django runserver did not answer on %s:\n%s", addr, logs.String())
		}
	}
}

// quickClient asks Django without a cookie jar, each request bounded in time.
var quickClient = &http.Client{Timeout: 30 * time.Second}

// Whoami asks Django who the session cookie is ("" for anonymous).
func (s *Site) Whoami(session string) string {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.Base+"/whoami/", nil)
	req.AddCookie(&http.Cookie{Name: "sessionid", Value: session})
	resp, err := quickClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Username string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		s.t.Fatal(err)
	}
	return v.Username
}

// Login logs user in through Django's LoginView with the password Start gave them, in a
// browser of its own, and returns the session cookie.
func (s *Site) Login(user string) string {
	s.t.Helper()
	return s.Browser().Login(user, "pw-"+user)
}

var csrfInput = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// Browser is a client of the Django site with its own cookie jar; it does not follow
// redirects.
type Browser struct {
	s   *Site
	c   *http.Client
	url *url.URL
}

// Browser returns a new client of the site, with no cookies yet.
func (s *Site) Browser() *Browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(s.Base)
	return &Browser{s: s, url: u, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Cookie returns the value of the browser's cookie name for the site, "" if it has none.
func (b *Browser) Cookie(name string) string {
	for _, c := range b.c.Jar.Cookies(b.url) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Login logs in through Django's LoginView (GET the form for its CSRF token, POST it) and
// returns the session cookie; anything but the redirect of a successful login fails the
// test.
func (b *Browser) Login(user, password string) string {
	t := b.s.t
	t.Helper()
	resp, err := b.c.Get(b.s.Base + "/login/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the login page:\n%s", page)
	}
	resp, err = b.c.PostForm(b.s.Base+"/login/", url.Values{"username": {user}, "password": {password}, "csrfmiddlewaretoken": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login %s: %d\n%s", user, resp.StatusCode, body)
	}
	sid := b.Cookie("sessionid")
	if sid == "" {
		t.Fatalf("login %s: no session cookie", user)
	}
	return sid
}

// Post posts to a view of the site with the CSRF token and fails the test on a status of
// 400 or more.
func (b *Browser) Post(path string) {
	t := b.s.t
	t.Helper()
	req, _ := http.NewRequest("POST", b.s.Base+path, nil)
	req.Header.Set("X-CSRFToken", b.Cookie("csrftoken"))
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("POST %s: %d\n%s", path, resp.StatusCode, body)
	}
}
