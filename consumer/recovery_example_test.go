package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// ResumingRoom forwards a room's messages with their positions, and replays to a
// reconnecting client what it missed.
type ResumingRoom struct {
	consumer.JSONWebsocketConsumer
}

// Connect joins the room since the client's last position, if it gave one (the browser
// client gochannels.js does, in the resume query parameter).
func (r *ResumingRoom) Connect(ctx context.Context) error {
	_, err := r.JoinResumed(ctx, "room.lobby")
	return err
}

// ChatMessage forwards a room message with its position ("pos"), for the client to resume
// from.
func (r *ResumingRoom) ChatMessage(ctx context.Context, msg channels.Message) error {
	return r.SendJSON(ctx, consumer.AddPosition(map[string]any{"text": msg["text"]}, msg))
}

func ExampleWebsocketConsumer_JoinResumed() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: "room.*", Size: 100}}})
	defer layer.Close()
	app := consumer.JSONWebsocket[ResumingRoom](consumer.WithLayer(layer))
	for _, text := range []string{"one", "two", "three"} {
		_ = layer.GroupSend(ctx, "room.lobby", channels.Message{"type": "chat.message", "text": text})
	}
	// The client saw "one" (offset 1) before its connection dropped.
	page, _ := layers.History(ctx, layer, "room.lobby", layers.Position{}, 1)
	_, seen, _ := layers.PositionOf(page.Messages[0])
	resume, _ := json.Marshal(map[string]any{"room.lobby": map[string]any{"offset": seen.Offset, "epoch": seen.Epoch}})

	client := channelstest.NewWebsocketCommunicator(app, "/ws/",
		channelstest.WithQueryString("resume="+url.QueryEscape(string(resume))))
	if res, err := client.Connect(ctx); err != nil || !res.Accepted {
		fmt.Println("not connected:", res, err)
		return
	}
	for range 3 {
		var frame struct {
			Text       string `json:"text"`
			Gochannels string `json:"gochannels"`
			Replayed   int    `json:"replayed"`
			Pos        struct{ Offset int }
		}
		_ = client.ReceiveJSON(ctx, &frame)
		if frame.Gochannels != "" {
			fmt.Println(frame.Gochannels, frame.Replayed, "up to", frame.Pos.Offset)
		} else {
			fmt.Println(frame.Text, "at", frame.Pos.Offset)
		}
	}
	_ = client.Disconnect(ctx, channels.CloseNormal)
	// Output:
	// two at 2
	// three at 3
	// recovered 2 up to 3
}

// A consumer joins with presence and asks who is there.
type Lobby struct {
	consumer.JSONWebsocketConsumer
}

// Connect joins the lobby as the user named by the route, announcing the join.
func (l *Lobby) Connect(ctx context.Context) error {
	info := map[string]any{"user": l.Scope().Param("user")}
	return l.PresenceAdd(ctx, "lobby", info, layers.PresenceOptions{Events: true})
}

// PresenceJoin handles the "presence.join" messages of the lobby.
func (l *Lobby) PresenceJoin(ctx context.Context, msg channels.Message) error {
	n, err := l.PresenceCount(ctx, "lobby")
	if err != nil {
		return err
	}
	info, _ := msg["info"].(map[string]any)
	return l.SendJSON(ctx, map[string]any{"joined": info["user"], "here": n})
}

func ExampleConsumer_PresenceAdd() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{})
	defer layer.Close()
	app := consumer.JSONWebsocket[Lobby](consumer.WithLayer(layer))
	ann := channelstest.NewWebsocketCommunicator(app, "/lobby/", channelstest.WithURLRoute(map[string]string{"user": "ann"}))
	_, _ = ann.Connect(ctx)
	text, _ := ann.ReceiveText(ctx)
	fmt.Println(text)
	bob := channelstest.NewWebsocketCommunicator(app, "/lobby/", channelstest.WithURLRoute(map[string]string{"user": "bob"}))
	_, _ = bob.Connect(ctx)
	text, _ = ann.ReceiveText(ctx)
	fmt.Println(text)
	_ = bob.Disconnect(ctx, channels.CloseNormal)
	_ = ann.Disconnect(ctx, channels.CloseNormal)
	// Output:
	// {"here":1,"joined":"ann"}
	// {"here":2,"joined":"bob"}
}
