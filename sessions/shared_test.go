package sessions_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/sessions"
)

type sharedUser struct{}

func (sharedUser) ID() string            { return "1" }
func (sharedUser) Username() string      { return "alice" }
func (sharedUser) IsAuthenticated() bool { return true }
func (sharedUser) IsStaff() bool         { return false }

// TestRedisStoreSharedByServers: two servers (each its own Manager, store and Redis client,
// sharing only the Redis server) see one login. A logs in over HTTP; B authenticates the
// WebSocket with that cookie and logs it out over the open socket; A then sees no user.
func TestRedisStoreSharedByServers(t *testing.T) {
	srv := redistest.StartPrivate(t)
	users := auth.UserLoaderFunc(func(ctx context.Context, id string) (auth.User, error) {
		if id == "1" {
			return sharedUser{}, nil
		}
		return nil, auth.ErrUserNotFound
	})
	server := func() *sessions.Manager {
		return sessions.NewManager(sessions.NewRedisStore(srv.Client(), sessions.RedisOptions{}), sessions.Options{})
	}
	a, b := server(), server()

	site := auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			if err := auth.Login(r.Context(), sessions.FromRequest(r), sharedUser{}); err != nil {
				http.Error(w, err.Error(), 500)
			}
			return
		}
		_, _ = w.Write([]byte(auth.UserFromRequest(r).Username()))
	}), a, users)
	rr := httptest.NewRecorder()
	site.ServeHTTP(rr, httptest.NewRequest("POST", "/login", nil))
	cookie := rr.Result().Cookies()[0]
	me := func() string {
		req := httptest.NewRequest("GET", "/me", nil)
		req.AddCookie(cookie)
		rr := httptest.NewRecorder()
		site.ServeHTTP(rr, req)
		return rr.Body.String()
	}
	if got := me(); got != "alice" {
		t.Fatalf("server A after login: %q", got)
	}

	loggedOut := make(chan error, 1)
	app := auth.Stack(auth.RequireUser(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
			return err
		}
		if _, err := receive.Receive(ctx); err != nil { // "logout"
			return err
		}
		loggedOut <- auth.LogoutScope(ctx, scope)
		_, _ = receive.Receive(ctx)
		return nil
	})), b, users)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws := channelstest.NewWebsocketCommunicator(app, "/ws/", channelstest.WithHeader("Cookie", cookie.Name+"="+cookie.Value))
	res, err := ws.Connect(ctx)
	if err != nil || !res.Accepted {
		t.Fatalf("server B refused A's login: %+v, %v", res, err)
	}
	if err := ws.SendText(ctx, "logout"); err != nil {
		t.Fatal(err)
	}
	if err := <-loggedOut; err != nil {
		t.Fatalf("LogoutScope on B: %v", err)
	}
	_ = ws.Disconnect(ctx, 1000)
	if err := ws.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	if got := me(); got != "" {
		t.Fatalf("server A still sees %q after the logout on B", got)
	}
}
