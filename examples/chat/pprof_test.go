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
)

// TestPprofFlag: -pprof serves the profiles and the runtime/metrics counters on a loopback
// port and stops with the server; a non-loopback address is refused.
func TestPprofFlag(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-addr", "127.0.0.1:0", "-layer", "memory://", "-pprof", pprofAddr, "-drain-delay", "0s"}, logger, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for path, want := range map[string]string{
		"/debug/metrics":             "/gc/heap/allocs:objects ",
		"/debug/pprof/":              "goroutine",
		"/debug/pprof/block?debug=1": "cycles/second",
	} {
		resp, err := client.Get("http://" + pprofAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	tr.CloseIdleConnections()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", pprofAddr, time.Second); err == nil {
		t.Error("the pprof listener outlived the server")
	}

	err = run(ctx, []string{"-addr", "127.0.0.1:0", "-layer", "memory://", "-pprof", "0.0.0.0:0"}, logger, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("-pprof 0.0.0.0:0: got %v, want a refusal", err)
	}
}
