package jsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/examples/internal/browsertest"
	"github.com/gochannels/gochannels/layers"
)

// The end-to-end test: the framework's own recovery (a memory layer keeping history,
// consumer.JoinResumed and consumer.AddPosition) with gochannels.js, instead of the test
// consumer of server_test.go.

const (
	liveGroup   = "live" // keeps history
	liveControl = "ctl"  // no history: the test's close orders
	liveKept    = 20     // messages the history keeps
)

// liveRoom is a chat room as an application writes it with the framework's shortcuts: it
// joins the room resuming from the client's positions, forwards the room's messages with
// their positions, and acks what the client sends.
type liveRoom struct {
	consumer.JSONWebsocketConsumer
}

// liveHooks is the test's hold on the server: down refuses handshakes; onConnect, when set,
// is taken and run by the next connection just before it joins the room.
type liveHooks struct {
	down      atomic.Bool
	onConnect atomic.Pointer[func()]
}

type liveHooksKey struct{}

var (
	_ consumer.Grouper      = (*liveRoom)(nil)
	_ consumer.Connecter    = (*liveRoom)(nil)
	_ consumer.JSONReceiver = (*liveRoom)(nil)
)

func (c *liveRoom) Groups() []string { return []string{liveControl} }

func (c *liveRoom) Connect(ctx context.Context) error {
	hooks := c.Scope().Value(liveHooksKey{}).(*liveHooks)
	if hooks.down.Load() {
		return consumer.ErrDeny
	}
	if f := hooks.onConnect.Swap(nil); f != nil {
		(*f)()
	}
	_, err := c.JoinResumed(ctx, liveGroup)
	return err
}

func (c *liveRoom) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	var in struct{ Say string }
	if err := json.Unmarshal(content, &in); err != nil || in.Say == "" {
		return &consumer.SendError{Code: "bad_frame", Message: `want {"say": "..."}`}
	}
	return c.GroupSend(ctx, liveGroup, channels.Message{"type": "live.message", "text": in.Say})
}

func (c *liveRoom) LiveMessage(ctx context.Context, msg channels.Message) error {
	return c.SendJSON(ctx, consumer.AddPosition(map[string]any{"text": msg.String("text")}, msg))
}

func (c *liveRoom) ControlClose(ctx context.Context, msg channels.Message) error {
	code, _ := msg.Int("code")
	return c.CloseReason(ctx, code, msg.String("reason"))
}

// TestBrowserRecoveryEndToEnd: with the framework's recovery, a client that was away gets
// every message it missed exactly once and in order, including while messages keep flowing
// during its catch-up; past the kept history it is told "unrecoverable" (gap) and adopts the
// new position.
func TestBrowserRecoveryEndToEnd(t *testing.T) {
	execPath := browsertest.Chromium(t)
	l := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: liveGroup, Size: liveKept}}})
	defer l.Close()
	hooks := &liveHooks{}
	down := &hooks.down
	app := consumer.JSONWebsocket[liveRoom](consumer.WithLayer(l), consumer.WithAcks())
	base := serve(t, channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		scope.Set(liveHooksKey{}, hooks)
		return app.Serve(ctx, scope, receive, send)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), browsertest.Timeout)
	defer cancel()
	p := open(t, browsertest.Start(t, ctx, execPath, 0, 0), base)
	say := func(text string) {
		t.Helper()
		if err := l.GroupSend(ctx, liveGroup, channels.Message{"type": "live.message", "text": text}); err != nil {
			t.Fatal(err)
		}
	}
	closeAll := func() {
		t.Helper()
		if err := l.GroupSend(ctx, liveControl, channels.Message{"type": "control.close", "code": channels.CloseServiceRestart, "reason": "restart"}); err != nil {
			t.Fatal(err)
		}
	}
	var want []string

	p.run(`make({minDelay: 20, maxDelay: 200}).connect()`)
	p.wait("connect", `gc.state === "open"`)
	p.run(`sendAcked("a1", {say: "a1"})`)
	want = append(want, "a1")
	p.wait("ack and position", `results.a1 && results.a1.ok && gc.positions.live && gc.positions.live.offset === 1`)

	// Away while three messages are sent; back, it resumes from offset 1.
	down.Store(true)
	closeAll()
	p.wait("retrying", `gc.state === "retrying"`)
	for _, s := range []string{"a2", "a3", "a4"} {
		say(s)
		want = append(want, s)
	}
	down.Store(false)
	p.wait("recovered", `count("recovered") === 1`)
	var connecting []struct{ URL string }
	p.get(`log.filter(e => e.type === "connecting").map(e => ({url: e.detail.url}))`, &connecting)
	u, err := url.Parse(connecting[len(connecting)-1].URL)
	if err != nil {
		t.Fatal(err)
	}
	var resume map[string]resumePos
	if err := json.Unmarshal([]byte(u.Query().Get("resume")), &resume); err != nil || resume[liveGroup].Offset != 1 || resume[liveGroup].Epoch == "" {
		t.Fatalf("resume of the last connect: %q (%v), want live at 1 with its epoch", u.Query().Get("resume"), err)
	}

	// Messages keep flowing while the client catches up: none lost, none twice.
	down.Store(true)
	closeAll()
	p.wait("retrying", `gc.state === "retrying"`)
	for i := range 5 {
		s := fmt.Sprintf("b%d", i)
		say(s)
		want = append(want, s)
	}
	// The reconnecting client's Connect starts a sender just before it joins the room, so
	// that live messages arrive while the missed ones are read and replayed.
	done := make(chan struct{})
	start := func() {
		go func() {
			defer close(done)
			for i := range 10 {
				if err := l.GroupSend(ctx, liveGroup, channels.Message{"type": "live.message", "text": fmt.Sprintf("c%d", i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	hooks.onConnect.Store(&start)
	down.Store(false)
	<-done
	for i := range 10 {
		want = append(want, fmt.Sprintf("c%d", i))
	}
	p.wait("all messages", `msgs.some(m => m.text === "c9") && count("recovered") === 2`)
	var got []string
	p.get(`msgs.map(m => m.text)`, &got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("messages:\n got %v\nwant %v", got, want)
	}

	// Away for more than the history keeps: unrecoverable "gap", and the new position.
	down.Store(true)
	closeAll()
	p.wait("retrying", `gc.state === "retrying"`)
	for i := range liveKept + 5 {
		say(fmt.Sprintf("d%d", i))
	}
	down.Store(false)
	p.wait("unrecoverable", `count("unrecoverable") === 1`)
	var unrec struct {
		Stream, Reason string
		Pos            posJSON
	}
	p.get(`log.find(e => e.type === "unrecoverable").detail`, &unrec)
	top := int64(len(want) + liveKept + 5)
	if unrec.Stream != liveGroup || unrec.Reason != "gap" || unrec.Pos.Offset != top {
		t.Errorf("unrecoverable: %+v, want gap at %d", unrec, top)
	}
	p.wait("the new position", fmt.Sprintf(`gc.positions.live.offset === %d`, top))

	// The application saw only its own frames.
	var framework int
	p.get(`msgs.filter(m => "gochannels" in m || !m.pos).length`, &framework)
	if framework != 0 {
		t.Errorf("%d framework frames reached the application", framework)
	}
}
