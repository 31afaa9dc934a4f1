package layers

import (
	"context"
	"errors"
	"fmt"
)

// Presence: who is in a group, with a small piece of information per member (a user id, a
// display name), asked for from any process.
//
// A member joins with PresenceAdd instead of GroupAdd; it is then a group member like any
// other (GroupSend reaches it, GroupDiscard removes it and its information; GroupAdd
// refreshes its membership and keeps its information; Flush drops all of it). Members of a
// process that stops without leaving disappear with its group memberships: on the Redis
// layers within the heartbeat timeout, on the memory layer at GroupExpiry.

// Message types of the presence events a layer sends to a group whose members joined with
// PresenceOptions.Events: a member's channel and info are in the message's "channel" and
// "info" keys. A consumer handles them like any other message (PresenceJoin / PresenceLeave
// methods). They are ordinary group messages: in a group with history they get a position and
// are kept like the others.
const (
	PresenceJoinType  = "presence.join"
	PresenceLeaveType = "presence.leave"
)

// MaxPresenceInfoBytes bounds one member's encoded presence information: PresenceAdd with a
// larger info fails with an error wrapping ErrInvalidMessage.
const MaxPresenceInfoBytes = 4 << 10

// Member is one member of a group, as Presence reports it.
type Member struct {
	// Channel is the member's channel name.
	Channel string
	// Info is what the member joined with (nil for a member added with GroupAdd).
	Info map[string]any
}

// PresenceOptions are the options of one PresenceAdd.
type PresenceOptions struct {
	// Events makes the layer send a PresenceJoinType message to the group when the member
	// joins for the first time (not when it refreshes its membership) and a PresenceLeaveType
	// message when GroupDiscard removes it. A member that disappears because its process
	// died gets no leave event.
	Events bool
}

// Presencer is implemented by layers that keep presence information (the memory and Redis
// layers). Use it through a type assertion on Unwrap(layer), or through the consumer
// shortcuts.
type Presencer interface {
	// PresenceAdd adds channel to group as GroupAdd does, and stores info (a small value the
	// layer's wire format can encode, at most MaxPresenceInfoBytes encoded) beside the
	// membership, replacing what was there.
	PresenceAdd(ctx context.Context, group, channel string, info map[string]any, opts PresenceOptions) error
	// Presence returns the live members of group with their information, in no particular
	// order.
	Presence(ctx context.Context, group string) ([]Member, error)
	// PresenceCount returns the number of live members of group, without their information.
	PresenceCount(ctx context.Context, group string) (int, error)
}

// ErrNotSupported is returned (wrapped) by helpers in this package when the layer does not
// implement the optional interface a call needs (Presencer, Historian).
var ErrNotSupported = errors.New("layers: not supported by this layer")

// AsPresencer returns l (under its wrappers, see Unwrap) as a Presencer, or an error wrapping
// ErrNotSupported.
func AsPresencer(l Layer) (Presencer, error) {
	if l != nil {
		if p, ok := Unwrap(l).(Presencer); ok {
			return p, nil
		}
	}
	return nil, fmt.Errorf("layers: presence on a %T: %w", l, ErrNotSupported)
}

// Presence returns the live members of group on l with their information (see Presencer); an
// error wrapping ErrNotSupported when l keeps no presence.
func Presence(ctx context.Context, l Layer, group string) ([]Member, error) {
	p, err := AsPresencer(l)
	if err != nil {
		return nil, err
	}
	return p.Presence(ctx, group)
}

// PresenceCount returns the number of live members of group on l (see Presencer); an error
// wrapping ErrNotSupported when l keeps no presence.
func PresenceCount(ctx context.Context, l Layer, group string) (int, error) {
	p, err := AsPresencer(l)
	if err != nil {
		return 0, err
	}
	return p.PresenceCount(ctx, group)
}
