package consumer_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
)

// Shouter upper-cases what it is sent, for clients that ask for its subprotocol.
type Shouter struct {
	consumer.WebsocketConsumer
}

// The hooks Shouter means to define, checked by the compiler: a misspelt hook or a wrong
// signature fails the build here instead of going unnoticed.
var (
	_ consumer.Connecter     = (*Shouter)(nil)
	_ consumer.FrameReceiver = (*Shouter)(nil)
)

// Connect accepts clients that speak "shout" and refuses the others.
func (s *Shouter) Connect(ctx context.Context) error {
	for _, p := range s.Scope().Subprotocols {
		if p == "shout" {
			return s.AcceptSubprotocol(ctx, p, nil)
		}
	}
	return consumer.ErrDeny
}

// Receive sends a text frame back upper-cased.
func (s *Shouter) Receive(ctx context.Context, text string, data []byte) error {
	return s.SendText(ctx, strings.ToUpper(text))
}

func ExampleConnecter() {
	ctx := context.Background()
	app := consumer.Websocket[Shouter]()

	plain := channelstest.NewWebsocketCommunicator(app, "/shout/")
	res, _ := plain.Connect(ctx)
	fmt.Println("without the subprotocol, accepted:", res.Accepted)

	c := channelstest.NewWebsocketCommunicator(app, "/shout/", channelstest.WithSubprotocols("shout"))
	res, _ = c.Connect(ctx)
	fmt.Println("with it, accepted:", res.Accepted, res.Subprotocol)
	_ = c.SendText(ctx, "hello")
	got, _ := c.ReceiveText(ctx)
	fmt.Println(got)
	_ = c.Disconnect(ctx, channels.CloseNormal)
	// Output:
	// without the subprotocol, accepted: false
	// with it, accepted: true shout
	// HELLO
}
