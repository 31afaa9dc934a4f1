// Package layers defines the channel layer: the way consumers talk to each other, within one
// process or across a fleet. Every consumer has its own channel (an inbox); channels join
// groups; GroupSend reaches every member of a group wherever it lives.
//
// This package holds the Layer interface, Django-compatible name validation, Open (build a
// layer from a URL) and the in-memory layer. The Redis layers live in the redislayer
// sub-package, which registers the "redis", "rediss", "redis+sentinel", "redis+cluster" and
// pub/sub schemes with Open when it is imported.
//
// # Capacity and delivery
//
// A channel's capacity (DefaultCapacity, CapacityRule) bounds the messages waiting on the
// layer for a channel that is read with Receive, as channels_redis does: Send to a full
// channel fails with ErrChannelFull, and a Django sender (channels_redis) still sees
// ChannelFull from a full Redis channel; the Python-side capacity rules are unchanged.
// Messages to a consumer on a gochannels server are pushed instead (Listener) into that
// connection's event queue, which the server bounds by bytes (channels.Server's
// EventQueueBytes, 1 MiB by default) rather than by the channel's capacity: a connection
// that keeps up loses nothing in a burst, and one that falls behind is closed with 1008
// "event queue full", or drops by its overflow policy (channels.OverflowPolicy), and the
// layer counts each message the queue refused as dropped.
//
// # Presence, history and recovery
//
// The memory layer and redislayer.Layer (not the pub/sub layer) implement two optional
// interfaces, used through Unwrap or the helpers Presence, PresenceCount, History and
// Recover (which return ErrNotSupported for a layer without them). Presencer: PresenceAdd joins a group with a small piece of
// information, Presence and PresenceCount tell who is in it, from any process. Historian: a
// group matching a HistoryRule (MemoryOptions.History, the history URL parameter) keeps its
// last messages, and each message sent to it carries its position (GroupKey, OffsetKey,
// EpochKey; PositionOf reads it); Recover returns what came after a position, in order, or
// an *UnrecoverableError when the epoch changed or the history no longer holds it. The
// package layertest is the contract suite both layers pass.
package layers

import (
	"context"
	"errors"

	"github.com/gochannels/gochannels/channels"
)

// Layer is a channel layer. All methods are safe for concurrent use.
//
// Channel names match `^[a-zA-Z\d\-_.]+(\![\d\w\-_.]*)?$` and group names
// `^[a-zA-Z\d\-_.]+$`, both shorter than 100 characters; a bad name is an error wrapping
// ErrInvalidName. A name with a "!" is process-specific: everything up to and including the
// "!" names the process inbox it is delivered to.
type Layer interface {
	// Send puts msg on channel. It returns an error wrapping ErrChannelFull when the channel
	// holds its capacity. msg must have a string "type" and must not be changed afterwards.
	Send(ctx context.Context, channel string, msg channels.Message) error
	// Receive takes the next message from channel, waiting until one arrives or ctx is done.
	// Each message is received once, by one of the channel's receivers.
	Receive(ctx context.Context, channel string) (channels.Message, error)
	// NewChannel returns a new, unique process-specific channel name that starts with prefix
	// (Django uses "specific"), for Receive in this process.
	NewChannel(ctx context.Context, prefix string) (string, error)
	// GroupAdd adds channel to group (refreshing its membership if it is there already).
	GroupAdd(ctx context.Context, group, channel string) error
	// GroupDiscard removes channel from group; removing a non-member is not an error.
	GroupDiscard(ctx context.Context, group, channel string) error
	// GroupSend sends msg to every channel in group. A member whose channel is full misses
	// the message; that is counted, not returned as an error.
	GroupSend(ctx context.Context, group string, msg channels.Message) error
	// Flush removes every channel, message and group of this layer (its prefix).
	Flush(ctx context.Context) error
	// Close releases the layer's resources; receives in progress return ErrLayerClosed.
	Close() error
}

// Listener is implemented by layers that push the messages of process-specific channels to a
// callback, from one receive loop per process, instead of a goroutine blocked in Receive per
// channel. Consumers use it through Listen.
type Listener interface {
	// Listen creates a new process-specific channel (as NewChannel(ctx, prefix)) and calls
	// deliver with each message sent to it, in order, until stop is called. deliver must not
	// block; it returns false when it cannot take the message (its queue is full), and the
	// layer counts that as a drop. After stop returns, deliver is not called again.
	Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (channel string, stop func(), err error)
}

var (
	// ErrChannelFull is returned (wrapped) by Send when the channel is at capacity.
	ErrChannelFull = errors.New("layers: channel full")
	// ErrInvalidName is returned (wrapped) for a channel or group name that breaks the naming
	// rules.
	ErrInvalidName = errors.New("layers: invalid name")
	// ErrInvalidMessage is returned (wrapped) for a message the layer cannot carry: no string
	// "type", a reserved key, or a value the wire format cannot encode.
	ErrInvalidMessage = errors.New("layers: invalid message")
	// ErrLayerClosed is returned (wrapped) by calls on a closed layer.
	ErrLayerClosed = errors.New("layers: layer closed")
	// ErrUnavailable is returned (wrapped, together with the failure that caused it) when the
	// layer's backing service cannot be reached: a Redis layer retries Send, GroupSend,
	// GroupAdd and GroupDiscard through a short outage and returns it once its bound (or the
	// caller's context) has passed. The call may be retried later. A consumer that gets it
	// from GroupSend can answer its client with an error instead of closing the connection
	// (see package consumer); a handshake refused because of it gets HTTP 503, not 403.
	ErrUnavailable = errors.New("layers: layer unavailable")
)
