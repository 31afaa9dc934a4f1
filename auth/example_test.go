package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/sessions"
)

type user struct{ id, name string }

func (u user) ID() string            { return u.id }
func (u user) Username() string      { return u.name }
func (u user) IsAuthenticated() bool { return true }
func (u user) IsStaff() bool         { return false }

func ExampleStack() {
	users := auth.UserLoaderFunc(func(ctx context.Context, id string) (auth.User, error) {
		if id == "1" {
			return user{"1", "alice"}, nil
		}
		return nil, auth.ErrUserNotFound
	})
	// One Manager for both sides, so that they share the session cookie.
	m := sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{})

	// net/http: the login form.
	login := auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := m.Get(r)
		u, _ := users.LoadUser(r.Context(), "1") // after checking the password
		_ = auth.Login(r.Context(), s, u)
	}), m, users)
	rr := httptest.NewRecorder()
	login.ServeHTTP(rr, httptest.NewRequest("POST", "/login", nil))
	cookie := rr.Result().Cookies()[0]

	// gochannels: the socket, behind Cookies → Sessions → Auth.
	chat := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		fmt.Println("hello,", auth.UserFrom(scope).Username())
		return nil
	})
	app := auth.Stack(auth.RequireUser(chat), m, users)
	scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/ws/chat/", Headers: http.Header{"Cookie": {cookie.String()}}}
	_ = app.Serve(context.Background(), scope, channels.NewMailbox(1), channels.SendFunc(func(ctx context.Context, msg channels.Message) error { return nil }))
	// Output:
	// hello, alice
}
