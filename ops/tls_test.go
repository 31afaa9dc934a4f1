package ops_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/ops"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool trusting the certificate.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

// TestServiceTLS serves a Service with TLSCert and TLSKey (the -tls-cert and -tls-key
// flags): /healthz over HTTPS, and a wss:// WebSocket whose scope scheme is "wss" and whose
// messages round-trip.
func TestServiceTLS(t *testing.T) {
	certFile, keyFile, pool := writeSelfSigned(t)
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
