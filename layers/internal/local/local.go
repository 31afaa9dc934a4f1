// Package local keeps the channels a channel layer serves in this process: the
// process-specific channels of the memory and Redis layers and the subscribed channels of the
// pub/sub layer. Each is a Listen callback or a bounded Receive buffer; a Counter counts what
// is delivered to them and what is dropped.
//
// A layer keeps its channels in a Table, under a lock of its own that guards its other state
// with it; the Table's methods say which lock they need. A Chan serialises its deliveries
// itself, so a layer may deliver outside its lock.
package local

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// Chan is one local channel: a Listen callback or a bounded Receive buffer.
type Chan struct {
	name    string
	deliver func(channels.Message) bool // nil for a buffer
	box     *channels.Mailbox           // nil for a callback

	mu      sync.Mutex // serialises the calls of deliver, and them with Stop
	stopped atomic.Bool

	// Created marks a buffer made by the layer's NewChannel rather than by a first Receive
	// (the pub/sub layer keeps such a buffer when its Receive calls end). Set it before the
	// Chan is shared.
	Created bool

	waiting  atomic.Int32 // Receive calls in progress
	lastUsed atomic.Int64 // unix nanoseconds: creation of a buffer, its last Receive, or Stop
}

// NewListener returns the local channel name served by the Listen callback deliver.
func NewListener(name string, deliver func(channels.Message) bool) *Chan {
	return &Chan{name: name, deliver: deliver}
}

// NewBuffer returns the local channel name read with Receive, buffering up to capacity
// messages.
func NewBuffer(name string, capacity int) *Chan {
	c := &Chan{name: name, box: channels.NewMailbox(capacity)}
	c.lastUsed.Store(time.Now().UnixNano())
	return c
}

// Box returns the Receive buffer, or nil for a Listen callback.
func (c *Chan) Box() *channels.Mailbox { return c.box }

// Stopped reports whether Stop was called.
func (c *Chan) Stopped() bool { return c.stopped.Load() }

// Stop ends a Listen callback: once Stop returns, the callback is not called again and
// Deliver counts the channel's messages as dropped. Stop is idempotent; the callback must not
// call it.
func (c *Chan) Stop() {
	c.mu.Lock()
	c.stopped.Store(true)
	c.lastUsed.Store(time.Now().UnixNano())
	c.mu.Unlock()
}

// Deliver hands msg to c, to its callback or into its buffer, and counts the outcome in n. It
// reports whether c took the message; a stopped callback, a refusal or a full or closed buffer
// is a drop.
func (c *Chan) Deliver(n *Counter, msg channels.Message) bool {
	if c.box != nil {
		ok := c.box.Inject(msg) == nil
		n.count(ok, c.name)
		return ok
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped.Load() {
		n.Dropped.Add(1)
		return false
	}
	ok := c.deliver(msg)
	n.count(ok, c.name)
	return ok
}

// Fanout counts the deliveries of one message to many local channels (a group send): a
// layer hands the message to each member with Deliver(&f, msg), where f is a Fanout on n,
// then calls f.Done once. The messages taken are added to n in one step rather than one
// each, so that the senders of a busy process do not all write the shared counter once per
// member; drops are counted (and logged) as they happen. A Fanout is used by one goroutine.
type Fanout struct {
	n         *Counter
	delivered uint64
}

// NewFanout returns a Fanout that counts into n.
func NewFanout(n *Counter) Fanout { return Fanout{n: n} }

// Deliver hands msg to c as Chan.Deliver does, counting a delivery in f.
func (f *Fanout) Deliver(c *Chan, msg channels.Message) bool {
	if c.box != nil {
		return f.count(c.box.Inject(msg) == nil, c.name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped.Load() {
		f.n.Dropped.Add(1)
		return false
	}
	return f.count(c.deliver(msg), c.name)
}

func (f *Fanout) count(ok bool, channel string) bool {
	if ok {
		f.delivered++
		return true
	}
	f.n.count(false, channel)
	return false
}

// Done adds the deliveries counted so far to the Counter.
func (f *Fanout) Done() {
	if f.delivered > 0 {
		f.n.Delivered.Add(f.delivered)
		f.delivered = 0
	}
}

// BeginReceive registers a Receive call on the buffer; EndReceive ends it. A buffer with
// Receive calls in progress is neither flushed nor swept.
func (c *Chan) BeginReceive() { c.waiting.Add(1) }

// EndReceive ends a Receive call begun with BeginReceive, notes the time as the buffer's last
// use, and returns the number of Receive calls still in progress.
func (c *Chan) EndReceive() int32 {
	c.lastUsed.Store(time.Now().UnixNano())
	return c.waiting.Add(-1)
}

// Receive takes the next message from the buffer, waiting until one arrives, ctx is done
// (ctx.Err()) or the buffer is closed (channels.ErrClosed). It counts as a Receive call in
// progress while it waits.
func (c *Chan) Receive(ctx context.Context) (channels.Message, error) {
	c.BeginReceive()
	defer c.EndReceive()
	return c.box.Receive(ctx)
}

// idle reports whether c is a buffer with no Receive call in progress.
func (c *Chan) idle() bool { return c.box != nil && c.waiting.Load() == 0 }

// Counter counts the messages a layer hands to its local channels. Layers that count other
// deliveries as well (the memory layer's Receive) add to Delivered themselves.
type Counter struct {
	// Delivered counts messages a local channel took.
	Delivered atomic.Uint64
	// Dropped counts messages a local channel did not take, and the unread messages of
	// buffers swept away.
	Dropped atomic.Uint64
	// Log, when set, is warned of the 1st, 2nd, 4th, 8th... message dropped because a local
	// channel refused it or was full, and of the buffers swept away with messages in them.
	Log *slog.Logger
}

func (n *Counter) count(ok bool, channel string) {
	if ok {
		n.Delivered.Add(1)
		return
	}
	if d := n.Dropped.Add(1); d&(d-1) == 0 && n.Log != nil {
		n.Log.Warn("local channel full; message dropped", "channel", channel, "dropped_total", d)
	}
}

// Table is a layer's local channels, by full name. It has no lock of its own: the layer
// holds its lock around every use, for writing where a method says so.
type Table map[string]*Chan

// Buffer returns the local channel name, adding a Receive buffer of capacity when there is
// none; created reports whether it did. The layer holds its lock for writing.
func (t Table) Buffer(name string, capacity int) (c *Chan, created bool) {
	if c = t[name]; c != nil {
		return c, false
	}
	name = strings.Clone(name) // name may be a substring of a whole message
	c = NewBuffer(name, capacity)
	t[name] = c
	return c, true
}

// DropIdle closes and removes the Receive buffers with no Receive call in progress, and calls
// dropped (if not nil) with the name of each. Listen callbacks stay. The layer holds its lock
// for writing.
func (t Table) DropIdle(dropped func(name string)) {
	for name, c := range t {
		if c.idle() {
			c.box.Close(nil)
			delete(t, name)
			if dropped != nil {
				dropped(name)
			}
		}
	}
}

// Sweep removes the Listen callbacks stopped before limit (unix nanoseconds) and the Receive
// buffers nobody is receiving from and nobody has received from since limit. The unread
// messages of a buffer swept away count as dropped in n and are logged; removed (if not nil)
// is called with the name of each buffer swept away. The layer holds its lock for writing.
func (t Table) Sweep(limit int64, n *Counter, removed func(name string)) {
	for name, c := range t {
		if c.stopped.Load() && c.lastUsed.Load() < limit {
			delete(t, name)
			continue
		}
		if c.idle() && c.lastUsed.Load() < limit {
			if unread := c.box.Len(); unread > 0 {
				n.Dropped.Add(uint64(unread))
				if n.Log != nil {
					n.Log.Warn("dropping unread messages of a channel nobody receives on", "channel", name, "messages", unread)
				}
			}
			c.box.Close(nil)
			delete(t, name)
			if removed != nil {
				removed(name)
			}
		}
	}
}

// CloseBuffers closes every Receive buffer: Receive calls in progress and to come return
// channels.ErrClosed, and messages delivered to them are dropped. The layer holds its lock.
func (t Table) CloseBuffers() {
	for _, c := range t {
		if c.box != nil {
			c.box.Close(nil)
		}
	}
}
