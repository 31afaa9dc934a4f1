package chat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.LeakOptions()...) }

func setup(t *testing.T) (context.Context, channels.Application) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	l := layers.NewMemory(layers.MemoryOptions{})
	t.Cleanup(func() { l.Close() })
	return ctx, chat.NewApplication(l, nil)
}

func join(t *testing.T, ctx context.Context, app channels.Application, room string) *channelstest.WebsocketCommunicator {
	t.Helper()
	c := channelstest.NewWebsocketCommunicator(app, "/ws/chat/"+room+"/")
	res, err := c.Connect(ctx)
	if err != nil || !res.Accepted {
		t.Fatalf("join %s: %+v %v", room, res, err)
	}
	return c
}

type chatMsg struct {
	Message any `json:"message"`
}

func TestRoomMembersSeeEachOther(t *testing.T) {
	ctx, app := setup(t)
	alice := join(t, ctx, app, "lobby")
	bob := join(t, ctx, app, "lobby")
	eve := join(t, ctx, app, "other")

	for _, turn := range []struct {
		from *channelstest.WebsocketCommunicator
		text string
	}{{alice, "hi bob"}, {bob, "hi alice"}} {
		if err := turn.from.SendJSON(ctx, chatMsg{turn.text}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*channelstest.WebsocketCommunicator{alice, bob} {
			var got chatMsg
			if err := c.ReceiveJSON(ctx, &got); err != nil || got.Message != turn.text {
				t.Fatalf("got %+v, %v; want %q", got, err, turn.text)
			}
		}
	}
	if !eve.ReceiveNothing(ctx, 50*time.Millisecond) {
		t.Fatal("a member of another room saw the messages")
	}
	// Non-string messages pass through as JSON values, as in the tutorial.
	if err := eve.SendText(ctx, `{"message": {"n": 1, "x": [1.5, true, null]}}`); err != nil {
		t.Fatal(err)
	}
	if got, err := eve.ReceiveText(ctx); err != nil || got != `{"message":{"n":1,"x":[1.5,true,null]}}` {
		t.Fatalf("got %s, %v", got, err)
	}
	for _, c := range []*channelstest.WebsocketCommunicator{alice, bob, eve} {
		if err := c.Disconnect(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx, app := setup(t)
	for _, frame := range []string{"not json", `{"text": "no message key"}`, `["message"]`} {
		c := join(t, ctx, app, "lobby")
		if err := c.SendText(ctx, frame); err != nil {
			t.Fatal(err)
		}
		msg, err := c.ReceiveOutput(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := msg.Int("code"); msg.Type() != channels.TypeWebsocketClose || code != channels.CloseInvalidPayload {
			t.Fatalf("%q: got %v, want close 1007", frame, msg)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A room name the layer cannot use as a group is refused.
	c := channelstest.NewWebsocketCommunicator(app, "/ws/chat/"+strings.Repeat("x", 120)+"/")
	res, err := c.Connect(ctx)
	if err != nil || res.Accepted {
		t.Fatalf("long room: %+v %v", res, err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPages(t *testing.T) {
	ctx, app := setup(t)
	resp, err := channelstest.NewHTTPCommunicator(app, "GET", "/", nil).GetResponse(ctx)
	if err != nil || resp.Status != 200 || !strings.Contains(string(resp.Body), "room-name-input") {
		t.Fatalf("index: %v %v", resp, err)
	}
	resp, err = channelstest.NewHTTPCommunicator(app, "GET", "/chat/%3Cb%3E%22x/", nil).GetResponse(ctx)
	if err != nil || resp.Status != 200 {
		t.Fatalf("room: %v %v", resp, err)
	}
	body := string(resp.Body)
	if strings.Contains(body, "<b>") || !strings.Contains(body, "&lt;b&gt;") || !strings.Contains(body, `const roomName = "\u003cb\u003e\"x";`) {
		t.Fatalf("room name not escaped:\n%s", body)
	}
	resp, err = channelstest.NewHTTPCommunicator(app, "GET", "/nope", nil).GetResponse(ctx)
	if err != nil || resp.Status != 404 {
		t.Fatalf("404: %v %v", resp, err)
	}
}
