// Command background serves the background-tasks example: open http://localhost:8000/, ask
// for the primes below some n, and watch a background worker compute them step by step.
//
//	go run ./examples/background
//
// runs everything in one process: the web server and, on the in-memory layer, the worker
// (worker.Start). Across processes, over Redis:
//
//	go run ./examples/background -layer redis://localhost:6379/0
//	go run ./cmd/runworker -layer redis://localhost:6379/0 background-tasks
//
// Without -layer it uses $CHANNEL_LAYER_URL, and without that the in-memory layer. With a
// shared layer the worker runs in this process only when -worker is given.
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
	"github.com/gochannels/gochannels/examples/background/tasks"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/worker"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], logger, nil); err != nil {
		logger.Error("background", "error", err)
		os.Exit(1)
	}
}

// started describes the running program to tests.
type started struct {
	addr   net.Addr
	layer  layers.Layer
	worker *worker.Worker // nil when the worker runs elsewhere
}

// run serves until ctx is done, then stops the server and the worker gracefully. ready, when
// not nil, is called once the server listens.
func run(ctx context.Context, args []string, logger *slog.Logger, ready func(started)) error {
	fs := flag.NewFlagSet("background", flag.ContinueOnError)
	addr := fs.String("addr", ":8000", "address to listen on")
	layerURL := fs.String("layer", "", "channel layer URL (default $"+layers.EnvURL+", else memory://)")
	inProcess := fs.Bool("worker", false, "also run the background-tasks worker in this process (always on with the in-memory layer)")
	stepDelay := fs.Duration("step-delay", 300*time.Millisecond, "pause after each step of a task, so that its progress can be watched")
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin (default: this machine)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rawURL := *layerURL
	if rawURL == "" {
		rawURL = os.Getenv(layers.EnvURL)
	}
	layer, err := layers.Open(ctx, rawURL)
	if err != nil {
		return fmt.Errorf("open the channel layer: %w", err)
	}
	defer layer.Close()

	st := started{layer: layer}
	if _, memory := layer.(*layers.Memory); memory || *inProcess {
		// One process: the worker's consumers run in goroutines beside the server.
		st.worker = &worker.Worker{Layer: layer, Application: tasks.NewWorkerApplication(layer), Logger: logger}
		if err := st.worker.Start(ctx); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*worker.DefaultStopTimeout)
			defer cancel()
			if err := st.worker.Stop(sctx); err != nil {
				logger.Error("background: worker stop", "error", err)
			}
		}()
	} else {
		logger.Info("background: tasks go to the layer; run the worker with: go run ./cmd/runworker background-tasks", "layer", layers.Redact(rawURL))
	}

	var allowed []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	app := middleware.AllowedHostsOriginValidator(tasks.NewApplication(layer, tasks.Options{StepDelay: *stepDelay, Logger: logger}), allowed...)
	srv := &channels.Server{Addr: *addr, Application: app, Logger: logger}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	st.addr = ln.Addr()
	logger.Info("background: serving", "addr", ln.Addr().String())
	if ready != nil {
		ready(st)
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
