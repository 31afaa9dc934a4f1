package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
)

func TestHandlerName(t *testing.T) {
	for in, want := range map[string]string{
		"chat.message":       "ChatMessage",
		"user_joined.now":    "UserJoinedNow",
		"websocket.connect":  "WebsocketConnect",
		"a":                  "A",
		"chat..message_":     "ChatMessage",
		"task2.run":          "Task2Run",
		"":                   "",
		"_private":           "",
		"chat-message":       "",
		"1st.thing":          "",
		"chat message":       "",
		"élan.vital":         "ÉlanVital",
		"already.CamelCased": "AlreadyCamelCased",
	} {
		if got := consumer.HandlerName(in); got != want {
			t.Errorf("HandlerName(%q) = %q, want %q", in, got, want)
		}
	}
}

type badHook struct{ consumer.WebsocketConsumer }

func (b *badHook) Connect(ctx context.Context) {}

type badHandler struct{ consumer.WebsocketConsumer }

func (b *badHandler) ChatMessage(msg channels.Message) error { return nil }

type badResult struct{ consumer.Consumer }

func (b *badResult) ChatMessage(ctx context.Context, msg channels.Message) {}

type jsonWithReceive struct{ consumer.JSONWebsocketConsumer }

func (j *jsonWithReceive) Receive(ctx context.Context, text string, data []byte) error { return nil }

type badJSONHook struct{ consumer.JSONWebsocketConsumer }

func (j *badJSONHook) ReceiveJSON(ctx context.Context, v map[string]any) error { return nil }

type noHandle struct{ consumer.HTTPConsumer }

type badGroups struct{ consumer.WebsocketConsumer }

func (b *badGroups) Groups() string { return "" }

func shapePanic(t *testing.T, f func()) *consumer.ShapeError {
	t.Helper()
	var se *consumer.ShapeError
	func() {
		defer func() {
			r := recover()
			err, _ := r.(error)
			if !errors.As(err, &se) {
				t.Fatalf("constructor did not panic with a *ShapeError: %v", r)
			}
		}()
		f()
	}()
	return se
}

func TestShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func()
		check func() error
		want  []string
	}{
		{"hook", func() { consumer.Websocket[badHook]() }, consumer.Check[badHook],
			[]string{"consumer_test.badHook", "method Connect has signature func(context.Context), want func(context.Context) error"}},
		{"handler", func() { consumer.Websocket[badHandler]() }, consumer.Check[badHandler],
			[]string{"method ChatMessage takes a channels.Message but has signature func(channels.Message) error"}},
		{"result", func() { consumer.New[badResult]() }, consumer.Check[badResult],
			[]string{"method ChatMessage takes a channels.Message but has signature func(context.Context, channels.Message);"}},
		{"json receive", func() { consumer.JSONWebsocket[jsonWithReceive]() }, consumer.Check[jsonWithReceive],
			[]string{"method Receive is never called on a JSON WebSocket consumer"}},
		{"json hook", func() { consumer.JSONWebsocket[badJSONHook]() }, consumer.Check[badJSONHook],
			[]string{"method ReceiveJSON has signature func(context.Context, map[string]interface {}) error, want func(context.Context, json.RawMessage) error"}},
		{"http handle", func() { consumer.HTTP[noHandle]() }, consumer.Check[noHandle],
			[]string{"an HTTP consumer needs a method Handle"}},
		{"groups", func() { consumer.Websocket[badGroups]() }, consumer.Check[badGroups],
			[]string{"method Groups has signature func() string, want func() []string"}},
	} {
		se := shapePanic(t, tc.build)
		for _, w := range tc.want {
			if !strings.Contains(se.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, se.Error(), w)
			}
		}
		if err := tc.check(); err == nil || err.Error() != se.Error() {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, se)
		}
	}
	if err := consumer.Check[struct{ A int }](); err == nil || !strings.Contains(err.Error(), "does not embed a consumer base") {
		t.Errorf("Check on a plain struct: %v", err)
	}
	if err := consumer.Check[room](); err != nil {
		t.Errorf("Check[room]: %v", err)
	}
}

// TestWebsocketRunsJSONConsumer: Websocket with a JSON consumer type behaves as
// JSONWebsocket.
func TestWebsocketRunsJSONConsumer(t *testing.T) {
	ctx := testCtx(t)
	c := connect(t, ctx, consumer.Websocket[echoJSON](), "/")
	if err := c.SendText(ctx, `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := c.ReceiveJSON(ctx, &got); err != nil || string(got["echo"]) != `{"a":1}` {
		t.Fatalf("got %v, %v", got, err)
	}
	if err := c.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

// baseNameType: a message type that names a base method is reported clearly.
func TestNoHandlerNamesBaseMethod(t *testing.T) {
	ctx := testCtx(t)
	logger, logs := newLogger()
	c := connect(t, ctx, consumer.Websocket[plain](consumer.WithLogger(logger)), "/")
	_ = c.Receiver().Inject(channels.Message{"type": "group.send"})
	wantClose(t, ctx, c, channels.CloseInternalError)
	if want := "method GroupSend is not a handler: it belongs to the consumer base"; !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
}
