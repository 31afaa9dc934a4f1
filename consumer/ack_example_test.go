package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
)

// Poster takes {"text": t} frames and refuses the long ones with a nack.
type Poster struct {
	consumer.JSONWebsocketConsumer
}

// ReceiveJSON refuses a text longer than 10 bytes with a *consumer.SendError.
func (c *Poster) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	var in struct{ Text string }
	if err := json.Unmarshal(content, &in); err != nil {
		return &consumer.SendError{Code: "bad_frame", Message: "want {\"text\": ...}"}
	}
	if len(in.Text) > 10 {
		return &consumer.SendError{Code: "too_long", Message: "at most 10 bytes", RetryAfter: time.Second}
	}
	return nil // the message would be posted here
}

func ExampleWithAcks() {
	ctx := context.Background()
	app := consumer.JSONWebsocket[Poster](consumer.WithAcks())
	c := channelstest.NewWebsocketCommunicator(app, "/ws/")
	if res, err := c.Connect(ctx); err != nil || !res.Accepted {
		fmt.Println("not connected:", res, err)
		return
	}
	for _, frame := range []string{
		`{"text": "hello", "gc_id": "1"}`,
		`{"text": "a much longer text", "gc_id": "2"}`,
		`{"text": "no id"}`,
		`{"text": "bye", "gc_id": "3"}`,
	} {
		_ = c.SendText(ctx, frame)
	}
	for range 3 {
		got, _ := c.ReceiveText(ctx)
		fmt.Println(got)
	}
	_ = c.Disconnect(ctx, channels.CloseNormal)
	// Output:
	// {"gochannels":"ack","id":"1"}
	// {"gochannels":"nack","id":"2","code":"too_long","message":"at most 10 bytes","retry_after":1}
	// {"gochannels":"ack","id":"3"}
}
