package redislayer

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// TestContractCluster runs the presence, history and recover contracts on a 3-master Redis
// Cluster: every script keeps its keys in one slot (a group's stream, meta and presence hash
// are tagged with its key), and Presence prunes closed processes with the registry read in a
// call of its own.
func TestContractCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	var mu sync.Mutex
	prefixes := map[*testing.T]string{}
	f := func(t *testing.T, history []layers.HistoryRule) layers.Layer {
		mu.Lock()
		p, ok := prefixes[t]
		if !ok {
			p = fmt.Sprintf("ct%d", len(prefixes))
			prefixes[t] = p
		}
		mu.Unlock()
		co := redis.ClusterOptions{Addrs: c.Addrs()}
		l, err := New(Options{Cluster: &co, Prefix: p, History: history, HeartbeatTimeout: contractHeartbeat})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	t.Run("Presence", func(t *testing.T) { layertest.Presence(t, f, layertest.WithGoneWithin(10*contractHeartbeat)) })
	t.Run("History", func(t *testing.T) { layertest.History(t, f) })
	t.Run("Recover", func(t *testing.T) { layertest.Recover(t, f) })
}
