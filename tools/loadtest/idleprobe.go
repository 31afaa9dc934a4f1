package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// failure holds the first reason a set of connections failed; Done is closed when it is set.
type failure struct {
	once sync.Once
	done chan struct{}
	err  error
}

func newFailure() *failure { return &failure{done: make(chan struct{})} }

func (f *failure) set(err error) {
	f.once.Do(func() { f.err = err; close(f.done) })
}

// Done is closed when the first failure is recorded.
func (f *failure) Done() <-chan struct{} { return f.done }

// Err returns the first failure, or nil.
func (f *failure) Err() error {
	select {
	case <-f.done:
		return f.err
	default:
		return nil
	}
}

// probeMarker starts every probe message, so readers look at no other frame.
var probeMarker = []byte("idleprobe:")

// ProbeSample returns how many of n idle connections a probe round sends from: 1 %, at least
// 10 (all of them when fewer).
func ProbeSample(n int) int {
	return min(n, max(10, (n+99)/100))
}

// probeWait is one probe in flight: the message token must reach connection recv.
type probeWait struct {
	from, recv int
	arrived    chan struct{}
}

// arrived is called by connection i's reader for a frame holding the probe marker.
func (s *IdleSet) probeArrived(frame []byte, i int) {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(frame, &m) != nil {
		return
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if w, ok := s.probes[m.Message]; ok && w.recv == i {
		close(w.arrived)
		delete(s.probes, m.Message)
	}
}

// probePartner returns the connection that must receive connection i's probe: another member
// of i's room (i ± rooms) when the set has one, else i itself (the chat echoes to the sender).
func (s *IdleSet) probePartner(i int) int {
	switch {
	case i+s.rooms < len(s.conns):
		return i + s.rooms
	case i-s.rooms >= 0:
		return i - s.rooms
	}
	return i
}

// probeBatch is how many probes are in flight at once. Each probe is one group send, which
// puts one message in the inbox of every server process with members in the room, and
// channels_redis drops a group message for a process whose inbox already holds its capacity
// (100 by default) of messages: 150 probes at once lost a third of them on daphne. A batch
// well under that capacity verifies the connections without testing the layer's burst
// limit.
const probeBatch = 25

// Probe sends one chat message from each of a sample of the set's connections (ProbeSample,
// spread evenly), probeBatch at a time, and waits until each has reached another member of
// its room, so that the sample is known to be open and served both ways. It fails when a
// probe does not arrive within timeout (one bound for all the batches), when writing one
// fails, or when any reader of the set has failed.
func (s *IdleSet) Probe(ctx context.Context, timeout time.Duration) (int, error) {
	n := len(s.conns)
	if n == 0 {
		return 0, nil
	}
	k := ProbeSample(n)
	s.probeMu.Lock()
	s.round++
	round := s.round
	waits := make([]*probeWait, 0, k)
	tokens := make([]string, 0, k)
	for p := range k {
		i := p * n / k
		tok := string(probeMarker) + s.prefix + strconv.Itoa(round) + ":" + strconv.Itoa(i)
		w := &probeWait{from: i, recv: s.probePartner(i), arrived: make(chan struct{})}
		s.probes[tok] = w
		waits = append(waits, w)
		tokens = append(tokens, tok)
	}
	s.probeMu.Unlock()
	defer func() {
		s.probeMu.Lock()
		for _, t := range tokens {
			delete(s.probes, t)
		}
		s.probeMu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for start := 0; start < len(waits); start += probeBatch {
		end := min(start+probeBatch, len(waits))
		for p := start; p < end; p++ {
			w := waits[p]
			frame, _ := json.Marshal(map[string]string{"message": tokens[p]})
			if err := s.conns[w.from].WriteFrame(ws.OpText, frame); err != nil {
				return 0, fmt.Errorf("loadtest: probe from idle connection %d: %w", s.offset+w.from, err)
			}
		}
		for p := start; p < end; p++ {
			w := waits[p]
			select {
			case <-w.arrived:
			case <-s.fail.Done():
				return 0, s.fail.Err()
			case <-ctx.Done():
				return 0, fmt.Errorf("loadtest: probing: %w", ctx.Err())
			case <-timer.C:
				missing := 0
				for _, w := range waits[p:] { // with the probes of later batches, never sent
					select {
					case <-w.arrived:
					default:
						missing++
					}
				}
				return 0, fmt.Errorf("loadtest: %d of %d probes not delivered within %v (first: from idle connection %d to %d, room %d)",
					missing, k, timeout, s.offset+w.from, s.offset+w.recv, w.from%s.rooms)
			}
		}
	}
	return k, s.fail.Err()
}

// isProbe reports whether a frame may be a probe.
func isProbe(frame []byte) bool { return bytes.Contains(frame, probeMarker) }

// probeReply and failedReply are a client worker's answers on stdout.
const (
	probeReply  = "probed"
	failedReply = "failed"
)

// parseProbeReply parses "probed <n>".
func parseProbeReply(line string) (int, bool) {
	v, ok := strings.CutPrefix(line, probeReply+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}
