package consumer_test

import (
	"context"
	"fmt"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// Ticker forwards a group's ticks to its client in offset order, and tells the client to
// reload when some cannot be given.
type Ticker struct {
	consumer.JSONWebsocketConsumer
}

// Connect joins the ticks, tracking their positions from the group's current top.
func (t *Ticker) Connect(ctx context.Context) error {
	return t.GroupAddTracked(ctx, "ticks.main")
}

// Tick forwards a tick with its position.
func (t *Ticker) Tick(ctx context.Context, msg channels.Message) error {
	return t.SendJSON(ctx, consumer.AddPosition(map[string]any{"n": msg["n"]}, msg))
}

// MessagesLost tells the client to reload (this frame replaces the default "unrecoverable"
// one).
func (t *Ticker) MessagesLost(ctx context.Context, r consumer.Recovery) error {
	return t.SendJSON(ctx, map[string]any{"reload": r.Group, "reason": r.Reason})
}

var _ consumer.LostMessagesHandler = (*Ticker)(nil)

func ExampleConsumer_GroupAddTracked() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: "ticks.*", Size: 100}}})
	defer layer.Close()
	app := consumer.JSONWebsocket[Ticker](consumer.WithLayer(layer))
	client := channelstest.NewWebsocketCommunicator(app, "/ticks/")
	if res, err := client.Connect(ctx); err != nil || !res.Accepted {
		fmt.Println("not connected:", res, err)
		return
	}
	members, _ := layers.Presence(ctx, layer, "ticks.main")
	ch := members[0].Channel
	receive := func() {
		var frame map[string]any
		_ = client.ReceiveJSON(ctx, &frame)
		if pos, ok := frame["pos"].(map[string]any); ok {
			fmt.Println("tick", frame["n"], "at", pos["offset"])
		} else {
			fmt.Println(frame)
		}
	}
	tick := func(n int) { _ = layer.GroupSend(ctx, "ticks.main", channels.Message{"type": "tick", "n": n}) }

	tick(1)
	receive()
	// Ticks 2 and 3 reach the history but not the ticker, then 3 reaches it alone (as when
	// another process's delivery of 2 is late): 2 is read from history and handled first.
	_ = layer.GroupDiscard(ctx, "ticks.main", ch)
	tick(2)
	tick(3)
	page, _ := layers.History(ctx, layer, "ticks.main", layers.Position{Offset: 2}, 1)
	_ = layer.Send(ctx, ch, page.Messages[0])
	receive()
	receive()
	// A tick of a new epoch (the stream was lost, say a Redis restarted without persistence).
	_ = layer.Send(ctx, ch, channels.Message{"type": "tick", "n": 1,
		layers.GroupKey: "ticks.main", layers.OffsetKey: 1, layers.EpochKey: "new"})
	receive()
	receive()
	_ = client.Disconnect(ctx, channels.CloseNormal)
	// Output:
	// tick 1 at 1
	// tick 2 at 2
	// tick 3 at 3
	// map[reason:epoch reload:ticks.main]
	// tick 1 at 1
}
