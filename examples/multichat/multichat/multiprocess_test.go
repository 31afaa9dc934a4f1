package multichat

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/examples/internal/wstest"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// URLs
)

// process is one server instance of a multi-process test: its own layer (on a shared Redis),
// App and listener, sharing the database file with the others.
type process struct {
	app  *App
	base string // http://127.0.0.1:port
}

func startProcess(t *testing.T, redisURL, dbPath string) *process {
	t.Helper()
	layer, err := layers.Open(context.Background(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), Config{DBPath: dbPath, Layer: layer, Worker: true, BcryptCost: 4, Logger: quietLogger()})
	if err != nil {
		layer.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
		layer.Close()
	})
	return &process{app: a, base: "http://" + ln.Addr().String()}
}

// redisLayerURL returns the layer URL for a redistest server, with its key prefix.
func redisLayerURL(srv *redistest.Server) string {
	return srv.URL() + "?prefix=" + url.QueryEscape(srv.Prefix())
}

// startTwoProcesses starts two processes of the app on the layer at layerURL, sharing one
// database, as two replicas behind a load balancer.
func startTwoProcesses(t *testing.T, layerURL string) (p1, p2 *process) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "multichat.db")
	return startProcess(t, layerURL, dbPath), startProcess(t, layerURL, dbPath)
}

// aliceAndBob signs alice up on p1 (she is the first user, so staff) and bob on p2.
func aliceAndBob(t *testing.T, p1, p2 *process) (alice, bob *browserish) {
	t.Helper()
	alice, bob = newBrowserish(t, p1.base), newBrowserish(t, p2.base)
	alice.signup("alice")
	bob.signup("bob")
	return alice, bob
}

// browserish is an HTTP client with a cookie jar that signs up like the page's form does.
type browserish struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowserish(t *testing.T, base string) *browserish {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: testTimeout}
	t.Cleanup(c.CloseIdleConnections)
	return &browserish{t: t, base: base, c: c}
}

func (b *browserish) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// post sends a form with the CSRF token (the cookie's secret in the header, as a script would)
// and returns the final status.
func (b *browserish) post(path string, form url.Values) int {
	b.t.Helper()
	if b.cookie("csrftoken") == "" {
		resp, err := b.c.Get(b.base + "/")
		if err != nil {
			b.t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRFToken", b.cookie("csrftoken"))
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (b *browserish) signup(name string) {
	b.t.Helper()
	pw := "password-" + name
	if st := b.post("/signup", url.Values{"username": {name}, "password": {pw}, "password2": {pw}}); st != http.StatusOK {
		b.t.Fatalf("sign up %s: status %d", name, st)
	}
	if b.cookie("sessionid") == "" {
		b.t.Fatalf("sign up %s: no session cookie", name)
	}
}

// wsClient is a real WebSocket client (gobwas/ws) on the chat socket.
type wsClient struct {
	t    *testing.T
	conn *wstest.Conn
}

func (b *browserish) dial(origin string) (*wsClient, error) {
	u, _ := url.Parse(b.base)
	var cookies []string
	for _, c := range b.c.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := wstest.Dial(ctx, "ws://"+u.Host+SocketPath, http.Header{"Origin": {origin}, "Cookie": {strings.Join(cookies, "; ")}})
	if err != nil {
		return nil, err
	}
	b.t.Cleanup(func() { conn.Close() })
	return &wsClient{t: b.t, conn: conn}, nil
}

// mustDial is dial that fails the test on an error.
func (b *browserish) mustDial(origin string) *wsClient {
	b.t.Helper()
	w, err := b.dial(origin)
	if err != nil {
		b.t.Fatalf("dial from %s: %v", origin, err)
	}
	return w
}

// join joins room and waits for the reply.
func (w *wsClient) join(room string) {
	w.t.Helper()
	w.send(map[string]any{"command": "join", "room": room})
	w.expect("the join of room "+room, isJoin(room))
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	w.conn.WriteJSON(w.t, v)
}

// expect reads events until one matches, failing the test after testTimeout.
func (w *wsClient) expect(what string, match func(map[string]any) bool) map[string]any {
	w.t.Helper()
	return w.conn.Expect(w.t, what, testTimeout, match)
}

func TestTwoProcessesShareRooms(t *testing.T) {
	srv := redistest.Start(t)
	p1, p2 := startTwoProcesses(t, redisLayerURL(srv))
	alice, bob := aliceAndBob(t, p1, p2)

	// The socket refuses a foreign origin and an anonymous client before accepting.
	if _, err := alice.dial("http://evil.example"); err == nil {
		t.Error("socket accepted a foreign Origin")
	}
	anon := newBrowserish(t, p1.base)
	if _, err := anon.dial("http://localhost"); err == nil {
		t.Error("socket accepted an anonymous client")
	} else if !strings.Contains(err.Error(), "403") {
		t.Errorf("anonymous socket: %v, want HTTP 403", err)
	}

	wa, wb := alice.mustDial("http://127.0.0.1"), bob.mustDial("http://localhost")
	wa.join("1")
	wb.join("1")
	wa.expect("bob entered (from process 2)", isMsg(MsgTypeEnter, "1", "bob"))

	wa.send(map[string]any{"command": "send", "room": "1", "message": "hello from process 1"})
	wb.expect("alice's message on process 2", isMsg(MsgTypeMessage, "1", "alice"))
	wb.send(map[string]any{"command": "send", "room": "1", "message": "hello from process 2"})
	wa.expect("bob's message on process 1", isMsg(MsgTypeMessage, "1", "bob"))

	// Both processes run the background consumer and compete for the history channel: each
	// message is taken by one of them and stored once. The two workers store in no common
	// order, so the test waits for every text. The sentinels, sent after the messages, are
	// queued behind any second copy of them: once they are stored, such a copy has been
	// taken by a worker too.
	wa.send(map[string]any{"command": "send", "room": "1", "message": "sentinel from process 1"})
	wb.send(map[string]any{"command": "send", "room": "1", "message": "sentinel from process 2"})
	want := []string{"hello from process 1", "hello from process 2", "sentinel from process 1", "sentinel from process 2"}
	stored := waitStored(t, p1.app.store, 1, want...)
	for _, text := range want {
		if stored[text] != 1 {
			t.Errorf("%q stored %d times; want once", text, stored[text])
		}
	}
	if len(stored) != len(want) {
		t.Errorf("room 1 holds %v; want each of %q once", stored, want)
	}
	if n, err := p2.app.store.CountMessages(context.Background(), 1); err != nil || n != len(want) {
		t.Errorf("process 2 counts %d messages (%v); want %d", n, err, len(want))
	}
}

// waitStored waits until the room's history holds every one of texts, and returns how many
// times each text is stored.
func waitStored(t *testing.T, s *Store, room int64, texts ...string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		lines, err := s.History(context.Background(), room, 1000)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]int{}
		for _, l := range lines {
			stored[l.Text]++
		}
		all := true
		for _, text := range texts {
			all = all && stored[text] > 0
		}
		if all {
			return stored
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %d holds %v; want %q among them", room, stored, texts)
		}
		time.Sleep(20 * time.Millisecond) // polling the database: the worker signals nothing
	}
}
