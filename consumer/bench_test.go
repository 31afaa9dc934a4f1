package consumer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

type echo struct{ consumer.WebsocketConsumer }

func (e *echo) Receive(ctx context.Context, text string, data []byte) error {
	return e.SendText(ctx, text)
}

// BenchmarkEcho: a WebSocket consumer echoes text frames through a communicator, one round
// trip per iteration.
func BenchmarkEcho(b *testing.B) {
	ctx := context.Background()
	c := channelstest.NewWebsocketCommunicator(consumer.Websocket[echo](), "/")
	if res, err := c.Connect(ctx); err != nil || !res.Accepted {
		b.Fatal(res, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.SendText(ctx, "hello"); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReceiveText(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "echoes/s")
	if err := c.Disconnect(ctx, 1000); err != nil {
		b.Fatal(err)
	}
}

type member struct{ consumer.WebsocketConsumer }

func (m *member) Groups() []string { return []string{"bench"} }

func (m *member) BenchMessage(ctx context.Context, msg channels.Message) error {
	return m.SendText(ctx, msg.String("text"))
}

// BenchmarkBroadcast: one GroupSend per iteration on the memory layer reaches every member's
// handler, which sends a frame; the iteration ends when every member's frame was read.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ctx := context.Background()
			l := layers.NewMemory(layers.MemoryOptions{})
			defer l.Close()
			app := consumer.Websocket[member](consumer.WithLayer(l))
			comms := make([]*channelstest.WebsocketCommunicator, n)
			for i := range comms {
				comms[i] = channelstest.NewWebsocketCommunicator(app, "/")
				if res, err := comms[i].Connect(ctx); err != nil || !res.Accepted {
					b.Fatal(res, err)
				}
			}
			msg := channels.Message{"type": "bench.message", "text": "hi"}
			b.ReportAllocs()
			for b.Loop() {
				if err := l.GroupSend(ctx, "bench", msg); err != nil {
					b.Fatal(err)
				}
				for _, c := range comms {
					if _, err := c.ReceiveText(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
			for _, c := range comms {
				if err := c.Disconnect(ctx, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWebsocketReceive measures the consumer side alone: one "websocket.receive" event
// through the consumer's loop to its Receive hook, which answers with SendText, against a
// Sender that drops the event. The allocations are those of the answer's Message.
func BenchmarkWebsocketReceive(b *testing.B) {
	ctx := context.Background()
	mb := channels.NewMailbox(8)
	var sent int
	send := channels.SendFunc(func(context.Context, channels.Message) error { sent++; return nil })
	done := make(chan error, 1)
	go func() {
		done <- consumer.Websocket[echo]().Serve(ctx, &channels.Scope{Type: channels.ScopeWebsocket}, mb, send)
	}()
	_ = mb.Put(ctx, channels.Message{"type": channels.TypeWebsocketConnect})
	msg := channels.Message{"type": channels.TypeWebsocketReceive, "text": "hello"}
	b.ReportAllocs()
	for b.Loop() {
		if err := mb.Put(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	_ = mb.Put(ctx, channels.Message{"type": channels.TypeWebsocketDisconnect, "code": 1000})
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if sent < b.N {
		b.Fatalf("sent %d of %d", sent, b.N)
	}
}
