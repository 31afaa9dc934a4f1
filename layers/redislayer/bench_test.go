package redislayer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
)

// BenchmarkSendReceive: one Send and one Receive on a normal channel per iteration.
func BenchmarkSendReceive(b *testing.B) {
	srv := redistest.Start(b)
	l := newLayer(b, []*redistest.Server{srv}, nil)
	ctx := context.Background()
	msg := channels.Message{"type": "bench", "text": "hello world", "n": 42}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Send(ctx, "bench", msg); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Receive(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendListen: Send to a process-specific channel, delivered through the receive loop.
func BenchmarkSendListen(b *testing.B) {
	srv := redistest.Start(b)
	l := newLayer(b, []*redistest.Server{srv}, func(o *Options) { o.Capacity = 1 << 20 })
	ctx := context.Background()
	var got atomic.Int64
	ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { got.Add(1); return true })
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	msg := channels.Message{"type": "bench", "text": "hello world"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Send(ctx, ch, msg); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); got.Load() < int64(b.N) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkGroupSend: one GroupSend to a group of n members spread over p layer instances
// (processes), until every member has the message.
func BenchmarkGroupSend(b *testing.B) {
	for _, procs := range []int{1, 4} {
		for _, n := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("members=%d/procs=%d", n, procs), func(b *testing.B) {
				srv := redistest.Start(b)
				mod := func(o *Options) { o.Capacity = 1 << 20 }
				sender := newLayer(b, []*redistest.Server{srv}, mod)
				ctx := context.Background()
				var got atomic.Int64
				ls := make([]*Layer, procs)
				for p := range ls {
					ls[p] = newLayer(b, []*redistest.Server{srv}, mod)
				}
				for i := 0; i < n; i++ {
					ch, stop, err := ls[i%procs].Listen(ctx, "specific", func(channels.Message) bool { got.Add(1); return true })
					if err != nil {
						b.Fatal(err)
					}
					defer stop()
					if err := sender.GroupAdd(ctx, "bench", ch); err != nil {
						b.Fatal(err)
					}
				}
				msg := channels.Message{"type": "chat.message", "text": "hello world"}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					want := got.Load() + int64(n)
					if err := sender.GroupSend(ctx, "bench", msg); err != nil {
						b.Fatal(err)
					}
					for deadline := time.Now().Add(10 * time.Second); got.Load() < want; {
						if time.Now().After(deadline) {
							b.Fatal("group send not delivered within 10s")
						}
						time.Sleep(20 * time.Microsecond)
					}
				}
			})
		}
	}
}
