package feed_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/djangocompanion/feed"
	"github.com/gochannels/gochannels/layers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// user is a logged-in user, as auth/django's middleware puts one in the scope.
type user struct{ id, name string }

func (u user) ID() string            { return u.id }
func (u user) Username() string      { return u.name }
func (u user) IsAuthenticated() bool { return true }
func (u user) IsStaff() bool         { return false }

func connect(t *testing.T, app channels.Application, u auth.User) (*channelstest.WebsocketCommunicator, channelstest.ConnectResult) {
	t.Helper()
	c := channelstest.NewWebsocketCommunicator(app, feed.Path, channelstest.WithScope(func(s *channels.Scope) { auth.SetUser(s, u) }))
	res, err := c.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c, res
}

// TestFeed: a user's socket is greeted, gets the "notify" messages of its user's group and
// not another user's; an anonymous client is refused; a frame from the client closes the
// socket with 1003.
func TestFeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	layer := layers.NewMemory(layers.MemoryOptions{})
	defer layer.Close()
	app := feed.NewApplication(layer, nil)

	if c, res := connect(t, app, auth.Anonymous); res.Accepted {
		t.Fatal("an anonymous client was accepted")
	} else if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	alice, res := connect(t, app, user{"7", "alice"})
	if !res.Accepted {
		t.Fatalf("alice refused: %+v", res)
	}
	bob, res := connect(t, app, user{"8", "bob"})
	if !res.Accepted {
		t.Fatalf("bob refused: %+v", res)
	}
	for _, c := range []struct {
		c    *channelstest.WebsocketCommunicator
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		var hello map[string]any
		if err := c.c.ReceiveJSON(ctx, &hello); err != nil || hello["type"] != "hello" || hello["user"] != c.name {
			t.Fatalf("%s's greeting: %v %v", c.name, hello, err)
		}
	}

	for id, text := range map[string]string{"7": "for alice", "8": "for bob"} {
		if err := layer.GroupSend(ctx, feed.UserGroup(id), channels.Message{"type": feed.MessageType, "event": map[string]any{"text": text}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		c    *channelstest.WebsocketCommunicator
		text string
	}{{alice, "for alice"}, {bob, "for bob"}} {
		var got struct {
			Type  string
			Event struct{ Text string }
		}
		if err := c.c.ReceiveJSON(ctx, &got); err != nil || got.Type != feed.MessageType || got.Event.Text != c.text {
			t.Fatalf("got %+v %v, want %q", got, err, c.text)
		}
	}

	if err := alice.SendText(ctx, `{"hello": "server"}`); err != nil {
		t.Fatal(err)
	}
	msg, err := alice.ReceiveOutput(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := msg.Int("code"); msg.Type() != channels.TypeWebsocketClose || code != channels.CloseUnsupportedData {
		t.Fatalf("after a client frame: %v, want a close with 1003", msg)
	}
	if err := alice.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

func ExampleUserGroup() {
	// Django code reaches every socket of the user with id 7:
	//   async_to_sync(get_channel_layer().group_send)("user.7", {"type": "notify", "event": {...}})
	fmt.Println(feed.UserGroup("7"))
	// Output: user.7
}
