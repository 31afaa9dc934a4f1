package ops_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/channels"
)

// TestServeUnixSocket checks that channels.Server serves HTTP and WebSocket on a unix
// socket listener (as behind a reverse proxy on the same host), and what Scope.Client and
// Scope.Server are there.
func TestServeUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "gochannels.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	clients := make(chan [2]string, 4)
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		clients <- [2]string{scope.Client, scope.Server}
		return testApp(ctx, scope, receive, send)
	})
	startServer(t, app, l, nil)
	dialUnix := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}

	client := &http.Client{Transport: &http.Transport{DialContext: dialUnix}, Timeout: testTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://gochannels/ok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "got " {
		t.Fatalf("HTTP over the unix socket: %d %q", resp.StatusCode, body)
	}
	got := <-clients
	t.Logf("HTTP scope: Client=%q Server=%q", got[0], got[1])
	checkUnixAddrs(t, got, sock)

	conn, _, _, err := ws.Dialer{Timeout: testTimeout, NetDial: dialUnix}.Dial(testCtx(t), "ws://gochannels/ws/")
	if err != nil {
		t.Fatalf("WebSocket over the unix socket: %v", err)
	}
	defer conn.Close()
	sendText(t, conn, "over unix")
	if s := readText(t, conn); s != "over unix" {
		t.Fatalf("echo = %q", s)
	}
	closeFrom(t, conn, 1000)
	readClose(t, conn)
	got = <-clients
	t.Logf("WebSocket scope: Client=%q Server=%q", got[0], got[1])
	checkUnixAddrs(t, got, sock)
}

// checkUnixAddrs checks the scope's addresses on a unix socket: the peer of a unix socket
// has no address ("" or "@", never a host:port to log or trust), the server is the socket.
func checkUnixAddrs(t *testing.T, got [2]string, sock string) {
	t.Helper()
	if got[0] != "" && got[0] != "@" {
		t.Errorf("Scope.Client = %q on a unix socket; want empty", got[0])
	}
	if got[1] != sock {
		t.Errorf("Scope.Server = %q; want the socket path %q", got[1], sock)
	}
}
