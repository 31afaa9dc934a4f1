package channelstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
)

// echoConsumer echoes text frames.
type echoConsumer struct{ consumer.WebsocketConsumer }

func (e *echoConsumer) Receive(ctx context.Context, text string, data []byte) error {
	return e.SendText(ctx, text)
}

// TestServe: a real client reaches the served application over loopback, and the server is
// shut down cleanly when the test ends (goleak checks that nothing is left running).
func TestServe(t *testing.T) {
	addr := channelstest.Serve(t, &channels.Server{Application: consumer.Websocket[echoConsumer]()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := wsutil.WriteClientText(conn, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	got, err := wsutil.ReadServerText(conn)
	if err != nil || string(got) != "hi" {
		t.Fatalf("echo: %q, %v", got, err)
	}
}
