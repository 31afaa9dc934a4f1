package channels_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// journal is a third-party Observer (with TextObserver and InjectObserver): it writes down
// what it is told, and signals ended when the scope ends.
type journal struct {
	mu     sync.Mutex
	events []string
	ended  chan struct{}
}

func newJournal() *journal { return &journal{ended: make(chan struct{})} }

func (j *journal) note(format string, args ...any) {
	j.mu.Lock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
	j.mu.Unlock()
}

func (j *journal) Received(msg channels.Message) channels.Message {
	j.note("received %s", msg.Type())
	return msg
}

func (j *journal) Sent(msg channels.Message, err error) {
	j.note("sent %s %q %v", msg.Type(), msg.String("text"), err)
}

func (j *journal) SentText(text string, err error) { j.note("sent text %q %v", text, err) }

func (j *journal) Injected(msg channels.Message, err error) {
	j.note("injected %s %v", msg.Type(), err)
}

func (j *journal) Ended(result error, panicked bool) {
	j.note("ended %v %v", result, panicked)
	close(j.ended)
}

// lines returns what the journal holds.
func (j *journal) lines() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// journals is middleware built on channels.Observe that hands each scope's journal out.
func journals(app channels.Application, out chan<- *journal) channels.Application {
	return channels.Observe(app, func(ctx context.Context, scope *channels.Scope) channels.Observer {
		j := newJournal()
		out <- j
		return j
	})
}

// lobby is a consumer that forwards each frame to everyone in its group.
type lobby struct{ consumer.WebsocketConsumer }

func (c *lobby) Groups() []string { return []string{"lobby"} }

func (c *lobby) Receive(ctx context.Context, text string, data []byte) error {
	return c.GroupSend(ctx, "lobby", channels.Message{"type": "chat.message", "text": text})
}

func (c *lobby) ChatMessage(ctx context.Context, msg channels.Message) error {
	return c.SendText(ctx, msg.String("text"))
}

// TestObserveKeepsConsumerDetached checks that a consumer made with
// consumer.WithoutIdleGoroutine behind a third-party Observe middleware still detaches from
// its goroutine while idle, gets the channel layer's messages through the wrapped Injector,
// sends through the wrapped TextSender, and that the Observer is told the end of the scope
// when the connection ends, not when Serve returned ErrDetached.
func TestObserveKeepsConsumerDetached(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := layers.NewMemory(layers.MemoryOptions{})
	t.Cleanup(func() { l.Close() }) // after the server's shutdown (cleanups run last first)
	out := make(chan *journal, 64)
	app := journals(consumer.Websocket[lobby](consumer.WithLayer(l), consumer.WithoutIdleGoroutine()), out)
	url := "ws://" + channelstest.Serve(t, &channels.Server{Application: app}) + "/"

	dial := func() (net.Conn, *journal) {
		t.Helper()
		conn, _, _, err := ws.Dial(ctx, url)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		return conn, <-out
	}
	read := func(conn net.Conn, want string) {
		t.Helper()
		b, err := wsutil.ReadServerText(conn)
		if err != nil || string(b) != want {
			t.Fatalf("read %q, %v; want %q", b, err, want)
		}
	}

	first, j := dial()
	before := channels.SettledGoroutines()
	conns := []net.Conn{first}
	for range 20 {
		c, _ := dial()
		conns = append(conns, c)
	}
	if err := wsutil.WriteClientText(first, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		read(c, "hello")
	}
	if after := channels.SettledGoroutines(); after-before > 5 {
		t.Errorf("goroutines: %d before, %d with 20 more idle observed connections", before, after)
	}

	body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "")
	if err := ws.WriteFrame(first, ws.MaskFrameInPlace(ws.NewCloseFrame(body))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.ended:
	case <-ctx.Done():
		t.Fatalf("the Observer was not told the end; it heard:\n%s", strings.Join(j.lines(), "\n"))
	}
	got := j.lines()
	want := []string{
		"received websocket.connect",
		"sent websocket.accept \"\" <nil>",
		"received websocket.receive",
		"injected chat.message <nil>",
		"received chat.message",
		"sent text \"hello\" <nil>",
		"received websocket.disconnect",
		"ended <nil> false",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the Observer heard:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range conns[1:] {
		c.Close()
	}
}

// Kinds of Receiver the wrapped one must mirror.
type (
	// detachOnly is a Detacher that is not an Injector.
	detachOnly struct {
		channels.Receiver
		channels.Detacher
	}
	// receiveOnly is a plain Receiver.
	receiveOnly struct{ channels.Receiver }
)

// TestObserveReceiverInterfaces checks that the wrapped Receiver has exactly the optional
// interfaces of the one it wraps, that the Sender is a TextSender, and how the end of the
// scope is reported: Serve's result, a refused Detach, a panic.
func TestObserveReceiverInterfaces(t *testing.T) {
	ctx := context.Background()
	closed := func() *channels.Mailbox {
		mb := channels.NewMailbox(4)
		mb.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": 1000})
		return mb
	}
	for _, tc := range []struct {
		name             string
		recv             channels.Receiver
		injector, detach bool
	}{
		{"plain", receiveOnly{closed()}, false, false},
		{"mailbox", closed(), true, true},
		{"detacher", detachOnly{closed(), closed()}, false, true},
		{"injector", struct {
			channels.Receiver
			channels.Injector
		}{closed(), closed()}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
				_, inj := receive.(channels.Injector)
				d, det := receive.(channels.Detacher)
				_, text := send.(channels.TextSender)
				if inj != tc.injector || det != tc.detach || !text {
					return fmt.Errorf("Injector %v, Detacher %v, TextSender %v", inj, det, text)
				}
				if det {
					// NewMailbox's refuse: the application stays on its goroutine.
					if err := d.Detach(ctx, nil); !errors.Is(err, channels.ErrNotDetachable) {
						return fmt.Errorf("Detach: %v", err)
					}
				}
				if _, err := receive.Receive(ctx); err != nil {
					return err
				}
				_ = channels.SendText(ctx, send, "bye")
				return channels.ErrDetached // as if detached: must not fool Observe
			})
			j := newJournal()
			err := channels.Observe(app, func(context.Context, *channels.Scope) channels.Observer { return j }).
				Serve(ctx, &channels.Scope{Type: channels.ScopeWebsocket}, tc.recv, channels.SendFunc(func(context.Context, channels.Message) error { return nil }))
			if !errors.Is(err, channels.ErrDetached) {
				t.Fatalf("Serve: %v", err)
			}
			want := []string{
				"received websocket.disconnect",
				"sent text \"bye\" <nil>",
				"ended " + channels.ErrDetached.Error() + " false",
			}
			if got := j.lines(); !slices.Equal(got, want) {
				t.Fatalf("the Observer heard:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}

	t.Run("no observer", func(t *testing.T) {
		mb := closed()
		app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
			if receive != channels.Receiver(mb) {
				return errors.New("the Receiver was wrapped")
			}
			return nil
		})
		none := func(context.Context, *channels.Scope) channels.Observer { return nil }
		if err := channels.Observe(app, none).Serve(ctx, &channels.Scope{Type: channels.ScopeChannel}, mb, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("panic", func(t *testing.T) {
		j := newJournal()
		app := channels.ApplicationFunc(func(context.Context, *channels.Scope, channels.Receiver, channels.Sender) error {
			panic("on purpose")
		})
		func() {
			defer func() {
				if p := recover(); p != "on purpose" {
					t.Errorf("recovered %v, want the application's panic", p)
				}
			}()
			_ = channels.Observe(app, func(context.Context, *channels.Scope) channels.Observer { return j }).
				Serve(ctx, &channels.Scope{Type: channels.ScopeHTTP}, closed(), nil)
		}()
		if got := j.lines(); !slices.Equal(got, []string{"ended <nil> true"}) {
			t.Fatalf("the Observer heard %q", got)
		}
	})
}

// TestObserveSentWithoutTextObserver checks that an Observer without SentText is told of
// text frames through Sent, as websocket.send events.
func TestObserveSentWithoutTextObserver(t *testing.T) {
	ctx := context.Background()
	var sent []string
	obs := plainObserver{sent: &sent}
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		return channels.SendText(ctx, send, "hi")
	})
	var frames []channels.Message
	send := channels.SendFunc(func(ctx context.Context, msg channels.Message) error {
		frames = append(frames, msg)
		return nil
	})
	if err := channels.Observe(app, func(context.Context, *channels.Scope) channels.Observer { return obs }).
		Serve(ctx, &channels.Scope{Type: channels.ScopeWebsocket}, channels.NewMailbox(1), send); err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1 || frames[0].String("text") != "hi" {
		t.Fatalf("the server got %v", frames)
	}
	if !slices.Equal(sent, []string{"websocket.send hi"}) {
		t.Fatalf("Sent was told %q", sent)
	}
}

// plainObserver implements Observer only.
type plainObserver struct{ sent *[]string }

func (o plainObserver) Received(msg channels.Message) channels.Message { return msg }
func (o plainObserver) Sent(msg channels.Message, err error) {
	*o.sent = append(*o.sent, msg.Type()+" "+msg.String("text"))
}
func (o plainObserver) Ended(error, bool) {}
