package consumer

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/gochannels/gochannels/channels"
)

// Close of a WebSocket whose channel-layer messages passed their bound under
// channels.OverflowClose, when the consumer keeps its own queue (the server closes with the
// same code and reason when the queue is its own).
const (
	overflowCode   = channels.ClosePolicyViolation
	overflowReason = "event queue full"
)

// layerDelivery hands the consumer's channel-layer messages to its queue and applies the
// overflow policy (see WithEventQueueBytes and WithOverflowPolicy).
type layerDelivery struct {
	c      *Consumer
	inj    channels.Injector
	own    bool // the queue is the consumer's own Mailbox, not the server's
	closeO bool // own queue under OverflowClose: the first refusal closes the WebSocket
	ctx    context.Context

	overflowed atomic.Bool   // closed for overflow: later messages are refused
	dropped    atomic.Uint64 // messages dropped by a drop policy of the own queue
}

// newLayerDelivery sets the bound and policy of the queue layer messages go to: the
// server's (when the Receiver is an InjectLimiter and an option was given) or mb, the
// consumer's own.
func newLayerDelivery(ctx context.Context, c *Consumer, o *options, inj channels.Injector, mb *channels.Mailbox) *layerDelivery {
	d := &layerDelivery{c: c, inj: inj, ctx: ctx}
	if mb != nil {
		d.own = true
		policy := o.overflow
		if policy == channels.OverflowClose {
			// The consumer closes the connection itself (deliver); its queue only refuses.
			policy = channels.OverflowDropNewest
			d.closeO = true
		}
		mb.LimitInjected(o.queueBytes, policy)
		return d
	}
	if o.queueBytes > 0 || o.overflowSet {
		if l, ok := inj.(channels.InjectLimiter); ok {
			l.LimitInjected(o.queueBytes, o.overflow)
		}
	}
	return d
}

// deliver is the layers.Listen callback: it reports whether the message was queued with
// nothing dropped.
func (d *layerDelivery) deliver(m channels.Message) bool {
	if d.overflowed.Load() {
		return false
	}
	err := d.inj.Inject(m)
	if err == nil {
		return true
	}
	if !d.own || !errors.Is(err, channels.ErrMailboxFull) {
		return false
	}
	if d.closeO {
		if d.overflowed.CompareAndSwap(false, true) {
			d.overflowClose()
		}
		return false
	}
	if n := d.dropped.Add(1); n&(n-1) == 0 {
		d.c.Logger().Warn("consumer: event queue full; channel-layer messages dropped",
			"dropped_total", n)
	}
	return false
}

// overflowClose closes the WebSocket of a consumer whose own queue overflowed under
// OverflowClose: the messages queued before are handled, then the disconnect arrives.
func (d *layerDelivery) overflowClose() {
	c := d.c
	c.Logger().Warn("consumer: event queue full; closing the connection",
		"code", overflowCode, "reason", overflowReason)
	if c.scope == nil || c.scope.Type != channels.ScopeWebsocket || c.send == nil {
		return
	}
	_ = c.send.Send(context.WithoutCancel(d.ctx), channels.Message{
		"type": channels.TypeWebsocketClose, "code": overflowCode, "reason": overflowReason})
}
