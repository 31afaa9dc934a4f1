package ops_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/internal/testcert"
	"github.com/gochannels/gochannels/ops"
)

// writeCert writes a test certificate, its key and its authority into the test's temporary
// directory, and returns the certificate and key files and a pool that trusts it.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	tc, err := testcert.New()
	if err != nil {
		t.Fatal(err)
	}
	_, certFile, keyFile, err = tc.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, tc.Pool
}

// TestServiceTLS serves a Service with TLSCert and TLSKey (the -tls-cert and -tls-key
// flags): /healthz over HTTPS, and a wss:// WebSocket whose scope scheme is "wss" and whose
// messages round-trip.
func TestServiceTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	schemes := make(chan string, 1)
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		schemes <- scope.Scheme
		return testApp(ctx, scope, receive, send)
	})
	svc := &ops.Service{Server: &channels.Server{Application: app, Logger: quiet}, Logger: quiet, TLSCert: certFile, TLSKey: keyFile}
	ln, err := ops.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx, ln) }()
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: testTimeout}
	if code, body := proctest.Get(t, c, "https://"+ln.Addr().String()+"/healthz"); code != 200 {
		t.Fatalf("/healthz over HTTPS: %d %q", code, body)
	}
	c.CloseIdleConnections()
	conn, _, _, err := ws.Dialer{TLSConfig: clientTLS, Timeout: testTimeout}.Dial(testCtx(t), "wss://"+ln.Addr().String()+"/ws/")
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if s := <-schemes; s != "wss" {
		t.Fatalf("scope scheme = %q, want wss", s)
	}
	sendText(t, conn, "secure")
	if s := readText(t, conn); s != "secure" {
		t.Fatalf("echo = %q", s)
	}
	cancel()
	if code := readClose(t, conn); code != 1001 {
		t.Fatalf("close at shutdown = %d, want 1001", code)
	}
	closeFrom(t, conn, 1001)
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
