package layers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers/internal/local"
)

// MemoryOptions configures NewMemory. The zero value gives Django's defaults.
type MemoryOptions struct {
	// Capacity is the number of messages a channel holds (DefaultCapacity when <= 0); Send
	// to a full channel fails with ErrChannelFull.
	Capacity int
	// ChannelCapacity gives capacities to the channels whose names match a pattern; the first
	// matching rule wins (see CapacityRule).
	ChannelCapacity []CapacityRule
	// Expiry is how long a message waits unread before it is dropped (DefaultExpiry when
	// <= 0).
	Expiry time.Duration
	// GroupExpiry is how long a channel stays in a group after its last GroupAdd
	// (DefaultGroupExpiry when <= 0).
	GroupExpiry time.Duration
	// History keeps the last messages of the groups whose names match a rule, and gives
	// their messages positions (see HistoryRule and Historian); the first matching rule
	// wins. Off for every group by default.
	History []HistoryRule
}

// MemoryStats counts what a Memory layer did since it was created.
type MemoryStats struct {
	// Sent counts messages accepted for a channel (a GroupSend counts one per member reached).
	Sent uint64
	// Delivered counts messages returned by Receive or taken by a Listen callback.
	Delivered uint64
	// Dropped counts messages a Listen callback refused (its queue was full).
	Dropped uint64
	// RejectedFull counts messages refused because their channel was at capacity: Send
	// errors and group members that missed a GroupSend.
	RejectedFull uint64
	// Expired counts messages dropped unread after Expiry.
	Expired uint64
	// GroupExpired counts group memberships dropped after GroupExpiry.
	GroupExpired uint64
}

// Memory is the in-memory channel layer, for one process: tests, development, and
// deployments of a single server process. It behaves as Django's InMemoryChannelLayer
// (capacity per channel, message and group expiry), and implements Listener: Send and
// GroupSend hand the messages of a Listen channel straight to its callback.
//
// It starts no goroutines: expired messages and group members are dropped when a call comes
// across them, and a little at a time as the layer is used. Every operation is O(1), or
// O(members) for GroupSend.
type Memory struct {
	caps        *Capacities
	expiry      int64 // nanoseconds
	groupExpiry int64 // nanoseconds
	base        time.Time
	procID      string // hex, the same for every channel of this layer
	done        chan struct{}

	mu        sync.Mutex
	closed    bool
	queues    map[string]*memQueue
	groups    map[string]map[string]int64        // group → channel → time of last GroupAdd
	listeners local.Table                        // Listen channels
	ops       uint32                             // mutating calls since the last sweep step
	presence  map[string]map[string]*memPresence // group → channel → presence information
	// groupMin is, per group, a time no later than its oldest member's last GroupAdd: while
	// it is within GroupExpiry no member can be expired (PresenceCount is then O(1)).
	groupMin map[string]int64
	history  *HistoryRules
	rings    map[string]*memRing // group → its history
	epochs   uint64              // streams started, for their epochs

	delivery                              local.Counter // Delivered also counts Receive
	sent, rejected, expired, groupExpired atomic.Uint64
}

// NewMemory returns an in-memory layer. It panics if a ChannelCapacity or History rule is
// invalid (as regexp.MustCompile does); check rules with CompileCapacities and
// CompileHistoryRules, or use Open, to get an error instead.
func NewMemory(opts MemoryOptions) *Memory {
	caps, err := CompileCapacities(opts.Capacity, opts.ChannelCapacity)
	if err != nil {
		panic(fmt.Sprintf("layers.NewMemory: %v", err))
	}
	hist, err := CompileHistoryRules(opts.History)
	if err != nil {
		panic(fmt.Sprintf("layers.NewMemory: %v", err))
	}
	return newMemory(caps, hist, opts)
}

func newMemory(caps *Capacities, hist *HistoryRules, opts MemoryOptions) *Memory {
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultExpiry
	}
	if opts.GroupExpiry <= 0 {
		opts.GroupExpiry = DefaultGroupExpiry
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Memory{
		caps:        caps,
		expiry:      int64(opts.Expiry),
		groupExpiry: int64(opts.GroupExpiry),
		base:        time.Now(),
		procID:      hex.EncodeToString(id[:]),
		done:        make(chan struct{}),
		queues:      make(map[string]*memQueue),
		groups:      make(map[string]map[string]int64),
		listeners:   make(local.Table),
		presence:    make(map[string]map[string]*memPresence),
		groupMin:    make(map[string]int64),
		history:     hist,
		rings:       make(map[string]*memRing),
	}
}

func (l *Memory) now() int64 { return int64(time.Since(l.base)) }

func (l *Memory) closedErr(op string) error {
	return fmt.Errorf("layers: memory %s: %w", op, ErrLayerClosed)
}

// Send puts a shallow copy of msg on channel. A message for a Listen channel goes straight to
// its callback (a refusal is counted in Stats, not returned). It returns an error wrapping
// ErrChannelFull when the channel holds its capacity, ErrInvalidName or ErrInvalidMessage for
// bad input, and ErrLayerClosed after Close.
func (l *Memory) Send(ctx context.Context, channel string, msg channels.Message) error {
	if err := ValidateChannelName(channel); err != nil {
		return fmt.Errorf("layers: memory send: %w", err)
	}
	if err := CheckMessage(msg); err != nil {
		return fmt.Errorf("layers: memory send to %q: %w", channel, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e := memEntry{msg: msg.Clone(), at: l.now()}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closedErr("send")
	}
	if strings.IndexByte(channel, '!') >= 0 {
		if ln := l.listeners[channel]; ln != nil {
			l.mu.Unlock()
			l.sent.Add(1)
			ln.Deliver(&l.delivery, e.msg)
			return nil
		}
	}
	ok, capacity := l.enqueueLocked(channel, e)
	l.sweepLocked(e.at)
	l.mu.Unlock()
	if !ok {
		l.rejected.Add(1)
		return fmt.Errorf("layers: memory send: %w: %q holds its capacity of %d messages", ErrChannelFull, channel, capacity)
	}
	l.sent.Add(1)
	return nil
}

// Receive takes the next message from channel, waiting until one arrives. Any number of
// goroutines may receive from one channel; each message goes to one of them, and waiting
// receivers are served in the order they arrived. It returns ctx.Err() when ctx is done
// first and an error wrapping ErrLayerClosed when the layer is closed.
func (l *Memory) Receive(ctx context.Context, channel string) (channels.Message, error) {
	if err := ValidateChannelName(channel); err != nil {
		return nil, fmt.Errorf("layers: memory receive: %w", err)
	}
	now := l.now()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, l.closedErr("receive")
	}
	q := l.queues[channel]
	if q != nil {
		l.trimLocked(q, now)
		if q.n > 0 {
			e := q.pop()
			if q.n == 0 && len(q.waiters) == 0 {
				delete(l.queues, channel)
			}
			l.mu.Unlock()
			l.delivery.Delivered.Add(1)
			return e.msg, nil
		}
	}
	if err := ctx.Err(); err != nil {
		if q != nil && len(q.waiters) == 0 {
			delete(l.queues, channel)
		}
		l.mu.Unlock()
		return nil, err
	}
	if q == nil {
		q = &memQueue{cap: l.caps.Capacity(channel)}
		l.queues[channel] = q
	}
	w := waiterPool.Get().(*memWaiter)
	q.waiters = append(q.waiters, w)
	l.mu.Unlock()

	var err error
	select {
	case e := <-w.ch:
		waiterPool.Put(w)
		l.delivery.Delivered.Add(1)
		return e.msg, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-l.done:
		err = l.closedErr("receive")
	}

	l.mu.Lock()
	if !q.removeWaiter(w) {
		// A sender handed us a message as we gave up: put it back, first in line, for the
		// next receiver. q may have left the map meanwhile (it looked empty and unwatched
		// to another call), so use the channel's current queue.
		e := <-w.ch
		if !l.closed {
			cur := l.queues[channel]
			if cur == nil {
				cur = q
				l.queues[channel] = q
			}
			if len(cur.waiters) > 0 {
				next := cur.waiters[0]
				cur.removeWaiter(next)
				next.ch <- e
			} else {
				cur.pushFront(e)
			}
		}
	}
	if q.n == 0 && len(q.waiters) == 0 && l.queues[channel] == q {
		delete(l.queues, channel)
	}
	l.mu.Unlock()
	waiterPool.Put(w)
	return nil, err
}

// NewChannel returns a new process-specific channel name,
// prefix + "." + <layer id> + "!" + <random hex>, with prefix "specific" when it is empty.
// Every channel of one layer has the same inbox name (the part up to "!") for a given prefix.
func (l *Memory) NewChannel(ctx context.Context, prefix string) (string, error) {
	if prefix == "" {
		prefix = "specific"
	}
	if err := ValidateGroupName(prefix); err != nil {
		return "", fmt.Errorf("layers: memory new channel: bad prefix: %w", err)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	name := prefix + "." + l.procID + "!" + hex.EncodeToString(b[:])
	if err := ValidateChannelName(name); err != nil {
		return "", fmt.Errorf("layers: memory new channel: prefix %q is too long: %w", prefix, err)
	}
	if l.isClosed() {
		return "", l.closedErr("new channel")
	}
	return name, nil
}

func (l *Memory) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Listen creates a new process-specific channel (as NewChannel) and calls deliver, from the
// sending goroutine, with each message sent to it until stop is called. Calls are serialised
// and in order; deliver must not block, nor send to its own channel. After stop returns (or
// Close), deliver is not called again.
func (l *Memory) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	if deliver == nil {
		return "", nil, fmt.Errorf("layers: memory listen: nil deliver function")
	}
	channel, err := l.NewChannel(ctx, prefix)
	if err != nil {
		return "", nil, err
	}
	ln := local.NewListener(channel, deliver)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return "", nil, l.closedErr("listen")
	}
	l.listeners[channel] = ln
	l.mu.Unlock()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			l.mu.Lock()
			if l.listeners[channel] == ln {
				delete(l.listeners, channel)
			}
			l.mu.Unlock()
			ln.Stop()
		})
	}
	return channel, stop, nil
}

// sweepLocked does a little cleaning every so many calls: it looks at a few channels and
// groups (Go's map iteration starts at a random place, so over time it visits them all),
// dropping expired messages, empty channels and expired members. This bounds the memory held
// by channels and groups nobody touches again, at O(1) cost per call. l.mu is held.
func (l *Memory) sweepLocked(now int64) {
	const every, channelsPerStep, membersPerStep = 64, 8, 32
	l.ops++
	if l.ops < every {
		return
	}
	l.ops = 0
	n := 0
	for name, q := range l.queues {
		if n++; n > channelsPerStep {
			break
		}
		l.trimLocked(q, now)
		if q.n == 0 && len(q.waiters) == 0 {
			delete(l.queues, name)
		}
	}
	n = 0
	for group, members := range l.groups {
		for channel, added := range members {
			if n++; n > membersPerStep {
				break
			}
			if now-added > l.groupExpiry {
				delete(members, channel)
				l.forgetPresenceLocked(group, channel)
				l.groupExpired.Add(1)
			}
		}
		if len(members) == 0 {
			delete(l.groups, group)
			delete(l.groupMin, group)
		}
		if n > membersPerStep {
			break
		}
	}
	l.sweepRingsLocked(now)
}

// Flush drops every message, group, presence information and history (the next message
// of a group with history starts a new epoch). Receivers waiting on a channel keep waiting, and
// Listen channels keep listening.
func (l *Memory) Flush(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closedErr("flush")
	}
	for name, q := range l.queues {
		if len(q.waiters) == 0 {
			delete(l.queues, name)
			continue
		}
		clear(q.buf)
		q.head, q.n = 0, 0
	}
	clear(l.groups)
	clear(l.groupMin)
	clear(l.presence)
	clear(l.rings)
	return nil
}

// Close drops everything, wakes waiting receivers with ErrLayerClosed, and makes every later
// call fail with ErrLayerClosed. Listen callbacks are not called after Close returns. Close is
// idempotent.
func (l *Memory) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.queues = map[string]*memQueue{}
	l.groups = map[string]map[string]int64{}
	l.presence = map[string]map[string]*memPresence{}
	l.groupMin = map[string]int64{}
	l.rings = map[string]*memRing{}
	lns := l.listeners
	l.listeners = local.Table{}
	l.mu.Unlock()
	for _, ln := range lns {
		ln.Stop()
	}
	return nil
}

// Stats returns the layer's counters.
func (l *Memory) Stats() MemoryStats {
	return MemoryStats{
		Sent:         l.sent.Load(),
		Delivered:    l.delivery.Delivered.Load(),
		Dropped:      l.delivery.Dropped.Load(),
		RejectedFull: l.rejected.Load(),
		Expired:      l.expired.Load(),
		GroupExpired: l.groupExpired.Load(),
	}
}

var (
	_ Layer     = (*Memory)(nil)
	_ Listener  = (*Memory)(nil)
	_ Presencer = (*Memory)(nil)
	_ Historian = (*Memory)(nil)
)
