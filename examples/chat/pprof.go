package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/gochannels/gochannels/internal/debugserver"
)

// pprofFlag defines -pprof: a loopback address for profiles, off by default.
func pprofFlag(fs *flag.FlagSet) *string {
	return fs.String("pprof", "", "loopback address (127.0.0.1:6060) to serve net/http/pprof and /debug/metrics (runtime/metrics counters) on, with block and mutex profiling on; empty: off")
}

// startPprof serves profiles and the runtime/metrics counters (debugserver.ServeDebug) on addr,
// which must be a loopback address, until ctx is done or the returned stop is called.
func startPprof(ctx context.Context, addr string, logger *slog.Logger) (stop func(), err error) {
	if err := debugserver.CheckLoopback(addr); err != nil {
		return nil, fmt.Errorf("chat: -pprof: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chat: -pprof: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := debugserver.ServeDebug(ctx, ln); err != nil {
			logger.Error("chat: pprof server", "error", err)
		}
	}()
	logger.Info("chat: pprof", "addr", ln.Addr().String())
	return func() { cancel(); <-done }, nil
}
