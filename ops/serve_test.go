package ops_test

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/ops"
	"github.com/gochannels/gochannels/router"
)

// closedByApp accepts WebSockets, echoes text and reports each disconnect event's
// closed_by on by.
func closedByApp(by chan<- string) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			switch msg.Type() {
			case channels.TypeWebsocketConnect:
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
					return err
				}
			case channels.TypeWebsocketReceive:
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": msg.String("text")}); err != nil {
					return err
				}
			case channels.TypeWebsocketDisconnect:
				by <- msg.String(ops.ClosedByKey)
				return nil
			}
		}
	})
}

// TestServiceDrain runs a Service: /healthz, /readyz and /metrics beside the application,
// FromHTTPHandler responses counted by status class (not "unknown"), and the drain on
// cancel: /readyz 503 while the WebSocket stays open, then close 1001 with closed_by
// "server" in the disconnect event, and Serve returning nil.
func TestServiceDrain(t *testing.T) {
	m, reg := newMetrics()
	by := make(chan string, 4)
	app := router.ProtocolType{
		channels.ScopeHTTP: channels.FromHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/teapot" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			_, _ = w.Write([]byte("plain"))
		})),
		channels.ScopeWebsocket: closedByApp(by),
	}
	opts := ops.DefaultOptions("127.0.0.1:0")
	opts.AccessLog = false
	wrapped, err := opts.Wrap(app, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	const delay = 300 * time.Millisecond
	svc := &ops.Service{
		Server:  &channels.Server{Application: wrapped, Logger: quiet},
		Metrics: m, Logger: quiet, DrainDelay: delay, ShutdownTimeout: testTimeout,
	}
	ln, err := ops.Listen(opts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx, ln) }()

	c := &http.Client{Timeout: testTimeout}
	defer c.CloseIdleConnections()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 200, "/teapot": 418} {
		if code, body := proctest.Get(t, c, base+path); code != want {
			t.Fatalf("%s = %d %q, want %d", path, code, body, want)
		}
	}
	expect(t, reg, map[string]float64{
		"gochannels_http_responses_total{class=2xx}":     1,
		"gochannels_http_responses_total{class=4xx}":     1,
		"gochannels_http_responses_total{class=unknown}": 0,
		"gochannels_bytes_sent_total{type=http}":         5, // "plain"
	})

	// A client that closes first: closed_by "client".
	conn := dial(t, ln.Addr().String(), "/ws/")
	sendText(t, conn, "hi")
	if s := readText(t, conn); s != "hi" {
		t.Fatalf("echo = %q", s)
	}
	closeFrom(t, conn, 1000)
	readClose(t, conn)
	if b := <-by; b != ops.SideClient {
		t.Fatalf("closed_by = %q after the client's close, want client", b)
	}

	// Drain: readyz fails at once while the socket stays open; then 1001.
	conn = dial(t, ln.Addr().String(), "/ws/")
	sendText(t, conn, "still here")
	if s := readText(t, conn); s != "still here" {
		t.Fatalf("echo = %q", s)
	}
	cancel()
	eventually(t, "/readyz 503", func() bool {
		code, _ := proctest.Get(t, c, base+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	if code, body := proctest.Get(t, c, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while draining = %d %q", code, body)
	}
	c.CloseIdleConnections()
	if code := readClose(t, conn); code != 1001 {
		t.Fatalf("close code during drain = %d, want 1001", code)
	}
	closeFrom(t, conn, 1001) // complete the closing handshake
	if b := <-by; b != ops.SideServer {
		t.Fatalf("closed_by = %q after shutdown, want server", b)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return")
	}
	expect(t, reg, map[string]float64{
		"gochannels_websocket_closes_total{code=1000,side=client}": 1,
		"gochannels_websocket_closes_total{code=1001,side=server}": 1,
	})
}

// TestListenUnix checks ops.Listen with a unix: address: scopes have an empty Client (not
// "@"), a stale socket file is replaced, a live one or a regular file is refused.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // leaves the file, as a killed process would

	ln, err := ops.Listen(ops.UnixPrefix + sock)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if _, err := ops.Listen(ops.UnixPrefix + sock); err == nil {
		t.Fatal("a second Listen on a live socket succeeded")
	}
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Listen(ops.UnixPrefix + regular); err == nil {
		t.Fatal("Listen replaced a regular file")
	}

	serveOverUnix(t, ln, sock)
}

// TestOptionsFlags checks the shared flags and Wrap's configuration errors.
func TestOptionsFlags(t *testing.T) {
	o := ops.DefaultOptions(":8000")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	if err := fs.Parse([]string{"-addr", "unix:/tmp/x.sock", "-proxy-headers", "10.0.0.0/8, unix", "-drain-delay", "0", "-access-log=false", "-shutdown-timeout", "3s"}); err != nil {
		t.Fatal(err)
	}
	if o.Addr != "unix:/tmp/x.sock" || o.ProxyHeaders != "10.0.0.0/8, unix" || o.DrainDelay != 0 || o.AccessLog || o.ShutdownTimeout != 3*time.Second {
		t.Fatalf("parsed %+v", o)
	}
	app := channels.ApplicationFunc(testApp)
	if _, err := o.Wrap(app, nil, quiet); err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	o.ProxyHeaders = "not-an-address"
	if _, err := o.Wrap(app, nil, quiet); err == nil || !strings.Contains(err.Error(), "not-an-address") {
		t.Fatalf("Wrap with a bad proxy list: %v", err)
	}
	o.ProxyHeaders, o.TLSCert = "", "cert.pem"
	if _, err := o.Wrap(app, nil, quiet); err == nil {
		t.Fatal("Wrap with -tls-cert alone succeeded")
	}
}
