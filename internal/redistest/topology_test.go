package redistest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartTLS(t *testing.T) {
	s := StartTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if !strings.HasPrefix(s.URL(), "rediss://127.0.0.1:") {
		t.Fatalf("URL %q", s.URL())
	}
	// No plain-text answer on the TLS port.
	if err := ping("redis://"+s.Addr()+"/0", time.Second); err == nil {
		t.Fatal("the TLS port answered a plain-text PING")
	}
}

func TestStartSentinelFailover(t *testing.T) {
	start := time.Now()
	s := StartSentinel(t)
	t.Logf("StartSentinel took %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before, err := s.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	after, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Failover took %v", time.Since(start))
	if after == before {
		t.Fatalf("master still %s after failover", before)
	}
	c := redis.NewClient(&redis.Options{Addr: after, DisableIdentity: true})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on the new master: %v", err)
	}
}

func TestStartCluster(t *testing.T) {
	start := time.Now()
	c := StartCluster(t, 3)
	t.Logf("StartCluster took %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc := c.Client()
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var shards atomic.Int32
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		shards.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := shards.Load(); n != 3 {
		t.Fatalf("%d masters, want 3", n)
	}
	if !strings.HasPrefix(c.URL(), "redis+cluster://127.0.0.1:") || strings.Count(c.URL(), "host=") != 2 {
		t.Fatalf("URL %q", c.URL())
	}
}
