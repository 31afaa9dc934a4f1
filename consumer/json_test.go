package consumer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
)

// echoJSON echoes each JSON frame wrapped in {"echo": ...}.
type echoJSON struct{ consumer.JSONWebsocketConsumer }

func (e *echoJSON) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	return e.SendJSON(ctx, map[string]json.RawMessage{"echo": content})
}

// customInvalid answers invalid JSON itself and takes binary frames.
type customInvalid struct{ consumer.JSONWebsocketConsumer }

func (c *customInvalid) ReceiveInvalidJSON(ctx context.Context, frame []byte, err error) error {
	return c.SendJSON(ctx, map[string]string{"bad": string(frame)})
}

func (c *customInvalid) ReceiveBinary(ctx context.Context, data []byte) error {
	return c.SendJSON(ctx, map[string]int{"binary": len(data)})
}

func TestJSONEcho(t *testing.T) {
	ctx := testCtx(t)
	c := connect(t, ctx, consumer.JSONWebsocket[echoJSON](), "/")
	if err := c.SendJSON(ctx, map[string]any{"message": "hi", "n": 2}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Echo struct {
			Message string
			N       int
		}
	}
	if err := c.ReceiveJSON(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.Echo.Message != "hi" || got.Echo.N != 2 {
		t.Fatalf("got %+v", got)
	}
	if err := c.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

func TestJSONBadInputPolicies(t *testing.T) {
	ctx := testCtx(t)
	logger, _ := newLogger()

	t.Run("default closes 1007", func(t *testing.T) {
		c := connect(t, ctx, consumer.JSONWebsocket[echoJSON](consumer.WithLogger(logger)), "/")
		if err := c.SendText(ctx, "{not json"); err != nil {
			t.Fatal(err)
		}
		wantClose(t, ctx, c, channels.CloseInvalidPayload)
	})
	t.Run("binary closes 1003", func(t *testing.T) {
		c := connect(t, ctx, consumer.JSONWebsocket[echoJSON](consumer.WithLogger(logger)), "/")
		if err := c.SendBytes(ctx, []byte(`{"a":1}`)); err != nil {
			t.Fatal(err)
		}
		wantClose(t, ctx, c, channels.CloseUnsupportedData)
	})
	t.Run("reply", func(t *testing.T) {
		c := connect(t, ctx, consumer.JSONWebsocket[echoJSON](consumer.WithInvalidJSON(consumer.InvalidJSONReply)), "/")
		if err := c.SendText(ctx, "nope"); err != nil {
			t.Fatal(err)
		}
		if got := mustText(t, ctx, c); got != `{"error":"invalid JSON"}` {
			t.Fatalf("got %q", got)
		}
		if err := c.SendText(ctx, `[1]`); err != nil {
			t.Fatal(err)
		}
		if got := mustText(t, ctx, c); got != `{"echo":[1]}` {
			t.Fatalf("got %q", got)
		}
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ignore", func(t *testing.T) {
		c := connect(t, ctx, consumer.JSONWebsocket[echoJSON](consumer.WithInvalidJSON(consumer.InvalidJSONIgnore)), "/")
		if err := c.SendText(ctx, "nope"); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(ctx, `2`); err != nil {
			t.Fatal(err)
		}
		if got := mustText(t, ctx, c); got != `{"echo":2}` {
			t.Fatalf("got %q", got)
		}
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("hooks", func(t *testing.T) {
		c := connect(t, ctx, consumer.JSONWebsocket[customInvalid](), "/")
		if err := c.SendText(ctx, "x{"); err != nil {
			t.Fatal(err)
		}
		if got := mustText(t, ctx, c); got != `{"bad":"x{"}` {
			t.Fatalf("got %q", got)
		}
		if err := c.SendBytes(ctx, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if got := mustText(t, ctx, c); got != `{"binary":3}` {
			t.Fatalf("got %q", got)
		}
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSendJSONUnencodable(t *testing.T) {
	ctx := testCtx(t)
	logger, logs := newLogger()
	c := connect(t, ctx, consumer.JSONWebsocket[badSender](consumer.WithLogger(logger)), "/")
	if err := c.SendText(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	wantClose(t, ctx, c, channels.CloseInternalError)
	if want := "SendJSON: encode chan int"; !contains(logs.String(), want) {
		t.Fatalf("log lacks %q: %s", want, logs.String())
	}
}

type badSender struct{ consumer.JSONWebsocketConsumer }

func (b *badSender) ReceiveJSON(ctx context.Context, _ json.RawMessage) error {
	return b.SendJSON(ctx, make(chan int))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
