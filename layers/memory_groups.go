package layers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers/internal/local"
)

// listenerBatches recycles the slices GroupSend collects Listen members into.
var listenerBatches = sync.Pool{New: func() any { s := make([]*local.Chan, 0, 64); return &s }}

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
		l.groupMin[group] = now
	}
	members[channel] = now
	l.sweepLocked(now)
	return nil
}

// GroupDiscard removes channel from group; removing a non-member is not an error. A member
// that joined with PresenceAdd and events is announced with a PresenceLeaveType message.
func (l *Memory) GroupDiscard(ctx context.Context, group, channel string) error {
	if err := ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("layers: memory group discard: %w", err)
	}
	now := l.now()
	var left *memPresence
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closedErr("group discard")
	}
	if members := l.groups[group]; members != nil {
		added, was := members[channel]
		delete(members, channel)
		if p := l.forgetPresenceLocked(group, channel); was && now-added <= l.groupExpiry {
			left = p
		}
		if len(members) == 0 {
			delete(l.groups, group)
			delete(l.groupMin, group)
		}
	}
	l.mu.Unlock()
	if left != nil && left.events {
		ev := channels.Message{"type": PresenceLeaveType, "channel": channel, "info": left.info}
		if err := l.GroupSend(ctx, group, ev); err != nil {
			return fmt.Errorf("layers: memory group discard: leave event: %w", err)
		}
	}
	return nil
}

// GroupSend sends msg to every member of group: one shallow copy of msg, shared by all of
// them (receivers treat messages as read-only). Members whose channel is full miss it, and
// members past GroupExpiry are dropped from the group; both are counted in Stats.
//
// In a group with history (MemoryOptions.History) the copy gets the group's next position
// (GroupKey, OffsetKey, EpochKey) and is kept in the group's ring; the GroupSends of one such
// group are serialised until their message reached every member, so that members receive
// the messages in the order of their offsets.
func (l *Memory) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	if err := ValidateGroupName(group); err != nil {
		return fmt.Errorf("layers: memory group send: %w", err)
	}
	if err := CheckMessage(msg); err != nil {
		return fmt.Errorf("layers: memory group send to %q: %w", group, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e := memEntry{msg: msg.Clone(), at: l.now()}
	var ring *memRing
	if rule, ok := l.history.Match(group); ok {
		if ring = l.holdRing(group, rule, e.at); ring == nil {
			return l.closedErr("group send")
		}
		ring.order.Lock()
		defer ring.order.Unlock() // once the message reached every member
		e.at = l.now()            // the ring's messages are in time order too (TTL)
	}
	batch := listenerBatches.Get().(*[]*local.Chan)
	lns := (*batch)[:0]
	var sent, rejected uint64
	l.mu.Lock()
	if ring != nil {
		l.stampLocked(ring, group, &e)
	}
	if l.closed {
		l.mu.Unlock()
		listenerBatches.Put(batch)
		return l.closedErr("group send")
	}
	members := l.groups[group]
	oldest := e.at
	for channel, added := range members {
		if e.at-added > l.groupExpiry {
			delete(members, channel)
			l.forgetPresenceLocked(group, channel)
			l.groupExpired.Add(1)
			continue
		}
		oldest = min(oldest, added)
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
	if members != nil {
		if len(members) == 0 {
			delete(l.groups, group)
			delete(l.groupMin, group)
		} else {
			l.groupMin[group] = oldest
		}
	}
	l.sweepLocked(e.at)
	l.mu.Unlock()

	fan := local.NewFanout(&l.delivery)
	for i, ln := range lns {
		fan.Deliver(ln, e.msg)
		lns[i] = nil
	}
	fan.Done()
	sent += uint64(len(lns))
	l.sent.Add(sent)
	if rejected > 0 {
		l.rejected.Add(rejected)
	}
	*batch = lns[:0]
	listenerBatches.Put(batch)
	return nil
}
