package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// injectCapacity bounds the messages waiting from the consumer's own channel (Inject).
const injectCapacity = channels.DefaultMailboxCapacity

// pollResult is what one layer Receive call returned.
type pollResult struct {
	msg     channels.Message
	err     error
	timeout bool // the call's own deadline passed with no message: not a failure
}

// receiver is the Receiver of one slot: one receive loop on a channel, serving one
// application instance at a time. It survives instance restarts, so that a message received
// for an instance that ended is handed to the next one.
//
// It implements channels.Injector (so a consumer delivers its own channel's messages here
// instead of reading ahead into a queue of its own) and FailureReporter.
type receiver struct {
	w  *Worker
	cs *channelState

	results chan pollResult // the outstanding poll's result (capacity 1)

	// Owned by the goroutine calling Receive (one at a time) and, between instances, by
	// the slot's goroutine.
	outstanding bool   // a poll goroutine is running
	busy        bool   // a message is in flight
	busyType    string // its type
	busyFailed  bool   // it was reported failed
	taken       int    // messages given to the current instance
	backoff     time.Duration
	layerClosed bool

	mu       sync.Mutex // guards injected and closed
	injected []channels.Message
	closed   bool
	wake     chan struct{} // capacity 1: a message was injected
}

func newReceiver(w *Worker, cs *channelState) *receiver {
	return &receiver{w: w, cs: cs, results: make(chan pollResult, 1), wake: make(chan struct{}, 1), backoff: minBackoff}
}

// Receive returns the next message for the application: one the consumer's own channel
// delivered (Inject), or the channel's next message from the layer. Calling it again means
// the previous message is finished. After the stop began it returns ErrClosed (once a
// receive in progress has ended, its message handed over if it brought one).
func (r *receiver) Receive(ctx context.Context) (channels.Message, error) {
	r.settle()
	for {
		if m, ok := r.popInjected(); ok {
			r.begin(m)
			return m, nil
		}
		if r.layerClosed {
			return nil, channels.ErrClosed
		}
		if !r.outstanding {
			if r.w.isStopping() {
				return nil, channels.ErrClosed
			}
			r.startPoll()
		}
		select {
		case res := <-r.results:
			r.outstanding = false
			if res.err == nil {
				r.recovered()
				r.begin(res.msg)
				return res.msg, nil
			}
			if res.timeout {
				continue
			}
			if errors.Is(res.err, layers.ErrLayerClosed) {
				r.w.logger().Error("worker: the layer is closed; no more messages for this channel", "channel", r.cs.name, "error", res.err)
				r.layerClosed = true
				return nil, channels.ErrClosed
			}
			r.failedReceive(res.err)
			if err := r.pause(ctx); err != nil {
				return nil, err
			}
		case <-r.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// startPoll starts one layer Receive, bounded by the poll interval, whose result goes to
// r.results.
func (r *receiver) startPoll() {
	r.outstanding = true
	go func() {
		ctx, cancel := context.WithTimeout(r.w.pollBase, r.w.pollInterval())
		msg, err := r.w.Layer.Receive(ctx, r.cs.name)
		timeout := err != nil && ctx.Err() != nil && !errors.Is(err, layers.ErrLayerClosed)
		cancel()
		r.results <- pollResult{msg: msg, err: err, timeout: timeout}
	}()
}

// pause waits out the backoff after a failed receive (shorter if the stop begins or a
// message is injected).
func (r *receiver) pause(ctx context.Context) error {
	t := time.NewTimer(r.backoff)
	defer t.Stop()
	r.backoff = min(2*r.backoff, r.w.maxBackoff())
	select {
	case <-t.C:
	case <-r.w.stopping:
	case <-r.wake:
		r.signal() // keep the token for the loop
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// failedReceive counts a layer error and logs the first of an outage.
func (r *receiver) failedReceive(err error) {
	r.cs.recvErrors.Add(1)
	if r.cs.outage.CompareAndSwap(false, true) {
		r.cs.outageStart.Store(time.Now().UnixNano())
		r.w.logger().Error("worker: layer receive failing; retrying with backoff", "channel", r.cs.name, "error", err, "max_backoff", r.w.maxBackoff())
	}
}

// recovered ends an outage (logging it once) after a successful receive.
func (r *receiver) recovered() {
	r.backoff = minBackoff
	if r.cs.outage.Load() && r.cs.outage.CompareAndSwap(true, false) {
		d := time.Since(time.Unix(0, r.cs.outageStart.Load()))
		r.w.logger().Info("worker: layer receive working again", "channel", r.cs.name, "outage", d.Round(time.Millisecond), "errors", r.cs.recvErrors.Load())
	}
}

// begin marks msg in flight.
func (r *receiver) begin(msg channels.Message) {
	r.busy, r.busyType, r.busyFailed = true, msg.Type(), false
	r.taken++
	r.cs.inFlight.Add(1)
}

// settle finishes the message in flight, if any, as handled (or failed when reported).
func (r *receiver) settle() {
	if !r.busy {
		return
	}
	r.busy = false
	r.cs.inFlight.Add(-1)
	if r.busyFailed {
		r.cs.failed.Add(1)
	} else {
		r.cs.handled.Add(1)
	}
}

// ReportFailure implements FailureReporter: the message in flight failed with err.
func (r *receiver) ReportFailure(msg channels.Message, err error) {
	if r.busy && !r.busyFailed {
		r.busyFailed = true
		r.w.logger().Error("worker: message failed", "channel", r.cs.name, "type", msg.Type(), "error", err)
	}
}

// finish accounts for the instance that just ended with err: a message still in flight
// failed if err is not nil. It returns how many messages the instance took.
func (r *receiver) finish(err error) int {
	if r.busy && err != nil && !r.busyFailed {
		attrs := []any{"channel", r.cs.name, "type", r.busyType, "error", err}
		var pe *channels.PanicError
		if errors.As(err, &pe) {
			attrs = append(attrs, "stack", string(pe.Stack))
		}
		if r.w.appCtx.Err() != nil {
			r.w.logger().Error("worker: message abandoned at the stop deadline", attrs...)
		} else {
			r.w.logger().Error("worker: message failed", attrs...)
		}
		r.busyFailed = true
	}
	r.settle()
	n := r.taken
	r.taken = 0
	return n
}

// Inject implements channels.Injector: the consumer's own channel delivers here.
func (r *receiver) Inject(msg channels.Message) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return channels.ErrClosed
	}
	if len(r.injected) >= injectCapacity {
		r.mu.Unlock()
		return channels.ErrMailboxFull
	}
	r.injected = append(r.injected, msg)
	r.mu.Unlock()
	r.signal()
	return nil
}

func (r *receiver) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *receiver) popInjected() (channels.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.injected) == 0 {
		return nil, false
	}
	m := r.injected[0]
	r.injected[0] = nil
	r.injected = r.injected[1:]
	return m, true
}

// close ends the slot: it waits for a poll in progress, and puts a message it brought back
// on the channel (best effort) so that it is not lost.
func (r *receiver) close() {
	r.mu.Lock()
	r.closed = true
	dropped := len(r.injected)
	r.injected = nil
	r.mu.Unlock()
	if dropped > 0 {
		r.w.logger().Warn("worker: dropping messages for the consumer's own channel at stop", "channel", r.cs.name, "count", dropped)
	}
	if !r.outstanding {
		return
	}
	res := <-r.results
	r.outstanding = false
	if res.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.w.pollInterval())
	defer cancel()
	if err := r.w.Layer.Send(ctx, r.cs.name, res.msg); err != nil {
		r.w.logger().Error("worker: a message received at stop could not be put back; it is lost", "channel", r.cs.name, "type", res.msg.Type(), "error", err)
		return
	}
	r.w.logger().Warn("worker: a message received at stop was put back on its channel", "channel", r.cs.name, "type", res.msg.Type())
}
