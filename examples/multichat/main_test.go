package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/internal/proctest"
)

func TestMain(m *testing.M) {
	proctest.RunMainIfChild(main)
	goleak.VerifyTestMain(m)
}

// TestOperations runs the program as a process and checks its operations side: /healthz,
// /readyz, /metrics with connection and message counters after a WebSocket exchange (the
// pages, http.Handlers, counted by status class), the access log, and the drain on SIGTERM:
// /readyz turns 503 while the WebSocket stays open, the WebSocket then gets close 1001, and
// the process exits 0.
func TestOperations(t *testing.T) {
	dir := t.TempDir()
	p := proctest.Start(t, "multichat", "-addr", "127.0.0.1:0", "-layer", "memory://", "-db", filepath.Join(dir, "mc.db"), "-drain-delay", "2s")
	base := "http://" + p.Addr
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		if code, body := proctest.Get(t, c, base+path); code != 200 {
			t.Fatalf("%s = %d %q", path, code, body)
		}
	}

	// Sign up as the page's form does (CSRF token from the cookie), to open the socket.
	u, _ := url.Parse(base)
	cookie := func(name string) string {
		for _, ck := range jar.Cookies(u) {
			if ck.Name == name {
				return ck.Value
			}
		}
		return ""
	}
	form := url.Values{"username": {"ops"}, "password": {"password-ops"}, "password2": {"password-ops"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRFToken", cookie("csrftoken"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || cookie("sessionid") == "" {
		t.Fatalf("sign up: %d, session %q", resp.StatusCode, cookie("sessionid"))
	}
	var cookies []string
	for _, ck := range jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {base}, "Cookie": {strings.Join(cookies, "; ")}})}
	conn, br, _, err := d.Dial(ctx, "ws://"+p.Addr+multichat.SocketPath)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if br != nil {
		ws.PutReader(br)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := wsutil.WriteClientText(conn, []byte(`{"command":"join","room":999999}`)); err != nil {
		t.Fatal(err)
	}
	reply, err := wsutil.ReadServerText(conn)
	if err != nil || !strings.Contains(string(reply), multichat.ErrCodeRoomInvalid) {
		t.Fatalf("reply %q, %v; want a %s error", reply, err, multichat.ErrCodeRoomInvalid)
	}

	p.CheckMetrics(t, c, map[string]float64{
		`gochannels_connections_total{type="websocket"}`:       1,
		`gochannels_connections_open{type="websocket"}`:        1,
		`gochannels_messages_received_total{type="websocket"}`: 1,
		`gochannels_messages_sent_total{type="websocket"}`:     1,
		`gochannels_http_responses_total{class="2xx"}`:         2,
		`gochannels_http_responses_total{class="3xx"}`:         1, // the sign-up's redirect
	})

	closed := make(chan error, 1)
	go func() {
		_, err := wsutil.ReadServerText(conn) // answers the close frame
		closed <- err
	}()
	p.Drain(t, c, closed, `msg=access type=websocket path=`+multichat.SocketPath, `close_code=1001 closed_by=server`, `msg=access type=http path=/signup`)
}
