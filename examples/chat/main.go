// Command chat serves the Django Channels tutorial's chat: open http://localhost:8000/,
// enter a room name, and chat with everyone in the same room.
//
//	go run ./examples/chat -addr :8000 -layer redis://localhost:6379/0
//
// Without -layer it uses $CHANNEL_LAYER_URL, and without that the in-memory layer (one
// process). With a Redis layer several processes, Go or Django, share the rooms.
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

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/middleware"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], logger, nil); err != nil {
		logger.Error("chat", "error", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. ready, when not nil, receives the
// listening address.
func run(ctx context.Context, args []string, logger *slog.Logger, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	addr := fs.String("addr", ":8000", "address to listen on")
	layerURL := fs.String("layer", "", "channel layer URL (default $"+layers.EnvURL+", else memory://)")
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin, Django style (default: this machine)")
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
	// As in the tutorial: WebSocket handshakes only from pages of the allowed hosts.
	app := middleware.AllowedHostsOriginValidator(chat.NewApplication(layer, logger), allowed...)
	srv := &channels.Server{Addr: *addr, Application: app, Logger: logger}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("chat: serving", "addr", ln.Addr().String(), "layer", layers.Redact(*layerURL))
	if ready != nil {
		ready <- ln.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
