package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/auth/django"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/internal/djangotest"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/sessions"
)

// djangoSite is a running Django test project and a Go WebSocket server that authenticates
// its users with auth/django.
type djangoSite struct {
	*djangotest.Site
	t      *testing.T
	wsURL  string // the Go server's ws:// URL
	gosite *django.Site
	cfg    django.Config
}

type djangoSetup struct {
	engine   string
	postgres bool
	redis    bool
	sha1     bool // DEFAULT_HASHING_ALGORITHM = "sha1" (Django 3.1, 3.2): Config.HashingAlgorithm "sha1", which implies Legacy
}

func startDjango(t *testing.T, setup djangoSetup) *djangoSite {
	t.Helper()
	py := redistest.RequirePython(t, "django_redis", "psycopg2")
	var kb [24]byte
	_, _ = rand.Read(kb[:])
	secret := "test-" + hex.EncodeToString(kb[:])
	env := []string{"DJANGO_SECRET_KEY=" + secret, "DJANGO_SESSION_ENGINE=" + setup.engine}
	cfg := django.Config{SecretKey: secret, SessionEngine: setup.engine}
	if setup.sha1 {
		env = append(env, "DJANGO_HASHING_ALGORITHM=sha1")
		cfg.HashingAlgorithm = "sha1"
	}
	if setup.postgres {
		pg := newPostgres(t)
		u, _ := url.Parse(pg.URL)
		env = append(env, "DJANGO_PG_NAME="+pg.Name, "DJANGO_PG_HOST="+u.Hostname(), "DJANGO_PG_PORT="+u.Port(), "DJANGO_PG_USER="+u.User.Username())
		cfg.DB, cfg.Dialect = pg.DB, sessions.PostgreSQL
	} else {
		db, path := newSQLite(t)
		env = append(env, "DJANGO_SQLITE="+path)
		cfg.DB, cfg.Dialect = db, sessions.SQLite
	}
	if setup.redis {
		srv := redistest.StartPrivate(t)
		env = append(env, "DJANGO_REDIS_URL="+srv.URL(), "DJANGO_CACHE_PREFIX=gct")
		cfg.Redis, cfg.CacheKeyPrefix = srv.Client(), "gct"
	}
	d := &djangoSite{Site: djangotest.New(t, py, djangotest.Project, env...), t: t, cfg: cfg}
	d.Start("alice", "bob", "carol")

	gs, err := django.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.gosite = gs
	// The Go server: Django's users only; it greets them by name.
	hello := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return nil
			}
			switch msg.Type() {
			case channels.TypeWebsocketConnect:
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
					return err
				}
				u := auth.UserFrom(scope)
				if err := channels.SendText(ctx, send, u.Username()+" staff="+strconv.FormatBool(u.IsStaff())); err != nil {
					return err
				}
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	})
	d.wsURL = "ws://" + channelstest.Serve(t, &channels.Server{Application: gs.Middleware(auth.RequireUser(hello))}) + "/ws/"
	return d
}

// goWebsocket opens a WebSocket to the Go server with the session cookie: the greeting,
// or the HTTP status that refused the handshake.
func (d *djangoSite) goWebsocket(session string) (greeting string, status int) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 15*time.Second)
	defer cancel()
	dialer := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {"sessionid=" + session}})}
	conn, br, _, err := dialer.Dial(ctx, d.wsURL)
	var se ws.StatusError
	if errors.As(err, &se) {
		return "", int(se)
	}
	if err != nil {
		d.t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The greeting may have come with the handshake response, into br.
	var rw io.ReadWriter = conn
	if br != nil {
		rw = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, conn), conn}
	}
	text, err := wsutil.ReadServerText(rw)
	if err != nil {
		d.t.Fatalf("read greeting (cookie %q): %v", session, err)
	}
	return string(text), 101
}

// accepted fails the test unless both Django and the Go server see user on session.
func (d *djangoSite) accepted(what, session, user string) {
	d.t.Helper()
	if got := d.Whoami(session); got != user {
		d.t.Fatalf("%s: Django sees %q, want %q", what, got, user)
	}
	if greeting, status := d.goWebsocket(session); status != 101 || !strings.HasPrefix(greeting, user+" ") {
		d.t.Fatalf("%s: the Go server answered %d %q, want %s's greeting", what, status, greeting, user)
	}
}

// refused fails the test unless the Go server refuses session (Authenticate with want, the
// handshake with 403) and Django sees an anonymous client too. Go asks first: Django
// flushes a session whose auth hash is stale when it sees it.
func (d *djangoSite) refused(what, session string, want error) {
	d.t.Helper()
	if _, err := d.gosite.Authenticate(d.t.Context(), session); !errors.Is(err, want) {
		d.t.Fatalf("%s: Authenticate = %v, want %v", what, err, want)
	}
	if greeting, status := d.goWebsocket(session); status != http.StatusForbidden {
		d.t.Fatalf("%s: the Go server answered %d %q, want 403", what, status, greeting)
	}
	if got := d.Whoami(session); got != "" {
		d.t.Fatalf("%s: Django still sees %q", what, got)
	}
}

// runDjangoScenario logs users in through Django and checks the Go server against Django:
// login, tampering, password change, inactive user, logout and expiry.
func runDjangoScenario(t *testing.T, setup djangoSetup) {
	d := startDjango(t, setup)
	signed := setup.engine == django.EngineSignedCookies

	alice := d.Browser()
	s := alice.Login("alice", "pw-alice")
	d.accepted("after login", s, "alice")
	u, err := d.gosite.Authenticate(t.Context(), s)
	if err != nil || u.Username() != "alice" || u.IsStaff() || u.IsSuperuser() || !u.IsActive() {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	if setup.sha1 {
		// What Django wrote is in the pre-3.1 formats: refused without Legacy.
		cfg := d.cfg
		cfg.HashingAlgorithm = ""
		strict, err := django.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := strict.Authenticate(t.Context(), s); !errors.Is(err, django.ErrNotAuthenticated) {
			t.Fatalf("a SHA-1 session without Legacy: %v, want a refusal", err)
		}
	}
	// As an auth.UserLoader: the user's SessionHash is the one Django stored at login, so
	// auth.Login on a gochannels session stores what Django would.
	lu, err := d.gosite.LoadUser(t.Context(), u.ID())
	if err != nil || lu.Username() != "alice" {
		t.Fatalf("LoadUser(%s) = %v, %v", u.ID(), lu, err)
	}
	data, err := d.gosite.SessionData(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := lu.(auth.SessionHasher); !ok || h.SessionHash() != data["_auth_user_hash"] {
		t.Fatalf("LoadUser's SessionHash is not Django's _auth_user_hash")
	}
	if _, err := d.gosite.LoadUser(t.Context(), "999999"); !errors.Is(err, auth.ErrUserNotFound) {
		t.Fatalf("LoadUser of an unknown user: %v", err)
	}

	// Tampering: any changed character of the cookie.
	last := s[len(s)-1]
	flip := byte('a')
	if last == 'a' {
		flip = 'b'
	}
	tampered := s[:len(s)-1] + string(flip)
	d.refused("tampered cookie", tampered, django.ErrNoSession)

	// A password changed elsewhere (another session, the admin, a reset).
	d.Shell(`from django.contrib.auth.models import User
u = User.objects.get(username="alice"); u.set_password("pw-alice-2"); u.save()`)
	d.refused("after a password change", s, django.ErrStaleSession)

	// Logged in again with the new password, then logged out.
	alice2 := d.Browser()
	s2 := alice2.Login("alice", "pw-alice-2")
	d.accepted("after logging in again", s2, "alice")
	alice2.Post("/logout/")
	if signed {
		// A signed cookie cannot be revoked: Django clears it in the browser, and a kept
		// copy stays valid until it expires, for Django and the Go server alike.
		if alice2.Cookie("sessionid") != "" {
			t.Fatal("Django did not clear the signed session cookie on logout")
		}
		d.accepted("a copy of a signed cookie kept after logout", s2, "alice")
	} else {
		d.refused("after logout", s2, django.ErrNoSession)
	}

	// An inactive user.
	bob := d.Browser()
	sb := bob.Login("bob", "pw-bob")
	d.accepted("bob after login", sb, "bob")
	bobUser, err := d.gosite.Authenticate(t.Context(), sb)
	if err != nil {
		t.Fatal(err)
	}
	d.Shell(`from django.contrib.auth.models import User
User.objects.filter(username="bob").update(is_active=False)`)
	if got := d.Whoami(sb); got != "" {
		t.Fatalf("Django still sees the inactive user %q", got)
	}
	if _, status := d.goWebsocket(sb); status != http.StatusForbidden {
		t.Fatalf("inactive user: the Go server answered %d", status)
	}
	if _, err := d.gosite.Authenticate(t.Context(), sb); !errors.Is(err, django.ErrInactive) {
		t.Fatalf("inactive user: Authenticate = %v", err)
	}
	if _, err := d.gosite.LoadUser(t.Context(), bobUser.ID()); !errors.Is(err, auth.ErrUserNotFound) || !errors.Is(err, django.ErrInactive) {
		t.Fatalf("LoadUser of the inactive user: %v", err)
	}

	// Expiry.
	carol := d.Browser()
	sc := carol.Login("carol", "pw-carol")
	d.accepted("carol after login", sc, "carol")
	if signed {
		// Django checks a signed cookie's age against SESSION_COOKIE_AGE; a Go site with a
		// one-second age refuses the cookie once it is older.
		cfg := d.cfg
		cfg.SessionCookieAge = time.Second
		short, err := django.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := short.Authenticate(t.Context(), sc)
			if errors.Is(err, django.ErrNoSession) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a signed cookie older than SessionCookieAge: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // waiting for the clock to pass the age, bounded
		}
	} else {
		carol.Post("/expire/")
		d.refused("after the session expired", sc, django.ErrNoSession)
	}

	// No cookie, and a key of the right shape that names nothing.
	if _, status := d.goWebsocket(""); status != http.StatusForbidden {
		t.Fatalf("no session: %d", status)
	}
	if !signed {
		d.refused("unknown session key", strings.Repeat("a", 32), django.ErrNoSession)
	}
}

func TestDjangoDBSQLite(t *testing.T) {
	runDjangoScenario(t, djangoSetup{engine: django.EngineDB})
}

func TestDjangoDBPostgreSQL(t *testing.T) {
	runDjangoScenario(t, djangoSetup{engine: django.EngineDB, postgres: true})
}

func TestDjangoSignedCookies(t *testing.T) {
	runDjangoScenario(t, djangoSetup{engine: django.EngineSignedCookies})
}

func TestDjangoCacheRedis(t *testing.T) {
	runDjangoScenario(t, djangoSetup{engine: django.EngineCache, redis: true})
}

func TestDjangoCachedDB(t *testing.T) {
	runDjangoScenario(t, djangoSetup{engine: django.EngineCachedDB, postgres: true, redis: true})
}

// TestDjangoStoreDown checks that a failing session store refuses the handshake as
// unavailable (503), not as forbidden.
func TestDjangoStoreDown(t *testing.T) {
	db, _ := newSQLite(t)
	site, err := django.New(django.Config{SecretKey: "k", DB: db, Dialect: sessions.SQLite})
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // the database is gone
	key := strings.Repeat("a", 32)
	if _, err := site.Authenticate(t.Context(), key); err == nil || errors.Is(err, django.ErrNotAuthenticated) {
		t.Fatalf("Authenticate with the database closed: %v, want a store error", err)
	}
	never := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		t.Error("the application ran")
		return nil
	})
	addr := channelstest.Serve(t, &channels.Server{Application: site.Middleware(auth.RequireUser(never))})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	dialer := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {"sessionid=" + key}})}
	conn, _, _, err := dialer.Dial(ctx, "ws://"+addr+"/ws/")
	if conn != nil {
		conn.Close()
	}
	var se ws.StatusError
	if !errors.As(err, &se) || int(se) != http.StatusServiceUnavailable {
		t.Fatalf("handshake with the store down: %v, want 503", err)
	}
}

// TestDjangoLegacySHA1 runs the scenario with Django writing the formats of before 3.1
// (DEFAULT_HASHING_ALGORITHM = "sha1", a setting of Django 3.1 and 3.2 only): SHA-1
// signatures, the base64 "hash:json" session data of the db engine, SHA-1 auth hashes.
func TestDjangoLegacySHA1(t *testing.T) {
	py := redistest.RequirePython(t, "django_redis", "psycopg2")
	out, err := exec.CommandContext(t.Context(), py, "-c", "import django; print(django.VERSION[0] * 100 + django.VERSION[1])").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := strconv.Atoi(strings.TrimSpace(string(out))); v < 301 || v >= 400 {
		t.Skipf("Django %s has no DEFAULT_HASHING_ALGORITHM setting (3.1 and 3.2 only)", strings.TrimSpace(string(out)))
	}
	for _, engine := range []string{django.EngineDB, django.EngineSignedCookies} {
		t.Run(engine[strings.LastIndexByte(engine, '.')+1:], func(t *testing.T) {
			runDjangoScenario(t, djangoSetup{engine: engine, sha1: true})
		})
	}
}
