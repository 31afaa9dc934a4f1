package ops

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The per-message counters of Instrument (messages and bytes in and out, channel-layer
// deliveries) are counted per scope, in the scope's own tracker, rather than in shared
// Prometheus counters: a delivery then costs an uncontended atomic add on the scope's own
// memory instead of an add on a cache line every core fights for (the float CAS loop of a
// prometheus.Counter). A scrape sums them: what the scopes that ended left (folded into
// their scope type's base when they end) plus what every scope in progress holds now, so
// /metrics is exact at every scrape, with no staleness.

// Indexes of the per-scope tallies. They share a cache line: padding the ones the channel
// layer's senders count (Injected) away from those of the scope's own goroutine measured
// no better.
const (
	tMsgIn = iota
	tMsgOut
	tBytesIn
	tBytesOut
	tLayerOK
	tLayerFull
	tLayerOverflow
	tLayerClosed
	numTallies
)

// tallies are the per-message counts of a scope, or of the ended scopes of one type.
type tallies [numTallies]atomic.Uint64

// liveScopes are the trackers of the scopes in progress, for the scrape to sum.
type liveScopes struct {
	mu   sync.Mutex
	head *tracker // doubly linked through tracker.prev and tracker.next
}

// track adds t to the scopes a scrape sums.
func (l *liveScopes) track(t *tracker) {
	l.mu.Lock()
	t.next = l.head
	if l.head != nil {
		l.head.prev = t
	}
	l.head = t
	l.mu.Unlock()
}

// untrack moves t's tallies into its scope type's base and removes t from the scopes a
// scrape sums, in one step for the scrape. An add to t after it (a message injected after
// the scope ended) is folded by the adder (see tracker.add).
func (l *liveScopes) untrack(t *tracker) {
	l.mu.Lock()
	t.ended.Store(true)
	t.fold()
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
	l.mu.Unlock()
}

// add counts v into tally i of the scope. Once the scope has ended (untrack stored ended
// before folding), the adder folds what it added itself: either the load here sees ended,
// or the add came before untrack's fold, which then takes it.
func (t *tracker) add(i int, v uint64) {
	t.n[i].Add(v)
	if t.ended.Load() {
		t.fold()
	}
}

// fold moves t's tallies into its scope type's base.
func (t *tracker) fold() {
	for i := range t.n {
		if v := t.n[i].Swap(0); v != 0 {
			t.sc.base[i].Add(v)
		}
	}
}

// tallyCollector exports the tallies of every scope type: the base plus the live scopes.
type tallyCollector struct {
	m                                *Metrics
	msgIn, msgOut, bytesIn, bytesOut *prometheus.Desc // label type
	layerMsgs                        *prometheus.Desc // labels type, result
}

// Describe implements prometheus.Collector.
func (c *tallyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.msgIn
	ch <- c.msgOut
	ch <- c.bytesIn
	ch <- c.bytesOut
	ch <- c.layerMsgs
}

// Collect implements prometheus.Collector: it sums the tallies under the live scopes' lock,
// so that a scope ending meanwhile is counted once.
func (c *tallyCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	sums := make([][numTallies]uint64, len(m.scopeList))
	m.live.mu.Lock()
	for k, sc := range m.scopeList {
		for i := range sc.base {
			sums[k][i] = sc.base[i].Load()
		}
	}
	for t := m.live.head; t != nil; t = t.next {
		for i := range t.n {
			sums[t.sc.index][i] += t.n[i].Load()
		}
	}
	m.live.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for k, sc := range m.scopeList {
		s := &sums[k]
		counter(c.msgIn, s[tMsgIn], sc.typ)
		counter(c.msgOut, s[tMsgOut], sc.typ)
		counter(c.bytesIn, s[tBytesIn], sc.typ)
		counter(c.bytesOut, s[tBytesOut], sc.typ)
		counter(c.layerMsgs, s[tLayerOK], sc.typ, "delivered")
		counter(c.layerMsgs, s[tLayerFull], sc.typ, "mailbox_full")
		counter(c.layerMsgs, s[tLayerOverflow], sc.typ, "overflow")
		counter(c.layerMsgs, s[tLayerClosed], sc.typ, "closed")
	}
}
