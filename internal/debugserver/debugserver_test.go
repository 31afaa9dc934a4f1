package debugserver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/internal/debugserver"
)

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "localhost:6060": true, "[::1]:6060": true,
		"0.0.0.0:6060": false, "10.1.2.3:6060": false, ":6060": false, "nonsense": false,
	} {
		if err := debugserver.CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
}

// ServeDebug serves profiles and runtime counters on a loopback listener until its context
// ends, and refuses any other listener.
func TestServeDebug(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- debugserver.ServeDebug(ctx, ln) }()
	for _, path := range []string{"/debug/metrics", "/debug/pprof/"} {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeDebug after cancel: %v", err)
	}

	// A listener on another address is refused before anything is served (a loopback
	// listener that says it is elsewhere: tests listen on loopback only).
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := debugserver.ServeDebug(context.Background(), elsewhere{other}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("ServeDebug on a non-loopback address: %v, want a loopback error", err)
	}
}

// elsewhere is a listener that reports a non-loopback address.
type elsewhere struct{ net.Listener }

func (elsewhere) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 6060} }

func ExampleRuntimeMetrics() {
	rec := httptest.NewRecorder()
	debugserver.RuntimeMetrics(rec, httptest.NewRequest(http.MethodGet, "/debug/metrics", nil))
	fmt.Println(rec.Header().Get("Content-Type"))
	fmt.Println(strings.Contains(rec.Body.String(), "/gc/cycles/total:gc-cycles "))
	// Output:
	// text/plain; charset=utf-8
	// true
}
