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

// NewApplication builds the application a runworker command hosts on the layer l. Command
// calls it twice: with a nil layer, before any layer is open, only to learn the channels the
// application routes (for -h and to check the channels named on the command line), then with
// the open layer to serve. So it must not use the layer while building: keep it for later
// calls, as consumer.WithLayer does.
type NewApplication func(l layers.Layer) channels.Application

// MainOptions configure Main and Command. The zero value is the defaults.
type MainOptions struct {
	// Name is the program name shown in usage and messages (default: the executable's name).
	Name string
	// StopTimeout is the default of the -stop-timeout flag (DefaultStopTimeout when zero).
	StopTimeout time.Duration
	// ProbeAttempts, ProbeTimeout and ProbeWait set how the layer's reachability is checked
	// at start: ProbeAttempts tries, each bounded by ProbeTimeout, ProbeWait apart (when
	// zero: 3 tries of 2s, 1s apart).
	ProbeAttempts           int
	ProbeTimeout, ProbeWait time.Duration
	// Worker, when not nil, adjusts the Worker (ChannelConcurrency, MaxBackoff, ...) after
	// the flags have set it up and before it starts.
	Worker func(*Worker)
}

// withDefaults returns o with its zero fields set to the defaults.
func (o MainOptions) withDefaults() MainOptions {
	if o.Name == "" {
		o.Name = filepath.Base(os.Args[0])
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.ProbeAttempts <= 0 {
		o.ProbeAttempts = 3
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 2 * time.Second
	}
	if o.ProbeWait <= 0 {
		o.ProbeWait = time.Second
	}
	return o
}

// Main runs a runworker command for the application newApp builds and exits: it serves the
// channels named as arguments until SIGINT or SIGTERM, then stops gracefully. An
// application's cmd/runworker is one call:
//
//	func main() { worker.Main(tasks.NewWorkerApplication, worker.MainOptions{}) }
//
// Usage: runworker [-layer URL] [-concurrency N] [-log-level L] [-stop-timeout D] channel...
// The layer defaults to $CHANNEL_LAYER_URL, else memory:// (with a warning: an in-memory
// layer serves only this process). See Command for the exit codes.
func Main(newApp NewApplication, opts MainOptions) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Command(ctx, newApp, os.Args[1:], os.Stderr, opts)
	stop()
	os.Exit(code)
}

// Command is Main without the signals and the exit: it serves until ctx is done and returns
// the exit code — ExitOK, ExitUsage for bad arguments (no channel named, a channel the
// application does not route, a malformed layer URL, bad flags) and ExitFailure when the
// layer cannot be reached (after a bounded retry) or the stop had to abandon messages.
// Errors, usage and logs go to stderr, the layer packages' own logs (go-redis's) included
// (see layers.URLFlag.Open).
func Command(ctx context.Context, newApp NewApplication, args []string, stderr io.Writer, opts MainOptions) int {
	cfg := opts.withDefaults()
	fs := flag.NewFlagSet(cfg.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	layerFlag := layers.Flag(fs)
	concurrency := fs.Int("concurrency", 1, "application instances per channel, each handling one message at a time")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	stopTimeout := fs.Duration("stop-timeout", cfg.StopTimeout, "how long in-flight messages may take to finish at SIGINT/SIGTERM")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags] channel...\n\nServes the application's background consumers on the named channels of the channel layer.\n", cfg.Name)
		if routed := routedChannels(newApp); routed != nil {
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
		fmt.Fprintf(stderr, "%s: %s\n", cfg.Name, fmt.Sprintf(format, a...))
		return code
	}
	routed := routedChannels(newApp)
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

	if strings.HasPrefix(layerFlag.URL(), "memory:") {
		logger.Warn("using an in-memory channel layer: it serves only this process, so nothing outside it can send to these channels; set -layer or $" + layers.EnvURL + " (e.g. redis://localhost:6379/0)")
	}
	l, err := layerFlag.Open(ctx, logger)
	if err != nil {
		return fail(ExitUsage, "bad layer URL: %v", err)
	}
	defer l.Close()
	if err := probe(ctx, l, cfg); err != nil {
		return fail(ExitFailure, "the channel layer %s cannot be reached: %v", layerFlag.Redacted(), err)
	}

	w := &Worker{
		Layer:       l,
		Application: newApp(l),
		Channels:    names,
		Concurrency: *concurrency,
		StopTimeout: *stopTimeout,
		Logger:      logger,
	}
	if cfg.Worker != nil {
		cfg.Worker(w)
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

// routedChannels returns the channels the application newApp builds routes, nil when it
// does not say (see NameLister). It builds the application on no layer, only to ask.
func routedChannels(newApp NewApplication) []string {
	if nl, ok := newApp(nil).(NameLister); ok {
		return nl.Names()
	}
	return nil
}

// probe checks that the layer answers: Ping when it has one, otherwise removing a channel
// from a probe group (a harmless round trip), a few times before giving up.
func probe(ctx context.Context, l layers.Layer, cfg MainOptions) error {
	var err error
	for i := 0; i < cfg.ProbeAttempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(cfg.ProbeWait):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.ProbeTimeout)
		err = layers.Ping(pctx, l)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d attempts: %w", cfg.ProbeAttempts, err)
}
