// Package layertest is the contract test suite of the optional layer interfaces
// (layers.Presencer and layers.Historian) and of layers.Recover: every layer that implements
// them runs the same tests, so that the memory and Redis layers behave alike.
//
//	func TestContract(t *testing.T) {
//		newLayer := func(t *testing.T, history []layers.HistoryRule) layers.Layer {
//			l := layers.NewMemory(layers.MemoryOptions{History: history})
//			t.Cleanup(func() { l.Close() })
//			return l
//		}
//		t.Run("Presence", func(t *testing.T) { layertest.Presence(t, newLayer) })
//		t.Run("History", func(t *testing.T) { layertest.History(t, newLayer) })
//		t.Run("Recover", func(t *testing.T) { layertest.Recover(t, newLayer) })
//	}
//
// The suites use group names that start with "lt." followed by a random part, and pass the
// history rules they need (see Rules) to the factory. They wait on conditions with a deadline
// (Options.Wait), never on timings.
package layertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Factory returns a new layer for one test, keeping history for the groups history names
// (nil: no history), and arranges for it to be closed when the test ends (t.Cleanup); the
// suite may close it earlier. Layers a factory returns within one test may share their state
// (several processes on one Redis) or not (memory layers).
type Factory func(t *testing.T, history []layers.HistoryRule) layers.Layer

// Option changes how the suites run.
type Option func(*config)

type config struct {
	wait     time.Duration
	goneWait time.Duration
}

// WithWait sets how long a suite waits for something that must happen (a message, an
// expiry) before it fails: 10 seconds by default.
func WithWait(d time.Duration) Option { return func(c *config) { c.wait = d } }

// WithGoneWithin sets how long, after a layer is closed, its presence members may still be
// listed by another layer sharing its state (the heartbeat timeout of a Redis layer): 30
// seconds by default. Layers that share no state skip that check.
func WithGoneWithin(d time.Duration) Option { return func(c *config) { c.goneWait = d } }

func buildConfig(opts []Option) *config {
	c := &config{wait: 10 * time.Second, goneWait: 30 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// Group-name prefixes of the history rules the suites pass to the factory (Rules).
const (
	SizeGroups = "lt.size."  // the last SizeLimit messages
	TTLGroups  = "lt.ttl."   // messages younger than TTL
	BigGroups  = "lt.big."   // the last 1000 messages
	NoHistory  = "lt.plain." // no history
)

// Bounds of the suites' history rules.
const (
	SizeLimit = 5
	TTL       = time.Second
	BigLimit  = 1000
)

// Rules returns the history rules the History and Recover suites give their factory.
func Rules() []layers.HistoryRule {
	return []layers.HistoryRule{
		{Pattern: SizeGroups + "*", Size: SizeLimit},
		{Pattern: TTLGroups + "*", TTL: TTL},
		{Pattern: BigGroups + "*", Size: BigLimit},
	}
}

// group returns a new group name with prefix.
func group(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func testCtx(t *testing.T, c *config) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*c.wait+c.goneWait)
	t.Cleanup(cancel)
	return ctx
}

// inbox is a channel opened with layers.Listen whose messages the test reads.
type inbox struct {
	name string
	ch   chan channels.Message
	wait time.Duration
	stop func()
}

const inboxSize = 4096

// listen opens a channel on l; it is closed when the test ends.
func listen(t *testing.T, c *config, l layers.Layer) *inbox {
	t.Helper()
	in := &inbox{ch: make(chan channels.Message, inboxSize), wait: c.wait}
	name, stop, err := layers.Listen(context.Background(), l, "specific", func(m channels.Message) bool {
		select {
		case in.ch <- m:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	in.name, in.stop = name, sync.OnceFunc(stop)
	t.Cleanup(in.stop)
	return in
}

// next returns the next message, failing the test when none arrives in time.
func (in *inbox) next(t *testing.T) channels.Message {
	t.Helper()
	timer := time.NewTimer(in.wait)
	defer timer.Stop()
	select {
	case m := <-in.ch:
		return m
	case <-timer.C:
		t.Fatalf("no message on %s within %v", in.name, in.wait)
		return nil
	}
}

// eventually polls cond until it holds, failing the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v", what, d)
		}
		time.Sleep(wait) // polling a condition, not synchronising on a delay
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// normalize returns v as encoding/json sees it, so that values compare the same whatever
// number types a layer's wire format decodes to.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return out
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return reflect.DeepEqual(normalize(t, a), normalize(t, b))
}
