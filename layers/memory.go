package layers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// Defaults of the in-memory layer (Django's).
const (
	// DefaultExpiry is how long a message waits on a channel before it is dropped unread.
	DefaultExpiry = 60 * time.Second
	// DefaultGroupExpiry is how long a channel stays in a group after its last GroupAdd.
	DefaultGroupExpiry = 86400 * time.Second
)

// reservedKey is the key the Redis layer uses to route messages inside a process inbox; a
// message may not carry it, on any layer, so that code behaves the same on all of them.
const reservedKey = "__asgi_channel__"

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
	groups    map[string]map[string]int64 // group → channel → time of last GroupAdd
	listeners map[string]*memListener
	ops       uint32 // mutating calls since the last sweep step

	sent, delivered, dropped, rejected, expired, groupExpired atomic.Uint64
}

// memEntry is a queued message and the time it was sent.
type memEntry struct {
	msg channels.Message
	at  int64
}

// memQueue is one channel: a ring of messages, or (when it is empty) receivers waiting in
// order of arrival. A sender hands a message straight to the first waiter.
type memQueue struct {
	buf     []memEntry
	head, n int
	cap     int
	waiters []*memWaiter
}

type memWaiter struct{ ch chan memEntry }

type memListener struct {
	mu      sync.Mutex
	stopped bool
	deliver func(channels.Message) bool
}

var waiterPool = sync.Pool{New: func() any { return &memWaiter{ch: make(chan memEntry, 1)} }}

// listenerBatches recycles the slices GroupSend collects Listen members into.
var listenerBatches = sync.Pool{New: func() any { s := make([]*memListener, 0, 64); return &s }}

// NewMemory returns an in-memory layer. It panics if a ChannelCapacity rule is invalid (as
// regexp.MustCompile does); check rules with CompileCapacities, or use Open, to get an error
// instead.
func NewMemory(opts MemoryOptions) *Memory {
	caps, err := CompileCapacities(opts.Capacity, opts.ChannelCapacity)
	if err != nil {
		panic(fmt.Sprintf("layers.NewMemory: %v", err))
	}
	return newMemory(caps, opts)
}

func newMemory(caps *Capacities, opts MemoryOptions) *Memory {
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
		listeners:   make(map[string]*memListener),
	}
}

func init() { Register("memory", openMemory) }

// openMemory builds a Memory layer from a "memory://" URL. Query parameters:
//
//	capacity=100             messages per channel
//	expiry=60                message expiry, in seconds (decimals allowed) or a Go duration ("500ms")
//	group_expiry=86400       group membership expiry, the same forms
//	channel_capacity=p:n,... per-channel capacities (ParseCapacities); may be repeated
//	prefix=asgi              accepted for URLs shared with the Redis layers; no effect
func openMemory(_ context.Context, u *url.URL) (Layer, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.User != nil {
		return nil, fmt.Errorf("a memory layer URL takes no host, user or path, only query parameters (memory://?capacity=100)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query: %w", err)
	}
	var opts MemoryOptions
	for key, vals := range q {
		last := vals[len(vals)-1]
		switch key {
		case "capacity":
			n, err := strconv.Atoi(last)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("capacity=%q: want a positive integer", last)
			}
			opts.Capacity = n
		case "expiry", "group_expiry":
			d, err := parseSeconds(last)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", key, last, err)
			}
			if key == "expiry" {
				opts.Expiry = d
			} else {
				opts.GroupExpiry = d
			}
		case "channel_capacity":
			for _, v := range vals {
				rules, err := ParseCapacities(v)
				if err != nil {
					return nil, fmt.Errorf("channel_capacity: %w", err)
				}
				opts.ChannelCapacity = append(opts.ChannelCapacity, rules...)
			}
		case "prefix":
		default:
			return nil, fmt.Errorf("unknown memory layer parameter %q (known: capacity, expiry, group_expiry, channel_capacity, prefix)", key)
		}
	}
	caps, err := CompileCapacities(opts.Capacity, opts.ChannelCapacity)
	if err != nil {
		return nil, err
	}
	return newMemory(caps, opts), nil
}

// parseSeconds reads a positive duration written as seconds ("60", "0.5") or as a Go
// duration ("500ms", "1h").
func parseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("want a positive number of seconds")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive number of seconds or a duration such as 500ms")
	}
	return d, nil
}

func (l *Memory) now() int64 { return int64(time.Since(l.base)) }

func (l *Memory) closedErr(op string) error {
	return fmt.Errorf("layers: memory %s: %w", op, ErrLayerClosed)
}

// checkMessage rejects messages no layer can carry.
func checkMessage(msg channels.Message) error {
	if msg == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if t, ok := msg["type"].(string); !ok || t == "" {
		return fmt.Errorf("%w: message needs a non-empty string \"type\" (got %T %v)", ErrInvalidMessage, msg["type"], msg["type"])
	}
	if _, ok := msg[reservedKey]; ok {
		return fmt.Errorf("%w: message key %q is reserved for the layer", ErrInvalidMessage, reservedKey)
	}
	return nil
}

// Send puts a shallow copy of msg on channel. A message for a Listen channel goes straight to
// its callback (a refusal is counted in Stats, not returned). It returns an error wrapping
// ErrChannelFull when the channel holds its capacity, ErrInvalidName or ErrInvalidMessage for
// bad input, and ErrLayerClosed after Close.
func (l *Memory) Send(ctx context.Context, channel string, msg channels.Message) error {
	if err := ValidateChannelName(channel); err != nil {
		return fmt.Errorf("layers: memory send: %w", err)
	}
	if err := checkMessage(msg); err != nil {
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
			l.deliverTo(ln, e.msg)
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

// enqueueLocked hands e to a waiting receiver of channel, or queues it. It reports false
// (and the capacity) when the channel is full. l.mu is held.
func (l *Memory) enqueueLocked(channel string, e memEntry) (bool, int) {
	q := l.queues[channel]
	if q == nil {
		q = &memQueue{cap: l.caps.Capacity(channel)}
		l.queues[channel] = q
	}
	if len(q.waiters) > 0 {
		w := q.waiters[0]
		copy(q.waiters, q.waiters[1:])
		q.waiters[len(q.waiters)-1] = nil
		q.waiters = q.waiters[:len(q.waiters)-1]
		w.ch <- e // buffered, and each waiter is handed at most one message
		return true, q.cap
	}
	l.trimLocked(q, e.at)
	if q.n >= q.cap {
		return false, q.cap
	}
	q.push(e)
	return true, q.cap
}

// trimLocked drops the expired messages at the head of q (messages are in send order, so
// the expired ones are all at the head).
func (l *Memory) trimLocked(q *memQueue, now int64) {
	for q.n > 0 && now-q.buf[q.head].at > l.expiry {
		q.pop()
		l.expired.Add(1)
	}
}

// deliverTo hands msg to a listener's callback, unless it was stopped. Calls for one listener
// are serialised, so its messages arrive in order and never after stop returns.
func (l *Memory) deliverTo(ln *memListener, msg channels.Message) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.stopped {
		l.dropped.Add(1)
		return
	}
	if ln.deliver(msg) {
		l.delivered.Add(1)
	} else {
		l.dropped.Add(1)
	}
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
			l.delivered.Add(1)
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
		l.delivered.Add(1)
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
	ln := &memListener{deliver: deliver}
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
			ln.mu.Lock()
			ln.stopped = true
			ln.mu.Unlock()
		})
	}
	return channel, stop, nil
}

// GroupAdd adds channel to group, or refreshes its membership (its GroupExpiry starts again).
func (l *Memory) GroupAdd(ctx context.Context, group, channel string) error {
	if err := ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("layers: memory group add: %w", err)
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closedErr("group add")
	}
	members := l.groups[group]
	if members == nil {
		members = make(map[string]int64)
		l.groups[group] = members
	}
	members[channel] = now
	l.sweepLocked(now)
	return nil
}

// GroupDiscard removes channel from group; removing a non-member is not an error.
func (l *Memory) GroupDiscard(ctx context.Context, group, channel string) error {
	if err := ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("layers: memory group discard: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closedErr("group discard")
	}
	if members := l.groups[group]; members != nil {
		delete(members, channel)
		if len(members) == 0 {
			delete(l.groups, group)
		}
	}
	return nil
}

// GroupSend sends msg to every member of group: one shallow copy of msg, shared by all of
// them (receivers treat messages as read-only). Members whose channel is full miss it, and
// members past GroupExpiry are dropped from the group; both are counted in Stats.
func (l *Memory) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	if err := ValidateGroupName(group); err != nil {
		return fmt.Errorf("layers: memory group send: %w", err)
	}
	if err := checkMessage(msg); err != nil {
		return fmt.Errorf("layers: memory group send to %q: %w", group, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e := memEntry{msg: msg.Clone(), at: l.now()}
	batch := listenerBatches.Get().(*[]*memListener)
	lns := (*batch)[:0]
	var sent, rejected uint64
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		listenerBatches.Put(batch)
		return l.closedErr("group send")
	}
	members := l.groups[group]
	for channel, added := range members {
		if e.at-added > l.groupExpiry {
			delete(members, channel)
			l.groupExpired.Add(1)
			continue
		}
		if strings.IndexByte(channel, '!') >= 0 {
			if ln := l.listeners[channel]; ln != nil {
				lns = append(lns, ln)
				continue
			}
		}
		if ok, _ := l.enqueueLocked(channel, e); ok {
			sent++
		} else {
			rejected++
		}
	}
	if members != nil && len(members) == 0 {
		delete(l.groups, group)
	}
	l.sweepLocked(e.at)
	l.mu.Unlock()

	for i, ln := range lns {
		l.deliverTo(ln, e.msg)
		lns[i] = nil
	}
	sent += uint64(len(lns))
	l.sent.Add(sent)
	if rejected > 0 {
		l.rejected.Add(rejected)
	}
	*batch = lns[:0]
	listenerBatches.Put(batch)
	return nil
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
				l.groupExpired.Add(1)
			}
		}
		if len(members) == 0 {
			delete(l.groups, group)
		}
		if n > membersPerStep {
			break
		}
	}
}

// Flush drops every message and group. Receivers waiting on a channel keep waiting, and
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
	lns := l.listeners
	l.listeners = map[string]*memListener{}
	l.mu.Unlock()
	for _, ln := range lns {
		ln.mu.Lock()
		ln.stopped = true
		ln.mu.Unlock()
	}
	return nil
}

// Stats returns the layer's counters.
func (l *Memory) Stats() MemoryStats {
	return MemoryStats{
		Sent:         l.sent.Load(),
		Delivered:    l.delivered.Load(),
		Dropped:      l.dropped.Load(),
		RejectedFull: l.rejected.Load(),
		Expired:      l.expired.Load(),
		GroupExpired: l.groupExpired.Load(),
	}
}

// push appends e; the caller checked there is room (or is putting a message back).
func (q *memQueue) push(e memEntry) {
	q.grow()
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

// pushFront puts e before every queued message.
func (q *memQueue) pushFront(e memEntry) {
	q.grow()
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = e
	q.n++
}

func (q *memQueue) grow() {
	if q.n < len(q.buf) {
		return
	}
	size := max(2*len(q.buf), 4)
	if size > q.cap && q.n < q.cap {
		size = q.cap
	}
	if size <= q.n {
		size = q.n + 1
	}
	nb := make([]memEntry, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = nb, 0
}

func (q *memQueue) pop() memEntry {
	e := q.buf[q.head]
	q.buf[q.head] = memEntry{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return e
}

func (q *memQueue) removeWaiter(w *memWaiter) bool {
	for i, x := range q.waiters {
		if x == w {
			copy(q.waiters[i:], q.waiters[i+1:])
			q.waiters[len(q.waiters)-1] = nil
			q.waiters = q.waiters[:len(q.waiters)-1]
			return true
		}
	}
	return false
}

var (
	_ Layer    = (*Memory)(nil)
	_ Listener = (*Memory)(nil)
)
