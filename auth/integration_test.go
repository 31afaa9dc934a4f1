package auth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/sessions"
)

// TestRealServer runs the whole stack behind a real channels.Server on loopback: origin check,
// cookies, sessions and auth, with the login done by a net/http handler sharing the Manager.
func TestRealServer(t *testing.T) {
	m := sessions.NewManager(sessions.NewMemoryStore(), sessions.Options{})
	db := newDB()
	echo := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return nil
			}
			switch msg.Type() {
			case channels.TypeWebsocketConnect:
				sessions.FromScope(scope).Set("connected", "yes") // sent with the 101
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
					return err
				}
			case channels.TypeWebsocketReceive:
				text := UserFrom(scope).Username() + ": " + msg.String("text")
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": text}); err != nil {
					return err
				}
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	})
	app := middleware.AllowedHostsOriginValidator(Stack(RequireUser(echo), m, db), "example.com")
	srv := &channels.Server{Application: app, HandshakeTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	}()
	url := "ws://" + ln.Addr().String() + "/ws/"
	cookie := login(t, site(m, db), "1", nil)

	dial := func(origin string, c *http.Cookie) (net.Conn, string, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		if c != nil {
			h.Set("Cookie", c.String())
		}
		var setCookie string
		d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h), Timeout: 5 * time.Second,
			OnHeader: func(key, value []byte) error {
				if strings.EqualFold(string(key), "Set-Cookie") {
					setCookie = string(value)
				}
				return nil
			}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, _, _, err := d.Dial(ctx, url)
		return conn, setCookie, err
	}

	for _, tc := range []struct {
		name   string
		origin string
		cookie *http.Cookie
	}{
		{"bad origin", "http://evil.org", cookie},
		{"no origin", "", cookie},
		{"anonymous", "http://example.com", nil},
	} {
		_, _, err := dial(tc.origin, tc.cookie)
		var se ws.StatusError
		if !errors.As(err, &se) || int(se) != 403 {
			t.Errorf("%s: handshake error %v, want HTTP 403", tc.name, err)
		}
	}

	conn, setCookie, err := dial("http://example.com", cookie)
	if err != nil {
		t.Fatalf("logged-in handshake: %v", err)
	}
	defer conn.Close()
	if !strings.HasPrefix(setCookie, sessions.DefaultCookieName+"=") {
		t.Errorf("101 response Set-Cookie = %q", setCookie)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(conn, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	reply, err := wsutil.ReadServerText(conn)
	if err != nil || string(reply) != "alice: hi" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	_ = ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
}
