package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/examples/djangocompanion/feed"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// djangoProject is the existing Django project of the example: auth/django's test project,
// which logs users in with Django's own LoginView.
const djangoProject = "../../auth/django/testdata/djangosite"

// djangoSite is that project running on a SQLite file, with the notify app and a
// channels_redis layer on the test's Redis (django/companion_settings.py).
type djangoSite struct {
	t      *testing.T
	py     string
	dir    string
	env    []string
	db     string // the SQLite file
	base   string // http://127.0.0.1:port
	secret string
}

func startDjango(t *testing.T, layerURL string) *djangoSite {
	t.Helper()
	py := redistest.RequirePython(t, "django")
	dir, err := filepath.Abs(djangoProject)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := filepath.Abs("django")
	if err != nil {
		t.Fatal(err)
	}
	var kb [24]byte
	_, _ = rand.Read(kb[:])
	d := &djangoSite{t: t, py: py, dir: dir, db: filepath.Join(t.TempDir(), "db.sqlite3"), secret: "test-" + hex.EncodeToString(kb[:])}
	d.env = append(os.Environ(), "DJANGO_SECRET_KEY="+d.secret, "DJANGO_SQLITE="+d.db, "CHANNEL_LAYER_URL="+layerURL,
		"DJANGO_SETTINGS_MODULE=companion_settings", "PYTHONPATH="+extra, "PYTHONDONTWRITEBYTECODE=1")
	d.manage("migrate", "--noinput")
	d.manage("shell", "-c", `from django.contrib.auth.models import User
for name in ("alice", "bob"):
    User.objects.create_user(name, "", "pw-" + name)`)
	d.runserver()
	return d
}

// manage runs manage.py with args and fails the test on an error.
func (d *djangoSite) manage(args ...string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.py, append([]string{"manage.py"}, args...)...)
	cmd.Dir, cmd.Env = d.dir, d.env
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("manage.py %s: %v\n%s", args[0], err, out)
	}
}

// runserver starts Django's development server on a free port and waits until it answers.
func (d *djangoSite) runserver() {
	t := d.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(d.py, "manage.py", "runserver", "--noreload", addr)
	cmd.Dir, cmd.Env = d.dir, d.env
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
	d.base = "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(d.base + "/whoami/")
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

var csrfInput = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// login logs user in through Django's LoginView and returns the session cookie.
func (d *djangoSite) login(user string) string {
	t := d.t
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(d.base + "/login/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the login page:\n%s", page)
	}
	resp, err = c.PostForm(d.base+"/login/", url.Values{"username": {user}, "password": {"pw-" + user}, "csrfmiddlewaretoken": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login %s: status %d", user, resp.StatusCode)
	}
	u, _ := url.Parse(d.base)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "sessionid" {
			return ck.Value
		}
	}
	t.Fatalf("login %s: no session cookie", user)
	return ""
}

// socket is a client of the Go feed.
type socket struct {
	conn net.Conn
	r    io.Reader
}

// dial opens the feed with the session cookie ("" for none) from a page of the Django site.
func dial(ctx context.Context, addr, session, origin string) (*socket, error) {
	h := http.Header{"Origin": {origin}}
	if session != "" {
		h.Set("Cookie", "sessionid="+session)
	}
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h)}
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+feed.Path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = conn
	if br != nil {
		r = bufio.NewReader(io.MultiReader(br, conn))
	}
	return &socket{conn: conn, r: r}, nil
}

// next reads the next frame as JSON.
func (s *socket) next(t *testing.T) map[string]any {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{s.r, s.conn})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return m
}

// TestDjangoCompanion runs the example next to a real Django site on a real Redis: users
// log in through Django's login view; the Go service accepts their cookie on its WebSocket
// (and refuses a handshake without one); a Django management command sends to a user's
// group through channels_redis and the notification arrives on that user's socket only.
func TestDjangoCompanion(t *testing.T) {
	srv := redistest.StartPrivate(t)
	d := startDjango(t, srv.URL())
	aliceSession, bobSession := d.login("alice"), d.login("bob")

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var logs logbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	getenv := func(k string) string {
		if k == EnvSecretKey {
			return d.secret
		}
		return ""
	}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-addr", "127.0.0.1:0", "-db", d.db, "-layer", srv.URL()}, getenv, logger, ready)
	}()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	origin := d.base // the socket is opened by a page of the Django site

	if s, err := dial(ctx, addr, "", origin); err == nil {
		s.conn.Close()
		t.Fatal("a handshake without a session cookie was accepted")
	} else if se, ok := errors.AsType[ws.StatusError](err); !ok || int(se) != http.StatusForbidden {
		t.Fatalf("handshake without a cookie: %v, want 403", err)
	}
	if s, err := dial(ctx, addr, aliceSession, "http://evil.example"); err == nil {
		s.conn.Close()
		t.Fatal("a foreign origin was accepted")
	}

	alice, err := dial(ctx, addr, aliceSession, origin)
	if err != nil {
		t.Fatalf("alice's handshake: %v", err)
	}
	defer alice.conn.Close()
	bob, err := dial(ctx, addr, bobSession, origin)
	if err != nil {
		t.Fatalf("bob's handshake: %v", err)
	}
	defer bob.conn.Close()
	// The greeting comes after the socket joined its group: from here on Django reaches it.
	for _, c := range []struct {
		s    *socket
		user string
	}{{alice, "alice"}, {bob, "bob"}} {
		if m := c.s.next(t); m["type"] != "hello" || m["user"] != c.user {
			t.Fatalf("%s's greeting: %v", c.user, m)
		}
	}

	d.manage("notify", "alice", "for alice, from Django")
	d.manage("notify", "bob", "for bob, from Django")
	if m := alice.next(t); m["type"] != feed.MessageType || m["event"].(map[string]any)["text"] != "for alice, from Django" {
		t.Fatalf("alice got %v", m)
	}
	// Bob's first notification is his own: alice's never reached him.
	if m := bob.next(t); m["type"] != feed.MessageType || m["event"].(map[string]any)["text"] != "for bob, from Django" {
		t.Fatalf("bob got %v", m)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(logs.String(), d.secret) {
		t.Fatal("the SECRET_KEY was logged")
	}
}

// TestMissingSecretKey: without $DJANGO_SECRET_KEY the service refuses to start, saying so.
func TestMissingSecretKey(t *testing.T) {
	err := run(t.Context(), []string{"-db", "x.sqlite3"}, func(string) string { return "" }, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), EnvSecretKey) {
		t.Fatalf("run: %v, want an error naming %s", err, EnvSecretKey)
	}
}
