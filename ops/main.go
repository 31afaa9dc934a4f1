package ops

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a command's body the way every gochannels program starts: a text slog logger on
// standard error, a context cancelled by SIGINT or SIGTERM (so that run can drain and shut
// down gracefully), and the arguments after the program name. It returns when run does;
// flag.ErrHelp (the usage was printed for -h) exits 0, any other error is logged under name
// and exits 1.
func Main(name string, run func(ctx context.Context, args []string, logger *slog.Logger) error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], logger)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		logger.Error(name, "error", err)
		os.Exit(1)
	}
}
