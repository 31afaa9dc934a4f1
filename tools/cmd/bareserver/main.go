// Command bareserver runs the bare reference broadcast server (package
// tools/bareserver): the examples/chat wire protocol on gobwas/ws with no framework, no
// consumers and no channel layer, one process. It is a measuring stick for the load tool,
// NOT part of gochannels:
//
//	go run ./tools/cmd/bareserver -addr 127.0.0.1:8000
//	go run ./tools/cmd/chatload -server bare -clients 100 -senders 10 -inflight 50
//
// -pprof 127.0.0.1:6061 also serves net/http/pprof and /debug/metrics (runtime/metrics
// counters) there, with block and mutex profiling on. SIGINT/SIGTERM close every WebSocket
// with 1001 and exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gochannels/gochannels/internal/debugserver"
	"github.com/gochannels/gochannels/tools/bareserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], logger, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		logger.Error("bareserver: exiting", "error", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx is done; ready, when not nil, receives the listening address.
func run(ctx context.Context, args []string, logger *slog.Logger, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("bareserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on")
	pprofAddr := fs.String("pprof", "", "loopback address to serve net/http/pprof and /debug/metrics on (empty: off)")
	queue := fs.Int("queue-bytes", bareserver.DefaultQueueBytes, "bound on the bytes queued for one connection; past it the connection is closed with 1008 \"slow client\"")
	writeTimeout := fs.Duration("write-timeout", bareserver.DefaultWriteTimeout, "bound on one batched write; past it the connection is closed as a slow client")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bareserver: unexpected arguments %q", fs.Args())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	debugDone := make(chan error, 1)
	if *pprofAddr != "" {
		if err := debugserver.CheckLoopback(*pprofAddr); err != nil {
			return err
		}
		dl, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("bareserver: debug listener: %w", err)
		}
		logger.Info("bareserver: pprof", "addr", dl.Addr().String())
		go func() { debugDone <- debugserver.ServeDebug(ctx, dl) }()
	} else {
		debugDone <- nil
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		cancel()
		<-debugDone
		return fmt.Errorf("bareserver: listen: %w", err)
	}
	logger.Info("bareserver: serving", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr()
	}
	srv := bareserver.New(bareserver.Config{QueueBytes: *queue, WriteTimeout: *writeTimeout, Logger: logger})
	err = srv.Serve(ctx, ln)
	cancel()
	return errors.Join(err, <-debugDone)
}
