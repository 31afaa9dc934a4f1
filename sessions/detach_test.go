package sessions_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/sessions"
)

// savedStore is a MemoryStore that reports each Save.
type savedStore struct {
	*sessions.MemoryStore
	saved chan string
}

func (s *savedStore) Save(ctx context.Context, sess *sessions.Session) (string, error) {
	v, err := s.MemoryStore.Save(ctx, sess)
	s.saved <- sess.ID()
	return v, err
}

// lastConsumer stores each frame it receives in the session and echoes it.
type lastConsumer struct{ consumer.WebsocketConsumer }

func (c *lastConsumer) Receive(ctx context.Context, text string, data []byte) error {
	sessions.FromScope(c.Scope()).Set("last", text)
	return c.SendText(ctx, "saw "+text)
}

// TestMiddlewareDetachedConsumer runs a consumer made with WithoutIdleGoroutine behind
// Middleware on a real server: the consumer still detaches, its Sender is still a
// TextSender, and a change it makes to the session after detaching is saved when the
// connection ends (not lost at detach time, when Serve returns).
func TestMiddlewareDetachedConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	store := &savedStore{MemoryStore: sessions.NewMemoryStore(), saved: make(chan string, 4)}
	m := sessions.NewManager(store, sessions.Options{})

	// A logged-in client: its session is stored, its cookie names it.
	s := sessions.New()
	s.Set("user", "alice")
	rr := httptest.NewRecorder()
	if err := m.Save(rr, httptest.NewRequest("GET", "/", nil), s); err != nil {
		t.Fatal(err)
	}
	<-store.saved
	cookie := rr.Result().Cookies()[0]

	type seen struct {
		text, detach bool
		result       error
	}
	served := make(chan seen, 1)
	cons := consumer.Websocket[lastConsumer](consumer.WithoutIdleGoroutine())
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		_, text := send.(channels.TextSender)
		_, detach := receive.(channels.Detacher)
		err := cons.Serve(ctx, scope, receive, send)
		served <- seen{text, detach, err}
		return err
	})
	addr := channelstest.Serve(t, &channels.Server{Application: sessions.Middleware(app, m)})

	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}})}
	conn, _, _, err := d.Dial(ctx, "ws://"+addr+"/ws/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := wsutil.WriteClientText(conn, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := wsutil.ReadServerText(conn); err != nil || string(got) != "saw hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	var sv seen
	select {
	case sv = <-served:
	case <-ctx.Done():
		t.Fatal("Serve never returned")
	}
	if !sv.text || !sv.detach || !errors.Is(sv.result, channels.ErrDetached) {
		t.Fatalf("behind Middleware: TextSender %v, Detacher %v, Serve returned %v (want ErrDetached)", sv.text, sv.detach, sv.result)
	}
	select {
	case id := <-store.saved:
		t.Fatalf("session %s saved before the connection ended", id)
	default:
	}

	// The change made while detached is saved when the connection ends.
	_ = wsutil.WriteClientMessage(conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	select {
	case id := <-store.saved:
		if id != s.ID() {
			t.Fatalf("saved session %s, want %s", id, s.ID())
		}
	case <-ctx.Done():
		t.Fatal("the session was never saved after the connection ended")
	}
	got, err := store.Load(ctx, cookie.Value)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Get("last"); v != "hello" {
		t.Fatalf("stored last = %q, want the value set after detaching", v)
	}
	if v, _ := got.Get("user"); v != "alice" {
		t.Fatalf("stored user = %q", v)
	}
}
