package channelstest

import (
	"context"
	"errors"
	"sync"

	"github.com/gochannels/gochannels/channels"
)

// Close of a WebSocket whose channel-layer messages passed their bound under
// channels.OverflowClose, as the server sends it.
const (
	overflowCode   = channels.ClosePolicyViolation
	overflowReason = "event queue full"
)

// wsQueue is the Receiver a WebsocketCommunicator hands its application: the runner's
// Mailbox with the server's policy for injected (channel-layer) messages. Under
// channels.OverflowClose (the default) a message that would take the queued ones past their
// bound closes the connection as the server does: the client sees a close 1008 "event queue
// full" after the frames sent before, the application gets the events queued before and then
// a websocket.disconnect with that code, and the message is refused with
// channels.ErrEventOverflow. The drop policies keep the connection and drop, as on the server.
type wsQueue struct {
	w  *WebsocketCommunicator
	mb *channels.Mailbox

	mu     sync.Mutex
	policy channels.OverflowPolicy
}

var (
	_ channels.Injector      = (*wsQueue)(nil)
	_ channels.InjectLimiter = (*wsQueue)(nil)
)

func newWSQueue(w *WebsocketCommunicator, mb *channels.Mailbox) *wsQueue {
	q := &wsQueue{w: w, mb: mb}
	q.LimitInjected(channels.DefaultEventQueueBytes, channels.OverflowClose)
	return q
}

// Receive implements channels.Receiver.
func (q *wsQueue) Receive(ctx context.Context) (channels.Message, error) { return q.mb.Receive(ctx) }

// LimitInjected implements channels.InjectLimiter, as the server's queue does.
func (q *wsQueue) LimitInjected(maxBytes int, policy channels.OverflowPolicy) {
	q.mu.Lock()
	q.policy = policy
	q.mu.Unlock()
	if policy == channels.OverflowClose {
		// The mailbox only refuses; Inject closes the connection, with the disconnect event
		// the application must get last.
		policy = channels.OverflowDropNewest
	}
	q.mb.LimitInjected(maxBytes, policy)
}

// Inject implements channels.Injector with the queue's overflow policy.
func (q *wsQueue) Inject(msg channels.Message) error {
	err := q.mb.Inject(msg)
	if !errors.Is(err, channels.ErrMailboxFull) {
		return err
	}
	q.mu.Lock()
	p := q.policy
	q.mu.Unlock()
	if p != channels.OverflowClose {
		return err
	}
	q.w.overflowClose()
	return channels.ErrEventOverflow
}

// overflowClose closes the connection for an event queue over its bound, as the server does:
// the client sees close 1008 "event queue full", the application's sends fail with that
// *channels.CloseError, and its last event is the disconnect with that code.
func (w *WebsocketCommunicator) overflowClose() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == wsClosed {
		return
	}
	w.state = wsClosed
	w.closeErr = &channels.CloseError{Code: overflowCode, Reason: overflowReason}
	w.r.out.push(channels.Message{"type": channels.TypeWebsocketClose, "code": overflowCode, "reason": overflowReason})
	w.r.in.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": overflowCode, "reason": overflowReason, "closed_by": "server"})
}

// Inject hands the application a channel-layer message without waiting, with the server's
// policy: the messages waiting are bounded by their estimated size
// (channels.DefaultEventQueueBytes unless the application set its own bound), and past the
// bound the connection is closed with 1008 "event queue full" (channels.ErrEventOverflow), or
// the message dropped under a drop policy the application chose (channels.ErrMailboxFull,
// channels.ErrDroppedOldest). It returns channels.ErrClosed once the connection is closed.
func (w *WebsocketCommunicator) Inject(msg channels.Message) error { return w.q.Inject(msg) }
