package redislayer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/layers"
)

// The send pipeline (Options.PipelineDepth): one-call group sends that GroupSend hands over
// instead of awaiting their replies. See the package documentation, "Pipelined group sends".

const (
	// maxBatch bounds the group sends of one batch script call (each runs in a few µs of
	// Redis time for a snapshotted group, so a batch holds the server well under a
	// millisecond).
	maxBatch = 64
	// maxLostGroups bounds the groups whose lost sends wait to be reported; failures beyond
	// it are still counted (Stats.LostGroupSends) and logged.
	maxLostGroups = 1024
)

// LostGroupSendsError reports pipelined group sends to Group that GroupSend accepted
// (returned nil for) and that then failed: Lost of them, none of which reached any member,
// the last one with Err (an error wrapping layers.ErrUnavailable when Redis could not be
// reached within Options.SendTimeout, layers.ErrLayerClosed when the layer closed first, or a
// script error). It is returned, wrapped, once: by the next GroupSend to Group (which then
// sends nothing) or by WaitGroupSends, whichever comes first.
type LostGroupSendsError struct {
	Group string
	Lost  int
	Err   error
}

// Error says how many pipelined sends to the group were lost, and the last failure.
func (e *LostGroupSendsError) Error() string {
	return fmt.Sprintf("redislayer: %d pipelined group sends to %q were lost: %v", e.Lost, e.Group, e.Err)
}

// Unwrap returns the last failure, so that errors.Is(err, layers.ErrUnavailable) holds for
// sends lost to an outage.
func (e *LostGroupSendsError) Unwrap() error { return e.Err }

// sendPipe is a layer's send pipeline: one FIFO of accepted group sends, written to Redis by
// one goroutine, a batch (one script call) at a time, in acceptance order; a batch that meets
// an outage or a rejoin window is retried whole before any later send is written.
type sendPipe struct {
	l     *Layer
	slots chan struct{} // one token per accepted, unfinished send: its capacity is the depth
	kick  chan struct{} // the writer has work
	floor string        // the last delivery score written (the writer's own): "0" before any
	// lastScore is floor as float64 bits, for Send (pipeScore).
	lastScore atomic.Uint64

	mu       sync.Mutex
	queue    []*fusedSend // accepted, not yet taken by the writer
	accepted uint64       // sends accepted so far
	done     uint64       // sends finished (written or lost), in order
	progress chan struct{}
	stopped  bool // the writer has exited: nothing more is accepted
	lost     map[string]*LostGroupSendsError
}

func newSendPipe(l *Layer, depth int) *sendPipe {
	return &sendPipe{
		l:        l,
		slots:    make(chan struct{}, depth),
		kick:     make(chan struct{}, 1),
		floor:    "0",
		progress: make(chan struct{}),
		lost:     make(map[string]*LostGroupSendsError),
	}
}

// send accepts fs, waiting within ctx while depth sends are unfinished. It first reports
// (once) the sends to the same group that were lost since the last report, and then sends
// nothing.
func (p *sendPipe) send(ctx context.Context, fs *fusedSend) error {
	p.mu.Lock()
	if e := p.lost[fs.group]; e != nil {
		delete(p.lost, fs.group)
		p.mu.Unlock()
		return fmt.Errorf("redislayer: group send to %q: not sent: %w", fs.group, e)
	}
	p.mu.Unlock()
	select {
	case p.slots <- struct{}{}:
	default:
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return p.l.waitErr(ctx, fmt.Sprintf("group send to %q: waiting for the send pipeline", fs.group))
		case <-p.l.ctx.Done():
			return p.l.closedErr("group send")
		}
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		<-p.slots
		return p.l.closedErr("group send")
	}
	p.queue = append(p.queue, fs)
	p.accepted++
	p.mu.Unlock()
	p.l.st.pipelined.Add(1)
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return nil
}

// run is the writer: it takes the queue in batches of up to maxBatch, in order, until the
// layer closes, then fails what is left.
func (p *sendPipe) run() {
	defer p.l.wg.Done()
	for {
		select {
		case <-p.kick:
		case <-p.l.ctx.Done():
			p.mu.Lock()
			rest := p.queue
			p.queue, p.stopped = nil, true
			p.mu.Unlock()
			if len(rest) > 0 {
				p.finish(rest, nil, nil, fmt.Errorf("redislayer: %w", layers.ErrLayerClosed))
			}
			return
		}
		for {
			p.mu.Lock()
			n := min(len(p.queue), maxBatch)
			var batch []*fusedSend
			if n == len(p.queue) {
				batch, p.queue = p.queue, nil
			} else {
				batch = slices.Clone(p.queue[:n])
				p.queue = p.queue[n:]
			}
			p.mu.Unlock()
			if n == 0 {
				break
			}
			p.write(batch)
		}
	}
}

// write runs one batch, retrying it whole through an outage or a rejoin window (within
// SendTimeout, counted from the start of the outage, and until Close), and finishes it.
func (p *sendPipe) write(batch []*fusedSend) {
	var replies [][]any
	var errs []error
	err := p.l.outage.do(p.l.ctx, func(ctx context.Context) (err error) {
		replies, errs, err = p.l.runBatch(ctx, batch, &p.floor)
		return err
	})
	if f, e := strconv.ParseFloat(p.floor, 64); e == nil {
		p.lastScore.Store(math.Float64bits(f))
	}
	p.finish(batch, replies, errs, err)
}

// finish takes in the replies of a batch (or its failure, err), records and logs the lost
// sends, and frees their places in the pipeline.
func (p *sendPipe) finish(batch []*fusedSend, replies [][]any, errs []error, err error) {
	var lost []error
	for i, fs := range batch {
		e := err
		if e == nil {
			if e = errs[i]; e == nil {
				e = p.l.fusedReply(fs, replies[i])
			}
		}
		if e != nil {
			lost = append(lost, p.l.redisErr(fmt.Sprintf("pipelined group send to %q", fs.group), e))
		} else {
			lost = append(lost, nil)
		}
	}
	// The counters and the records are updated before the sends count as finished, so that a
	// caller of wait sees them.
	p.mu.Lock()
	nlost, unreported := 0, 0
	for i, e := range lost {
		if e == nil {
			continue
		}
		nlost++
		g := batch[i].group
		if r := p.lost[g]; r != nil {
			r.Lost++
			r.Err = e
		} else if len(p.lost) < maxLostGroups {
			p.lost[g] = &LostGroupSendsError{Group: g, Lost: 1, Err: e}
		} else {
			unreported++
		}
	}
	var total uint64
	if nlost > 0 {
		total = p.l.st.lostGroupSends.Add(uint64(nlost))
	}
	p.done += uint64(len(batch))
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
	for range batch {
		<-p.slots
	}
	// Logged when the total crosses a power of two (the 1st, 2nd, 4th, 8th... loss), so
	// that a long outage does not log once per message.
	if nlost > 0 && bits.Len64(total) != bits.Len64(total-uint64(nlost)) {
		first := slices.IndexFunc(lost, func(e error) bool { return e != nil })
		p.l.log.Error("pipelined group sends lost; reported by the next GroupSend to their group or by WaitGroupSends",
			"lost", nlost, "total", total, "batch", len(batch), "unreported", unreported, "group", batch[first].group, "error", lost[first])
	}
}

// wait returns once every send accepted before it was called has finished, or when ctx ends.
func (p *sendPipe) wait(ctx context.Context) error {
	p.mu.Lock()
	target := p.accepted
	for p.done < target {
		ch := p.progress
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

// takeLost returns the lost sends not reported yet, by group, and forgets them.
func (p *sendPipe) takeLost() []*LostGroupSendsError {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*LostGroupSendsError
	for g, e := range p.lost {
		out = append(out, e)
		delete(p.lost, g)
	}
	slices.SortFunc(out, func(a, b *LostGroupSendsError) int { return cmp.Compare(a.Group, b.Group) })
	return out
}

// WaitGroupSends waits until every group send that GroupSend accepted before the call has
// been written to Redis or lost, within ctx, and returns the lost ones not reported yet (by a
// GroupSend to their group): one *LostGroupSendsError per group, joined. Without
// Options.PipelineDepth (or on a layer whose group sends are not pipelined, see
// PipelineDepth) GroupSend's nil already means written, and it returns nil at once.
func (l *Layer) WaitGroupSends(ctx context.Context) error {
	if l.pipe == nil {
		return nil
	}
	if err := l.pipe.wait(ctx); err != nil {
		return l.waitErr(ctx, "wait for group sends")
	}
	lost := l.pipe.takeLost()
	errs := make([]error, len(lost))
	for i, e := range lost {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// pipeBarrier makes the layer's other writes (Send, GroupAdd, GroupDiscard, PresenceAdd) wait
// for the group sends accepted before them, so that no caller's later call overtakes its
// earlier pipelined group send.
func (l *Layer) pipeBarrier(ctx context.Context, op string) error {
	if l.pipe == nil {
		return nil
	}
	if err := l.pipe.wait(ctx); err != nil {
		return l.waitErr(ctx, op+": waiting for the pipelined group sends before it")
	}
	return nil
}

// pipeScore is the delivery score of a Send at now: above the pipelined group sends written
// before it (whose scores can be later than their GroupSend calls, see groupSendBatchScript).
func (l *Layer) pipeScore(now time.Time) string {
	if l.pipe != nil {
		if f := math.Float64frombits(l.pipe.lastScore.Load()) + 0.000001; float64(now.UnixNano())/1e9 < f {
			return strconv.FormatFloat(f, 'f', 6, 64)
		}
	}
	return score(now)
}

// waitErr is the error of a call whose context ended while it waited on the send pipeline:
// it wraps layers.ErrUnavailable too while Redis is in an outage (the pipeline is stuck
// retrying), as a call retrying through it would.
func (l *Layer) waitErr(ctx context.Context, op string) error {
	if l.outage.down.Load() != 0 {
		return fmt.Errorf("redislayer: %s: %w (%w)", op, layers.ErrUnavailable, context.Cause(ctx))
	}
	return fmt.Errorf("redislayer: %s: %w", op, context.Cause(ctx))
}
