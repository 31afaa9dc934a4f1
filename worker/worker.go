package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Defaults for the Worker fields left zero.
const (
	// DefaultStopTimeout is how long Stop lets in-flight messages finish before it cancels
	// the applications' context.
	DefaultStopTimeout = 10 * time.Second
	// DefaultPollInterval bounds one layer Receive call; a stop waits at most this long for
	// a receive in progress.
	DefaultPollInterval = time.Second
	// DefaultMaxBackoff caps the wait between retries of a failing layer and between
	// restarts of a failing application.
	DefaultMaxBackoff = 5 * time.Second
)

// minBackoff is the first wait after a failure.
const minBackoff = 50 * time.Millisecond

// forceWait is how long Stop waits for applications to return after their context is
// canceled.
const forceWait = 5 * time.Second

var (
	// ErrStopTimeout is returned (wrapped) by Stop and Run when messages were still in flight
	// at the stop deadline and the applications' context had to be canceled.
	ErrStopTimeout = errors.New("worker: in-flight messages did not finish before the stop deadline")
	// ErrUnknownChannel is returned (wrapped) for a channel name the application does not
	// route.
	ErrUnknownChannel = errors.New("worker: the application does not route this channel")
	// ErrNoChannels is returned when a worker is started with no channel to serve.
	ErrNoChannels = errors.New("worker: no channel to serve")
)

// NameLister is implemented by applications that know the channels they route, such as
// router.ChannelName. A Worker with no Channels serves all of them, and refuses a channel
// not in the list.
type NameLister interface {
	Names() []string
}

// FailureReporter is implemented by the Receiver a Worker hands its applications. An
// application that deals with a failed message itself and goes on (consumer.New logs a
// failing handler and carries on) calls ReportFailure after handling msg, so that the worker
// logs the failure with its channel and counts it in Stats. An application that returns an
// error or panics needs no report: the worker sees that itself.
type FailureReporter interface {
	ReportFailure(msg channels.Message, err error)
}

// Worker hosts a channel-scope application on named channels of a layer. Set the fields,
// then call Run (or Start and Stop). Fields must not change once the worker has started.
type Worker struct {
	// Layer carries the channels' messages. Required.
	Layer layers.Layer
	// Application is called once per channel (and per concurrent instance) with the scope
	// {Type: "channel", Channel: name}. Required.
	Application channels.Application
	// Channels are the channel names to serve. When empty, the names the application lists
	// (see NameLister).
	Channels []string
	// Concurrency is the number of application instances per channel, each handling one
	// message at a time (1 when zero, as in Django).
	Concurrency int
	// ChannelConcurrency overrides Concurrency for some channels.
	ChannelConcurrency map[string]int
	// StopTimeout bounds how long a stop waits for in-flight messages (DefaultStopTimeout
	// when zero).
	StopTimeout time.Duration
	// PollInterval bounds one layer Receive call (DefaultPollInterval when zero).
	PollInterval time.Duration
	// MaxBackoff caps the waits between retries (DefaultMaxBackoff when zero).
	MaxBackoff time.Duration
	// Logger receives failures, restarts and layer outages (slog.Default() when nil).
	Logger *slog.Logger

	mu       sync.Mutex
	started  bool
	states   []*channelState
	stopping chan struct{} // closed when the stop begins: receive no more
	stopReq  chan struct{} // closed by Stop
	stopOnce sync.Once
	appCtx   context.Context
	cancel   context.CancelFunc // cancels appCtx
	pollBase context.Context    // parent of each layer Receive
	slots    sync.WaitGroup
	done     chan struct{} // closed when every slot has ended
	err      error         // the stop's outcome, set before done is closed
}

// ChannelStats is a snapshot of one channel's counters.
type ChannelStats struct {
	// Handled counts messages the application finished with no failure.
	Handled uint64
	// Failed counts messages whose handling failed: the application returned an error or
	// panicked while handling it, or reported it (FailureReporter).
	Failed uint64
	// InFlight is the number of messages handed to the application and not yet finished.
	InFlight int64
	// Restarts counts application instances started again after one ended.
	Restarts uint64
	// ReceiveErrors counts failed layer Receive calls (each retried).
	ReceiveErrors uint64
}

// channelState is one channel's configuration and counters, shared by its slots.
type channelState struct {
	name      string
	instances int

	handled, failed, restarts, recvErrors atomic.Uint64
	inFlight                              atomic.Int64

	outage      atomic.Bool  // a layer outage is in progress (logged once)
	outageStart atomic.Int64 // unix nanoseconds
}

// Start validates the configuration and starts serving in background goroutines. The worker
// stops gracefully when ctx is done or Stop is called; the applications' context carries
// ctx's values but not its cancellation.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("worker: Start called twice")
	}
	states, err := w.plan()
	if err != nil {
		return err
	}
	w.started = true
	w.states = states
	w.stopping = make(chan struct{})
	w.stopReq = make(chan struct{})
	w.done = make(chan struct{})
	w.appCtx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	// The memory layer's Receive never loses a message to a cancellation, so a stop may
	// interrupt it at once; any other layer (Redis) gets deadlines only.
	w.pollBase = context.Background()
	if _, ok := layers.Unwrap(w.Layer).(*layers.Memory); ok {
		stopCtx, cancel := context.WithCancel(context.Background())
		w.pollBase = stopCtx
		go func() { <-w.stopping; cancel() }()
	}
	for _, cs := range states {
		for i := 0; i < cs.instances; i++ {
			w.slots.Add(1)
			go w.runSlot(cs)
		}
	}
	slotsDone := make(chan struct{})
	go func() { w.slots.Wait(); close(slotsDone) }()
	go w.supervise(ctx, slotsDone)
	w.logger().Info("worker: serving", "channels", w.names())
	return nil
}

// plan validates the fields and returns the channels to serve.
func (w *Worker) plan() ([]*channelState, error) {
	if w.Layer == nil {
		return nil, errors.New("worker: no Layer set")
	}
	if w.Application == nil {
		return nil, errors.New("worker: no Application set")
	}
	if w.Concurrency < 0 {
		return nil, fmt.Errorf("worker: Concurrency %d is negative", w.Concurrency)
	}
	names := w.Channels
	var routed []string
	if nl, ok := w.Application.(NameLister); ok {
		routed = nl.Names()
		if len(names) == 0 {
			names = routed
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: set Channels, or use an application that lists its channels (router.ChannelName)", ErrNoChannels)
	}
	if err := CheckNames(names, routed); err != nil {
		return nil, err
	}
	for name, n := range w.ChannelConcurrency {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("worker: ChannelConcurrency names channel %q, which is not served (serving: %s)", name, strings.Join(names, ", "))
		}
		if n < 1 {
			return nil, fmt.Errorf("worker: ChannelConcurrency[%q] = %d; want at least 1", name, n)
		}
	}
	states := make([]*channelState, len(names))
	for i, name := range names {
		n := max(w.Concurrency, 1)
		if c, ok := w.ChannelConcurrency[name]; ok {
			n = c
		}
		states[i] = &channelState{name: name, instances: n}
	}
	return states, nil
}

// CheckNames reports whether names can be served by a worker: each a valid normal channel
// name (not process-specific), no duplicates, and, when routed is not nil, each one of the
// routed names. The error says which name is wrong and why.
func CheckNames(names, routed []string) error {
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if err := layers.ValidateChannelName(name); err != nil {
			return fmt.Errorf("worker: channel %q: %w", name, err)
		}
		if layers.IsProcessSpecific(name) {
			return fmt.Errorf("worker: channel %q is process-specific (has a '!'); a worker serves normal channel names such as \"background-tasks\": %w", name, layers.ErrInvalidName)
		}
		if seen[name] {
			return fmt.Errorf("worker: channel %q named twice", name)
		}
		seen[name] = true
		if routed != nil && !slices.Contains(routed, name) {
			return fmt.Errorf("%w: %q (it routes: %s)", ErrUnknownChannel, name, strings.Join(routed, ", "))
		}
	}
	return nil
}

// supervise waits for the stop signal and runs the stop sequence.
func (w *Worker) supervise(ctx context.Context, slotsDone <-chan struct{}) {
	defer close(w.done)
	select {
	case <-ctx.Done():
	case <-w.stopReq:
	case <-slotsDone: // every slot ended by itself (the layer was closed)
	}
	close(w.stopping)
	timer := time.NewTimer(w.stopTimeout())
	defer timer.Stop()
	select {
	case <-slotsDone:
		w.cancel()
		w.logger().Info("worker: stopped", "channels", w.names())
		return
	case <-timer.C:
	}
	inFlight := int64(0)
	for _, cs := range w.states {
		inFlight += cs.inFlight.Load()
	}
	w.logger().Warn("worker: stop deadline reached; canceling the applications", "in_flight", inFlight, "stop_timeout", w.stopTimeout())
	w.cancel()
	force := time.NewTimer(forceWait)
	defer force.Stop()
	select {
	case <-slotsDone:
		w.err = fmt.Errorf("%w (%v; %d messages were in flight)", ErrStopTimeout, w.stopTimeout(), inFlight)
	case <-force.C:
		w.err = fmt.Errorf("%w (%v), and application instances ignored their canceled context for %v more", ErrStopTimeout, w.stopTimeout(), forceWait)
	}
}

// Stop stops the worker gracefully: no more messages are received, those in flight get
// StopTimeout to finish, then the applications' context is canceled. It returns when every
// instance has ended (or ctx is done, with ctx.Err()); the error wraps ErrStopTimeout when
// the deadline was reached. Stop is idempotent; it returns nil for a worker never started.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	w.stopOnce.Do(func() { close(w.stopReq) })
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return fmt.Errorf("worker: stop: %w", ctx.Err())
	}
}

// Done returns a channel closed once the worker has stopped (nil before Start).
func (w *Worker) Done() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

// Run serves until ctx is done, then stops gracefully (see Stop). It returns an error when
// the configuration is invalid or the stop had to cancel in-flight messages.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-w.done
	return w.err
}

// Stats returns a snapshot of the counters of each channel served, by channel name (nil
// before Start).
func (w *Worker) Stats() map[string]ChannelStats {
	w.mu.Lock()
	states := w.states
	w.mu.Unlock()
	if states == nil {
		return nil
	}
	out := make(map[string]ChannelStats, len(states))
	for _, cs := range states {
		out[cs.name] = ChannelStats{
			Handled:       cs.handled.Load(),
			Failed:        cs.failed.Load(),
			InFlight:      cs.inFlight.Load(),
			Restarts:      cs.restarts.Load(),
			ReceiveErrors: cs.recvErrors.Load(),
		}
	}
	return out
}

// Start starts a Worker that serves app on the named channels of l (all the channels app
// lists when names is empty) with the defaults, in background goroutines: the way a server
// process hosts its background consumers itself, on the in-memory layer. Stop it with Stop,
// or by canceling ctx.
func Start(ctx context.Context, l layers.Layer, app channels.Application, names ...string) (*Worker, error) {
	w := &Worker{Layer: l, Application: app, Channels: names}
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Worker) names() []string {
	out := make([]string, len(w.states))
	for i, cs := range w.states {
		out[i] = cs.name
	}
	return out
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

func (w *Worker) stopTimeout() time.Duration {
	if w.StopTimeout > 0 {
		return w.StopTimeout
	}
	return DefaultStopTimeout
}

func (w *Worker) pollInterval() time.Duration {
	if w.PollInterval > 0 {
		return w.PollInterval
	}
	return DefaultPollInterval
}

func (w *Worker) maxBackoff() time.Duration {
	if w.MaxBackoff > 0 {
		return w.MaxBackoff
	}
	return DefaultMaxBackoff
}

// isStopping reports whether the stop has begun.
func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// runSlot runs application instances for one receive loop on cs until the worker stops,
// starting a new instance whenever one ends.
func (w *Worker) runSlot(cs *channelState) {
	defer w.slots.Done()
	r := newReceiver(w, cs)
	defer r.close()
	backoff := minBackoff
	for {
		err := w.serveOnce(r)
		taken := r.finish(err)
		if w.isStopping() || w.appCtx.Err() != nil || r.layerClosed {
			if err != nil && w.appCtx.Err() == nil && !errors.Is(err, channels.ErrClosed) {
				w.logger().Error("worker: application failed", "channel", cs.name, "error", err)
			}
			return
		}
		cs.restarts.Add(1)
		wait := time.Duration(0)
		if err != nil || taken == 0 {
			wait = backoff
			backoff = min(2*backoff, w.maxBackoff())
		} else {
			backoff = minBackoff
		}
		attrs := []any{"channel", cs.name, "restart_in", wait}
		if err != nil {
			attrs = append(attrs, "error", err)
			if pe := (*channels.PanicError)(nil); errors.As(err, &pe) {
				attrs = append(attrs, "stack", string(pe.Stack))
			}
			w.logger().Error("worker: application ended with an error; restarting it", attrs...)
		} else {
			w.logger().Warn("worker: application returned; restarting it", attrs...)
		}
		if wait > 0 && !w.sleep(wait) {
			return
		}
	}
}

// sleep waits for d, or until the stop begins (then it returns false).
func (w *Worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stopping:
		return false
	}
}

// serveOnce runs one application instance, turning a panic into a *channels.PanicError.
func (w *Worker) serveOnce(r *receiver) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = channels.NewPanicError(v)
		}
	}()
	scope := &channels.Scope{Type: channels.ScopeChannel, Channel: r.cs.name}
	return w.Application.Serve(w.appCtx, scope, r, noClient(r.cs.name))
}

// noClient is the Sender of a channel scope: there is no connection to send events to.
func noClient(channel string) channels.Sender {
	return channels.SendFunc(func(_ context.Context, msg channels.Message) error {
		return fmt.Errorf("worker: channel %q has no client to send a %q event to (a background consumer sends on the layer instead)", channel, msg.Type())
	})
}
