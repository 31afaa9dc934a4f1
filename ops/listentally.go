package ops

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The Listen deliveries of an instrumented layer (layer_listen_messages_total) are counted
// per Listen channel, as the per-scope tallies are (see tally.go): a group send to a room
// then adds to each member's own counter, which only the senders reaching that member
// touch, instead of all of them adding to one shared prometheus.Counter (a float CAS loop on
// a cache line every core fights for) once per member. A scrape sums what the stopped
// channels left plus what every channel in progress holds now, so /metrics stays exact.

// Indexes of a listener's tallies.
const (
	lDelivered = iota
	lDropped
	numListenTallies
)

// listenTally counts the messages one Listen callback took and dropped.
type listenTally struct {
	n          [numListenTallies]atomic.Uint64
	ended      atomic.Bool
	set        *listenTallies
	prev, next *listenTally // in set's list of live tallies
}

// listenTallies are the counts of a layer wrapper's Listen channels: base, what the
// stopped ones counted, and the live ones, for a scrape to sum.
type listenTallies struct {
	base [numListenTallies]atomic.Uint64
	mu   sync.Mutex
	head *listenTally
}

// track returns a new tally, summed by every scrape from now on.
func (s *listenTallies) track() *listenTally {
	t := &listenTally{set: s}
	s.mu.Lock()
	t.next = s.head
	if s.head != nil {
		s.head.prev = t
	}
	s.head = t
	s.mu.Unlock()
	return t
}

// untrack folds t into the base and removes it from the live tallies, in one step for the
// scrape. An add to t after it is folded by the adder (see add). Idempotent.
func (s *listenTallies) untrack(t *listenTally) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ended.Load() {
		return
	}
	t.ended.Store(true)
	t.fold()
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		s.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
}

// add counts one message into tally i. Once t has ended (untrack stored ended before
// folding), the adder folds what it added itself: either the load here sees ended, or the
// add came before untrack's fold, which then takes it.
func (t *listenTally) add(i int) {
	t.n[i].Add(1)
	if t.ended.Load() {
		t.fold()
	}
}

// fold moves t's counts into the base.
func (t *listenTally) fold() {
	for i := range t.n {
		if v := t.n[i].Swap(0); v != 0 {
			t.set.base[i].Add(v)
		}
	}
}

// sums returns the base plus the live tallies, under the lock, so that a tally ending
// meanwhile is counted once.
func (s *listenTallies) sums() (out [numListenTallies]uint64) {
	s.mu.Lock()
	for i := range s.base {
		out[i] = s.base[i].Load()
	}
	for t := s.head; t != nil; t = t.next {
		for i := range t.n {
			out[i] += t.n[i].Load()
		}
	}
	s.mu.Unlock()
	return out
}

// listenCollector exports listenTallies as layer_listen_messages_total{result}.
type listenCollector struct {
	s    *listenTallies
	desc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *listenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *listenCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s.sums()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(s[lDelivered]), "delivered")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(s[lDropped]), "dropped")
}
