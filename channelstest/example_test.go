package channelstest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
)

// shout is a WebSocket application written directly against channels.Application: it
// accepts and answers each text frame in upper case.
func shout(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		switch msg.Type() {
		case channels.TypeWebsocketConnect:
			err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept})
		case channels.TypeWebsocketReceive:
			err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": strings.ToUpper(msg.String("text"))})
		case channels.TypeWebsocketDisconnect:
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func ExampleWebsocketCommunicator() {
	ctx := context.Background()
	c := channelstest.NewWebsocketCommunicator(channels.ApplicationFunc(shout), "/ws/shout/")
	res, err := c.Connect(ctx)
	fmt.Println("accepted:", res.Accepted, err)

	_ = c.SendText(ctx, "hello")
	text, _ := c.ReceiveText(ctx)
	fmt.Println(text)

	fmt.Println("app result:", c.Disconnect(ctx, channels.CloseNormal))
	// Output:
	// accepted: true <nil>
	// HELLO
	// app result: <nil>
}

// A channel-layer message injected into a WebSocket communicator reaches the application as
// on the server; past the event queue's byte bound the connection is closed with 1008.
func ExampleWebsocketCommunicator_Inject() {
	ctx := context.Background()
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			switch msg.Type() {
			case channels.TypeWebsocketConnect:
				err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept})
			case "chat.message":
				err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": msg.String("text")})
			case channels.TypeWebsocketDisconnect:
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	c := channelstest.NewWebsocketCommunicator(app, "/ws/chat/")
	_, _ = c.Connect(ctx)
	fmt.Println(c.Inject(channels.Message{"type": "chat.message", "text": "from the group"}))
	text, _ := c.ReceiveText(ctx)
	fmt.Println(text)
	fmt.Println("app result:", c.Disconnect(ctx, channels.CloseNormal))
	// Output:
	// <nil>
	// from the group
	// app result: <nil>
}
