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
//
// Beside the site it serves Prometheus metrics at /metrics (with the in-process worker's
// counters), /healthz and /readyz, and logs one line per request and connection. On SIGTERM
// or SIGINT /readyz fails at once; after -drain-delay the WebSockets are closed with 1001 and
// the consumers awaited (at most -shutdown-timeout), then the worker stops. -addr
// unix:/path listens on a unix socket, -proxy-headers trusts a reverse proxy's
// X-Forwarded-For; -h lists every flag.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/background/tasks"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/ops"
	"github.com/gochannels/gochannels/worker"
)

func main() {
	ops.Main("background", func(ctx context.Context, args []string, logger *slog.Logger) error {
		return run(ctx, args, logger, nil)
	})
}

// started describes the running program to tests.
type started struct {
	addr   net.Addr
	layer  layers.Layer
	worker *worker.Worker // nil when the worker runs elsewhere
}

// run serves until ctx is done, then drains, stops the server and then the worker
// gracefully. ready, when not nil, is called once the server listens.
func run(ctx context.Context, args []string, logger *slog.Logger, ready func(started)) error {
	fs := flag.NewFlagSet("background", flag.ContinueOnError)
	opts := ops.DefaultOptions(":8000")
	opts.RegisterFlags(fs)
	ops.SetUsage(fs, "background tasks: POST /tasks, progress over /ws/tasks/")
	layerFlag := layers.Flag(fs)
	inProcess := fs.Bool("worker", false, "also run the background-tasks worker in this process (always on with the in-memory layer)")
	stepDelay := fs.Duration("step-delay", 300*time.Millisecond, "pause after each step of a task, so that its progress can be watched")
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin (default: this machine)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	metrics := ops.NewMetrics(nil, "")
	layer, err := ops.OpenLayer(ctx, layerFlag, metrics, logger)
	if err != nil {
		return err
	}
	defer layer.Close()

	st := started{layer: layer}
	if _, memory := layers.Unwrap(layer).(*layers.Memory); memory || *inProcess {
		// One process: the worker's consumers run in goroutines beside the server. It is
		// stopped after the server, so that the tasks the last requests queued are taken.
		st.worker = &worker.Worker{Layer: layer, Application: metrics.Instrument(tasks.NewWorkerApplication(layer)), Channels: []string{tasks.Channel}, Logger: logger}
		if err := st.worker.Start(context.WithoutCancel(ctx)); err != nil { // stopped below, not by the signal
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*worker.DefaultStopTimeout)
			defer cancel()
			if err := st.worker.Stop(sctx); err != nil {
				logger.Error("background: worker stop", "error", err)
			}
		}()
		if err := metrics.WatchWorker(st.worker); err != nil {
			logger.Warn("background: no worker statistics in /metrics", "error", err)
		}
	} else {
		logger.Info("background: tasks go to the layer; run the worker with: go run ./cmd/runworker background-tasks")
	}

	var allowed []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	app, err := opts.Wrap(middleware.AllowedHostsOriginValidator(tasks.NewApplication(layer, tasks.Options{StepDelay: *stepDelay, Logger: logger}), allowed...), metrics, logger)
	if err != nil {
		return err
	}
	svc := opts.Service(&channels.Server{Application: app, Logger: logger}, metrics, ops.Readyz(layer, ops.ReadyOptions{}), logger)
	ln, err := ops.Listen(opts.Addr)
	if err != nil {
		return err
	}
	st.addr = ln.Addr()
	logger.Info("background: serving", "addr", ln.Addr().String())
	if ready != nil {
		ready(st)
	}
	err = svc.Serve(ctx, ln)
	logger.Info("background: stopped")
	return err
}
