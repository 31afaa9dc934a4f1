package redislayer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// New builds a layer from Options; with a Redis server on localhost:6379 this sends a task to
// a worker's channel.
func ExampleNew() {
	l, err := redislayer.New(redislayer.Options{
		Hosts:    []string{"redis://localhost:6379/0"},
		Capacity: 100,
		Expiry:   60 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Send(ctx, "background-tasks", channels.Message{"type": "task.a", "id": 7}); err != nil {
		log.Print(err)
	}
}

// Any program that imports redislayer can open a Redis layer from a URL (typically
// $CHANNEL_LAYER_URL): here two shards, a prefix and an encryption key.
func Example_open() {
	l, err := layers.Open(context.Background(),
		"redis://localhost:6379/0?host=localhost:6380&prefix=asgi&symmetric_encryption_key=s3cret")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
}

func ExampleParseURL() {
	opts, err := redislayer.ParseURL("redis://:pw@10.0.0.1:6379/2?host=10.0.0.2:6379&capacity=200&expiry=30&channel_capacity=http.request:500")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(opts.Hosts), opts.Capacity, opts.Expiry, opts.ChannelCapacity[0].Pattern)
	fmt.Println(opts.Hosts[1])
	// Output:
	// 2 200 30s http.request
	// redis://:pw@10.0.0.2:6379/2
}

func ExampleParsePubSubURL() {
	opts, err := redislayer.ParsePubSubURL("redis+pubsub://:pw@10.0.0.1:6379?host=10.0.0.2:6379&prefix=chat")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(opts.Hosts), opts.Prefix, opts.Hosts[1])
	// Output:
	// 2 chat redis://:pw@10.0.0.2:6379/0
}

// The pub/sub variant: a consumer's channel and a group are Redis pub/sub channels; one
// PUBLISH reaches every process with a member. With a Redis server on localhost:6379 this
// greets a room.
func ExampleNewPubSub() {
	l, err := redislayer.NewPubSub(redislayer.PubSubOptions{Hosts: []string{"redis://localhost:6379/0"}})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.GroupSend(ctx, "chat_lobby", channels.Message{"type": "chat.message", "message": "hello"}); err != nil {
		log.Print(err)
	}
}

// With pipeline_depth, GroupSend returns once the message is accepted in order into the
// layer's send pipeline; WaitGroupSends waits until everything accepted has been written and
// reports the sends lost since (for example to an outage longer than send_timeout).
func ExampleLayer_WaitGroupSends() {
	opts, err := redislayer.ParseURL("redis://localhost:6379/0?pipeline_depth=256")
	if err != nil {
		log.Fatal(err)
	}
	l, err := redislayer.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 100 {
		if err := l.GroupSend(ctx, "chat_lobby", channels.Message{"type": "chat.message", "n": i}); err != nil {
			log.Print(err) // includes earlier sends to chat_lobby lost after their nil
			return
		}
	}
	if err := l.WaitGroupSends(ctx); err != nil {
		var lost *redislayer.LostGroupSendsError
		if errors.As(err, &lost) {
			log.Printf("%d messages to %s were lost: %v", lost.Lost, lost.Group, lost.Err)
		}
	}
}
