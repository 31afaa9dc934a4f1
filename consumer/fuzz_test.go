package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
)

// fuzzEcho sends each valid JSON frame back as it came.
type fuzzEcho struct{ consumer.JSONWebsocketConsumer }

func (e *fuzzEcho) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	return e.SendText(ctx, string(content))
}

// FuzzJSONConsumer sends an arbitrary text frame to a JSON consumer under each invalid-JSON
// policy: valid JSON reaches ReceiveJSON unchanged; invalid JSON closes with 1007, gets the
// error reply, or is ignored, as the policy says; nothing panics and the consumer keeps
// working (or closes) as it should.
func FuzzJSONConsumer(f *testing.F) {
	for _, s := range []string{`{"message":"hi"}`, `[1,2,3]`, `"x"`, `{`, ``, "\xff", `{"a":1}{"b":2}`, `nul`, ` 1 `} {
		f.Add(s, uint8(0))
	}
	policies := []consumer.InvalidJSONPolicy{consumer.InvalidJSONClose, consumer.InvalidJSONReply, consumer.InvalidJSONIgnore}
	apps := make([]channels.Application, len(policies))
	for i, p := range policies {
		apps[i] = consumer.JSONWebsocket[fuzzEcho](consumer.WithInvalidJSON(p))
	}
	f.Fuzz(func(t *testing.T, text string, policy uint8) {
		i := int(policy) % len(policies)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := channelstest.NewWebsocketCommunicator(apps[i], "/ws/")
		if res, err := c.Connect(ctx); err != nil || !res.Accepted {
			t.Fatalf("connect: %+v %v", res, err)
		}
		if err := c.SendText(ctx, text); err != nil {
			t.Fatal(err)
		}
		valid := json.Valid([]byte(text))
		switch {
		case valid:
			got, err := c.ReceiveText(ctx)
			if err != nil || got != text {
				t.Fatalf("echo of %q: %q, %v", text, got, err)
			}
		case policies[i] == consumer.InvalidJSONClose:
			_, err := c.ReceiveText(ctx)
			var ce *channels.CloseError
			if !errors.As(err, &ce) || ce.Code != channels.CloseInvalidPayload {
				t.Fatalf("invalid JSON %q: %v, want a 1007 close", text, err)
			}
			_ = c.Wait(ctx)
			return
		case policies[i] == consumer.InvalidJSONReply:
			got, err := c.ReceiveText(ctx)
			if err != nil || got != `{"error":"invalid JSON"}` {
				t.Fatalf("invalid JSON %q: reply %q, %v", text, got, err)
			}
		}
		// The consumer still works.
		if err := c.SendText(ctx, `{"ok":true}`); err != nil {
			t.Fatal(err)
		}
		if got, err := c.ReceiveText(ctx); err != nil || got != `{"ok":true}` {
			t.Fatalf("after %q: %q, %v", text, got, err)
		}
		if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
			t.Fatalf("disconnect: %v", err)
		}
	})
}
