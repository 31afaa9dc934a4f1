package channels

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gochannels/gochannels/internal/testcert"
)

// TestServeTLS serves the server over TLS (Serve on a tls.Listener) and checks that a
// gobwas/ws client connects with wss://, that the WebSocket scope's scheme is "wss" (and an
// HTTP scope's "https"), that a message round-trips, and that Shutdown closes the socket
// with 1001.
func TestServeTLS(t *testing.T) {
	tc, err := testcert.New()
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := tc.TLS, tc.Pool
	schemes := make(chan string, 4)
	discs := make(chan Message, 1)
	echo := echoApp(discs)
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		schemes <- scope.Scheme
		if scope.Type == ScopeHTTP {
			if err := send.Send(ctx, Message{"type": TypeHTTPResponseStart, "status": 200}); err != nil {
				return err
			}
			return send.Send(ctx, Message{"type": TypeHTTPResponseBody, "body": []byte(scope.Scheme)})
		}
		return echo.Serve(ctx, scope, receive, send)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	srv := &Server{Application: app, Logger: discardLogger()}
	done := make(chan error, 1)
	go func() {
		done <- srv.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	stopped := false
	shutdown := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}
	t.Cleanup(shutdown)

	// HTTPS first.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: testTimeout}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "https" || resp.TLS == nil {
		t.Fatalf("HTTPS: %d %q (TLS %v)", resp.StatusCode, body, resp.TLS != nil)
	}
	if s := <-schemes; s != "https" {
		t.Fatalf("HTTP scope scheme = %q, want https", s)
	}
	hc.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, br, _, err := ws.Dialer{TLSConfig: clientTLS, Timeout: testTimeout}.Dial(ctx, "wss://"+addr+"/ws/")
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer conn.Close()
	if br != nil {
		ws.PutReader(br) // the server sends nothing before the client speaks
	}
	if _, ok := conn.(*tls.Conn); !ok {
		t.Fatalf("client connection is %T, want *tls.Conn", conn)
	}
	if s := <-schemes; s != "wss" {
		t.Fatalf("WebSocket scope scheme = %q, want wss", s)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	for _, m := range []string{"over tls", string(make([]byte, 70<<10))} {
		if err := wsutil.WriteClientText(conn, []byte(m)); err != nil {
			t.Fatal(err)
		}
		got, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != m {
			t.Fatalf("echo of %d bytes: got %d bytes", len(m), len(got))
		}
	}

	// Shutdown closes the TLS WebSocket with 1001 like a plain one.
	closed := make(chan error, 1)
	go func() {
		_, err := wsutil.ReadServerText(conn)
		closed <- err
	}()
	shutdown()
	var ce wsutil.ClosedError
	if err := <-closed; !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway {
		t.Fatalf("after Shutdown: %v, want close 1001", err)
	}
	waitDisconnect(t, discs, CloseGoingAway)
}
