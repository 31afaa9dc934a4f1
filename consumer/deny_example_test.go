package consumer_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
)

// members lets in only clients that present a token.
type members struct{ consumer.WebsocketConsumer }

func (m *members) Connect(ctx context.Context) error {
	if m.Scope().Headers.Get("Authorization") == "" {
		// Returning the Denial is the same as calling m.Deny(ctx, d).
		return &channels.Denial{
			Status: http.StatusUnauthorized,
			Header: http.Header{"Www-Authenticate": {`Bearer realm="chat"`}},
			Body:   []byte("log in first\n"),
		}
	}
	return nil
}

func ExampleWebsocketConsumer_Deny() {
	ctx := context.Background()
	c := channelstest.NewWebsocketCommunicator(consumer.Websocket[members](), "/ws/")
	res, err := c.Connect(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("accepted=%v status=%d header=%v body=%q\n", res.Accepted, res.Status, res.Header, res.Body)
	_ = c.Wait(ctx)
	// Output:
	// accepted=false status=401 header=[[Www-Authenticate Bearer realm="chat"]] body="log in first\n"
}
