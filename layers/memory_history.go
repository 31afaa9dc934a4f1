package layers

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/gochannels/gochannels/channels"
)

// memRing is the history of one group on the memory layer: its last messages (each with
// its position) in a ring that grows up to the rule's size, and the stream's epoch and top.
type memRing struct {
	epoch   string
	top     uint64
	buf     []memEntry
	head, n int
	size    int
	ttl     int64 // nanoseconds; 0: no time bound
	idle    int64 // nanoseconds without a message after which the ring may be dropped
	last    int64 // time of the last message
	senders int   // GroupSends holding the ring (it is not dropped meanwhile); l.mu guards it

	// order serialises the GroupSends of the group from the moment their message gets its
	// offset until it is handed to every member, so that members receive the messages in
	// the order of their offsets.
	order sync.Mutex
}

// holdRing returns the ring of group (making it, with a new epoch, if there is none) and
// marks it held by a GroupSend; stampLocked releases it. It returns nil after Close.
func (l *Memory) holdRing(group string, rule HistoryRule, now int64) *memRing {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	r := l.rings[group]
	if r == nil {
		l.epochs++
		r = &memRing{
			epoch: l.procID + "-" + strconv.FormatUint(l.epochs, 36),
			size:  rule.Size,
			ttl:   int64(rule.TTL),
			idle:  int64(rule.TTL),
			last:  now,
		}
		if r.idle == 0 {
			r.idle = l.groupExpiry
		}
		l.rings[group] = r
	}
	r.senders++
	return r
}

// stampLocked gives e's message (a copy no one else holds yet) the ring's next position
// and keeps it, dropping the oldest message when the ring is full, and releases the ring
// held by holdRing. l.mu is held.
func (l *Memory) stampLocked(r *memRing, group string, e *memEntry) {
	r.senders--
	r.top++
	e.msg[GroupKey] = group
	e.msg[OffsetKey] = r.top
	e.msg[EpochKey] = r.epoch
	r.trim(e.at)
	if r.n == len(r.buf) {
		if len(r.buf) < r.size {
			nb := make([]memEntry, min(max(2*len(r.buf), 8), r.size))
			for i := 0; i < r.n; i++ {
				nb[i] = r.buf[(r.head+i)%len(r.buf)]
			}
			r.buf, r.head = nb, 0
		} else {
			r.pop()
		}
	}
	r.buf[(r.head+r.n)%len(r.buf)] = *e
	r.n++
	r.last = e.at
}

// trim drops the messages older than the TTL (they are in send order).
func (r *memRing) trim(now int64) {
	for r.ttl > 0 && r.n > 0 && now-r.buf[r.head].at > r.ttl {
		r.pop()
	}
}

func (r *memRing) pop() {
	r.buf[r.head] = memEntry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// sweepRingsLocked drops a few rings that got no message for their idle time (their next
// message starts a new epoch). l.mu is held.
func (l *Memory) sweepRingsLocked(now int64) {
	const ringsPerStep = 4
	n := 0
	for group, r := range l.rings {
		if n++; n > ringsPerStep {
			break
		}
		if r.senders == 0 && now-r.last > r.idle {
			delete(l.rings, group)
		}
	}
}

// History returns up to limit kept messages of group after since.Offset, oldest first (the
// messages members received: read-only), with the group's top and oldest kept offset. It
// costs O(returned messages) under the layer's lock, and returns an error wrapping
// ErrNotSupported for a group no History rule matches.
func (l *Memory) History(ctx context.Context, group string, since Position, limit int) (HistoryPage, error) {
	if err := ValidateGroupName(group); err != nil {
		return HistoryPage{}, fmt.Errorf("layers: memory history: %w", err)
	}
	if _, ok := l.history.Match(group); !ok {
		return HistoryPage{}, fmt.Errorf("layers: memory history of group %q: no history rule matches it: %w", group, ErrNotSupported)
	}
	if err := ctx.Err(); err != nil {
		return HistoryPage{}, err
	}
	if limit <= 0 || limit > MaxHistoryLimit {
		limit = MaxHistoryLimit
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return HistoryPage{}, l.closedErr("history")
	}
	r := l.rings[group]
	if r == nil {
		return HistoryPage{}, nil
	}
	r.trim(now)
	page := HistoryPage{Top: Position{Offset: r.top, Epoch: r.epoch}}
	if r.n == 0 {
		return page, nil
	}
	oldest := r.top - uint64(r.n) + 1 // offsets in the ring are consecutive
	page.Oldest = oldest
	start := max(since.Offset+1, oldest)
	if start > r.top {
		return page, nil
	}
	count := min(r.top-start+1, uint64(limit))
	page.Messages = make([]channels.Message, 0, count)
	for i := start - oldest; i < start-oldest+count; i++ {
		page.Messages = append(page.Messages, r.buf[(r.head+int(i))%len(r.buf)].msg)
	}
	return page, nil
}
