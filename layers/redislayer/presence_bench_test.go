package redislayer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// BenchmarkPresence measures Presence (members and their info) and PresenceCount on a group
// of 100 and 10,000 members with info, spread over 10 live Go processes (registered, so the
// dead-process check runs against a registry with a dead entry in it), from another process.
func BenchmarkPresence(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		srv := redistest.Start(b)
		l := newLayer(b, []*redistest.Server{srv}, nil)
		ctx := context.Background()
		fillPresence(b, ctx, l, srv, "bench", n)
		b.Run(fmt.Sprintf("Presence/members=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ms, err := l.Presence(ctx, "bench")
				if err != nil || len(ms) != n {
					b.Fatalf("Presence: %d members, %v", len(ms), err)
				}
			}
		})
		b.Run(fmt.Sprintf("PresenceCount/members=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c, err := l.PresenceCount(ctx, "bench")
				if err != nil || c != n {
					b.Fatalf("PresenceCount: %d, %v", c, err)
				}
			}
		})
	}
}

// fillPresence adds n members with info to group, as PresenceAdd stores them, in pipelined
// batches, with their 10 processes registered as alive and one dead process registered.
func fillPresence(b *testing.B, ctx context.Context, l *Layer, srv *redistest.Server, group string, n int) {
	b.Helper()
	c := srv.Client()
	defer c.Close()
	now := float64(time.Now().UnixNano()) / 1e9
	procs := 10
	reg := []redis.Z{{Score: now - 3600, Member: "specific.deadproc!"}}
	for p := 0; p < procs; p++ {
		reg = append(reg, redis.Z{Score: now + 3600, Member: fmt.Sprintf("specific.proc%02d!", p)})
	}
	if err := c.ZAdd(ctx, l.registryKey(), reg...).Err(); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+1000, n); j++ {
				ch := fmt.Sprintf("specific.proc%02d!%08d", j%procs, j)
				v, err := l.encodePresence(map[string]any{"user": fmt.Sprintf("user-%d", j), "name": "A Name"}, false)
				if err != nil {
					return err
				}
				p.ZAdd(ctx, l.groupKey(group), redis.Z{Score: now, Member: ch})
				p.HSet(ctx, l.presenceKey(group), ch, v)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if got, err := l.PresenceCount(ctx, group); err != nil || got != n {
		b.Fatalf("PresenceCount after filling: %d, %v", got, err)
	}
	var _ layers.Presencer = l
}
