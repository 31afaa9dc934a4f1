package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/internal/testcert"
	"github.com/redis/go-redis/v9"
)

// TLSServer is a redis-server that accepts only TLS connections, with a certificate for
// 127.0.0.1 and localhost signed by a certificate authority generated for the test.
type TLSServer struct {
	t      testing.TB
	p      *proc
	caFile string
	pool   *x509.CertPool
}

// StartTLS returns a redis-server for t that speaks only TLS on a free loopback port (no
// plain port, no client certificates required), stopped when t ends. Its certificate is
// signed by a fresh self-signed CA whose PEM file is CAFile. It needs a redis-server built
// with TLS (Debian's is); without a redis-server the test is skipped (failing when CI=true).
// REDIS_URL is ignored: the server is always a private child process.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	bin := requireBinary(t, "redis-server")
	tc, err := testcert.New()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	caFile, certFile, keyFile, err := tc.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := &TLSServer{t: t, caFile: caFile, pool: tc.Pool}
	cfg := s.TLSConfig()
	s.p = launch(t, "TLS redis-server", bin, 0, func(dir string, ports []int) []string {
		return []string{
			"--port", "0", "--tls-port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
			"--tls-cert-file", certFile,
			"--tls-key-file", keyFile,
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
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
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
