package channels_test

import (
	"context"
	"fmt"
	"maps"
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

// typedJournal is a TypedObserver that writes down the type it is told with each event and
// the event's own; rename, when set, gives chat.message events a new type in a copy.
type typedJournal struct {
	rename bool
	mu     sync.Mutex
	events []string
	ended  chan struct{}
}

func (j *typedJournal) ReceivedType(typ string, msg channels.Message) channels.Message {
	j.mu.Lock()
	j.events = append(j.events, fmt.Sprintf("told %s, event %s", typ, msg.Type()))
	j.mu.Unlock()
	if j.rename && typ == "chat.message" {
		m := maps.Clone(msg)
		m["type"] = "chat.renamed"
		return m
	}
	return msg
}

func (j *typedJournal) Received(msg channels.Message) channels.Message {
	panic("Observe called Received on a TypedObserver")
}

func (j *typedJournal) Sent(channels.Message, error) {}

func (j *typedJournal) Ended(error, bool) { close(j.ended) }

func (j *typedJournal) lines() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// TestObserveTypedNested checks, with a consumer that detaches and one that receives in a
// loop, that nested TypedObservers are told each event's type, read once, and the new one
// after an outer observer changed the event, and that a plain Observer between them hears
// the events as before.
func TestObserveTypedNested(t *testing.T) {
	for _, detached := range []bool{true, false} {
		t.Run(fmt.Sprintf("detached=%v", detached), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l := layers.NewMemory(layers.MemoryOptions{})
			t.Cleanup(func() { l.Close() })
			var opts []consumer.Option
			opts = append(opts, consumer.WithLayer(l))
			if detached {
				opts = append(opts, consumer.WithoutIdleGoroutine())
			}
			outer, inner := &typedJournal{rename: true, ended: make(chan struct{})}, &typedJournal{ended: make(chan struct{})}
			plain := make(chan *journal, 1)
			app := consumer.Websocket[lobby](opts...)
			app = channels.Observe(app, func(context.Context, *channels.Scope) channels.Observer { return inner })
			app = journals(app, plain)
			app = channels.Observe(app, func(context.Context, *channels.Scope) channels.Observer { return outer })
			url := "ws://" + channelstest.Serve(t, &channels.Server{Application: app}) + "/"

			conn, _, _, err := ws.Dial(ctx, url)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			j := <-plain
			if err := wsutil.WriteClientText(conn, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			// The lobby has no handler for chat.renamed: it fails, and the scope ends.
			_, _ = wsutil.ReadServerText(conn)
			closeConn(t, conn)
			for _, e := range []chan struct{}{outer.ended, inner.ended, j.ended} {
				select {
				case <-e:
				case <-ctx.Done():
					t.Fatal("an observer was not told the end")
				}
			}
			wantOuter := []string{
				"told websocket.connect, event websocket.connect",
				"told websocket.receive, event websocket.receive",
				"told chat.message, event chat.message",
			}
			wantInner := []string{
				"told websocket.connect, event websocket.connect",
				"told websocket.receive, event websocket.receive",
				"told chat.renamed, event chat.renamed",
			}
			if got := outer.lines(); !slices.Equal(got[:min(len(got), 3)], wantOuter) {
				t.Errorf("outer heard:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(wantOuter, "\n"))
			}
			if got := inner.lines(); !slices.Equal(got[:min(len(got), 3)], wantInner) {
				t.Errorf("inner heard:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(wantInner, "\n"))
			}
			if got := j.lines(); !slices.Contains(got, "received chat.renamed") {
				t.Errorf("the plain observer heard:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

// closeConn sends a close frame, as a client leaving does; errors are ignored (the server
// may have closed first).
func closeConn(t *testing.T, conn net.Conn) {
	t.Helper()
	body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "")
	_ = ws.WriteFrame(conn, ws.MaskFrameInPlace(ws.NewCloseFrame(body)))
}
