package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestRun serves the bare server with -pprof: its /metrics and the debug listener's
// /debug/metrics answer, and a canceled context stops both.
func TestRun(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debug := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-pprof", debug}, quiet, ready) }()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for u, want := range map[string]string{
		"http://" + addr + "/metrics":        "bare_slow_client_closes_total 0",
		"http://" + debug + "/debug/metrics": "/gc/heap/allocs:objects ",
	} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s lacks %q", u, want)
		}
	}
	tr.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-pprof", "0.0.0.0:0"}, {"-pprof", ":6060"}, {"extra"}} {
		if err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), quiet, nil); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
