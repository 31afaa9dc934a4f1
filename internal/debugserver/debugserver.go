// Package debugserver serves profiles and runtime counters for the servers the load tool
// measures (examples/chat -pprof, tools/cmd/bareserver -pprof), on loopback only: one
// endpoint, so that chatload -profile reads every server alike.
package debugserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"
)

// Profiling rates ServeDebug turns on: a blocking event of d is sampled with probability
// d/BlockProfileRate (pprof scales the counts back), one mutex contention in
// MutexProfileFraction.
const (
	BlockProfileRate     = 10 * time.Microsecond
	MutexProfileFraction = 10
)

// ServeDebug serves net/http/pprof under /debug/pprof/ and the runtime/metrics counters
// under /debug/metrics (RuntimeMetrics) on ln until ctx is done, with block and mutex
// profiling on. Profiles are not for the network: ln must be a loopback listener (see
// CheckLoopback), or ServeDebug returns an error at once. The load tool
// (tools/cmd/chatload -profile) reads both.
func ServeDebug(ctx context.Context, ln net.Listener) error {
	if err := CheckLoopback(ln.Addr().String()); err != nil {
		return err
	}
	runtime.SetBlockProfileRate(int(BlockProfileRate))
	runtime.SetMutexProfileFraction(MutexProfileFraction)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/metrics", RuntimeMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("debugserver: debug server: %w", err)
	}
	return nil
}

// RuntimeMetrics writes every cumulative runtime/metrics counter as "name value" lines, and
// for histograms "name#count total": /sched/latencies:seconds#count is the number of
// sampled goroutine schedulings (the runtime samples about one in eight).
func RuntimeMetrics(w http.ResponseWriter, _ *http.Request) {
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

// CheckLoopback reports an error unless addr ("host:port") is on a loopback address
// ("localhost", 127.0.0.0/8 or ::1).
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("debugserver: debug address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("debugserver: the debug address %q must be on loopback", addr)
	}
	return nil
}
