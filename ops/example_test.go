package ops_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/ops"
)

// hello answers every HTTP request with "hello".
func hello(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 200}); err != nil {
		return err
	}
	return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte("hello\n")})
}

// Example wires a production server: an instrumented application (with an access log) and
// an instrumented channel layer, /metrics, /healthz and /readyz beside the application in
// one mux, and SIGTERM → SetDraining → Shutdown.
func Example() {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil)) // os.Stderr in production
	reg := prometheus.NewRegistry()
	metrics := ops.NewMetrics(reg, "")

	layer := metrics.InstrumentLayer(layers.NewMemory(layers.MemoryOptions{})) // or ops.OpenLayer, for a -layer flag
	defer layer.Close()
	if err := metrics.WatchLayer(layer); err != nil {
		fmt.Println(err)
		return
	}
	// Your router or consumer here, built with consumer.WithLayer(layer).
	app := middleware.AccessLog(metrics.Instrument(channels.ApplicationFunc(hello)), logger)
	srv := &channels.Server{Application: app, Logger: logger}
	ready := ops.Readyz(layer, ops.ReadyOptions{})

	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler())
	mux.Handle("/healthz", ops.Healthz())
	mux.Handle("/readyz", ready)
	mux.Handle("/", srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ln, err := net.Listen("tcp", "127.0.0.1:0") // ":8000" in production
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	sigterm, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) string {
		resp, err := client.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	fmt.Println("/         ", get("/"))
	fmt.Println("/healthz  ", get("/healthz"))
	fmt.Println("/readyz   ", get("/readyz"))
	for _, line := range strings.Split(get("/metrics"), "\n") {
		if strings.HasPrefix(line, "gochannels_http_responses_total{class=\"2xx\"}") {
			fmt.Println("/metrics  ", line)
		}
	}

	// The orchestrator stops the process (here the example signals itself).
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	<-sigterm.Done()
	ready.SetDraining() // load balancers stop sending new connections...
	fmt.Println("draining: /readyz", get("/readyz"))
	// ...in production, wait a few probe intervals here before closing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil { // WebSockets get 1001 "going away"
		fmt.Println(err)
	}
	if err := hs.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	client.CloseIdleConnections()
	fmt.Println("stopped:", errors.Is(<-served, http.ErrServerClosed))
	// Output:
	// /          200 hello
	// /healthz   200 ok
	// /readyz    200 ok
	// /metrics   gochannels_http_responses_total{class="2xx"} 1
	// draining: /readyz 503 not ready: ops: draining: shutdown in progress
	// stopped: true
}
