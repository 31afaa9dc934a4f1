package redislayer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
)

// Four readers (each its own layer, as four processes would be) share one normal channel:
// every message is delivered exactly once (channels_redis#163 duplicates under this load).
func TestNormalChannelManyReadersNoDuplicates(t *testing.T) {
	const total, readers = 10000, 4
	srv := redistest.Start(t)
	mod := func(o *Options) { o.Capacity = total }
	sender := newLayer(t, []*redistest.Server{srv}, mod)
	ctx := testCtx(t)
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var mu sync.Mutex
	seen := make(map[int64]int, total)
	var count atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		l := newLayer(t, []*redistest.Server{srv}, mod)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := l.Receive(rctx, "work")
				if err != nil {
					return
				}
				mu.Lock()
				seen[m["id"].(int64)]++
				mu.Unlock()
				if count.Add(1) == total {
					stopReaders()
				}
			}
		}()
	}
	var sw sync.WaitGroup
	for s := 0; s < 4; s++ {
		sw.Add(1)
		go func() {
			defer sw.Done()
			for i := s; i < total; i += 4 {
				if err := sender.Send(ctx, "work", channels.Message{"type": "job", "id": i}); err != nil {
					t.Errorf("send %d: %v", i, err)
					return
				}
			}
		}()
	}
	sw.Wait()
	select {
	case <-rctx.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("only %d of %d messages received within %v", count.Load(), total, waitTimeout)
	}
	wg.Wait()
	// A little longer: nothing more may arrive.
	if n := count.Load(); n != total {
		t.Fatalf("received %d, want %d", n, total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %d delivered %d times", id, n)
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct messages, want %d", len(seen), total)
	}
}

// With three hosts a Send to a process-specific channel reaches it (channels_redis#94 loses
// such messages: it hashes the full channel name, the reader the inbox name).
func TestShardedSpecificSend(t *testing.T) {
	srvs := redistest.StartN(t, 3)
	a := newLayer(t, srvs, nil)
	b := newLayer(t, srvs, nil)
	ctx := testCtx(t)
	for i := 0; i < 20; i++ {
		ch, err := a.NewChannel(ctx, "specific")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Send(ctx, ch, channels.Message{"type": "t", "i": i}); err != nil {
			t.Fatal(err)
		}
		m, err := a.Receive(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := m.Int("i"); n != i {
			t.Fatalf("got %v", m)
		}
	}
}

func commandCalls(t *testing.T, c *redis.Client, ctx context.Context) map[string]int {
	t.Helper()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return calls
}

// A group of 1,000 members in one process costs one script call and one stored message.
func TestGroupSendThousandMembersOneCall(t *testing.T) {
	const members = 1000
	srv := redistest.Start(t)
	l := newLayer(t, []*redistest.Server{srv}, nil)
	sender := newLayer(t, []*redistest.Server{srv}, nil)
	ctx := testCtx(t)
	var got atomic.Int64
	zs := make([]redis.Z, 0, members)
	for i := 0; i < members; i++ {
		ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { got.Add(1); return true })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		zs = append(zs, redis.Z{Score: float64(time.Now().Unix()), Member: ch})
	}
	c := srv.Client()
	if err := c.ZAdd(ctx, srv.Prefix()+":group:big", zs...).Err(); err != nil {
		t.Fatal(err)
	}
	// Warm up (loads the script), then measure one group send.
	if err := sender.GroupSend(ctx, "big", channels.Message{"type": "warm"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return got.Load() == members })
	before := commandCalls(t, c, ctx)
	if err := sender.GroupSend(ctx, "big", channels.Message{"type": "chat", "text": "hi"}); err != nil {
		t.Fatal(err)
	}
	after := commandCalls(t, c, ctx)
	waitFor(t, func() bool { return got.Load() == 2*members })
	if d := after["evalsha"] - before["evalsha"] + after["eval"] - before["eval"]; d != 1 {
		t.Fatalf("group send used %d script calls, want 1", d)
	}
	if d := after["zadd"] - before["zadd"]; d != 1 { // the ZADD inside the script
		t.Fatalf("group send stored %d messages, want 1 (one per process inbox)", d)
	}
	if s := sender.Stats(); s.GroupWrites != 2 {
		t.Fatalf("group writes = %d, want 2 (one per send)", s.GroupWrites)
	}
}
