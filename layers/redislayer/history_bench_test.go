package redislayer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// BenchmarkGroupSendHistory measures the cost of history on a group send: the same group
// (n members over 2 processes) with history off and on (last 1,000 messages), in one run,
// on one server (the one-script path) and on two shards (members read first). Senders run
// in parallel (b.RunParallel, GOMAXPROCS goroutines, the shared pipeline); the figures are
// sends/s and deliveries/s, counted when every member has every message.
func BenchmarkGroupSendHistory(b *testing.B) {
	for _, shards := range []int{1, 2} {
		for _, n := range []int{10, 100} {
			for _, hist := range []bool{false, true} {
				name := fmt.Sprintf("shards=%d/members=%d/history=%v", shards, n, hist)
				b.Run(name, func(b *testing.B) { benchGroupSendHistory(b, shards, n, hist) })
			}
		}
	}
}

func benchGroupSendHistory(b *testing.B, shards, n int, hist bool) {
	srvs := redistest.StartN(b, shards)
	mod := func(o *Options) {
		o.Capacity, o.InboxCapacity = 1<<20, 1<<20
		o.Prefix += fmt.Sprintf("h%v", hist)
		if hist {
			o.History = []layers.HistoryRule{{Pattern: "bench", Size: 1000}}
		}
	}
	sender := newLayer(b, srvs, mod)
	ctx := context.Background()
	var got atomic.Int64
	procs := []*Layer{newLayer(b, srvs, mod), newLayer(b, srvs, mod)}
	for i := 0; i < n; i++ {
		ch, stop, err := procs[i%len(procs)].Listen(ctx, "specific", func(channels.Message) bool { got.Add(1); return true })
		if err != nil {
			b.Fatal(err)
		}
		defer stop()
		if err := sender.GroupAdd(ctx, "bench", ch); err != nil {
			b.Fatal(err)
		}
	}
	msg := channels.Message{"type": "chat.message", "text": "hello world", "user": "ann"}
	var sendErr error
	var once sync.Once
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sender.GroupSend(ctx, "bench", msg); err != nil {
				once.Do(func() { sendErr = err })
				return
			}
		}
	})
	if sendErr != nil {
		b.Fatal(sendErr)
	}
	want := int64(b.N) * int64(n)
	for deadline := time.Now().Add(30 * time.Second); got.Load() < want; {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries within 30s", got.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
}
