package redislayer

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

// TestTopologyTLS runs the layer over rediss:// against a redis-server that speaks only TLS,
// trusting the test's private CA through the tls_ca parameter.
func TestTopologyTLS(t *testing.T) {
	s := redistest.StartTLS(t)
	ctx := topoCtx(t)
	u := s.URL() + "?tls_ca=" + url.QueryEscape(s.CAFile())
	ls := openN(t, ctx, u, 2)
	exerciseLayers(t, ctx, ls)

	// The layer wrote to that server (which has no plain port): the message is there.
	if err := ls[0].Send(ctx, "topo-left", map[string]any{"type": "x"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n, err := s.Client().ZCard(ctx, DefaultPrefix+"topo-left").Result(); err != nil || n != 1 {
		t.Fatalf("ZCARD over TLS: %d, %v; want the 1 message the layer sent", n, err)
	}
}

// TestTopologyTLSUntrusted checks that without the CA the layer refuses the server's
// certificate with a clear error instead of sending in the clear or hanging.
func TestTopologyTLSUntrusted(t *testing.T) {
	s := redistest.StartTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := openURL(t, ctx, s.URL())
	err := l.Send(ctx, "topo-tasks", map[string]any{"type": "x"})
	if err == nil {
		t.Fatal("Send over TLS to a server signed by an unknown CA succeeded")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send error does not name the certificate problem: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send hung until the deadline: %v", err)
	}
}

func TestParseURLTLSCA(t *testing.T) {
	s := redistest.StartTLS(t)
	opts, err := ParseURL(s.URL() + "?tls_ca=" + url.QueryEscape(s.CAFile()))
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	if opts.TLSConfig == nil || opts.TLSConfig.RootCAs == nil {
		t.Fatalf("tls_ca did not set Options.TLSConfig.RootCAs: %+v", opts.TLSConfig)
	}
	for _, bad := range []string{
		"redis://127.0.0.1:6379/0?tls_ca=" + url.QueryEscape(s.CAFile()), // TLS parameter on a plain URL
		"rediss://127.0.0.1:6379/0?tls_ca=/nonexistent/ca.pem",
		"rediss://127.0.0.1:6379/0?tls_ca=" + url.QueryEscape(s.CAFile()+".missing"),
	} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted it", bad)
		} else if !strings.Contains(err.Error(), "tls_ca") {
			t.Errorf("ParseURL(%q) error does not name tls_ca: %v", bad, err)
		}
	}
}

// TestTopologyTLSOptions sets the CA through Options.TLSConfig, as a program that builds its
// own tls.Config would, and checks a process-specific round trip over TLS.
func TestTopologyTLSOptions(t *testing.T) {
	s := redistest.StartTLS(t)
	ctx := topoCtx(t)
	cfg := s.TLSConfig()
	l, err := New(Options{Hosts: []string{s.URL()}, TLSConfig: cfg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()
	in := listen(t, ctx, l)
	if err := l.Send(ctx, in.name, map[string]any{"type": "direct.hello", "n": 1}); err != nil {
		t.Fatalf("Send over TLS: %v", err)
	}
	in.next(t, ctx, "direct.hello", 1)
	if got := cfg.ServerName; got != "" {
		t.Fatalf("the caller's TLSConfig was changed: ServerName %q", got)
	}
}
