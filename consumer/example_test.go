package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// ChatRoom is a chat consumer: every frame a client sends goes to everyone in its room.
type ChatRoom struct {
	consumer.WebsocketConsumer
}

// Groups names the room's group; the consumer joins it before Connect and leaves it after
// Disconnect.
func (c *ChatRoom) Groups() []string { return []string{"room_" + c.Scope().Param("room")} }

// Receive forwards a frame to the room as a "chat.message".
func (c *ChatRoom) Receive(ctx context.Context, text string, data []byte) error {
	return c.GroupSend(ctx, "room_"+c.Scope().Param("room"), channels.Message{"type": "chat.message", "text": text})
}

// ChatMessage handles "chat.message" messages from the group.
func (c *ChatRoom) ChatMessage(ctx context.Context, msg channels.Message) error {
	return c.SendText(ctx, msg.String("text"))
}

func ExampleWebsocket() {
	ctx := context.Background()
	layer := layers.NewMemory(layers.MemoryOptions{})
	defer layer.Close()
	app := consumer.Websocket[ChatRoom](consumer.WithLayer(layer))

	inRoom := channelstest.WithURLRoute(map[string]string{"room": "lobby"})
	alice := channelstest.NewWebsocketCommunicator(app, "/ws/lobby/", inRoom)
	bob := channelstest.NewWebsocketCommunicator(app, "/ws/lobby/", inRoom)
	for _, c := range []*channelstest.WebsocketCommunicator{alice, bob} {
		if res, err := c.Connect(ctx); err != nil || !res.Accepted {
			fmt.Println("not connected:", res, err)
			return
		}
	}

	_ = alice.SendText(ctx, "hello from alice")
	got, _ := bob.ReceiveText(ctx)
	fmt.Println("bob got:", got)
	got, _ = alice.ReceiveText(ctx)
	fmt.Println("alice got:", got)

	_ = alice.Disconnect(ctx, channels.CloseNormal)
	_ = bob.Disconnect(ctx, channels.CloseNormal)
	// Output:
	// bob got: hello from alice
	// alice got: hello from alice
}

// Counter is a JSON consumer that adds up the numbers it is sent.
type Counter struct {
	consumer.JSONWebsocketConsumer
	total int
}

// ReceiveJSON takes {"add": n} and answers with the running total.
func (c *Counter) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	var in struct{ Add int }
	if err := json.Unmarshal(content, &in); err != nil {
		return c.SendJSON(ctx, map[string]string{"error": "want {\"add\": n}"})
	}
	c.total += in.Add
	return c.SendJSON(ctx, map[string]int{"total": c.total})
}

func ExampleJSONWebsocketConsumer() {
	ctx := context.Background()
	c := channelstest.NewWebsocketCommunicator(consumer.JSONWebsocket[Counter](), "/count/")
	if _, err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range []int{2, 3} {
		_ = c.SendJSON(ctx, map[string]int{"add": n})
		text, _ := c.ReceiveText(ctx)
		fmt.Println(text)
	}
	// Invalid JSON closes the connection with 1007 (see WithInvalidJSON for other policies).
	_ = c.SendText(ctx, "{oops")
	closeMsg, _ := c.ReceiveOutput(ctx)
	fmt.Println(closeMsg.Type(), closeMsg["code"])
	_ = c.Wait(ctx)
	// Output:
	// {"total":2}
	// {"total":5}
	// websocket.close 1007
}

// Greeter is an HTTP consumer.
type Greeter struct {
	consumer.HTTPConsumer
}

// Handle answers every request with a greeting.
func (g *Greeter) Handle(ctx context.Context, req *consumer.Request) error {
	name := req.Query.Get("name")
	if name == "" {
		name = "world"
	}
	return g.SendResponse(ctx, http.StatusOK, http.Header{"Content-Type": {"text/plain"}}, []byte("hello, "+name))
}

func ExampleHTTP() {
	c := channelstest.NewHTTPCommunicator(consumer.HTTP[Greeter](), "GET", "/greet?name=gopher", nil)
	resp, err := c.GetResponse(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"), string(resp.Body))
	// Output: 200 text/plain hello, gopher
}

// Clock streams server-sent events.
type Clock struct {
	consumer.HTTPConsumer
}

// Handle sends three events and ends the stream.
func (c *Clock) Handle(ctx context.Context, req *consumer.Request) error {
	for i := 1; i <= 3; i++ {
		if err := c.SSE(ctx, "tick", fmt.Sprint(i)); err != nil {
			return err
		}
	}
	return c.SendBody(ctx, nil, false)
}

func ExampleHTTPConsumer_SSE() {
	ctx := context.Background()
	c := channelstest.NewHTTPCommunicator(consumer.HTTP[Clock](), "GET", "/clock", nil)
	status, header, _ := c.ReceiveStart(ctx)
	fmt.Println(status, header.Get("Content-Type"))
	for {
		ev, err := c.ReceiveEvent(ctx)
		if err != nil {
			break
		}
		fmt.Println(ev.Event, ev.Data)
	}
	_ = c.Wait(ctx)
	// Output:
	// 200 text/event-stream
	// tick 1
	// tick 2
	// tick 3
}

// Mailer is a background consumer for a named channel, as a worker runs it.
type Mailer struct {
	consumer.Consumer
}

// EmailSend handles "email.send".
func (m *Mailer) EmailSend(ctx context.Context, msg channels.Message) error {
	return m.Emit(ctx, channels.Message{"type": "email.sent", "to": msg.String("to")})
}

func ExampleNew() {
	ctx := context.Background()
	scope := &channels.Scope{Type: channels.ScopeChannel, Channel: "mailer"}
	c := channelstest.NewApplicationCommunicator(consumer.New[Mailer](), scope)
	_ = c.SendInput(ctx, channels.Message{"type": "email.send", "to": "gopher@example.com"})
	out, _ := c.ReceiveOutput(ctx)
	fmt.Println(out.Type(), out.String("to"))
	c.CloseInput(nil)
	fmt.Println(c.Wait(ctx))
	// Output:
	// email.sent gopher@example.com
	// <nil>
}

func ExampleHandlerName() {
	fmt.Println(consumer.HandlerName("chat.message"))
	fmt.Println(consumer.HandlerName("user_joined.now"))
	// Output:
	// ChatMessage
	// UserJoinedNow
}
