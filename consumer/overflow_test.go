package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// slowRoom joins "slow" and forwards its messages, but its first ChatMessage waits for
// release: a consumer that cannot keep up with its room.
type slowRoom struct {
	consumer.WebsocketConsumer
}

// slowRoomCtl is the test's side of the slowRoom instances (one test at a time).
var slowRoomCtl struct {
	joined, release chan struct{}
	codes           chan int
}

func (r *slowRoom) Groups() []string { return []string{"slow"} }

func (r *slowRoom) Connect(ctx context.Context) error {
	if err := r.Accept(ctx); err != nil {
		return err
	}
	slowRoomCtl.joined <- struct{}{}
	return nil
}

func (r *slowRoom) ChatMessage(ctx context.Context, msg channels.Message) error {
	<-slowRoomCtl.release
	return r.SendText(ctx, msg.String("text"))
}

func (r *slowRoom) Disconnect(ctx context.Context, code int) error {
	slowRoomCtl.codes <- code
	return nil
}

func resetSlowRoom() {
	slowRoomCtl.joined = make(chan struct{}, 4)
	slowRoomCtl.release = make(chan struct{})
	slowRoomCtl.codes = make(chan int, 4)
}

func chatMsg(i int) channels.Message {
	return channels.Message{"type": "chat.message", "text": fmt.Sprintf("%05d", i) + strings.Repeat("x", 100)}
}

// TestWithEventQueueBytesClosesSlowConsumer: on a real server, a consumer whose queue of
// layer messages passes its WithEventQueueBytes bound is closed with 1008 "event queue
// full"; its Disconnect hook sees 1008.
func TestWithEventQueueBytesClosesSlowConsumer(t *testing.T) {
	ctx := testCtx(t)
	resetSlowRoom()
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[slowRoom](consumer.WithLayer(l), consumer.WithEventQueueBytes(8<<10))
	url := serveReal(t, app, nil)
	conn := wsDial(t, ctx, url+"/room/a/")
	<-slowRoomCtl.joined
	for i := range 500 { // about 75 KiB: far over the bound, far under the server's default
		if err := l.GroupSend(ctx, "slow", chatMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := wsutil.ReadServerText(conn)
	var ce wsutil.ClosedError
	if !errors.As(err, &ce) || ce.Code != channels.ClosePolicyViolation || ce.Reason != "event queue full" {
		t.Fatalf("read: %v, want close 1008 \"event queue full\"", err)
	}
	close(slowRoomCtl.release)
	if code := <-slowRoomCtl.codes; code != channels.ClosePolicyViolation {
		t.Fatalf("Disconnect got %d, want 1008", code)
	}
	if st := l.Stats(); st.Dropped == 0 {
		t.Fatal("the layer counted no message refused by the full queue")
	}
}

// TestWithOverflowPolicyDropOldestKeepsConnection: with OverflowDropOldest the consumer
// stays connected and, once it catches up, gets the latest messages in order.
func TestWithOverflowPolicyDropOldestKeepsConnection(t *testing.T) {
	ctx := testCtx(t)
	resetSlowRoom()
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[slowRoom](consumer.WithLayer(l), consumer.WithEventQueueBytes(8<<10),
		consumer.WithOverflowPolicy(channels.OverflowDropOldest))
	url := serveReal(t, app, nil)
	conn := wsDial(t, ctx, url+"/room/a/")
	<-slowRoomCtl.joined
	const n = 500
	for i := range n {
		if err := l.GroupSend(ctx, "slow", chatMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	dropped := l.Stats().Dropped
	if dropped == 0 {
		t.Fatal("nothing dropped")
	}
	close(slowRoomCtl.release)
	// The first message was being handled when the others came; then the newest ones
	// that fitted, in order, ending with the last.
	prev := -1
	for got := 0; got < n-int(dropped); got++ {
		text := readText(t, conn)
		i, err := strconv.Atoi(text[:5])
		if err != nil || i <= prev {
			t.Fatalf("message %q after %d: out of order", text[:5], prev)
		}
		if got > 1 && i != prev+1 {
			t.Fatalf("message %d after %d: a hole among the newest", i, prev)
		}
		prev = i
	}
	if prev != n-1 {
		t.Fatalf("last message %d, want %d", prev, n-1)
	}
	conn.Close()
	if code := <-slowRoomCtl.codes; code == channels.ClosePolicyViolation {
		t.Fatalf("Disconnect got %d", code)
	}
}

// TestOwnQueueOverflowCloses: a consumer whose Receiver is not an Injector keeps its own
// queue, bounded by bytes too; past the bound it closes the WebSocket with 1008 "event
// queue full" itself, and no message after the overflow reaches it.
func TestOwnQueueOverflowCloses(t *testing.T) {
	ctx := testCtx(t)
	resetSlowRoom()
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := consumer.Websocket[slowRoom](consumer.WithLayer(l), consumer.WithEventQueueBytes(8<<10))
	in := channels.NewMailbox(8)
	out := channels.NewMailbox(100000)
	scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/"}
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, scope, channels.ReceiveFunc(in.Receive), channels.SendFunc(func(ctx context.Context, m channels.Message) error { return out.Inject(m) }))
	}()
	_ = in.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
	if m, err := out.Receive(ctx); err != nil || m.Type() != channels.TypeWebsocketAccept {
		t.Fatalf("accept: %v %v", m, err)
	}
	<-slowRoomCtl.joined
	const n = 500
	for i := range n {
		if err := l.GroupSend(ctx, "slow", chatMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := out.Receive(ctx)
	if err != nil || m.Type() != channels.TypeWebsocketClose {
		t.Fatalf("after the overflow: %v %v, want websocket.close", m, err)
	}
	if code, _ := m.Int("code"); code != channels.ClosePolicyViolation || m.String("reason") != "event queue full" {
		t.Fatalf("close %v, want 1008 \"event queue full\"", m)
	}
	close(slowRoomCtl.release)
	_ = in.Inject(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": channels.ClosePolicyViolation})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// What the consumer sent after the close: a prefix of the messages, none missing.
	next := 0
	for out.Len() > 0 {
		m, _ := out.Receive(ctx)
		i, _ := strconv.Atoi(m.String("text")[:5])
		if i != next {
			t.Fatalf("message %d after %d: a hole", i, next-1)
		}
		next++
	}
	if next == 0 || next == n {
		t.Fatalf("%d messages handled, want some but not all", next)
	}
	if code := <-slowRoomCtl.codes; code != channels.ClosePolicyViolation {
		t.Fatalf("Disconnect got %d, want 1008", code)
	}
}
