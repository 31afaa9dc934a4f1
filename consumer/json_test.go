package consumer_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
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

// TestSharedJSON checks that a SharedJSON encodes each message once, whoever asks, keeps
// messages with equal contents apart, and forgets old messages.
func TestSharedJSON(t *testing.T) {
	var calls atomic.Int64
	enc := consumer.NewSharedJSON(func(msg channels.Message) any {
		calls.Add(1)
		return map[string]any{"message": msg["message"]}
	})
	a := channels.Message{"type": "chat.message", "message": "hi"}
	b := channels.Message{"type": "chat.message", "message": "hi"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for _, m := range []channels.Message{a, b} {
					if got, err := enc.Text(m); err != nil || got != `{"message":"hi"}` {
						t.Errorf("Text = %q, %v", got, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// Two goroutines may both miss before either stores, but not many.
	if n := calls.Load(); n < 2 || n > 16 {
		t.Fatalf("%d encodings for 2 messages asked for 1600 times", n)
	}
	for i := range 5000 { // more messages than the cache keeps
		if _, err := enc.Text(channels.Message{"type": "x", "message": i}); err != nil {
			t.Fatal(err)
		}
	}
	before := calls.Load()
	if got, _ := enc.Text(a); got != `{"message":"hi"}` || calls.Load() != before+1 {
		t.Fatalf("an old message: %q, %d encodings", got, calls.Load()-before)
	}
	if _, err := consumer.NewSharedJSON(func(channels.Message) any { return func() {} }).Text(a); err == nil {
		t.Fatal("encoding a func: no error")
	}
}

// sharedEcho sends every "bench.message" through a SharedJSON.
type sharedEcho struct{ consumer.JSONWebsocketConsumer }

var sharedFrames = consumer.NewSharedJSON(func(msg channels.Message) any { return map[string]any{"got": msg["text"]} })

func (s *sharedEcho) Groups() []string { return []string{"shared"} }

func (s *sharedEcho) BenchMessage(ctx context.Context, msg channels.Message) error {
	return s.SendSharedJSON(ctx, sharedFrames, msg)
}

func TestSendSharedJSON(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.JSONWebsocket[sharedEcho](consumer.WithLayer(l))
	a := connect(t, ctx, app, "/")
	b := connect(t, ctx, app, "/")
	for _, text := range []string{"one", "two"} {
		if err := l.GroupSend(ctx, "shared", channels.Message{"type": "bench.message", "text": text}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*channelstest.WebsocketCommunicator{a, b} {
			if got := mustText(t, ctx, c); got != `{"got":"`+text+`"}` {
				t.Fatalf("got %q", got)
			}
		}
	}
	for _, c := range []*channelstest.WebsocketCommunicator{a, b} {
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
}
