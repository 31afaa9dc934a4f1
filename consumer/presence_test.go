package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// lobby joins "lobby" with presence (its user from the route) and events, and tells its
// client who joins and leaves, and who is here when asked.
type lobby struct {
	consumer.JSONWebsocketConsumer
}

func (c *lobby) Connect(ctx context.Context) error {
	return c.PresenceAdd(ctx, "lobby", map[string]any{"user": c.Scope().Param("user")}, layers.PresenceOptions{Events: true})
}

func (c *lobby) ReceiveJSON(ctx context.Context, _ json.RawMessage) error {
	ms, err := c.Presence(ctx, "lobby")
	if err != nil {
		return err
	}
	n, err := c.PresenceCount(ctx, "lobby")
	if err != nil {
		return err
	}
	var users []string
	for _, m := range ms {
		users = append(users, m.Info["user"].(string))
	}
	slices.Sort(users)
	return c.SendJSON(ctx, map[string]any{"here": users, "count": n})
}

func (c *lobby) PresenceJoin(ctx context.Context, msg channels.Message) error {
	info, _ := msg["info"].(map[string]any)
	return c.SendJSON(ctx, map[string]any{"joined": info["user"]})
}

func (c *lobby) PresenceLeave(ctx context.Context, msg channels.Message) error {
	info, _ := msg["info"].(map[string]any)
	return c.SendJSON(ctx, map[string]any{"left": info["user"]})
}

func TestPresenceShortcuts(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.JSONWebsocket[lobby](consumer.WithLayer(l))
	as := func(user string) channelstest.Option {
		return channelstest.WithURLRoute(map[string]string{"user": user})
	}
	recv := func(c *channelstest.WebsocketCommunicator) string {
		t.Helper()
		text, err := c.ReceiveText(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	ann := connect(t, ctx, app, "/lobby/", as("ann"))
	if got := recv(ann); got != `{"joined":"ann"}` {
		t.Fatalf("ann got %s", got)
	}
	bob := connect(t, ctx, app, "/lobby/", as("bob"))
	for _, c := range []*channelstest.WebsocketCommunicator{ann, bob} {
		if got := recv(c); got != `{"joined":"bob"}` {
			t.Fatalf("got %s, want bob's join", got)
		}
	}
	if err := ann.SendText(ctx, "{}"); err != nil {
		t.Fatal(err)
	}
	if got := recv(ann); got != `{"count":2,"here":["ann","bob"]}` {
		t.Fatalf("ann got %s", got)
	}
	// Leaving the group on disconnect is a leave.
	if err := bob.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
	if got := recv(ann); got != `{"left":"bob"}` {
		t.Fatalf("ann got %s, want bob's leave", got)
	}
	if n, err := l.PresenceCount(ctx, "lobby"); err != nil || n != 1 {
		t.Fatalf("PresenceCount = %d, %v; want 1", n, err)
	}
	if err := ann.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

// noPresence is a layer without presence or history: only the Layer methods of Memory.
type noPresence struct{ layers.Layer }

type joiner struct {
	consumer.Consumer
}

func (j *joiner) Test(ctx context.Context, msg channels.Message) error {
	err := j.PresenceAdd(ctx, "g", nil, layers.PresenceOptions{})
	_, err2 := j.GroupAddSince(ctx, "g", layers.Position{})
	msg["result"].(chan error) <- errors.Join(err, err2)
	return consumer.ErrStop
}

func TestPresenceNotSupported(t *testing.T) {
	ctx := testCtx(t)
	m := layers.NewMemory(layers.MemoryOptions{})
	defer m.Close()
	app := consumer.New[joiner](consumer.WithLayer(noPresence{m}))
	mb := channels.NewMailbox(0)
	result := make(chan error, 1)
	_ = mb.Put(ctx, channels.Message{"type": "test", "result": result})
	if err := app.Serve(ctx, &channels.Scope{Type: "channel"}, mb, channels.SendFunc(func(context.Context, channels.Message) error { return nil })); err != nil {
		t.Fatal(err)
	}
	err := <-result
	if !errors.Is(err, layers.ErrNotSupported) {
		t.Fatalf("PresenceAdd and GroupAddSince on a layer without them: %v", err)
	}
	if got := fmt.Sprint(err); !strings.Contains(got, "presence") || !strings.Contains(got, "history") {
		t.Fatalf("error %q should name what is missing", got)
	}
}
