package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/examples/internal/pgtest"
	"github.com/gochannels/gochannels/examples/internal/wstest"
	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/internal/redistest"
)

const machineTimeout = 30 * time.Second

// TestTwoMachines runs multichat as two processes that share nothing but PostgreSQL (-db)
// and Redis (-layer): no file, no key, no flag but those. Process A also runs the history
// worker; B serves only. Once with the default session store for PostgreSQL (its table),
// once with sessions in Redis.
func TestTwoMachines(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sessions func(srv *redistest.Server) []string
		logged   string // what the serving log line says of the session store
	}{
		{"sessions=db", func(*redistest.Server) []string { return nil }, "sessions=db"},
		{"sessions=redis", func(srv *redistest.Server) []string { return []string{"-sessions", srv.URL()} }, "sessions=redis://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := pgtest.New(t)
			srv := redistest.StartPrivate(t)
			common := append([]string{"-addr", "127.0.0.1:0", "-db", pg.URL, "-layer", srv.URL()}, tc.sessions(srv)...)
			procA := proctest.Start(t, "multichat", common...)
			procB := proctest.Start(t, "multichat", append(common, "-worker=false")...)
			for _, p := range []*proctest.Process{procA, procB} {
				if !strings.Contains(p.Log(), tc.logged) {
					t.Fatalf("the serving log line does not say %q:\n%s", tc.logged, p.Log())
				}
			}
			testTwoMachines(t, pg, procA, procB)
		})
	}
}

func testTwoMachines(t *testing.T, pg *pgtest.Database, procA, procB *proctest.Process) {
	a, b := "http://"+procA.Addr, "http://"+procB.Addr

	// Alice signs up on A (the first account: staff). Her browser's cookies go to B as well,
	// as behind a load balancer: B knows her session.
	alice := newBrowser(t)
	alice.post(a, "/signup", url.Values{"username": {"alice"}, "password": {"password-alice"}, "password2": {"password-alice"}})
	if me := alice.rooms(b); me.Username != "alice" || !me.Staff {
		t.Fatalf("B sees alice's session as %+v", me)
	}
	// Logging in on B with the password set on A works, and that session is good on A.
	alice2 := newBrowser(t)
	alice2.post(b, "/login", url.Values{"username": {"alice"}, "password": {"password-alice"}})
	if me := alice2.rooms(a); me.Username != "alice" {
		t.Fatalf("A sees the session made on B as %+v", me)
	}
	bob := newBrowser(t)
	bob.post(b, "/signup", url.Values{"username": {"bob"}, "password": {"password-bob"}, "password2": {"password-bob"}})

	// A room created on A is listed on B.
	alice.post(a, "/rooms", url.Values{"title": {"Two Machines"}})
	var roomID string
	for _, r := range bob.rooms(b).Rooms {
		if r.Title == "Two Machines" {
			roomID = r.ID
		}
	}
	if roomID == "" {
		t.Fatalf("B does not list the room created on A: %+v", bob.rooms(b))
	}

	// A message from alice's socket on A reaches bob's socket on B, and A's worker stores it
	// in the shared database.
	tabA := alice.dial(a)
	tabB := alice.dial(b)
	bobB := bob.dial(b)
	for _, s := range []*socket{tabA, tabB, bobB} {
		s.send(map[string]any{"command": "join", "room": roomID})
		s.expect("join", func(ev map[string]any) bool { return ev["join"] == roomID })
	}
	tabA.send(map[string]any{"command": "send", "room": roomID, "message": "hello from A"})
	bobB.expect("alice's message from A", func(ev map[string]any) bool {
		return ev["msg_type"] == float64(multichat.MsgTypeMessage) && ev["username"] == "alice" && ev["message"] == "hello from A"
	})
	waitFor(t, "the message stored by A's worker", func() bool {
		var n int
		err := pg.DB.QueryRowContext(t.Context(), "SELECT count(*) FROM messages WHERE body = 'hello from A'").Scan(&n)
		return err == nil && n == 1
	})

	// Logging out on A closes alice's sockets on A and on B; bob's stays open, and the
	// session is gone from the shared store: its old cookie no longer works on B.
	oldSession := alice.cookieHeader(b)
	alice.post(a, "/logout", nil)
	tabA.expectClosed(auth.CloseLoggedOut)
	tabB.expectClosed(auth.CloseLoggedOut)
	req, _ := http.NewRequest(http.MethodGet, b+"/rooms.json", nil)
	req.Header.Set("Cookie", oldSession)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the logged-out session on B: status %d, want 403", resp.StatusCode)
	}
	bobB.send(map[string]any{"command": "send", "room": roomID, "message": "still here"})
	bobB.expect("bob's own message", func(ev map[string]any) bool { return ev["message"] == "still here" })
	http.DefaultClient.CloseIdleConnections()
}

// browser is an HTTP client with one cookie jar for 127.0.0.1, whatever the port: what a
// browser sends to two servers behind one name.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: machineTimeout}
	t.Cleanup(c.CloseIdleConnections)
	return &browser{t: t, c: c}
}

func (br *browser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range br.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (br *browser) cookieHeader(base string) string {
	u, _ := url.Parse(base)
	var parts []string
	for _, c := range br.c.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// post sends a form as the page's script would (CSRF token from the cookie in the header)
// and follows the redirect; anything but 200 at the end fails the test.
func (br *browser) post(base, path string, form url.Values) {
	br.t.Helper()
	if br.cookie(base, "csrftoken") == "" {
		if code, body := proctest.Get(br.t, br.c, base+"/"); code != http.StatusOK {
			br.t.Fatalf("GET / on %s: %d %q", base, code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRFToken", br.cookie(base, "csrftoken"))
	resp, err := br.c.Do(req)
	if err != nil {
		br.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		br.t.Fatalf("POST %s on %s: status %d", path, base, resp.StatusCode)
	}
}

type roomsReply struct {
	Username string `json:"username"`
	Staff    bool   `json:"staff"`
	Rooms    []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"rooms"`
}

// rooms fetches /rooms.json: who the server thinks this browser is, and the rooms.
func (br *browser) rooms(base string) roomsReply {
	br.t.Helper()
	code, body := proctest.Get(br.t, br.c, base+"/rooms.json")
	if code != http.StatusOK {
		br.t.Fatalf("GET /rooms.json on %s: %d %q", base, code, body)
	}
	var r roomsReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		br.t.Fatalf("rooms.json: %v in %q", err, body)
	}
	return r
}

// socket is a chat WebSocket (gobwas/ws client).
type socket struct {
	t    *testing.T
	conn *wstest.Conn
}

func (br *browser) dial(base string) *socket {
	br.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), machineTimeout)
	defer cancel()
	conn, err := wstest.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+multichat.SocketPath, http.Header{"Origin": {base}, "Cookie": {br.cookieHeader(base)}})
	if err != nil {
		br.t.Fatalf("socket on %s: %v", base, err)
	}
	br.t.Cleanup(func() { conn.Close() })
	return &socket{t: br.t, conn: conn}
}

func (s *socket) send(v any) {
	s.t.Helper()
	s.conn.WriteJSON(s.t, v)
}

func (s *socket) expect(what string, match func(map[string]any) bool) {
	s.t.Helper()
	s.conn.Expect(s.t, what, machineTimeout, match)
}

// expectClosed reads until the server's close frame and checks its code.
func (s *socket) expectClosed(code int) {
	s.t.Helper()
	s.conn.ExpectClosed(s.t, code, machineTimeout)
}

// waitFor polls cond (a database query) until it holds, failing after machineTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(machineTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling an outside database: no event to wait on
	}
}
