package redislayer_test

import (
	"context"
	"log"
	"time"

	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// With a Redis server on localhost:6379, a consumer's channel joins a room with its user's
// name (and join/leave events for the room), and any process lists who is there.
func ExampleLayer_Presence() {
	l, err := redislayer.New(redislayer.Options{Hosts: []string{"redis://localhost:6379/0"}})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch, err := l.NewChannel(ctx, "specific")
	if err != nil {
		log.Print(err)
		return
	}
	info := map[string]any{"user": 42, "name": "Ann"}
	if err := l.PresenceAdd(ctx, "room-1", ch, info, layers.PresenceOptions{Events: true}); err != nil {
		log.Print(err)
		return
	}
	n, _ := l.PresenceCount(ctx, "room-1")
	members, _ := l.Presence(ctx, "room-1")
	log.Print(n, " here: ", members)
	_ = l.GroupDiscard(ctx, "room-1", ch) // sends the leave event
}
