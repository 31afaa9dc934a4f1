package middleware

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/internal/logbuf"
)

// TestAccessLogBytesConcurrentSends checks that bytes_out is exact at the end of a scope
// whose frames are sent from several goroutines at once (the lock-free count of text
// frames).
func TestAccessLogBytesConcurrentSends(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const senders, frames = 4, 50
	var buf logbuf.Buffer
	app := AccessLog(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil { // websocket.connect
			return err
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
			return err
		}
		var wg sync.WaitGroup
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range frames {
					_ = channels.SendText(ctx, send, "abc")
				}
			}()
		}
		wg.Wait()
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			if msg.Type() == channels.TypeWebsocketDisconnect {
				return nil
			}
		}
	}), slog.New(slog.NewJSONHandler(&buf, nil)))

	c := channelstest.NewWebsocketCommunicator(app, "/ws/")
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for range senders * frames {
		if _, err := c.ReceiveText(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SendText(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	_ = c.Disconnect(ctx, 1000)
	_ = c.Wait(ctx)

	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(lines), lines)
	}
	if got, want := lines[0]["bytes_out"], float64(senders*frames*3); got != want {
		t.Errorf("bytes_out = %v, want %v", got, want)
	}
	if got := lines[0]["bytes_in"]; got != 5.0 {
		t.Errorf("bytes_in = %v, want 5", got)
	}
}
