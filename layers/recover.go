package layers

import (
	"context"
	"fmt"
	"math"

	"github.com/gochannels/gochannels/channels"
)

// Reasons an UnrecoverableError gives (the "reason" of the recovery frames sent to browser
// clients).
const (
	// ReasonEpoch: the group's stream is not the one the position belongs to (it was lost:
	// a Redis restarted without persistence, an expired stream, a new memory layer, Flush).
	ReasonEpoch = "epoch"
	// ReasonGap: some messages after the position are no longer kept (history is shorter),
	// or there are more of them than the caller's limit.
	ReasonGap = "gap"
)

// UnrecoverableError is the error Recover returns when the messages after a position cannot
// all be given. It wraps ErrUnrecoverable.
type UnrecoverableError struct {
	Group  string   // the group asked for
	Since  Position // the position asked for
	Top    Position // the group's current top
	Reason string   // ReasonEpoch or ReasonGap
	Detail string   // what exactly, for a person
}

// Error implements error.
func (e *UnrecoverableError) Error() string {
	return fmt.Sprintf("layers: cannot recover group %q from offset %d (epoch %q): %s: %s",
		e.Group, e.Since.Offset, e.Since.Epoch, e.Reason, e.Detail)
}

// Unwrap returns ErrUnrecoverable.
func (e *UnrecoverableError) Unwrap() error { return ErrUnrecoverable }

// AsHistorian returns l (under its wrappers, see Unwrap) as a Historian, or an error wrapping
// ErrNotSupported.
func AsHistorian(l Layer) (Historian, error) {
	if l != nil {
		if h, ok := Unwrap(l).(Historian); ok {
			return h, nil
		}
	}
	return nil, fmt.Errorf("layers: history on a %T: %w", l, ErrNotSupported)
}

// History returns the kept messages of group after since on l (see Historian); an error
// wrapping ErrNotSupported when l keeps no history, or none for group.
func History(ctx context.Context, l Layer, group string, since Position, limit int) (HistoryPage, error) {
	h, err := AsHistorian(l)
	if err != nil {
		return HistoryPage{}, err
	}
	return h.History(ctx, group, since, limit)
}

// Recover returns every message of group after since, in order, without a gap, so that a
// member that saw the group's messages up to since (and has joined again, so that newer
// messages reach it) can catch up: the page's Messages are the missed messages and its Top
// the position of the last of them (since itself when none was missed). It reads the
// group's history with one History call per MaxHistoryLimit messages.
//
// It returns an error wrapping ErrUnrecoverable, an *UnrecoverableError, when that is not
// possible: the epoch changed (since.Epoch is not the stream's; an empty since.Epoch matches
// any), the messages right after since are no longer kept, or more than limit messages were
// missed (limit <= 0 means MaxHistoryLimit). It returns an error wrapping ErrNotSupported
// when l keeps no history for group.
//
// Messages sent while Recover runs may or may not be among the returned ones; a caller that
// joined the group before calling Recover also receives them live, and skips those at or
// below the returned Top (the consumer package's GroupAddSince does this).
func Recover(ctx context.Context, l Layer, group string, since Position, limit int) (HistoryPage, error) {
	h, err := AsHistorian(l)
	if err != nil {
		return HistoryPage{}, err
	}
	if limit <= 0 {
		limit = MaxHistoryLimit
	}
	unrecoverable := func(top Position, reason, detail string, args ...any) error {
		return &UnrecoverableError{Group: group, Since: since, Top: top, Reason: reason, Detail: fmt.Sprintf(detail, args...)}
	}
	out := HistoryPage{Top: since}
	pos := since
	var target uint64 // the top when Recover started: later messages arrive live
	// Every round but the last takes at least one message, and at most limit are taken.
	for round := 0; round <= limit; round++ {
		want := limit
		if round > 0 {
			want = int(min(target-pos.Offset, uint64(limit)))
		}
		page, err := h.History(ctx, group, pos, min(want, MaxHistoryLimit))
		if err != nil {
			return HistoryPage{}, fmt.Errorf("layers: recover group %q: %w", group, err)
		}
		if since.Epoch != "" && page.Top.Epoch != since.Epoch {
			return HistoryPage{}, unrecoverable(page.Top, ReasonEpoch, "the stream's epoch is now %q", page.Top.Epoch)
		}
		if round == 0 {
			if since.Offset > page.Top.Offset {
				return HistoryPage{}, unrecoverable(page.Top, ReasonEpoch, "the position is beyond the stream's top %d", page.Top.Offset)
			}
			if page.Top.Offset-since.Offset > uint64(limit) {
				return HistoryPage{}, unrecoverable(page.Top, ReasonGap, "%d messages were missed, more than the limit of %d", page.Top.Offset-since.Offset, limit)
			}
			target = page.Top.Offset
			out.Oldest = page.Oldest
			if since.Epoch == "" {
				since.Epoch = page.Top.Epoch // later pages must stay in this epoch
				pos.Epoch = since.Epoch
			}
		}
		if pos.Offset >= target {
			break
		}
		if len(page.Messages) == 0 {
			return HistoryPage{}, unrecoverable(page.Top, ReasonGap, "messages %d to %d are no longer kept", pos.Offset+1, target)
		}
		for _, m := range page.Messages {
			_, p, ok := PositionOf(m)
			if ok && p.Offset > target && p.Epoch == since.Epoch {
				break
			}
			switch {
			case !ok:
				return HistoryPage{}, fmt.Errorf("layers: recover group %q: a history message has no position", group)
			case p.Offset != pos.Offset+1:
				return HistoryPage{}, unrecoverable(page.Top, ReasonGap, "messages %d to %d are no longer kept", pos.Offset+1, p.Offset-1)
			case p.Epoch != since.Epoch:
				return HistoryPage{}, unrecoverable(page.Top, ReasonEpoch, "the stream's epoch is now %q", p.Epoch)
			}
			pos = p
			out.Messages = append(out.Messages, m)
		}
		out.Top = pos
		if pos.Offset >= target {
			break
		}
	}
	if pos.Offset < target {
		return HistoryPage{}, fmt.Errorf("layers: recover group %q: history reads did not reach offset %d", group, target)
	}
	out.Top = pos
	return out, nil
}

// PositionOf returns the group and position a layer gave msg (GroupKey, OffsetKey and
// EpochKey); ok is false for a message without a position (sent to a group without history,
// or to a channel). The offset may be any integer type (a message decoded from msgpack or
// JSON carries the type its decoder chose).
func PositionOf(msg channels.Message) (group string, pos Position, ok bool) {
	group, ok1 := msg[GroupKey].(string)
	if !ok1 {
		return "", Position{}, false // most messages: one lookup
	}
	epoch, ok2 := msg[EpochKey].(string)
	offset, ok3 := toOffset(msg[OffsetKey])
	if !ok1 || !ok2 || !ok3 || group == "" || epoch == "" || offset == 0 {
		return "", Position{}, false
	}
	return group, Position{Offset: offset, Epoch: epoch}, true
}

func toOffset(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case int64:
		return uint64(n), n >= 0
	case int:
		return uint64(n), n >= 0
	case uint32:
		return uint64(n), true
	case int32:
		return uint64(n), n >= 0
	case uint16:
		return uint64(n), true
	case int16:
		return uint64(n), n >= 0
	case uint8:
		return uint64(n), true
	case int8:
		return uint64(n), n >= 0
	case uint:
		return uint64(n), true
	case float64:
		if n >= 0 && n <= math.MaxUint64 && n == math.Trunc(n) {
			return uint64(n), true
		}
	}
	return 0, false
}
