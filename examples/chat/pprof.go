package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"
)

// Profiling rates -pprof turns on: a blocking event of d is sampled with probability
// d/blockProfileRate (pprof scales the counts back), one mutex contention in
// mutexProfileFraction.
const (
	blockProfileRate     = 10 * time.Microsecond
	mutexProfileFraction = 10
)

// pprofFlag defines -pprof: a loopback address for profiles, off by default.
func pprofFlag(fs *flag.FlagSet) *string {
	return fs.String("pprof", "", "loopback address (127.0.0.1:6060) to serve net/http/pprof and /debug/metrics (runtime/metrics counters) on, with block and mutex profiling on; empty: off")
}

// startPprof serves net/http/pprof under /debug/pprof/ and the cumulative runtime/metrics
// counters under /debug/metrics on addr, which must be a loopback address, until ctx is
// done or the returned stop is called.
func startPprof(ctx context.Context, addr string, logger *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("chat: -pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("chat: -pprof %q: profiles are served on loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chat: -pprof: %w", err)
	}
	runtime.SetBlockProfileRate(int(blockProfileRate))
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/metrics", runtimeMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("chat: pprof server", "error", err)
		}
	}()
	logger.Info("chat: pprof", "addr", ln.Addr().String())
	unhook := context.AfterFunc(ctx, func() { _ = srv.Close() })
	return func() { unhook(); _ = srv.Close(); <-done }, nil
}

// runtimeMetrics writes every cumulative runtime/metrics counter as "name value" lines, and
// for histograms "name#count total" (/sched/latencies:seconds#count counts the sampled
// goroutine schedulings: the runtime samples about one in eight).
func runtimeMetrics(w http.ResponseWriter, _ *http.Request) {
	all := metrics.All()
	samples := make([]metrics.Sample, 0, len(all))
	for _, d := range all {
		if d.Cumulative && !strings.HasPrefix(d.Name, "/godebug/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	var b strings.Builder
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(&b, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(&b, "%s %g\n", s.Name, s.Value.Float64())
		case metrics.KindFloat64Histogram:
			var n uint64
			for _, c := range s.Value.Float64Histogram().Counts {
				n += c
			}
			fmt.Fprintf(&b, "%s#count %d\n", s.Name, n)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
