package consumer_test

import (
	"sync/atomic"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
)

// BenchmarkSharedJSONText measures SharedJSON.Text under contention: many goroutines (50 per
// P) asking for the frame of the same message, as the members of one room do when a group
// message reaches them all at once. "hit" asks for one message only (the hit path alone);
// "fanout100" asks for each message 100 times, then moves on to a new one (a room of 100:
// one encoding, 99 hits).
func BenchmarkSharedJSONText(b *testing.B) {
	f := func(msg channels.Message) any { return map[string]any{"message": msg["message"]} }
	b.Run("hit", func(b *testing.B) {
		enc := consumer.NewSharedJSON(f)
		msg := channels.Message{"type": "chat.message", "message": "hello, room"}
		b.ReportAllocs()
		b.SetParallelism(50)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := enc.Text(msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("fanout100", func(b *testing.B) {
		var encodings atomic.Int64
		enc := consumer.NewSharedJSON(func(msg channels.Message) any { encodings.Add(1); return f(msg) })
		msgs := make([]channels.Message, b.N/100+1)
		for i := range msgs {
			msgs[i] = channels.Message{"type": "chat.message", "message": "hello, room"}
		}
		var n atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(50)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1) - 1
				if _, err := enc.Text(msgs[i/100]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(encodings.Load())*100/float64(b.N), "encodings/msg")
	})
}
