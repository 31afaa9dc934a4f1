package consumer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Ordered delivery of a group with history: a consumer that tracks a group's positions
// (GroupAddSince, GroupAddTracked, JoinResumed) hands its messages to the handlers in offset
// order, each once. It keeps, per tracked group, the position of the last message handled:
//
//   - the next offset of the same epoch is handled (the normal path: no layer call, four map
//     lookups; BenchmarkOrderedConsecutive);
//   - an offset at or below it is a duplicate (a message replayed, or filled from history,
//     that also arrives live) and is skipped;
//   - a higher one leaves a gap (another process's earlier message is still on its way, or
//     the inbox was over capacity and lost it): the missing messages are read from the
//     group's history (one History call, at most MaxGapFill messages) and handled first, in
//     order, then the arriving one;
//   - a gap that cannot be filled (more than MaxGapFill messages, no longer kept, a layer
//     without history, a failing read) and a message of another epoch (the stream was lost:
//     a Redis restarted) are reported as an unrecoverable Recovery, exactly like a resume that
//     cannot be recovered (see LostMessagesHandler), and the arriving message is handled.
//
// Messages without a position (a group without history, a message sent by Python's
// channels_redis) pass through untouched, as do the messages of groups not tracked.

// MaxGapFill bounds the messages a consumer reads from a group's history to fill one gap in
// the offsets it received: a larger gap is reported as unrecoverable (reason
// layers.ReasonGap) instead of being read. Gaps left by two senders racing are one or two
// messages; a larger one means an inbox lost messages to its capacity.
const MaxGapFill = 1000

// LostMessagesHandler is a consumer told that messages of a group whose positions it tracks
// cannot be given in order: r has Recovered false, the Reason (layers.ReasonGap or
// layers.ReasonEpoch) and, as Top, the position right before the message that revealed the
// loss, which the consumer handles next. Without this hook a WebSocket consumer sends its
// client the "unrecoverable" frame of r (SendRecovery), as JoinResumed does for a resume
// that cannot be recovered, and other consumers only log; with it, the hook decides (a
// WebSocket consumer calls SendRecovery itself to tell its client). An error it returns is
// logged.
type LostMessagesHandler interface {
	MessagesLost(ctx context.Context, r Recovery) error
}

// GapCounts are the process-wide counts of ordered delivery (see GapStats).
type GapCounts struct {
	// Filled is the number of messages read from history to fill gaps and handled.
	Filled uint64
	// Duplicates is the number of messages of tracked groups skipped because a message at
	// their position was handled already (replayed or filled, then arriving live).
	Duplicates uint64
	// Unrecoverable is the number of gaps and epoch changes reported as unrecoverable.
	Unrecoverable uint64
}

var gapStats struct{ filled, duplicates, unrecoverable atomic.Uint64 }

// GapStats returns the counts of ordered delivery since the process started, over every
// consumer.
func GapStats() GapCounts {
	return GapCounts{
		Filled:        gapStats.filled.Load(),
		Duplicates:    gapStats.duplicates.Load(),
		Unrecoverable: gapStats.unrecoverable.Load(),
	}
}

// GroupAddTracked joins group (as GroupAdd) and, when the layer keeps history for it, tracks
// its positions from the group's current top on: its messages reach the handlers in offset
// order, each once, gaps filled from history (see LostMessagesHandler for what cannot be).
// It costs one History call before joining. A group without history is joined as with
// GroupAdd. JoinResumed calls it for the groups the client gives no position for.
func (c *Consumer) GroupAddTracked(ctx context.Context, group string) error {
	if c.layer == nil {
		return fmt.Errorf("consumer: join group %q: %w", group, ErrNoLayer)
	}
	// The top is read before joining: a message after it that does not arrive live (sent
	// before the join took effect) is filled from history, never skipped.
	page, err := layers.History(ctx, c.layer, group, layers.Position{Offset: math.MaxInt64 - 1}, 1)
	tracked := true
	switch {
	case errors.Is(err, layers.ErrNotSupported):
		tracked = false
	case err != nil:
		return fmt.Errorf("consumer: join group %q: read its top: %w", group, err)
	}
	if err := c.GroupAdd(ctx, group); err != nil {
		return err
	}
	if tracked {
		c.track(group, page.Top)
	}
	return nil
}

// track sets the last position handled of group (an empty epoch takes the first one seen).
func (c *Consumer) track(group string, last layers.Position) {
	if c.positions == nil {
		c.positions = map[string]*layers.Position{}
	}
	p := last
	c.positions[group] = &p
}

// untrack stops tracking group (it was left).
func (c *Consumer) untrack(group string) { delete(c.positions, group) }

// replayed reports whether msg, a live channel-layer message, is to be skipped: a message of
// a tracked group at or below the last position handled. A gap before msg is filled first
// (its messages handled), or reported. Called before each dispatch, from the consumer's
// goroutine.
func (c *Consumer) replayed(ctx context.Context, msg channels.Message) bool {
	if len(c.positions) == 0 {
		return false
	}
	g, pos, ok := layers.PositionOf(msg)
	if !ok {
		return false
	}
	last := c.positions[g]
	if last == nil {
		return false
	}
	if last.Epoch == "" {
		last.Epoch = pos.Epoch // tracking began before the stream had an epoch
	}
	switch {
	case pos.Epoch != last.Epoch:
		c.lost(ctx, g, layers.ReasonEpoch, layers.Position{Offset: pos.Offset - 1, Epoch: pos.Epoch},
			fmt.Sprintf("offset %d of epoch %q follows offset %d of epoch %q", pos.Offset, pos.Epoch, last.Offset, last.Epoch))
	case pos.Offset <= last.Offset:
		gapStats.duplicates.Add(1)
		c.Logger().Debug("consumer: live message skipped: replayed already", "group", g, "offset", pos.Offset)
		return true
	case pos.Offset > last.Offset+1:
		c.fill(ctx, g, *last, pos)
	}
	*last = pos
	return false
}

// fill handles the messages of group after last and before next (the arriving message's
// position, same epoch), read from history, or reports them lost.
func (c *Consumer) fill(ctx context.Context, group string, last, next layers.Position) {
	missing := next.Offset - last.Offset - 1
	before := layers.Position{Offset: next.Offset - 1, Epoch: next.Epoch}
	if missing > MaxGapFill {
		c.lost(ctx, group, layers.ReasonGap, before, fmt.Sprintf("%d messages missing (%d to %d), more than MaxGapFill (%d)",
			missing, last.Offset+1, next.Offset-1, MaxGapFill))
		return
	}
	page, err := layers.History(ctx, c.layer, group, last, int(missing))
	if err != nil {
		c.lost(ctx, group, layers.ReasonGap, before, fmt.Sprintf("messages %d to %d missing, and reading them from history failed: %v",
			last.Offset+1, next.Offset-1, err))
		return
	}
	if page.Top.Epoch != last.Epoch {
		c.lost(ctx, group, layers.ReasonEpoch, before, fmt.Sprintf("messages %d to %d missing, and the stream's epoch is now %q",
			last.Offset+1, next.Offset-1, page.Top.Epoch))
		return
	}
	want := last.Offset + 1
	var msgs []channels.Message
	for _, m := range page.Messages {
		_, p, ok := layers.PositionOf(m)
		if !ok || p.Epoch != last.Epoch || p.Offset != want {
			break
		}
		msgs = append(msgs, m)
		if want++; want == next.Offset {
			break
		}
	}
	if want != next.Offset {
		c.lost(ctx, group, layers.ReasonGap, before, fmt.Sprintf("messages %d to %d missing, and %d to %d are no longer kept",
			last.Offset+1, next.Offset-1, want, next.Offset-1))
		return
	}
	c.Logger().Debug("consumer: gap filled from history", "group", group, "from", last.Offset+1, "to", next.Offset-1)
	for _, m := range msgs {
		gapStats.filled.Add(1)
		c.handleFilled(ctx, m)
	}
}

// handleFilled dispatches a message filled from history. A failing handler is treated as on
// the live path for a WebSocket (logged; the connection closed) and logged otherwise.
func (c *Consumer) handleFilled(ctx context.Context, m channels.Message) {
	if c.replay == nil {
		return
	}
	err := c.replay(ctx, m)
	if err == nil {
		return
	}
	name := fmt.Sprintf("%T", c.self)
	if wb, ok := c.self.(websocketBase); ok {
		w := wb.websocketBase()
		var ce *channels.CloseError
		switch {
		case w.closed || errors.Is(err, channels.ErrClosed):
			return
		case errors.As(err, &ce):
			_ = w.CloseReason(ctx, ce.Code, ce.Reason)
			return
		}
		c.logFailure(name, "handler", m.Type(), err)
		_ = w.Close(ctx, channels.CloseInternalError)
		return
	}
	c.logFailure(name, "handler", m.Type(), err)
}

// lost reports that messages of group before the one at top+1 cannot be given: counted,
// logged, then the consumer's MessagesLost hook, or the client's "unrecoverable" frame.
func (c *Consumer) lost(ctx context.Context, group, reason string, top layers.Position, detail string) {
	n := gapStats.unrecoverable.Add(1)
	c.Logger().Warn("consumer: messages of a tracked group cannot be given in order; reported as unrecoverable",
		"group", group, "reason", reason, "detail", detail, "unrecoverable_total", n)
	r := Recovery{Group: group, Top: top, Reason: reason}
	var err error
	switch s := c.self.(type) {
	case LostMessagesHandler:
		err = protect(func() error { return s.MessagesLost(ctx, r) })
	case websocketBase:
		if w := s.websocketBase(); !w.closed {
			err = w.SendRecovery(ctx, r)
		}
	}
	if err != nil && !errors.Is(err, channels.ErrClosed) {
		c.Logger().Warn("consumer: reporting lost messages failed", "group", group, "error", err)
	}
}
