package channelstest_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
)

// gated is a WebSocket application that accepts, waits for release, then forwards every
// "chat.message" event to its client and records the events it received after connect.
type gated struct {
	release chan struct{}
	events  chan channels.Message
	// limit, when set, is called with the Receiver after accept (to set a bound and policy).
	limit func(channels.Receiver)
}

func newGated() *gated {
	return &gated{release: make(chan struct{}), events: make(chan channels.Message, 4096)}
}

func (g *gated) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if _, err := receive.Receive(ctx); err != nil { // websocket.connect
		return err
	}
	if err := accept(ctx, send); err != nil {
		return err
	}
	if g.limit != nil {
		g.limit(receive)
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		g.events <- msg
		switch msg.Type() {
		case channels.TypeWebsocketDisconnect:
			return nil
		case "chat.message":
			// After an overflow close the send fails with the close's *CloseError: ignored,
			// the queued events are still handled.
			_ = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": msg.String("text")})
		}
	}
}

func connectGated(t *testing.T, ctx context.Context, g *gated) *channelstest.WebsocketCommunicator {
	t.Helper()
	c := channelstest.NewWebsocketCommunicator(g, "/ws/")
	if res, err := c.Connect(ctx); err != nil || !res.Accepted {
		t.Fatalf("connect: %+v %v", res, err)
	}
	return c
}

// TestWebsocketBurstAbsorbed: as on the server, channel-layer messages are bounded by bytes,
// not by the old 128 events: 2,000 small messages injected while the application is busy all
// wait, and reach the client in order.
func TestWebsocketBurstAbsorbed(t *testing.T) {
	ctx := testCtx(t)
	g := newGated()
	c := connectGated(t, ctx, g)
	const n = 2000
	for i := range n {
		if err := c.Inject(channels.Message{"type": "chat.message", "text": strconv.Itoa(i)}); err != nil {
			t.Fatalf("inject %d: %v", i, err)
		}
	}
	close(g.release)
	for i := range n {
		if got, err := c.ReceiveText(ctx); err != nil || got != strconv.Itoa(i) {
			t.Fatalf("frame %d: %q %v", i, got, err)
		}
	}
	if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

// TestWebsocketEventQueueOverflow: past channels.DefaultEventQueueBytes the communicator does
// what the server does under OverflowClose: the message is refused with ErrEventOverflow, the
// client sees close 1008 "event queue full", and the application handles the events queued
// before and then gets the disconnect with that code, last. Nothing later gets in.
func TestWebsocketEventQueueOverflow(t *testing.T) {
	ctx := testCtx(t)
	g := newGated()
	c := connectGated(t, ctx, g)
	big := strings.Repeat("x", 64<<10)
	queued := 0
	var err error
	for range 1000 { // far more than 1 MiB
		if err = c.Inject(channels.Message{"type": "chat.message", "text": big}); err != nil {
			break
		}
		queued++
	}
	if !errors.Is(err, channels.ErrEventOverflow) || queued == 0 || queued*len(big) > 2*channels.DefaultEventQueueBytes {
		t.Fatalf("after %d messages of %d bytes: %v, want ErrEventOverflow near %d bytes", queued, len(big), err, channels.DefaultEventQueueBytes)
	}
	if err := c.Inject(channels.Message{"type": "chat.message", "text": "late"}); !errors.Is(err, channels.ErrClosed) {
		t.Fatalf("inject after the overflow: %v, want ErrClosed", err)
	}
	msg, err := c.ReceiveOutput(ctx)
	if code, _ := msg.Int("code"); err != nil || msg.Type() != channels.TypeWebsocketClose || code != channels.ClosePolicyViolation || msg.String("reason") != "event queue full" {
		t.Fatalf("client saw %v %v, want close 1008 \"event queue full\"", msg, err)
	}
	close(g.release)
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	close(g.events)
	var got []channels.Message
	for m := range g.events {
		got = append(got, m)
	}
	if len(got) != queued+1 {
		t.Fatalf("the application got %d events, want the %d queued and the disconnect", len(got), queued)
	}
	last := got[len(got)-1]
	if code, _ := last.Int("code"); last.Type() != channels.TypeWebsocketDisconnect || code != channels.ClosePolicyViolation || last.String("reason") != "event queue full" {
		t.Fatalf("last event %v, want the disconnect 1008", last)
	}
	if _, err := c.ReceiveOutput(ctx); !errors.Is(err, channelstest.ErrNoOutput) {
		t.Fatalf("output after the close: %v", err)
	}
}

// TestWebsocketDropPolicy: an application that chooses its own bound and a drop policy
// (channels.InjectLimiter on its Receiver, as consumer.WithEventQueueBytes and
// WithOverflowPolicy do) keeps its connection: past the bound messages are refused with
// ErrMailboxFull, and the ones that fit arrive.
func TestWebsocketDropPolicy(t *testing.T) {
	ctx := testCtx(t)
	g := newGated()
	g.limit = func(r channels.Receiver) {
		r.(channels.InjectLimiter).LimitInjected(4<<10, channels.OverflowDropNewest)
	}
	c := connectGated(t, ctx, g)
	big := strings.Repeat("y", 1<<10)
	fit, dropped := 0, 0
	for range 20 {
		switch err := c.Inject(channels.Message{"type": "chat.message", "text": big}); {
		case err == nil:
			fit++
		case errors.Is(err, channels.ErrMailboxFull):
			dropped++
		default:
			t.Fatalf("inject: %v", err)
		}
	}
	if fit == 0 || dropped == 0 || fit+dropped != 20 {
		t.Fatalf("%d fit, %d dropped: want both under a 4 KiB bound", fit, dropped)
	}
	if got := c.Receiver().Dropped(); got != uint64(dropped) {
		t.Fatalf("the mailbox counted %d drops, the test saw %d", got, dropped)
	}
	close(g.release)
	for i := range fit {
		if got, err := c.ReceiveText(ctx); err != nil || got != big {
			t.Fatalf("frame %d: %d bytes, %v", i, len(got), err)
		}
	}
	if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

// TestApplicationCommunicatorBytesBound: a channel scope's queue takes a burst of 2,000
// small injected events (the old bound was 128), and past DefaultEventQueueBytes refuses with
// ErrMailboxFull (there is no connection to close).
func TestApplicationCommunicatorBytesBound(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		<-release
		for {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return nil
			}
			if err := send.Send(ctx, msg); err != nil {
				return err
			}
		}
	})
	a := channelstest.NewApplicationCommunicator(app, &channels.Scope{Type: "channel"})
	const n = 2000
	for i := range n {
		if err := a.Receiver().Inject(channels.Message{"type": "task", "i": i}); err != nil {
			t.Fatalf("inject %d: %v", i, err)
		}
	}
	big := strings.Repeat("z", 64<<10)
	var err error
	for range 1000 {
		if err = a.Receiver().Inject(channels.Message{"type": "task", "big": big}); err != nil {
			break
		}
	}
	if !errors.Is(err, channels.ErrMailboxFull) {
		t.Fatalf("past the byte bound: %v, want ErrMailboxFull", err)
	}
	close(release)
	for i := range n {
		msg, err := a.ReceiveOutput(ctx)
		if got, _ := msg.Int("i"); err != nil || got != i {
			t.Fatalf("event %d: %v %v", i, msg, err)
		}
	}
	a.CloseInput(nil)
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
