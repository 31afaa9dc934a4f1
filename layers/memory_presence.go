package layers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gochannels/gochannels/channels"
)

// memPresence is what a member joined with: a copy of its information, and whether its
// joins and leaves are announced.
type memPresence struct {
	info   map[string]any
	events bool
}

// presenceInfo checks that info encodes to JSON within MaxPresenceInfoBytes and returns a
// copy the caller cannot change (numbers become float64, as encoding/json decodes them).
func presenceInfo(info map[string]any) (map[string]any, error) {
	if info == nil {
		return nil, nil
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("%w: presence info cannot be encoded: %v", ErrInvalidMessage, err)
	}
	if len(b) > MaxPresenceInfoBytes {
		return nil, fmt.Errorf("%w: presence info of %d bytes encoded, more than MaxPresenceInfoBytes (%d)", ErrInvalidMessage, len(b), MaxPresenceInfoBytes)
	}
	var cp map[string]any
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("%w: presence info: %v", ErrInvalidMessage, err)
	}
	return cp, nil
}

// PresenceAdd adds channel to group as GroupAdd does and keeps a copy of info (which must
// encode to JSON in at most MaxPresenceInfoBytes; numbers come back as float64) beside the
// membership. With opts.Events, a channel that was not a member yet is announced to the
// group with a PresenceJoinType message, and GroupDiscard will announce its leave. O(1),
// plus the encoding of info and, with events, a GroupSend.
func (l *Memory) PresenceAdd(ctx context.Context, group, channel string, info map[string]any, opts PresenceOptions) error {
	if err := ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("layers: memory presence add: %w", err)
	}
	cp, err := presenceInfo(info)
	if err != nil {
		return fmt.Errorf("layers: memory presence add of %q to %q: %w", channel, group, err)
	}
	p := &memPresence{info: cp, events: opts.Events}
	now := l.now()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closedErr("presence add")
	}
	members := l.groups[group]
	if members == nil {
		members = make(map[string]int64)
		l.groups[group] = members
		l.groupMin[group] = now
	}
	added, was := members[channel]
	joined := !was || now-added > l.groupExpiry
	members[channel] = now
	pm := l.presence[group]
	if pm == nil {
		pm = make(map[string]*memPresence)
		l.presence[group] = pm
	}
	pm[channel] = p
	l.sweepLocked(now)
	l.mu.Unlock()
	if joined && opts.Events {
		ev := channels.Message{"type": PresenceJoinType, "channel": channel, "info": cp}
		if err := l.GroupSend(ctx, group, ev); err != nil {
			return fmt.Errorf("layers: memory presence add: join event: %w", err)
		}
	}
	return nil
}

// Presence returns the live members of group with their information (shared: read-only).
// Cost: one pass over the group's members under the layer's lock (every other call of the
// layer waits meanwhile) and one allocation of len(members) Members: O(members), some
// milliseconds at 10,000 members (BenchmarkMemoryPresence). Use PresenceCount when the
// number is enough.
func (l *Memory) Presence(ctx context.Context, group string) ([]Member, error) {
	if err := ValidateGroupName(group); err != nil {
		return nil, fmt.Errorf("layers: memory presence: %w", err)
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, l.closedErr("presence")
	}
	members := l.groups[group]
	pm := l.presence[group]
	out := make([]Member, 0, len(members))
	for channel, added := range members {
		if now-added > l.groupExpiry {
			l.expireMemberLocked(group, members, channel)
			continue
		}
		m := Member{Channel: channel}
		if p := pm[channel]; p != nil {
			m.Info = p.info
		}
		out = append(out, m)
	}
	return out, nil
}

// PresenceCount returns the number of live members of group. Cost: O(1) without
// allocation while no member of the group can have passed GroupExpiry (the layer knows a
// time no later than the oldest membership's last GroupAdd); otherwise one pass over the
// members under the layer's lock, which drops the expired ones (BenchmarkMemoryPresenceCount).
func (l *Memory) PresenceCount(ctx context.Context, group string) (int, error) {
	if err := ValidateGroupName(group); err != nil {
		return 0, fmt.Errorf("layers: memory presence count: %w", err)
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, l.closedErr("presence count")
	}
	members := l.groups[group]
	if now-l.groupMin[group] <= l.groupExpiry {
		return len(members), nil // no member can be expired
	}
	oldest := now
	for channel, added := range members {
		if now-added > l.groupExpiry {
			l.expireMemberLocked(group, members, channel)
			continue
		}
		oldest = min(oldest, added)
	}
	if len(members) > 0 {
		l.groupMin[group] = oldest
	}
	return len(members), nil
}

// expireMemberLocked drops a member of group past GroupExpiry (members is l.groups[group]),
// and the group when it was the last. l.mu is held.
func (l *Memory) expireMemberLocked(group string, members map[string]int64, channel string) {
	delete(members, channel)
	l.forgetPresenceLocked(group, channel)
	l.groupExpired.Add(1)
	if len(members) == 0 {
		delete(l.groups, group)
		delete(l.groupMin, group)
	}
}

// forgetPresenceLocked drops the presence information of a member that left group, and
// returns it (nil when it had none). l.mu is held.
func (l *Memory) forgetPresenceLocked(group, channel string) *memPresence {
	pm := l.presence[group]
	if pm == nil {
		return nil
	}
	p := pm[channel]
	delete(pm, channel)
	if len(pm) == 0 {
		delete(l.presence, group)
	}
	return p
}
