package layers_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

func ExampleNewMemory() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{
		Capacity:        100,
		ChannelCapacity: []layers.CapacityRule{{Pattern: "http.*", Capacity: 2}},
	})
	defer layer.Close()

	// A normal channel: any process may send, any receiver may take each message once.
	_ = layer.Send(ctx, "background-tasks", channels.Message{"type": "task.run", "id": 1})
	msg, err := layer.Receive(ctx, "background-tasks")
	fmt.Println(msg.Type(), msg["id"], err)

	// Channels matching "http.*" hold two messages.
	for i := 0; i < 3; i++ {
		err = layer.Send(ctx, "http.request", channels.Message{"type": "http.request"})
	}
	fmt.Println(errors.Is(err, layers.ErrChannelFull))
	// Output:
	// task.run 1 <nil>
	// true
}

func ExampleMemory_GroupSend() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{})
	defer layer.Close()

	// Two consumers, each with a mailbox fed by the layer (as consumers do).
	var boxes []*channels.Mailbox
	for i := 0; i < 2; i++ {
		box := channels.NewMailbox(16)
		channel, stop, err := layers.Listen(ctx, layer, "specific", func(m channels.Message) bool {
			return box.Inject(m) == nil
		})
		if err != nil {
			panic(err)
		}
		defer stop()
		_ = layer.GroupAdd(ctx, "chat_lobby", channel)
		boxes = append(boxes, box)
	}

	_ = layer.GroupSend(ctx, "chat_lobby", channels.Message{"type": "chat.message", "message": "hello"})
	for _, box := range boxes {
		msg, _ := box.Receive(ctx)
		fmt.Println(msg.Type(), msg.String("message"))
	}
	// Output:
	// chat.message hello
	// chat.message hello
}

func ExampleOpen() {
	ctx := context.Background()
	layer, err := layers.Open(ctx, "memory://?capacity=10&expiry=30&channel_capacity=re:^bg-.*:500")
	if err != nil {
		panic(err)
	}
	defer layer.Close()
	channel, _ := layer.NewChannel(ctx, "specific")
	fmt.Println(layers.IsProcessSpecific(channel))

	_, err = layers.Open(ctx, "memory://?capacity=none")
	fmt.Println(err)
	// Output:
	// true
	// layers: open memory://?capacity=none: capacity="none": want a positive integer
}

func ExampleParseCapacities() {
	rules, _ := layers.ParseCapacities(`http.request:200,http.response!*:10,re:websocket\.send!.+:20`)
	caps, _ := layers.CompileCapacities(100, rules)
	for _, name := range []string{"http.request", "http.response!abc", "websocket.send!x", "other"} {
		fmt.Println(name, caps.Capacity(name))
	}
	// Output:
	// http.request 200
	// http.response!abc 10
	// websocket.send!x 20
	// other 100
}

func ExampleMemory_Receive() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{})
	defer layer.Close()

	// Receive waits for a message; several receivers may share a channel.
	done := make(chan struct{})
	go func() {
		defer close(done)
		msg, err := layer.Receive(ctx, "background-tasks")
		fmt.Println(msg.Type(), err)
	}()
	_ = layer.Send(ctx, "background-tasks", channels.Message{"type": "task.run"})
	<-done

	// A receive that gives up returns the context's error.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err := layer.Receive(short, "background-tasks")
	fmt.Println(err)
	// Output:
	// task.run <nil>
	// context deadline exceeded
}
