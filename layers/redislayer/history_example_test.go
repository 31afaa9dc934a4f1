package redislayer_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// A layer that keeps the last 100 messages (at most ten minutes old) of every "room-*" group;
// with a Redis server on localhost:6379 this reads what a client that saw room-1 up to
// offset 41 of epoch "e1" missed. The URL form is
// redis://localhost:6379/0?history=room-*:100:10m.
func ExampleLayer_History() {
	l, err := redislayer.New(redislayer.Options{
		Hosts:   []string{"redis://localhost:6379/0"},
		History: []layers.HistoryRule{{Pattern: "room-*", Size: 100, TTL: 10 * time.Minute}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	since := layers.Position{Offset: 41, Epoch: "e1"}
	page, err := l.History(ctx, "room-1", since, 50)
	if err != nil {
		log.Print(err)
		return
	}
	if page.Top.Epoch != since.Epoch || (page.Top.Offset > since.Offset && page.Oldest > since.Offset+1) {
		log.Print(errors.New("some messages are lost: reload the room"))
		return
	}
	for _, m := range page.Messages {
		log.Print(m["type"], m[layers.OffsetKey])
	}
}
