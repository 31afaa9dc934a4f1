package chat_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/layers"
)

type posFrame struct {
	Message    string `json:"message"`
	Gochannels string `json:"gochannels"`
	Stream     string `json:"stream"`
	Replayed   int    `json:"replayed"`
	Pos        *struct {
		Stream string `json:"stream"`
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	} `json:"pos"`
}

func historyLayer(t *testing.T) layers.Layer {
	t.Helper()
	l := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: "chat_*", Size: 100}}})
	t.Cleanup(func() { l.Close() })
	return l
}

func receivePos(t *testing.T, ctx context.Context, c *channelstest.WebsocketCommunicator) posFrame {
	t.Helper()
	text, err := c.ReceiveText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f posFrame
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		t.Fatalf("frame %s: %v", text, err)
	}
	return f
}

// TestResume: with Options.Resume each frame carries its position, and a client that comes
// back with ?resume= its last position gets what it missed, in order, then "recovered", then
// live messages.
func TestResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	app := chat.NewApplicationWith(historyLayer(t), nil, chat.Options{Resume: true})
	alice := join(t, ctx, app, "lobby")
	bob := join(t, ctx, app, "lobby")

	if err := alice.SendJSON(ctx, chatMsg{"one"}); err != nil {
		t.Fatal(err)
	}
	receivePos(t, ctx, alice)
	first := receivePos(t, ctx, bob)
	if first.Message != "one" || first.Pos == nil || first.Pos.Stream != "chat_lobby" || first.Pos.Offset != 1 || first.Pos.Epoch == "" {
		t.Fatalf("bob got %+v, want message one at offset 1 of chat_lobby", first)
	}
	if err := bob.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"two", "three"} {
		if err := alice.SendJSON(ctx, chatMsg{m}); err != nil {
			t.Fatal(err)
		}
		if f := receivePos(t, ctx, alice); f.Message != m {
			t.Fatalf("alice got %+v, want %q", f, m)
		}
	}
	resume, _ := json.Marshal(map[string]any{"chat_lobby": map[string]any{"offset": first.Pos.Offset, "epoch": first.Pos.Epoch}})
	back := channelstest.NewWebsocketCommunicator(app, "/ws/chat/lobby/", channelstest.WithQueryString("resume="+url.QueryEscape(string(resume))))
	if res, err := back.Connect(ctx); err != nil || !res.Accepted {
		t.Fatalf("reconnect: %+v %v", res, err)
	}
	for i, m := range []string{"two", "three"} {
		if f := receivePos(t, ctx, back); f.Message != m || f.Pos == nil || f.Pos.Offset != uint64(i+2) {
			t.Fatalf("replay %d: got %+v, want %q at offset %d", i, f, m, i+2)
		}
	}
	if f := receivePos(t, ctx, back); f.Gochannels != "recovered" || f.Stream != "chat_lobby" || f.Replayed != 2 || f.Pos == nil || f.Pos.Offset != 3 {
		t.Fatalf("got %+v, want recovered with 2 replayed up to offset 3", f)
	}
	if err := alice.SendJSON(ctx, chatMsg{"four"}); err != nil {
		t.Fatal(err)
	}
	if f := receivePos(t, ctx, back); f.Message != "four" || f.Pos == nil || f.Pos.Offset != 4 {
		t.Fatalf("live: got %+v", f)
	}
	// A bad resume parameter refuses the handshake.
	bad := channelstest.NewWebsocketCommunicator(app, "/ws/chat/lobby/", channelstest.WithQueryString("resume=%7B"))
	if res, err := bad.Connect(ctx); err != nil || res.Accepted || res.Status != 400 {
		t.Fatalf("bad resume: %+v %v, want refused with 400", res, err)
	}
	if err := bad.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*channelstest.WebsocketCommunicator{alice, back} {
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTutorialWireWithHistory: without Options.Resume the frames are the tutorial's, even on a
// layer that keeps the room's history, and ?resume= is ignored.
func TestTutorialWireWithHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	app := chat.NewApplication(historyLayer(t), nil)
	c := channelstest.NewWebsocketCommunicator(app, "/ws/chat/lobby/", channelstest.WithQueryString("resume=%7B"))
	if res, err := c.Connect(ctx); err != nil || !res.Accepted {
		t.Fatalf("connect: %+v %v", res, err)
	}
	if err := c.SendJSON(ctx, chatMsg{"hi"}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReceiveText(ctx); err != nil || got != `{"message":"hi"}` {
		t.Fatalf("got %s, %v; want the tutorial's frame", got, err)
	}
	if err := c.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}
