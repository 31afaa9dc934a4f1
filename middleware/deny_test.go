package middleware

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/internal/logbuf"
)

// rawRequest sends a GET to addr (a WebSocket handshake when upgrade is set) with an Origin
// header and returns the response and its body.
func rawRequest(t *testing.T, addr, origin string, upgrade bool) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET /ws/ HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\n", addr, origin)
	if upgrade {
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, ""
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestOriginDenialRealServer refuses bad origins with a response of the application's own,
// over real sockets, and checks that the default is still a bare 403.
func TestOriginDenialRealServer(t *testing.T) {
	d := &channels.Denial{Status: 451, Header: http.Header{"X-Refused": {"origin"}, "Content-Type": {"text/plain"}}, Body: []byte("not from there\n")}
	custom := channelstest.Serve(t, &channels.Server{Application: OriginValidatorWith(&acceptApp{}, DenyWith(d), "example.com")})
	plain := channelstest.Serve(t, &channels.Server{Application: AllowedHostsOriginValidator(&acceptApp{}, "example.com")})
	for _, upgrade := range []bool{true, false} {
		resp, body := rawRequest(t, custom, "http://evil.org", upgrade)
		if resp.StatusCode != 451 || resp.Header.Get("X-Refused") != "origin" || resp.Header.Get("Content-Type") != "text/plain" || body != "not from there\n" {
			t.Errorf("custom, upgrade=%v: %s %v %q", upgrade, resp.Status, resp.Header, body)
		}
		resp, body = rawRequest(t, plain, "http://evil.org", upgrade)
		if resp.StatusCode != 403 || resp.Header.Get("X-Refused") != "" {
			t.Errorf("default, upgrade=%v: %s %v %q", upgrade, resp.Status, resp.Header, body)
		}
	}
	if resp, _ := rawRequest(t, custom, "http://example.com", true); resp.StatusCode != 101 {
		t.Errorf("allowed origin: %s", resp.Status)
	}
}

func TestDenyWithScopes(t *testing.T) {
	d := &channels.Denial{Status: 302, Header: http.Header{"Location": {"/login/"}}}
	rec := serve(t, DenyWith(d), httpScope())
	if st, _ := rec.msgs[0].Int("status"); st != 302 || len(rec.msgs) != 2 {
		t.Fatalf("HTTP: %v", rec.msgs)
	}
	rec = serve(t, DenyWith(d), wsScope())
	if got := rec.types(); len(got) != 2 || got[0] != channels.TypeWebsocketHTTPResponseStart {
		t.Fatalf("WebSocket: %v", got)
	}
	if err := DenyWith(d).Serve(t.Context(), &channels.Scope{Type: channels.ScopeChannel, Channel: "x"}, channels.NewMailbox(1), &recorder{}); err == nil {
		t.Fatal("channel scope: no error")
	}
}

// TestCSRFDenialRealServer uses a Denial as CSRFOptions.Failure behind a real listener.
func TestCSRFDenialRealServer(t *testing.T) {
	d := &channels.Denial{Status: 403, Header: http.Header{"X-Refused": {"csrf"}}, Body: []byte("form expired, reload the page\n")}
	srv := httptest.NewServer(CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), CSRFOptions{Failure: d}))
	defer srv.Close()
	resp, err := http.PostForm(srv.URL, url.Values{"x": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || resp.Header.Get("X-Refused") != "csrf" || !strings.HasPrefix(string(body), "form expired") {
		t.Fatalf("%s %v %q", resp.Status, resp.Header, body)
	}
}

// TestAccessLogDenial: a handshake refused with the application's own response is logged
// with its status.
func TestAccessLogDenial(t *testing.T) {
	var buf logbuf.Buffer
	app := AccessLog(DenyWith(&channels.Denial{Status: 401}), slog.New(slog.NewJSONHandler(&buf, nil)))
	c := channelstest.NewWebsocketCommunicator(app, "/ws/")
	res, err := c.Connect(t.Context())
	if err != nil || res.Status != 401 {
		t.Fatalf("connect: %+v %v", res, err)
	}
	if err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["status"] != 401.0 || lines[0]["closed_by"] != "application" {
		t.Fatalf("log %v", lines)
	}
}
