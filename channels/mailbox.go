package channels

import (
	"context"
	"runtime/debug"
	"sync"
)

// DefaultMailboxCapacity is the capacity NewMailbox uses for a capacity <= 0: room for as many
// layer messages as channels_redis lets wait on one channel (100), plus the socket's own
// events. The buffer grows only as events arrive, so the capacity costs nothing while idle.
const DefaultMailboxCapacity = 128

// Mailbox is a bounded, in-order queue of events with one or more producers and (usually) one
// consumer: the per-scope event queue behind a Receiver. It holds no goroutine and allocates
// its buffer only as events arrive, so an idle Mailbox costs a few dozen bytes.
//
// It implements Receiver and Injector.
type Mailbox struct {
	mu     sync.Mutex
	buf    []Message // ring buffer; len(buf) grows up to capacity
	head   int       // index of the oldest event
	n      int       // events queued
	cap    int
	closed bool
	wake   chan struct{} // holds a token while events may be queued; nil until first wait
	space  chan struct{} // holds a token when room may have appeared; nil until first PutWait

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

// Inject queues msg without blocking. It returns ErrMailboxFull when the mailbox holds its
// capacity and ErrClosed after Close.
func (m *Mailbox) Inject(msg Message) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.n == m.cap {
		m.mu.Unlock()
		return ErrMailboxFull
	}
	m.push(msg)
	start := m.kickLocked()
	m.mu.Unlock()
	m.wakeUp(start)
	return nil
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
		if m.n < m.cap {
			m.push(msg)
			start := m.kickLocked()
			m.mu.Unlock()
			m.wakeUp(start)
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
	m.closed = true
	if final != nil {
		if m.n == m.cap {
			m.cap++
		}
		m.push(final)
	}
	start := m.kickLocked()
	m.mu.Unlock()
	m.wakeUp(start)
	m.signal(&m.space)
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

// wakeUp wakes a waiting Receive, or starts the drain goroutine of a detached mailbox.
func (m *Mailbox) wakeUp(start bool) {
	if start {
		go m.drain()
		return
	}
	m.signal(&m.wake)
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

// drain hands the waiting events to the handler, one at a time, and returns when none is
// left (or the handler is done).
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
	for {
		var msg Message
		var err error
		m.mu.Lock()
		switch {
		case m.n > 0:
			msg = m.buf[m.head]
			m.buf[m.head] = nil
			m.head = (m.head + 1) % len(m.buf)
			m.n--
		case m.closed:
			err = ErrClosed
		case m.hctx.Err() != nil:
			err = m.hctx.Err()
		default:
			m.running = false
			m.mu.Unlock()
			returned = true
			return
		}
		h := m.handler
		m.mu.Unlock()
		if msg != nil {
			m.signal(&m.space)
		}
		done, p, stack, result := callHandler(h, msg, err)
		if done || err != nil {
			m.endHandler()
			returned = true
			m.finish(result, p, stack)
			return
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
			msg := m.buf[m.head]
			m.buf[m.head] = nil
			m.head = (m.head + 1) % len(m.buf)
			m.n--
			more := m.n > 0
			m.mu.Unlock()
			if more {
				m.signal(&m.wake) // let another waiting receiver (if any) proceed
			}
			m.signal(&m.space)
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

// push appends msg; the caller holds m.mu and has checked there is room (m.n < m.cap, or the
// capacity was just raised).
func (m *Mailbox) push(msg Message) {
	if m.n == len(m.buf) {
		// Grow the ring (doubling, bounded by capacity), unrolling it so head is 0.
		size := 2 * len(m.buf)
		if size < 2 {
			size = 2
		}
		if size > m.cap {
			size = m.cap
		}
		nb := make([]Message, size)
		for i := 0; i < m.n; i++ {
			nb[i] = m.buf[(m.head+i)%len(m.buf)]
		}
		m.buf, m.head = nb, 0
	}
	m.buf[(m.head+m.n)%len(m.buf)] = msg
	m.n++
}

// signal leaves a token in *ch (if it exists) without blocking.
func (m *Mailbox) signal(ch *chan struct{}) {
	m.mu.Lock()
	c := *ch
	m.mu.Unlock()
	if c == nil {
		return
	}
	select {
	case c <- struct{}{}:
	default:
	}
}
