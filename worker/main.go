package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Exit codes of Main and Command.
const (
	ExitOK      = 0 // stopped gracefully
	ExitFailure = 1 // the layer could not be reached, or the stop had to abandon messages
	ExitUsage   = 2 // bad arguments or flags: no channel, an unknown channel, a malformed layer URL
)

// NewApplication builds the application a runworker command hosts, given the layer it will
// run on. It is called once, before the layer is open (so that -h can list the channels):
// keep the layer for later calls, and do not call it while building.
type NewApplication func(l layers.Layer) channels.Application

// MainOption configures Main and Command.
type MainOption func(*mainConfig)

type mainConfig struct {
	name          string
	stopTimeout   time.Duration
	probeAttempts int
	probeTimeout  time.Duration
	probeWait     time.Duration
	worker        func(*Worker)
}

// WithName sets the program name shown in usage and logs (default: the executable's name).
func WithName(name string) MainOption { return func(c *mainConfig) { c.name = name } }

// WithStopTimeout sets the default of the -stop-timeout flag (DefaultStopTimeout otherwise).
func WithStopTimeout(d time.Duration) MainOption { return func(c *mainConfig) { c.stopTimeout = d } }

// WithProbe sets how the layer's reachability is checked at start: attempts tries, each
// bounded by timeout, wait apart (default 3 tries of 2s, 1s apart).
func WithProbe(attempts int, timeout, wait time.Duration) MainOption {
	return func(c *mainConfig) {
		c.probeAttempts, c.probeTimeout, c.probeWait = max(attempts, 1), timeout, wait
	}
}

// WithWorker lets the program adjust the Worker (ChannelConcurrency, MaxBackoff, ...) after
// the flags have set it up and before it starts.
func WithWorker(f func(*Worker)) MainOption { return func(c *mainConfig) { c.worker = f } }

// Main runs a runworker command for the application newApp builds and exits: it serves the
// channels named as arguments until SIGINT or SIGTERM, then stops gracefully. An
// application's cmd/runworker is one call:
//
//	func main() { worker.Main(tasks.NewWorkerApplication) }
//
// Usage: runworker [-layer URL] [-concurrency N] [-log-level L] [-stop-timeout D] channel...
// The layer defaults to $CHANNEL_LAYER_URL, else memory:// (with a warning: an in-memory
// layer serves only this process). See Command for the exit codes.
func Main(newApp NewApplication, opts ...MainOption) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Command(ctx, newApp, os.Args[1:], os.Stderr, opts...)
	stop()
	os.Exit(code)
}

// Command is Main without the signals and the exit: it serves until ctx is done and returns
// the exit code — ExitOK, ExitUsage for bad arguments (no channel named, a channel the
// application does not route, a malformed layer URL, bad flags) and ExitFailure when the
// layer cannot be reached (after a bounded retry) or the stop had to abandon messages.
// Errors, usage and logs go to stderr.
func Command(ctx context.Context, newApp NewApplication, args []string, stderr io.Writer, opts ...MainOption) int {
	cfg := mainConfig{
		name:          filepath.Base(os.Args[0]),
		stopTimeout:   DefaultStopTimeout,
		probeAttempts: 3,
		probeTimeout:  2 * time.Second,
		probeWait:     time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	bound := &boundLayer{}
	app := newApp(bound)
	var routed []string
	if nl, ok := app.(NameLister); ok {
		routed = nl.Names()
	}

	fs := flag.NewFlagSet(cfg.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	layerURL := fs.String("layer", "", "channel layer URL (default $"+layers.EnvURL+", else memory://, which serves only this process)")
	concurrency := fs.Int("concurrency", 1, "application instances per channel, each handling one message at a time")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	stopTimeout := fs.Duration("stop-timeout", cfg.stopTimeout, "how long in-flight messages may take to finish at SIGINT/SIGTERM")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags] channel...\n\nServes the application's background consumers on the named channels of the channel layer.\n", cfg.name)
		if routed != nil {
			fmt.Fprintf(stderr, "\nChannels this application routes:\n")
			for _, n := range routed {
				fmt.Fprintf(stderr, "  %s\n", n)
			}
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage // the flag package printed the error and the usage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: %s\n", cfg.name, fmt.Sprintf(format, a...))
		return code
	}
	names := fs.Args()
	if len(names) == 0 {
		if routed != nil {
			return fail(ExitUsage, "name at least one channel to serve (this application routes: %s)", strings.Join(routed, ", "))
		}
		return fail(ExitUsage, "name at least one channel to serve")
	}
	if err := CheckNames(names, routed); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if *concurrency < 1 {
		return fail(ExitUsage, "-concurrency %d: want at least 1", *concurrency)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fail(ExitUsage, "-log-level %q: want debug, info, warn or error", *logLevel)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rawURL := *layerURL
	if rawURL == "" {
		rawURL = os.Getenv(layers.EnvURL)
	}
	if rawURL == "" || strings.HasPrefix(rawURL, "memory:") {
		logger.Warn("using an in-memory channel layer: it serves only this process, so nothing outside it can send to these channels; set -layer or $" + layers.EnvURL + " (e.g. redis://localhost:6379/0)")
	}
	l, err := layers.Open(ctx, rawURL)
	if err != nil {
		return fail(ExitUsage, "bad layer URL: %v", err)
	}
	defer l.Close()
	if err := probe(ctx, l, cfg); err != nil {
		return fail(ExitFailure, "the channel layer %s cannot be reached: %v", layers.Redact(rawURL), err)
	}
	bound.bind(l)

	w := &Worker{
		Layer:       l,
		Application: app,
		Channels:    names,
		Concurrency: *concurrency,
		StopTimeout: *stopTimeout,
		Logger:      logger,
	}
	if cfg.worker != nil {
		cfg.worker(w)
	}
	err = w.Run(ctx)
	for _, name := range names {
		s := w.Stats()[name]
		logger.Info("worker: channel totals", "channel", name, "handled", s.Handled, "failed", s.Failed, "restarts", s.Restarts, "receive_errors", s.ReceiveErrors)
	}
	if err != nil {
		return fail(ExitFailure, "%v", err)
	}
	return ExitOK
}

// probe checks that the layer answers: Ping when it has one, otherwise removing a channel
// from a probe group (a harmless round trip), a few times before giving up.
func probe(ctx context.Context, l layers.Layer, cfg mainConfig) error {
	var err error
	for i := 0; i < cfg.probeAttempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(cfg.probeWait):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.probeTimeout)
		err = layers.Ping(pctx, l)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d attempts: %w", cfg.probeAttempts, err)
}
