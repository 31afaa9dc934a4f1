package redislayer

import (
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/layertest"
)

// contractHeartbeat is the heartbeat timeout of the contract suites' layers: a closed
// layer's presence members must be gone within it.
const contractHeartbeat = time.Second

// contractFactory returns the contract suites' factory: the layers of one test share Redis
// servers and a key prefix (several processes of one deployment). mod picks the variant.
func contractFactory(servers func(t *testing.T) []*redistest.Server, mod func(*Options)) layertest.Factory {
	var mu sync.Mutex
	perTest := map[*testing.T][]*redistest.Server{}
	return func(t *testing.T, history []layers.HistoryRule) layers.Layer {
		mu.Lock()
		srvs, ok := perTest[t]
		if !ok {
			srvs = servers(t)
			perTest[t] = srvs
			t.Cleanup(func() { mu.Lock(); delete(perTest, t); mu.Unlock() })
		}
		mu.Unlock()
		return newLayer(t, srvs, func(o *Options) {
			o.History, o.HeartbeatTimeout = history, contractHeartbeat
			if mod != nil {
				mod(o)
			}
		})
	}
}

// contractVariants are the Redis layer's two group-send paths: one server (one script per
// group send) and two shards with encryption (members read first, then written per shard).
func contractVariants() map[string]layertest.Factory {
	return map[string]layertest.Factory{
		"one-server": contractFactory(func(t *testing.T) []*redistest.Server { return redistest.StartN(t, 1) }, nil),
		"sharded-encrypted": contractFactory(func(t *testing.T) []*redistest.Server { return redistest.StartN(t, 2) },
			func(o *Options) { o.SymmetricEncryptionKeys = []string{"contract-secret"} }),
	}
}

func TestPresenceContract(t *testing.T) {
	for name, f := range contractVariants() {
		t.Run(name, func(t *testing.T) { layertest.Presence(t, f, layertest.WithGoneWithin(10*contractHeartbeat)) })
	}
}

func TestHistoryContract(t *testing.T) {
	for name, f := range contractVariants() {
		t.Run(name, func(t *testing.T) { layertest.History(t, f) })
	}
}

func TestRecoverContract(t *testing.T) {
	for name, f := range contractVariants() {
		t.Run(name, func(t *testing.T) { layertest.Recover(t, f) })
	}
}
