package layers_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// A member saw a room's messages up to a position; Recover gives what came after it, or says
// that it cannot.
func ExampleRecover() {
	ctx := context.Background()
	l := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: "room.*", Size: 100}}})
	defer l.Close()
	for i := 1; i <= 5; i++ {
		_ = l.GroupSend(ctx, "room.lobby", channels.Message{"type": "chat.message", "text": fmt.Sprint("message ", i)})
	}
	page, _ := layers.History(ctx, l, "room.lobby", layers.Position{}, 1)
	first := page.Messages[0]
	group, seen, _ := layers.PositionOf(first)
	fmt.Println("seen:", group, seen.Offset)

	missed, err := layers.Recover(ctx, l, "room.lobby", seen, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range missed.Messages {
		fmt.Println("missed:", m.String("text"))
	}

	// The stream is lost (Flush here; a Redis restarted without persistence in production).
	_ = l.Flush(ctx)
	_ = l.GroupSend(ctx, "room.lobby", channels.Message{"type": "chat.message", "text": "after"})
	_, err = layers.Recover(ctx, l, "room.lobby", missed.Top, 0)
	var ue *layers.UnrecoverableError
	if errors.As(err, &ue) {
		fmt.Println("unrecoverable:", ue.Reason)
	}
	// Output:
	// seen: room.lobby 1
	// missed: message 2
	// missed: message 3
	// missed: message 4
	// missed: message 5
	// unrecoverable: epoch
}

func ExampleParseHistoryRules() {
	rules, err := layers.ParseHistoryRules(`room.*:100:3600,re:ticker\..*:0:30s`)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rules {
		fmt.Printf("%s keeps %d messages for %v\n", r.Pattern, r.Size, r.TTL)
	}
	// The same rules in a layer URL:
	l, err := layers.Open(context.Background(), "memory://?history=room.*:100:3600")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	// Output:
	// room.* keeps 100 messages for 1h0m0s
	// re:ticker\..* keeps 0 messages for 30s
}

func ExampleMemory_PresenceAdd() {
	ctx := context.Background()
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	_ = l.PresenceAdd(ctx, "room.lobby", "specific.a!1", map[string]any{"user": "ann"}, layers.PresenceOptions{})
	_ = l.PresenceAdd(ctx, "room.lobby", "specific.a!2", map[string]any{"user": "bob"}, layers.PresenceOptions{})
	_ = l.GroupDiscard(ctx, "room.lobby", "specific.a!1")

	members, _ := layers.Presence(ctx, l, "room.lobby")
	for _, m := range members {
		fmt.Println(m.Channel, m.Info["user"])
	}
	n, _ := layers.PresenceCount(ctx, l, "room.lobby")
	fmt.Println(n, "member(s)")
	// Output:
	// specific.a!2 bob
	// 1 member(s)
}
