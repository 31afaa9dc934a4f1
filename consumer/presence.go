package consumer

import (
	"context"
	"fmt"
	"slices"

	"github.com/gochannels/gochannels/layers"
)

// PresenceAdd adds the consumer's channel to group, as GroupAdd does, with presence
// information info (a small JSON-able value: a user id, a display name; see
// layers.Presencer), which Presence lists from any process. The group is left automatically
// when the scope ends. With opts.Events the group's members get "presence.join" and
// "presence.leave" messages, which a consumer handles with PresenceJoin and PresenceLeave
// methods like any other message type. It returns an error wrapping layers.ErrNotSupported
// when the layer keeps no presence.
func (c *Consumer) PresenceAdd(ctx context.Context, group string, info map[string]any, opts layers.PresenceOptions) error {
	if c.layer == nil {
		return fmt.Errorf("consumer: join group %q with presence: %w", group, ErrNoLayer)
	}
	p, err := layers.AsPresencer(c.layer)
	if err != nil {
		return fmt.Errorf("consumer: join group %q with presence: %w", group, err)
	}
	if err := p.PresenceAdd(ctx, group, c.channel, info, opts); err != nil {
		return fmt.Errorf("consumer: join group %q with presence: %w", group, err)
	}
	c.mu.Lock()
	if !slices.Contains(c.groups, group) {
		c.groups = append(c.groups, group)
	}
	c.mu.Unlock()
	return nil
}

// Presence returns the live members of group with their presence information, from every
// process on the layer (see the layer's Presence for its cost).
func (c *Consumer) Presence(ctx context.Context, group string) ([]layers.Member, error) {
	if c.layer == nil {
		return nil, fmt.Errorf("consumer: presence of group %q: %w", group, ErrNoLayer)
	}
	ms, err := layers.Presence(ctx, c.layer, group)
	if err != nil {
		return nil, fmt.Errorf("consumer: presence of group %q: %w", group, err)
	}
	return ms, nil
}

// PresenceCount returns the number of live members of group, without their information.
func (c *Consumer) PresenceCount(ctx context.Context, group string) (int, error) {
	if c.layer == nil {
		return 0, fmt.Errorf("consumer: presence count of group %q: %w", group, ErrNoLayer)
	}
	n, err := layers.PresenceCount(ctx, c.layer, group)
	if err != nil {
		return 0, fmt.Errorf("consumer: presence count of group %q: %w", group, err)
	}
	return n, nil
}
