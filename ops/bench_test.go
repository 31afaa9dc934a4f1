package ops_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

// echo answers each websocket.receive with a websocket.send.
func echo(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		switch msg.Type() {
		case channels.TypeWebsocketReceive:
			if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": msg.String("text")}); err != nil {
				return err
			}
		case channels.TypeWebsocketDisconnect:
			return nil
		}
	}
}

// BenchmarkInstrumented measures the cost per message (one receive and one send) of
// Metrics.Instrument and middleware.AccessLog against the plain application, in one run:
// compare the ns/op of the sub-benchmarks.
func BenchmarkInstrumented(b *testing.B) {
	m, _ := newMetrics()
	for _, tc := range []struct {
		name string
		app  channels.Application
	}{
		{"plain", channels.ApplicationFunc(echo)},
		{"instrumented", m.Instrument(channels.ApplicationFunc(echo))},
		{"accesslog", middleware.AccessLog(channels.ApplicationFunc(echo), slog.New(slog.DiscardHandler))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := channels.Message{"type": channels.TypeWebsocketReceive, "text": "hello, world"}
			bye := channels.Message{"type": channels.TypeWebsocketDisconnect, "code": 1000}
			n := 0
			recv := channels.ReceiveFunc(func(ctx context.Context) (channels.Message, error) {
				if n >= b.N {
					return bye, nil
				}
				n++
				return in, nil
			})
			send := channels.SendFunc(func(ctx context.Context, msg channels.Message) error { return nil })
			scope := &channels.Scope{Type: channels.ScopeWebsocket}
			b.ReportAllocs()
			b.ResetTimer()
			if err := tc.app.Serve(context.Background(), scope, recv, send); err != nil {
				b.Fatal(err)
			}
		})
	}
}
