package layers

import (
	"context"
	"errors"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// History: a group can keep its last messages, and each message sent to it gets a position
// that reaches every member with the message, so that a client that lost its connection can
// ask for what it missed.
//
// History is off by default and set per group-name pattern (HistoryRule). A GroupSend to a
// group with history stores the message and gives it the next position atomically with the
// send: one round trip on the Redis layers (a stream per group), a ring per group in memory.

// Message keys that carry a message's position, set by the layer on every message sent to a
// group with history: the group's name, the offset and the epoch (members receive them with
// the message; Python members see them as three more keys of the event). A message sent to a
// group without history has none of them.
const (
	GroupKey  = "__group__"
	OffsetKey = "__offset__"
	EpochKey  = "__epoch__"
)

// MaxHistoryLimit bounds the messages one History call returns, and the messages a group
// keeps: a HistoryRule's Size is at most MaxHistoryLimit, and a rule with Size 0 (bounded by
// time only) keeps at most MaxHistoryLimit messages too, dropping the oldest. So every kept
// message can be read with one History call.
const MaxHistoryLimit = 10_000

// Position is where a message stands in a group's stream: its offset, counted from 1 within
// an epoch, and the epoch, which changes when the stream was lost (a Redis restarted without
// persistence, an expired key, a new memory layer). Offsets of one epoch only grow.
type Position struct {
	Offset uint64
	Epoch  string
}

// HistoryRule keeps history for the groups whose names match Pattern (the syntax of
// CapacityRule: a glob, or "re:" and a regular expression; the first matching rule wins). A
// message is kept while it is among the last Size messages of its group (MaxHistoryLimit when
// Size is 0) and younger than TTL (no time bound when TTL is 0); one of them must be set. The
// stream of a group that gets no message for TTL (or for the layer's group expiry when TTL is
// 0) may be dropped, and its next message starts a new epoch. Flush drops every stream.
//
// Rules come from the layer's options or from its URL (ParseHistoryRules).
type HistoryRule struct {
	Pattern string
	Size    int
	TTL     time.Duration
}

// HistoryPage is what History returns.
type HistoryPage struct {
	// Messages are the kept messages after the asked position, oldest first, each with its
	// GroupKey, OffsetKey and EpochKey. They are read-only (a layer may share them with the
	// members that received them).
	Messages []channels.Message
	// Top is the position of the last message sent to the group (Offset 0 when none was
	// sent in this epoch).
	Top Position
	// Oldest is the offset of the oldest kept message (0 when none is kept): messages
	// between the asked position and Oldest were dropped from history. Messages older than
	// their rule's TTL are not returned, and do not count for Oldest.
	Oldest uint64
}

// Historian is implemented by layers that keep history (the memory and Redis layers).
type Historian interface {
	// History returns up to limit (at most MaxHistoryLimit; all of them up to that bound
	// when limit <= 0) kept messages of group with an offset above since.Offset, oldest
	// first, and the group's current top. since.Epoch is not checked here (Recover does).
	// A group without a history rule returns an error wrapping ErrNotSupported.
	History(ctx context.Context, group string, since Position, limit int) (HistoryPage, error)
}

// ErrUnrecoverable is returned (wrapped) by Recover when the messages after a position cannot
// all be given: the epoch changed, or some of them are no longer kept. The application then
// reloads its state instead of resuming.
var ErrUnrecoverable = errors.New("layers: cannot recover from this position")
