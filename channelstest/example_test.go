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
