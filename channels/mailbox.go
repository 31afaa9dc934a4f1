package channels

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
)

// DefaultMailboxCapacity is the capacity NewMailbox uses for a capacity <= 0: room for as many
// layer messages as channels_redis lets wait on one channel (100), plus the socket's own
// events. The buffer grows only as events arrive, so the capacity costs nothing while idle.
//
// A Mailbox whose injected events are bounded in bytes (LimitInjected; the server's, see
// Server.EventQueueBytes) counts only the events put with Put against the capacity.
const DefaultMailboxCapacity = 128

// MaxInjectedEvents is a safety net on the number of injected events a Mailbox bounded in
// bytes holds: with the default 1 MiB bound and the smallest estimate a message can have, it
// is never reached; it only keeps a bound set to many megabytes of tiny messages from
// growing the queue's ring without end. Past it, the overflow policy applies as for bytes.
const MaxInjectedEvents = 1 << 16

// OverflowPolicy is what a Mailbox bounded in bytes does with an injected event that would
// take its injected events past the bound (see LimitInjected and Server.EventOverflow).
type OverflowPolicy int

const (
	// OverflowClose closes the scope: the event is refused (ErrEventOverflow), the mailbox
	// is closed so that no later event gets in, and its owner is told: the server closes
	// the WebSocket with 1008 "event queue full" after the events already queued, so the
	// application's stream has no hole, only an end. The default for WebSockets.
	OverflowClose OverflowPolicy = iota
	// OverflowDropNewest refuses the event (ErrMailboxFull) and keeps the queue: for
	// streams where the latest value matters less than the order of what got through.
	OverflowDropNewest
	// OverflowDropOldest drops the oldest injected events still queued until the new one
	// fits, and queues it; Inject returns ErrDroppedOldest: for tickers, where only the
	// latest values matter.
	OverflowDropOldest
)

// String returns the policy's name: close, drop-newest or drop-oldest.
func (p OverflowPolicy) String() string {
	switch p {
	case OverflowClose:
		return "close"
	case OverflowDropNewest:
		return "drop-newest"
	case OverflowDropOldest:
		return "drop-oldest"
	}
	return "unknown"
}

// InjectLimiter is implemented by a Receiver whose queue of injected events can be bounded
// in bytes (the server's *Mailbox, and the Receivers Observe wraps it in). A consumer calls
// it for the per-application setting (consumer.WithEventQueueBytes,
// consumer.WithOverflowPolicy).
type InjectLimiter interface {
	// LimitInjected bounds the injected events waiting in the queue to maxBytes, as
	// estimated by MessageSize (maxBytes <= 0 keeps the current byte bound, or the
	// default), and sets what happens past the bound.
	LimitInjected(maxBytes int, policy OverflowPolicy)
}

// mailboxSlot is one queued event; size is its estimated size for an injected event counted
// against the byte bound, 0 for an event put with Put (or one not counted). notClose says
// that the event's type was read as it was queued and is not TypeClose, so that taking it
// out need not read it again (an injected event, whose type is read once per group send).
type mailboxSlot struct {
	msg      Message
	size     int32 // at most math.MaxInt32 (see cachedSize)
	notClose bool
}

// Mailbox is a bounded, in-order queue of events with one or more producers and (usually) one
// consumer: the per-scope event queue behind a Receiver. It holds no goroutine and allocates
// its buffer only as events arrive, so an idle Mailbox costs a few dozen bytes.
//
// A Mailbox made with NewMailbox bounds its events by count. With LimitInjected (the
// server's mailboxes, see Server.EventQueueBytes) the injected events are bounded by their
// estimated size in bytes (MessageSize) instead, and an overflow follows the
// OverflowPolicy; events put with Put stay bounded by the count capacity.
//
// It implements Receiver, Injector and InjectLimiter.
type Mailbox struct {
	mu     sync.Mutex
	buf    []mailboxSlot // ring buffer; len(buf) grows as needed
	head   int           // index of the oldest event
	n      int           // events queued
	cap    int
	closed bool
	wake   chan struct{} // holds a token while events may be queued; nil until first wait
	space  chan struct{} // holds a token when room may have appeared; nil until first PutWait

	// Byte bound of injected events (LimitInjected); maxBytes 0 means count bound only.
	maxBytes int
	policy   OverflowPolicy
	bytes    int    // estimated bytes of the injected events queued
	injN     int    // injected events queued (counted against maxBytes)
	dropped  uint64 // injected events dropped by an overflow policy
	// host, when set by the hosting server, is told of overflows (see overflowHost). One
	// interface field rather than callbacks and a prepared final event, so that it costs an
	// idle connection nothing beyond the field.
	host overflowHost

	// Detached mode (see Detach): events go to handler on a goroutine that runs only while
	// events are waiting.
	handler  EventHandler
	hctx     context.Context
	hstop    func() bool // stops the context.AfterFunc watching hctx
	running  bool        // a drain goroutine is running (or about to)
	detached bool        // Detach succeeded
	hdone    bool        // the handler reported done
	// finish is set by the hosting server: it receives the handler's result, or the value of
	// its panic and the stack. Detach is refused without it.
	finish func(result error, panicValue any, stack []byte)
	// hostCtx is the context the hosting server gives the application; the server calls
	// kick when it cancels it, so Detach with this context needs no context.AfterFunc.
	hostCtx context.Context
}

// NewMailbox returns an empty Mailbox that holds at most capacity events
// (DefaultMailboxCapacity when capacity <= 0).
func NewMailbox(capacity int) *Mailbox {
	if capacity <= 0 {
		capacity = DefaultMailboxCapacity
	}
	return &Mailbox{cap: capacity}
}

// LimitInjected implements InjectLimiter: from now on the injected events waiting are
// bounded by maxBytes of estimated size (and MaxInjectedEvents), with policy past the bound.
// maxBytes <= 0 keeps the mailbox's byte bound, or sets DefaultEventQueueBytes when it had
// none. Events already queued stay; those queued before the first call are not counted.
func (m *Mailbox) LimitInjected(maxBytes int, policy OverflowPolicy) {
	m.mu.Lock()
	switch {
	case maxBytes > 0:
		m.maxBytes = maxBytes
	case m.maxBytes <= 0:
		m.maxBytes = DefaultEventQueueBytes
	}
	m.policy = policy
	m.mu.Unlock()
}

// Dropped returns the number of injected events an overflow policy (drop-newest,
// drop-oldest) dropped.
func (m *Mailbox) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// QueuedBytes returns the estimated bytes of the injected events waiting in the mailbox.
func (m *Mailbox) QueuedBytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Inject queues msg without blocking. It returns ErrClosed after Close. When there is no
// room it returns ErrMailboxFull (the event is dropped) for a mailbox bounded by count or
// under OverflowDropNewest; ErrEventOverflow (the event is dropped and the mailbox closed)
// under OverflowClose; ErrDroppedOldest (the event is queued, older injected events were
// dropped to make room) under OverflowDropOldest.
func (m *Mailbox) Inject(msg Message) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.maxBytes <= 0 {
		if m.n == m.cap {
			m.mu.Unlock()
			return ErrMailboxFull
		}
		m.push(msg, 0)
		start := m.kickLocked()
		m.unlockWake(start)
		return nil
	}
	size, isClose := cachedSize(msg)
	if m.fitsLocked(size) {
		m.pushSlot(msg, size, !isClose)
		start := m.kickLocked()
		m.unlockWake(start)
		return nil
	}
	return m.overflowLocked(msg, size, !isClose)
}

// fitsLocked reports whether an injected event of size fits under the byte bound: the
// queue may always take one injected event, so it holds at most the bound plus one event.
func (m *Mailbox) fitsLocked(size int) bool {
	return m.injN == 0 || (m.bytes+size <= m.maxBytes && m.injN < MaxInjectedEvents)
}

// overflowHost is what a hosting server's connection is told of its Mailbox's overflows.
type overflowHost interface {
	// overflowFinal returns the final event queued when an overflow closes the mailbox
	// under OverflowClose; it is called with the mailbox locked.
	overflowFinal() Message
	// eventOverflow is called outside the lock after an overflow closed the mailbox, with
	// the bytes queued then and the bound. The mailbox is closed, so it is called once.
	eventOverflow(queued, limit int)
	// eventsDropped is called outside the lock after a drop policy dropped an event, with
	// the total dropped so far.
	eventsDropped(total uint64)
}

// overflowLocked applies the overflow policy to msg, which does not fit; it unlocks m.mu.
func (m *Mailbox) overflowLocked(msg Message, size int, notClose bool) error {
	switch m.policy {
	case OverflowDropNewest:
		m.dropped++
		total, host := m.dropped, m.host
		m.mu.Unlock()
		if host != nil {
			host.eventsDropped(total)
		}
		return ErrMailboxFull
	case OverflowDropOldest:
		for !m.fitsLocked(size) && m.dropOldestInjectedLocked() {
			m.dropped++
		}
		m.pushSlot(msg, size, notClose)
		start := m.kickLocked()
		total, host := m.dropped, m.host
		m.unlockWake(start)
		if host != nil {
			host.eventsDropped(total)
		}
		return ErrDroppedOldest
	}
	queued, limit, host := m.bytes, m.maxBytes, m.host
	var final Message
	if host != nil {
		final = host.overflowFinal()
	}
	start := m.closeLocked(final)
	m.unlockWake(start)
	m.signal(&m.space)
	if host != nil {
		host.eventOverflow(queued, limit)
	}
	return ErrEventOverflow
}

// dropOldestInjectedLocked removes the oldest injected event counted against the byte bound
// and reports whether there was one. Events put with Put around it keep their order.
func (m *Mailbox) dropOldestInjectedLocked() bool {
	l := len(m.buf)
	for i := 0; i < m.n; i++ {
		idx := (m.head + i) % l
		if m.buf[idx].size == 0 {
			continue
		}
		m.bytes -= int(m.buf[idx].size)
		m.injN--
		// Shift the events before it one place towards the tail, then advance head.
		for j := i; j > 0; j-- {
			m.buf[(m.head+j)%l] = m.buf[(m.head+j-1)%l]
		}
		m.buf[m.head] = mailboxSlot{}
		m.head = (m.head + 1) % l
		m.n--
		return true
	}
	return false
}

// offer queues msg like Put without waiting: it returns ErrMailboxFull when Put would wait.
func (m *Mailbox) offer(msg Message) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if !m.roomLocked() {
		m.mu.Unlock()
		return ErrMailboxFull
	}
	m.push(msg, 0)
	start := m.kickLocked()
	m.unlockWake(start)
	return nil
}

// roomLocked reports whether Put may queue an event now.
func (m *Mailbox) roomLocked() bool {
	if m.maxBytes > 0 {
		return m.n-m.injN < m.cap
	}
	return m.n < m.cap
}

// Put queues msg, waiting for room while the mailbox is full. It returns ctx.Err() if ctx is
// done first and ErrClosed after Close. Producers that can apply back-pressure (a socket
// reader) use Put; producers that must not block (the channel layer) use Inject.
func (m *Mailbox) Put(ctx context.Context, msg Message) error {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		if m.roomLocked() {
			m.push(msg, 0)
			start := m.kickLocked()
			var pass chan struct{}
			if m.roomLocked() {
				// The drain frees a batch of places with one token: pass it on to another
				// waiting Put, if any.
				pass = m.space
			}
			m.unlockWake(start)
			if pass != nil {
				notify(pass)
			}
			return nil
		}
		if m.space == nil {
			m.space = make(chan struct{}, 1)
		}
		space := m.space
		m.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close ends the mailbox: later Inject and Put calls fail with ErrClosed, and Receive returns
// the events already queued, then final (when it is not nil; it is queued even if the mailbox
// is full, so that a disconnect event is never lost), then ErrClosed. Close is idempotent;
// only the first call's final event is kept.
func (m *Mailbox) Close(final Message) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	start := m.closeLocked(final)
	m.unlockWake(start)
	m.signal(&m.space)
}

// closeLocked closes the mailbox, queueing final (if not nil) even when it is full, and
// reports whether a drain goroutine must start (see kickLocked). The caller holds m.mu and
// has checked that the mailbox is open.
func (m *Mailbox) closeLocked(final Message) bool {
	m.closed = true
	if final != nil {
		m.push(final, 0)
	}
	return m.kickLocked()
}

// kickLocked reports whether a drain goroutine must start for a detached mailbox, marking it
// running; the caller holds m.mu.
func (m *Mailbox) kickLocked() bool {
	if m.handler == nil || m.running {
		return false
	}
	m.running = true
	return true
}

// unlockWake unlocks m.mu, then wakes a waiting Receive, or starts the drain goroutine of a
// detached mailbox when start (from kickLocked) says so. It reads the wake channel under the
// lock the caller holds anyway, rather than locking again as signal does: this is on the
// path of every event.
func (m *Mailbox) unlockWake(start bool) {
	wake := m.wake
	m.mu.Unlock()
	if start {
		go m.drain()
		return
	}
	notify(wake)
}

// Detach implements Detacher for a Mailbox hosted by a Server: from now on each event is
// handed to h on a goroutine that exists only while events are waiting. It returns
// ErrNotDetachable for a Mailbox made with NewMailbox, or one already detached.
func (m *Mailbox) Detach(ctx context.Context, h EventHandler) error {
	m.mu.Lock()
	if m.finish == nil || m.detached || h == nil {
		m.mu.Unlock()
		return ErrNotDetachable
	}
	m.detached = true
	m.handler, m.hctx = h, ctx
	m.mu.Unlock()
	if ctx != m.hostCtx {
		stop := context.AfterFunc(ctx, m.kick)
		m.mu.Lock()
		if m.hdone {
			m.mu.Unlock()
			stop()
			return nil
		}
		m.hstop = stop
		m.mu.Unlock()
	}
	m.mu.Lock()
	start := false
	if m.n > 0 || m.closed {
		start = m.kickLocked()
	}
	m.mu.Unlock()
	if start {
		go m.drain()
	}
	return nil
}

// isClosed reports whether Close was called.
func (m *Mailbox) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// isDetached reports whether Detach succeeded.
func (m *Mailbox) isDetached() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.detached
}

// kick starts the drain goroutine if it is not running (the handler's context is done).
func (m *Mailbox) kick() {
	m.mu.Lock()
	start := m.kickLocked()
	m.mu.Unlock()
	if start {
		go m.drain()
	}
}

// drainBatch bounds the events the drain goroutine takes from the queue under one lock.
const drainBatch = 32

// drain hands the waiting events to the handler, one at a time and in order, and returns
// when none is left (or the handler is done). It takes the events waiting in batches (at
// most drainBatch under one lock), so that a busy scope's events cost the queue's lock once
// per batch on this side rather than twice per event. An event taken is no longer waiting: it
// leaves the byte bound (as the one event being handled always did). Finding the queue empty,
// it yields once (runtime.Gosched) and looks again before it exits.
func (m *Mailbox) drain() {
	returned := false
	defer func() {
		if !returned {
			// runtime.Goexit in the handler: as an application goroutine that exits, the
			// scope ends with a nil result.
			m.endHandler()
			m.finish(nil, nil, nil)
		}
	}()
	var batch [drainBatch]mailboxSlot
	lingered := false
	for {
		var err error
		n := 0
		m.mu.Lock()
		switch {
		case m.n > 0:
			for n < drainBatch && m.n > 0 {
				batch[n] = m.popLocked()
				n++
			}
			lingered = false
		case m.closed:
			err = ErrClosed
		case m.hctx.Err() != nil:
			err = m.hctx.Err()
		case !lingered:
			// Busy scopes get their next events while the others run: yield once before
			// exiting, so that a busy scope keeps one drain goroutine (and the stack it
			// grew) rather than starting a new one for nearly every batch.
			m.mu.Unlock()
			lingered = true
			runtime.Gosched()
			continue
		default:
			m.running = false
			m.mu.Unlock()
			returned = true
			return
		}
		h, space := m.handler, m.space
		m.mu.Unlock()
		if err != nil {
			_, p, stack, result := callHandler(h, nil, err)
			m.endHandler()
			returned = true
			m.finish(result, p, stack)
			return
		}
		notify(space)
		for i := 0; i < n; i++ {
			sl := batch[i]
			batch[i] = mailboxSlot{}
			msg := sl.msg
			if !sl.notClose && interceptClose(m.host, msg) {
				continue // carried out by the server (see TypeClose)
			}
			if done, p, stack, result := callHandler(h, msg, nil); done {
				clear(batch[i+1 : n]) // the handler is done: the rest is never handled
				m.endHandler()
				returned = true
				m.finish(result, p, stack)
				return
			}
		}
	}
}

// endHandler forgets the handler once it is done.
func (m *Mailbox) endHandler() {
	m.mu.Lock()
	m.handler, m.hctx, m.hdone, m.running = nil, nil, true, false
	stop := m.hstop
	m.hstop = nil
	m.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// callHandler calls h, turning a panic into its value and stack.
func callHandler(h EventHandler, msg Message, err error) (done bool, p any, stack []byte, result error) {
	defer func() {
		if p = recover(); p != nil {
			done, stack = true, debug.Stack()
		}
	}()
	done, result = h.HandleEvent(msg, err)
	return done, nil, nil, result
}

// Receive returns the oldest queued event, waiting for one if the mailbox is empty. It returns
// ctx.Err() if ctx is done first, and ErrClosed once the mailbox is closed and drained.
func (m *Mailbox) Receive(ctx context.Context) (Message, error) {
	for {
		m.mu.Lock()
		if m.n > 0 {
			sl := m.popLocked()
			msg := sl.msg
			more := m.n > 0
			m.mu.Unlock()
			if more {
				m.signal(&m.wake) // let another waiting receiver (if any) proceed
			}
			m.signal(&m.space)
			if !sl.notClose && interceptClose(m.host, msg) {
				continue // carried out by the server (see TypeClose)
			}
			return msg, nil
		}
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if m.wake == nil {
			m.wake = make(chan struct{}, 1)
		}
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Len returns the number of queued events.
func (m *Mailbox) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// popLocked removes and returns the oldest event; the caller holds m.mu and m.n > 0.
func (m *Mailbox) popLocked() mailboxSlot {
	sl := m.buf[m.head]
	m.buf[m.head] = mailboxSlot{}
	m.head = (m.head + 1) % len(m.buf)
	m.n--
	if sl.size > 0 {
		m.bytes -= int(sl.size)
		m.injN--
	}
	return sl
}

// push appends msg, an event not counted against the byte bound; the caller holds m.mu and
// has checked there is room (or is queueing the final event of Close).
func (m *Mailbox) push(msg Message, size int) { m.pushSlot(msg, size, false) }

// pushSlot appends msg, of size counted against the byte bound (0 for none); notClose as
// in mailboxSlot. The caller holds m.mu and has checked there is room.
func (m *Mailbox) pushSlot(msg Message, size int, notClose bool) {
	if m.n == len(m.buf) {
		// Grow the ring (doubling; bounded by the count capacity when that is the only
		// bound), unrolling it so head is 0.
		grown := max(2*len(m.buf), 2)
		if m.maxBytes <= 0 && grown > m.cap {
			grown = m.cap
		}
		grown = max(grown, m.n+1)
		nb := make([]mailboxSlot, grown)
		for i := 0; i < m.n; i++ {
			nb[i] = m.buf[(m.head+i)%len(m.buf)]
		}
		m.buf, m.head = nb, 0
	}
	m.buf[(m.head+m.n)%len(m.buf)] = mailboxSlot{msg: msg, size: int32(size), notClose: notClose}
	m.n++
	if size > 0 {
		m.bytes += size
		m.injN++
	}
}

// signal leaves a token in *ch (if it exists) without blocking.
func (m *Mailbox) signal(ch *chan struct{}) {
	m.mu.Lock()
	c := *ch
	m.mu.Unlock()
	notify(c)
}

// notify leaves a token in c (if it is not nil) without blocking.
func notify(c chan struct{}) {
	if c == nil {
		return
	}
	select {
	case c <- struct{}{}:
	default:
	}
}
