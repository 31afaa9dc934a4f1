package redistest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TLSServer is a redis-server that accepts only TLS connections, with a certificate for
// 127.0.0.1 and localhost signed by a certificate authority generated for the test.
type TLSServer struct {
	t      testing.TB
	p      *proc
	caFile string
	caPEM  []byte
}

// StartTLS returns a redis-server for t that speaks only TLS on a free loopback port (no
// plain port, no client certificates required), stopped when t ends. Its certificate is
// signed by a fresh self-signed CA whose PEM file is CAFile. It needs a redis-server built
// with TLS (Debian's is); without a redis-server the test is skipped (failing when CI=true).
// REDIS_URL is ignored: the server is always a private child process.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	bin := requireBinary(t, "redis-server")
	certDir := t.TempDir()
	caPEM, err := writeCerts(certDir)
	if err != nil {
		t.Fatalf("redistest: generate TLS certificates: %v", err)
	}
	s := &TLSServer{t: t, caFile: filepath.Join(certDir, "ca.pem"), caPEM: caPEM}
	cfg := s.TLSConfig()
	s.p = launch(t, "TLS redis-server", bin, 0, func(dir string, ports []int) []string {
		return []string{
			"--port", "0", "--tls-port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
			"--tls-cert-file", filepath.Join(certDir, "server.pem"),
			"--tls-key-file", filepath.Join(certDir, "server.key"),
			"--tls-ca-cert-file", s.caFile, "--tls-auth-clients", "no",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
		}
	}, func(ctx context.Context, port int) error {
		return pingTLS(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cfg)
	})
	return s
}

// Addr returns the server's host:port.
func (s *TLSServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.p.port)) }

// URL returns a rediss:// URL for database 0, with no parameters: a client must be told to
// trust CAFile (for the layer: append "?tls_ca=" + url.QueryEscape(s.CAFile())).
func (s *TLSServer) URL() string { return "rediss://" + s.Addr() + "/0" }

// CAFile returns the path of the PEM file of the certificate authority that signed the
// server's certificate.
func (s *TLSServer) CAFile() string { return s.caFile }

// TLSConfig returns a client TLS configuration that trusts only the test's CA.
func (s *TLSServer) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Client returns a go-redis client for the server over TLS, closed when the test ends.
func (s *TLSServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: s.TLSConfig(), DisableIdentity: true})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// pingTLS sends PING over a TLS connection (no client library, so no pool logging while the
// server starts) and waits for +PONG.
func pingTLS(ctx context.Context, addr string, cfg *tls.Config) error {
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return nil
}

// writeCerts writes ca.pem, server.pem and server.key into dir and returns the CA's PEM.
func writeCerts(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, fmt.Errorf("server key encoding: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.pem":     caPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	return caPEM, nil
}
