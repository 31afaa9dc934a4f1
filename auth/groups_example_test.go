package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/sessions"
)

// notifier shows the "user.notify" messages sent to its user.
type notifier struct{ consumer.WebsocketConsumer }

func (n *notifier) UserNotify(ctx context.Context, msg channels.Message) error {
	return n.SendText(ctx, msg.String("text"))
}

func ExampleUserGroups() {
	ctx := context.Background()
	users := auth.UserLoaderFunc(func(ctx context.Context, id string) (auth.User, error) {
		return user{id, "alice"}, nil
	})
	layer := layers.NewMemory(layers.MemoryOptions{}) // Redis when several servers share it
	defer layer.Close()
	groups := auth.NewUserGroups(layer, nil)
	m := sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{})
	app := auth.Stack(groups.Middleware(auth.RequireUser(consumer.Websocket[notifier]())), m, users)

	// Log in on the net/http side.
	rr := httptest.NewRecorder()
	auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := m.Get(r)
		_ = auth.Login(r.Context(), s, user{"42", "alice"})
	}), m, users).ServeHTTP(rr, httptest.NewRequest("POST", "/login", nil))
	cookie := rr.Result().Cookies()[0]

	// A socket of user 42.
	tab := channelstest.NewWebsocketCommunicator(app, "/ws/", channelstest.WithHeader("Cookie", cookie.String()))
	if _, err := tab.Connect(ctx); err != nil {
		panic(err)
	}

	// From any process on the layer: one call reaches all of the user's sockets...
	_ = groups.SendUser(ctx, "42", channels.Message{"type": "user.notify", "text": "your export is ready"})
	text, _ := tab.ReceiveText(ctx)
	fmt.Println(text)

	// ...and one call closes them (on a password change, a ban).
	_ = groups.CloseUser(ctx, "42", auth.CloseRevoked, "password changed")
	closed, _ := tab.ReceiveOutput(ctx)
	fmt.Println(closed.Type(), closed["code"], closed["reason"])
	_ = tab.Wait(ctx)
	// Output:
	// your export is ready
	// websocket.close 4003 password changed
}
