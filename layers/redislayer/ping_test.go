package redislayer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// pinger is the method worker.Main and ops.Readyz look for.
type pinger interface {
	Ping(ctx context.Context) error
}

var (
	_ pinger = (*Layer)(nil)
	_ pinger = (*PubSubLayer)(nil)
)

func TestPing(t *testing.T) {
	srvs := redistest.StartPrivateN(t, 2)
	ctx := context.Background()
	l := newLayer(t, srvs, nil)
	ps, err := NewPubSub(PubSubOptions{Hosts: []string{srvs[0].URL(), srvs[1].URL()}, Prefix: srvs[0].Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	for name, p := range map[string]pinger{"Layer": l, "PubSubLayer": ps} {
		if err := p.Ping(ctx); err != nil {
			t.Fatalf("%s: Ping with both shards up: %v", name, err)
		}
	}
	srvs[1].Kill()
	for name, p := range map[string]pinger{"Layer": l, "PubSubLayer": ps} {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.Ping(cctx)
		cancel()
		if err == nil {
			t.Fatalf("%s: Ping with shard 1 down: no error", name)
		}
	}
	srvs[1].Restart()
	for name, p := range map[string]pinger{"Layer": l, "PubSubLayer": ps} {
		waitUntil(t, name+": Ping succeeds after the restart (the pool redials on the next call)", func() bool {
			return p.Ping(ctx) == nil
		})
	}
	_ = l.Close()
	_ = ps.Close()
	for name, p := range map[string]pinger{"Layer": l, "PubSubLayer": ps} {
		if err := p.Ping(ctx); !errors.Is(err, layers.ErrLayerClosed) {
			t.Fatalf("%s: Ping after Close = %v, want ErrLayerClosed", name, err)
		}
	}
}
