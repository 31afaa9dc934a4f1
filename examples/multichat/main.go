// Command multichat serves a multi-room chat with accounts, history and staff-only rooms, the
// Go counterpart of the Django Channels multichat example: open http://localhost:8000/, sign
// up (the first account is staff), and join rooms.
//
//	go run ./examples/multichat                                   # one process, in-memory layer
//	go run ./examples/multichat -addr :8001 -layer redis://localhost:6379/0
//	go run ./examples/multichat -worker-only -layer redis://localhost:6379/0
//
// Without -layer it uses $CHANNEL_LAYER_URL, and without that the in-memory layer (one
// process). See README.md for the protocol and for running several processes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], logger, nil); err != nil {
		logger.Error("multichat", "error", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. ready, when not nil, receives the
// listening address (nil with -worker-only).
func run(ctx context.Context, args []string, logger *slog.Logger, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("multichat", flag.ContinueOnError)
	addr := fs.String("addr", ":8000", "address to listen on")
	layerURL := fs.String("layer", "", "channel layer URL (default $"+layers.EnvURL+", else memory://)")
	dbPath := fs.String("db", "multichat.db", "SQLite database file, shared by the processes of one host")
	worker := fs.Bool("worker", true, "run the background consumer (message history) in this process")
	workerOnly := fs.Bool("worker-only", false, "run only the background consumer, no HTTP server")
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin, Django style (default: localhost, 127.0.0.1, [::1])")
	staff := fs.String("staff", "", "make this user staff (at start-up, or when they sign up)")
	secure := fs.Bool("secure-cookies", false, "mark cookies Secure (when served over HTTPS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	layer, err := layers.OpenEnv(ctx, *layerURL)
	if err != nil {
		return fmt.Errorf("open the channel layer: %w", err)
	}
	defer layer.Close()

	var allowed []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	app, err := multichat.New(ctx, multichat.Config{
		DBPath: *dbPath, Layer: layer, Worker: *worker || *workerOnly, AllowedHosts: allowed,
		Staff: *staff, SecureCookies: *secure, Logger: logger,
	})
	if err != nil {
		return err
	}
	if *workerOnly {
		logger.Info("multichat: background worker running", "channel", multichat.HistoryChannel, "layer", layers.Redact(*layerURL))
		if ready != nil {
			ready <- nil
		}
		<-ctx.Done()
		logger.Info("multichat: worker shutting down")
		return app.Close()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		app.Close()
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("multichat: serving", "url", "http://"+displayAddr(ln.Addr()), "db", *dbPath, "worker", *worker, "layer", layers.Redact(*layerURL))
	if ready != nil {
		ready <- ln.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- app.Serve(ln) }()
	select {
	case err := <-errc:
		app.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("multichat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// displayAddr turns ":8000" listeners into "localhost:8000" for the log line.
func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") || strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + s[strings.LastIndex(s, ":")+1:]
	}
	return s
}
