package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/examples/djangocompanion/feed"
	"github.com/gochannels/gochannels/examples/internal/djangotest"
	"github.com/gochannels/gochannels/examples/internal/wstest"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// djangoSite is auth/django's test project (which logs users in with Django's own
// LoginView) running on a SQLite file, with the notify app and a channels_redis layer on
// the test's Redis (django/companion_settings.py).
type djangoSite struct {
	*djangotest.Site
	db     string // the SQLite file
	secret string
}

func startDjango(t *testing.T, layerURL string) *djangoSite {
	t.Helper()
	py := redistest.RequirePython(t, "django")
	extra, err := filepath.Abs("django")
	if err != nil {
		t.Fatal(err)
	}
	var kb [24]byte
	_, _ = rand.Read(kb[:])
	d := &djangoSite{db: filepath.Join(t.TempDir(), "db.sqlite3"), secret: "test-" + hex.EncodeToString(kb[:])}
	d.Site = djangotest.New(t, py, djangotest.Project, "DJANGO_SECRET_KEY="+d.secret, "DJANGO_SQLITE="+d.db, "CHANNEL_LAYER_URL="+layerURL,
		"DJANGO_SETTINGS_MODULE=companion_settings", "PYTHONPATH="+extra)
	d.Start("alice", "bob")
	return d
}

// dial opens the feed with the session cookie ("" for none) from a page of origin.
func dial(ctx context.Context, addr, session, origin string) (*wstest.Conn, error) {
	h := http.Header{"Origin": {origin}}
	if session != "" {
		h.Set("Cookie", "sessionid="+session)
	}
	return wstest.Dial(ctx, "ws://"+addr+feed.Path, h)
}

// TestDjangoCompanion runs the example next to a real Django site on a real Redis: users
// log in through Django's login view; the Go service accepts their cookie on its WebSocket
// (and refuses a handshake without one); a Django management command sends to a user's
// group through channels_redis and the notification arrives on that user's socket only.
func TestDjangoCompanion(t *testing.T) {
	srv := redistest.StartPrivate(t)
	d := startDjango(t, srv.URL())
	aliceSession, bobSession := d.Login("alice"), d.Login("bob")

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
	origin := d.Base // the socket is opened by a page of the Django site

	if s, err := dial(ctx, addr, "", origin); err == nil {
		s.Close()
		t.Fatal("a handshake without a session cookie was accepted")
	} else if se, ok := errors.AsType[ws.StatusError](err); !ok || int(se) != http.StatusForbidden {
		t.Fatalf("handshake without a cookie: %v, want 403", err)
	}
	if s, err := dial(ctx, addr, aliceSession, "http://evil.example"); err == nil {
		s.Close()
		t.Fatal("a foreign origin was accepted")
	}

	alice, err := dial(ctx, addr, aliceSession, origin)
	if err != nil {
		t.Fatalf("alice's handshake: %v", err)
	}
	defer alice.Close()
	bob, err := dial(ctx, addr, bobSession, origin)
	if err != nil {
		t.Fatalf("bob's handshake: %v", err)
	}
	defer bob.Close()
	// The greeting comes after the socket joined its group: from here on Django reaches it.
	for _, c := range []struct {
		s    *wstest.Conn
		user string
	}{{alice, "alice"}, {bob, "bob"}} {
		if m := c.s.ReadJSON(t); m["type"] != "hello" || m["user"] != c.user {
			t.Fatalf("%s's greeting: %v", c.user, m)
		}
	}

	d.Manage("notify", "alice", "for alice, from Django")
	d.Manage("notify", "bob", "for bob, from Django")
	if m := alice.ReadJSON(t); m["type"] != feed.MessageType || m["event"].(map[string]any)["text"] != "for alice, from Django" {
		t.Fatalf("alice got %v", m)
	}
	// Bob's first notification is his own: alice's never reached him.
	if m := bob.ReadJSON(t); m["type"] != feed.MessageType || m["event"].(map[string]any)["text"] != "for bob, from Django" {
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
