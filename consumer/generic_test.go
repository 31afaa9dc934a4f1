package consumer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// worker is a background consumer: it answers "task.run" by sending a "task.done" event and
// stops on "task.quit".
type worker struct{ consumer.Consumer }

func (w *worker) TaskRun(ctx context.Context, msg channels.Message) error {
	if msg.String("name") == "fail" {
		return errors.New("task failed")
	}
	return w.Emit(ctx, channels.Message{"type": "task.done", "name": msg.String("name"), "channel": w.Scope().Channel})
}

func (w *worker) TaskQuit(ctx context.Context, msg channels.Message) error { return consumer.ErrStop }

func TestGenericConsumer(t *testing.T) {
	ctx := testCtx(t)
	logger, logs := newLogger()
	app := consumer.New[worker](consumer.WithLogger(logger))
	c := channelstest.NewApplicationCommunicator(app, &channels.Scope{Type: channels.ScopeChannel, Channel: "tasks"})
	for _, m := range []channels.Message{
		{"type": "task.run", "name": "fail"},  // logged, the consumer goes on
		{"type": "task.unknown"},              // logged, the consumer goes on
		{"type": "task.run", "name": "first"}, // answered
		{"type": "task.quit"},
	} {
		if err := c.SendInput(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ReceiveOutput(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Type() != "task.done" || out.String("name") != "first" || out.String("channel") != "tasks" {
		t.Fatalf("got %v", out)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"task failed", "TaskUnknown"} {
		if !contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestGenericWithLayer: a generic consumer gets its own channel and its messages.
func TestGenericWithLayer(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.New[grouped](consumer.WithLayer(l))
	c := channelstest.NewApplicationCommunicator(app, &channels.Scope{Type: channels.ScopeChannel, Channel: "x"})
	// Groups are joined before the first event: once "start" is answered, the group works.
	if err := c.SendInput(ctx, channels.Message{"type": "start"}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.ReceiveOutput(ctx); err != nil || m.Type() != "ready" {
		t.Fatalf("ready: %v %v", m, err)
	}
	if err := l.GroupSend(ctx, "workers", channels.Message{"type": "task.run", "name": "g"}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.ReceiveOutput(ctx); err != nil || m.String("name") != "g" {
		t.Fatalf("got %v %v", m, err)
	}
	c.CloseInput(nil)
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

type grouped struct{ worker }

func (g *grouped) Groups() []string { return []string{"workers"} }

func (g *grouped) Start(ctx context.Context, msg channels.Message) error {
	return g.Emit(ctx, channels.Message{"type": "ready", "channel": g.ChannelName()})
}

func TestGenericCloseError(t *testing.T) {
	ctx := testCtx(t)
	c := channelstest.NewApplicationCommunicator(consumer.New[closer](), &channels.Scope{Type: channels.ScopeWebsocket})
	_ = c.SendInput(ctx, channels.Message{"type": "websocket.connect"})
	var ce *channels.CloseError
	if err := c.Wait(ctx); !errors.As(err, &ce) || ce.Code != 4000 {
		t.Fatalf("Wait: %v, want close 4000", err)
	}
}

type closer struct{ consumer.Consumer }

func (c *closer) WebsocketConnect(ctx context.Context, msg channels.Message) error {
	return &channels.CloseError{Code: 4000}
}
