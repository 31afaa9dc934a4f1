package ops_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/proctest"
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
	serveOverUnix(t, l, sock)
}

// serveOverUnix serves testApp on ln, a unix socket listener at sock, and checks an HTTP
// request and a WebSocket echo over the socket and the addresses of both scopes.
func serveOverUnix(t *testing.T, ln net.Listener, sock string) {
	t.Helper()
	clients := make(chan [2]string, 4)
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		clients <- [2]string{scope.Client, scope.Server}
		return testApp(ctx, scope, receive, send)
	})
	startServer(t, app, ln, nil)
	dialUnix := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}

	client := &http.Client{Transport: &http.Transport{DialContext: dialUnix}, Timeout: testTimeout}
	defer client.CloseIdleConnections()
	if code, body := proctest.Get(t, client, "http://gochannels/ok"); code != 200 || body != "got " {
		t.Fatalf("HTTP over the unix socket: %d %q", code, body)
	}
	checkUnixAddrs(t, <-clients, sock)

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
	checkUnixAddrs(t, <-clients, sock)
}

// checkUnixAddrs checks the scope's addresses on a unix socket: the peer of a unix socket
// has no address (never a host:port to log or trust), the server is the socket.
func checkUnixAddrs(t *testing.T, got [2]string, sock string) {
	t.Helper()
	if got[0] != "" {
		t.Errorf("Scope.Client = %q on a unix socket; want empty", got[0])
	}
	if got[1] != sock {
		t.Errorf("Scope.Server = %q; want the socket path %q", got[1], sock)
	}
}
