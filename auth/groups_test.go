package auth

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/interop"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer"
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/sessions"
)

// tab is a consumer that shows what reaches a user's sockets: "user.notify" messages are
// written to the client as text.
type tab struct{ consumer.WebsocketConsumer }

func (c *tab) UserNotify(ctx context.Context, msg channels.Message) error {
	return c.SendText(ctx, msg.String("text"))
}

// cluster is two servers ("processes") sharing one real redis-server through a layer each,
// and one session store (what a Redis or SQL store gives several machines).
type cluster struct {
	m      *sessions.Manager
	db     userDB
	groups [2]*UserGroups
	addrs  [2]string
	site   http.Handler // the login site, whose logout closes the session's sockets
}

func openLayer(t *testing.T, srv *redistest.Server) layers.Layer {
	t.Helper()
	l, err := layers.Open(t.Context(), srv.URL()+"?prefix="+srv.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func newCluster(t *testing.T, srv *redistest.Server) *cluster {
	c := &cluster{m: sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{}), db: newDB()}
	for i := range c.groups {
		c.groups[i] = NewUserGroups(openLayer(t, srv), nil)
		var opts []consumer.Option
		if i == 1 {
			opts = append(opts, consumer.WithoutIdleGoroutine()) // the scope outlives Serve
		}
		app := Stack(c.groups[i].Middleware(RequireUser(consumer.Websocket[tab](opts...))), c.m, c.db)
		c.addrs[i] = channelstest.Serve(t, &channels.Server{Application: app})
	}
	c.site = c.groups[0].Handler(site(c.m, c.db))
	return c
}

// open dials server i with the session cookie.
func (c *cluster) open(t *testing.T, i int, cookie *http.Cookie) net.Conn {
	t.Helper()
	h := http.Header{}
	if cookie != nil {
		h.Set("Cookie", cookie.String())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, "ws://"+c.addrs[i]+"/ws/")
	if err != nil {
		t.Fatalf("dial server %d: %v", i, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func expectText(t *testing.T, conn net.Conn, want string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := wsutil.ReadServerText(conn)
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// expectClose reads until the server's close frame and checks its code and reason.
func expectClose(t *testing.T, conn net.Conn, code int, reason string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, err := wsutil.ReadServerText(conn)
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			if int(ce.Code) != code || ce.Reason != reason {
				t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Reason, code, reason)
			}
			return
		}
		if err != nil {
			t.Fatalf("want close %d: %v", code, err)
		}
	}
}

func notify(text string) channels.Message {
	return channels.Message{"type": "user.notify", "text": text}
}

// TestUserGroupsAcrossServers: a user with a tab on each of two servers; sending to the
// user reaches both, logging out on one server closes both (4001), closing the user closes
// both with the chosen code (4003); another user's tab is untouched throughout.
func TestUserGroupsAcrossServers(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv)
	ctx := t.Context()

	alice := login(t, c.site, "1", nil)
	bob := login(t, c.site, "2", nil)
	a0, a1 := c.open(t, 0, alice), c.open(t, 1, alice)
	b1 := c.open(t, 1, bob)

	// One call, from either server's process, reaches every tab of the user.
	if err := c.groups[0].SendUser(ctx, "1", notify("hello alice")); err != nil {
		t.Fatal(err)
	}
	expectText(t, a0, "hello alice")
	expectText(t, a1, "hello alice")
	if err := c.groups[1].SendUser(ctx, "2", notify("hello bob")); err != nil {
		t.Fatal(err)
	}
	expectText(t, b1, "hello bob")

	// Logout through the site (server 0's process) closes the session's tabs everywhere.
	if rr, _ := do(c.site, "POST", "/logout", alice); rr.Code != 200 {
		t.Fatalf("logout: %d", rr.Code)
	}
	expectClose(t, a0, CloseLoggedOut, "logged out")
	expectClose(t, a1, CloseLoggedOut, "logged out")
	// The old cookie no longer opens a socket (the store deleted the session).
	if _, _, _, err := (ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {alice.String()}})}).Dial(ctx, "ws://"+c.addrs[1]+"/ws/"); err == nil {
		t.Fatal("the logged-out cookie still opens a socket")
	}

	// Bob's tab is still there.
	if err := c.groups[0].SendUser(ctx, "2", notify("still here")); err != nil {
		t.Fatal(err)
	}
	expectText(t, b1, "still here")

	// A ban (or password change) closes every session of the user, with the chosen code.
	alice = login(t, c.site, "1", nil)
	other := login(t, c.site, "1", nil) // a second browser: another session
	a0, a1 = c.open(t, 0, alice), c.open(t, 1, other)
	if err := c.groups[1].CloseUser(ctx, "1", CloseRevoked, "password changed"); err != nil {
		t.Fatal(err)
	}
	expectClose(t, a0, CloseRevoked, "password changed")
	expectClose(t, a1, CloseRevoked, "password changed")
	if err := c.groups[1].SendUser(ctx, "2", notify("unaffected")); err != nil {
		t.Fatal(err)
	}
	expectText(t, b1, "unaffected")

	if err := c.groups[0].CloseUser(ctx, "1", 1005, ""); err == nil {
		t.Error("CloseUser with 1005 (never sent) succeeded")
	}
	// The closed sockets left their groups (on both servers, one of them detached).
	waitGroupEmpty(t, srv, UserGroup("1"))
}

// waitGroupEmpty waits until group has no member in Redis (the sockets' scopes ended and
// left it).
func waitGroupEmpty(t *testing.T, srv *redistest.Server, group string) {
	t.Helper()
	key := srv.Prefix() + ":group:" + group
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := srv.Client().ZCard(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s still has %d members", group, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogoutScopeClosesSession: LogoutScope from one socket (on server 1) closes the
// session's other socket (on server 0), and its own.
func TestLogoutScopeClosesSession(t *testing.T) {
	srv := redistest.Start(t)
	c := &cluster{m: sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{}), db: newDB()}
	for i := range c.groups {
		c.groups[i] = NewUserGroups(openLayer(t, srv), nil)
		app := Stack(c.groups[i].Middleware(RequireUser(consumer.Websocket[logoutTab]())), c.m, c.db)
		c.addrs[i] = channelstest.Serve(t, &channels.Server{Application: app})
	}
	alice := login(t, site(c.m, c.db), "1", nil)
	a0, a1 := c.open(t, 0, alice), c.open(t, 1, alice)
	if err := wsutil.WriteClientText(a1, []byte("logout")); err != nil {
		t.Fatal(err)
	}
	expectClose(t, a0, CloseLoggedOut, "logged out")
	expectClose(t, a1, CloseLoggedOut, "logged out")
}

// logoutTab logs its session out when the client says "logout".
type logoutTab struct{ consumer.WebsocketConsumer }

func (c *logoutTab) Receive(ctx context.Context, text string, data []byte) error {
	if text == "logout" {
		return LogoutScope(ctx, c.Scope())
	}
	return nil
}

// TestCloseUserFromDjango: a Django process (channels_redis) closes a user's sockets on two
// Go servers with one group_send of the documented message.
func TestCloseUserFromDjango(t *testing.T) {
	srv := redistest.Start(t)
	py := interop.Start(t, interop.Config{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	c := newCluster(t, srv)
	alice := login(t, c.site, "1", nil)
	a0, a1 := c.open(t, 0, alice), c.open(t, 1, alice)
	py.Must(map[string]any{"op": "group_send", "group": "user.1", "msg": interop.Typed(map[string]any{"type": "user.notify", "text": "from django"})})
	expectText(t, a0, "from django")
	expectText(t, a1, "from django")
	py.Must(map[string]any{"op": "group_send", "group": "user.1", "msg": interop.Typed(map[string]any{"type": "gochannels.close", "code": 4003, "reason": "banned"})})
	expectClose(t, a0, 4003, "banned")
	expectClose(t, a1, 4003, "banned")
	// The session group, named as the documentation tells Python to name it.
	alice = login(t, c.site, "1", nil)
	a0 = c.open(t, 0, alice)
	s, err := c.m.Load(t.Context(), alice.Value)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(redistest.PythonPath, "-c", `import hashlib, sys
print("session." + hashlib.sha256(b"gochannels.session-group:" + sys.argv[1].encode()).hexdigest()[:32])`, s.ID()).Output()
	if err != nil {
		t.Fatal(err)
	}
	group := strings.TrimSpace(string(out))
	if group != SessionGroup(s.ID()) {
		t.Fatalf("Python names the session group %q, Go %q", group, SessionGroup(s.ID()))
	}
	py.Must(map[string]any{"op": "group_send", "group": group, "msg": interop.Typed(map[string]any{"type": "gochannels.close", "code": 4001})})
	expectClose(t, a0, 4001, "")
}

// TestRequireUserDenial: an anonymous handshake gets the application's own response.
func TestRequireUserDenial(t *testing.T) {
	m := sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{})
	d := &channels.Denial{Status: 401, Header: http.Header{"Www-Authenticate": {`Cookie realm="chat"`}}, Body: []byte("log in first\n")}
	app := Stack(RequireUserWith(consumer.Websocket[tab](), middleware.DenyWith(d)), m, newDB())
	addr := channelstest.Serve(t, &channels.Server{Application: app})
	var status int
	var header, body string
	dialer := ws.Dialer{
		OnStatusError: func(st int, reason []byte, resp io.Reader) {
			status = st
			r, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err != nil {
				return
			}
			header = r.Header.Get("WWW-Authenticate")
			b, _ := io.ReadAll(r.Body)
			body = string(b)
		},
	}
	_, _, _, err := dialer.Dial(t.Context(), "ws://"+addr+"/ws/")
	var se ws.StatusError
	if !errors.As(err, &se) || int(se) != 401 || status != 401 {
		t.Fatalf("anonymous handshake: %v (status %d)", err, status)
	}
	if header != `Cookie realm="chat"` || body != "log in first\n" {
		t.Fatalf("header %q, body %q", header, body)
	}
}

func TestGroupNames(t *testing.T) {
	for id, want := range map[string]string{
		"42":                    "user.42",
		"alice_b-c.d":           "user.alice_b-c.d",
		"alice@example.com":     "userx.",
		strings.Repeat("x", 81): "userx.",
		"":                      "userx.",
	} {
		got := UserGroup(id)
		if !strings.HasPrefix(got, want) || layers.ValidateGroupName(got) != nil {
			t.Errorf("UserGroup(%q) = %q, want %q…", id, got, want)
		}
	}
	sid := sessions.NewID()
	g := SessionGroup(sid)
	if !strings.HasPrefix(g, "session.") || len(g) != len("session.")+32 || strings.Contains(g, sid) || layers.ValidateGroupName(g) != nil {
		t.Errorf("SessionGroup = %q", g)
	}
	if SessionGroup(sid) != g || SessionGroup(sessions.NewID()) == g {
		t.Error("SessionGroup is not a function of the ID")
	}
}
