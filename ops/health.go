package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/layers"
)

// Healthz returns the liveness handler: 200 "ok" for as long as the process serves HTTP at
// all. It checks nothing else on purpose: a liveness failure makes an orchestrator restart
// the process, which would not mend a channel layer that is away (readiness does that).
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// DefaultReadyTimeout bounds one readiness check of the layer.
const DefaultReadyTimeout = time.Second

// ReadyOptions configures Readyz.
type ReadyOptions struct {
	// Timeout bounds one check of the layer (DefaultReadyTimeout when <= 0).
	Timeout time.Duration
}

// Readiness is the readiness handler Readyz returns: 200 "ok" while the channel layer
// answers and no shutdown has begun, 503 with the reason otherwise.
type Readiness struct {
	layer    layers.Layer
	timeout  time.Duration
	draining atomic.Bool
}

// ErrDraining is the readiness error once SetDraining was called.
var ErrDraining = errors.New("ops: draining: shutdown in progress")

// Readyz returns a readiness handler for load balancers. Each request checks the layer with
// a short timeout with layers.Ping: the layer's Ping when it has one (the Redis layers),
// otherwise a cheap round trip. A nil layer
// is always reachable. Call SetDraining when a shutdown starts, so that the load balancer
// stops sending new connections while the existing ones finish.
func Readyz(l layers.Layer, opts ReadyOptions) *Readiness {
	r := &Readiness{layer: l, timeout: opts.Timeout}
	if r.timeout <= 0 {
		r.timeout = DefaultReadyTimeout
	}
	return r
}

// SetDraining makes every later check fail with ErrDraining. It cannot be undone.
func (r *Readiness) SetDraining() { r.draining.Store(true) }

// Draining reports whether SetDraining was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// Check returns nil when the process is ready for traffic, ErrDraining once a shutdown
// began, and the layer's error (wrapped) when it does not answer within the timeout.
func (r *Readiness) Check(ctx context.Context) error {
	if r.draining.Load() {
		return ErrDraining
	}
	if r.layer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := layers.Ping(ctx, r.layer); err != nil {
		return fmt.Errorf("ops: channel layer unreachable: %w", err)
	}
	return nil
}

// ServeHTTP answers 200 "ok" when Check passes and 503 with the error text otherwise.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := r.Check(req.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
