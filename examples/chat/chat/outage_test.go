package chat_test

import (
	"context"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// TestLayerFailureKeepsSocket: when the channel layer fails (Redis killed), the sender gets
// {"error": "MESSAGE_NOT_DELIVERED", "message": m} and its connection stays open; once Redis
// is back, the room works again.
func TestLayerFailureKeepsSocket(t *testing.T) {
	srv := redistest.StartPrivate(t)
	// Only stops a hung test: how long the recovery takes is logged, not asserted.
	const waitTimeout = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	l, err := redislayer.New(redislayer.Options{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	app := chat.NewApplication(l, nil)
	c := channelstest.NewWebsocketCommunicator(app, "/ws/chat/lobby/")
	if res, err := c.Connect(ctx); err != nil || !res.Accepted {
		t.Fatalf("connect: %+v %v", res, err)
	}
	srv.Kill()
	if err := c.SendJSON(ctx, chatMsg{"lost"}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Error   string `json:"error"`
		Message any    `json:"message"`
	}
	if err := c.ReceiveJSON(ctx, &got); err != nil || got.Error != chat.ErrorUndelivered || got.Message != "lost" {
		t.Fatalf("during the outage: %+v, %v", got, err)
	}
	srv.Restart()
	back := time.Now()
	// The layer puts the channel back into its group once Redis answers again.
	deadline := time.Now().Add(waitTimeout)
	for {
		if err := c.SendJSON(ctx, chatMsg{"back"}); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := c.ReceiveJSON(rctx, &m)
		rcancel()
		if err == nil && m["error"] == nil && m["message"] == "back" {
			break
		}
		if err != nil && ctx.Err() != nil {
			t.Fatalf("after the restart: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message delivered within %v of the restart (last frame %v, %v)", waitTimeout, m, err)
		}
	}
	t.Logf("traffic resumed %v after Redis returned", time.Since(back).Round(time.Millisecond))
	if err := c.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}
