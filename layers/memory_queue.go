package layers

import (
	"sync"

	"github.com/gochannels/gochannels/channels"
)

// memEntry is a queued message and the time it was sent.
type memEntry struct {
	msg channels.Message
	at  int64
}

// memQueue is one channel: a ring of messages, or (when it is empty) receivers waiting in
// order of arrival. A sender hands a message straight to the first waiter.
type memQueue struct {
	buf     []memEntry
	head, n int
	cap     int
	waiters []*memWaiter
}

type memWaiter struct{ ch chan memEntry }

var waiterPool = sync.Pool{New: func() any { return &memWaiter{ch: make(chan memEntry, 1)} }}

// enqueueLocked hands e to a waiting receiver of channel, or queues it. It reports false
// (and the capacity) when the channel is full. l.mu is held.
func (l *Memory) enqueueLocked(channel string, e memEntry) (bool, int) {
	q := l.queues[channel]
	if q == nil {
		q = &memQueue{cap: l.caps.Capacity(channel)}
		l.queues[channel] = q
	}
	if len(q.waiters) > 0 {
		w := q.waiters[0]
		copy(q.waiters, q.waiters[1:])
		q.waiters[len(q.waiters)-1] = nil
		q.waiters = q.waiters[:len(q.waiters)-1]
		w.ch <- e // buffered, and each waiter is handed at most one message
		return true, q.cap
	}
	l.trimLocked(q, e.at)
	if q.n >= q.cap {
		return false, q.cap
	}
	q.push(e)
	return true, q.cap
}

// trimLocked drops the expired messages at the head of q (messages are in send order, so
// the expired ones are all at the head).
func (l *Memory) trimLocked(q *memQueue, now int64) {
	for q.n > 0 && now-q.buf[q.head].at > l.expiry {
		q.pop()
		l.expired.Add(1)
	}
}

// push appends e; the caller checked there is room (or is putting a message back).
func (q *memQueue) push(e memEntry) {
	q.grow()
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

// pushFront puts e before every queued message.
func (q *memQueue) pushFront(e memEntry) {
	q.grow()
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = e
	q.n++
}

func (q *memQueue) grow() {
	if q.n < len(q.buf) {
		return
	}
	size := max(2*len(q.buf), 4)
	if size > q.cap && q.n < q.cap {
		size = q.cap
	}
	if size <= q.n {
		size = q.n + 1
	}
	nb := make([]memEntry, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = nb, 0
}

func (q *memQueue) pop() memEntry {
	e := q.buf[q.head]
	q.buf[q.head] = memEntry{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return e
}

func (q *memQueue) removeWaiter(w *memWaiter) bool {
	for i, x := range q.waiters {
		if x == w {
			copy(q.waiters[i:], q.waiters[i+1:])
			q.waiters[len(q.waiters)-1] = nil
			q.waiters = q.waiters[:len(q.waiters)-1]
			return true
		}
	}
	return false
}
