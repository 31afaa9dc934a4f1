package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// feed is a JSON consumer of a group with history: it resumes from the client's positions
// and forwards each group message with its position.
type feed struct {
	consumer.JSONWebsocketConsumer
}

const feedGroup = "feed.main"

func (f *feed) Connect(ctx context.Context) error {
	_, err := f.JoinResumed(ctx, feedGroup)
	return err
}

func (f *feed) FeedItem(ctx context.Context, msg channels.Message) error {
	return f.SendJSON(ctx, consumer.AddPosition(map[string]any{"n": msg["n"]}, msg))
}

// frame is what the feed sends: an item with its position, or a recovery frame.
type frame struct {
	N          *int   `json:"n"`
	Gochannels string `json:"gochannels"`
	Stream     string `json:"stream"`
	Replayed   int    `json:"replayed"`
	Reason     string `json:"reason"`
	Pos        struct {
		Stream string `json:"stream"`
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	} `json:"pos"`
}

func nextFrame(t *testing.T, ctx context.Context, c *channelstest.WebsocketCommunicator) frame {
	t.Helper()
	var f frame
	if err := c.ReceiveJSON(ctx, &f); err != nil {
		t.Fatalf("receive: %v", err)
	}
	return f
}

func resumeQuery(pos map[string]layers.Position) string {
	m := map[string]any{}
	for g, p := range pos {
		m[g] = map[string]any{"offset": p.Offset, "epoch": p.Epoch}
	}
	b, _ := json.Marshal(m)
	return consumer.ResumeParam + "=" + url.QueryEscape(string(b))
}

func historyLayer(t *testing.T, size int) *layers.Memory {
	t.Helper()
	l := layers.NewMemory(layers.MemoryOptions{History: []layers.HistoryRule{{Pattern: "feed.*", Size: size}}})
	t.Cleanup(func() { l.Close() })
	return l
}

// TestGroupAddSinceWhileSending: a client sees part of a group's messages, drops, and
// reconnects with its last position while a sender keeps sending. It gets the missed
// messages, then the "recovered" frame, then the live ones: every message once, in order.
// The sender stays at most window messages ahead of what the client read, so it sends
// during the replay (and the missed messages stay within the history).
func TestGroupAddSinceWhileSending(t *testing.T) {
	ctx := testCtx(t)
	l := historyLayer(t, 1000)
	// Bounded by bytes, as on a server (channelstest's queue holds 128 events otherwise).
	app := consumer.JSONWebsocket[feed](consumer.WithLayer(l), consumer.WithEventQueueBytes(1<<20))
	const total, window, seen = 600, 200, 40

	first := connect(t, ctx, app, "/feed/")
	credit := make(chan struct{}, total)
	for range window {
		credit <- struct{}{}
	}
	sendErr := make(chan error, 1)
	missed := make(chan struct{}) // closed once 150 were sent
	go func() {
		for i := 1; i <= total; i++ {
			select {
			case <-credit:
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			}
			if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": i}); err != nil {
				sendErr <- err
				return
			}
			if i == 150 {
				close(missed)
			}
		}
		sendErr <- nil
	}()
	var last frame
	for range seen {
		last = nextFrame(t, ctx, first)
		credit <- struct{}{}
	}
	if last.Pos.Stream != feedGroup || last.Pos.Offset != seen || *last.N != seen {
		t.Fatalf("frame %d is %+v", seen, last)
	}
	if err := first.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
	<-missed
	resume := map[string]layers.Position{feedGroup: {Offset: last.Pos.Offset, Epoch: last.Pos.Epoch}}
	second := connect(t, ctx, app, "/feed/", channelstest.WithQueryString(resumeQuery(resume)))
	var got []int
	recoveredAt := -1
	for len(got) < total-seen || recoveredAt < 0 {
		f := nextFrame(t, ctx, second)
		if f.Gochannels != "" {
			if f.Gochannels != "recovered" || f.Stream != feedGroup || recoveredAt >= 0 {
				t.Fatalf("unexpected framework frame %+v", f)
			}
			if f.Replayed != len(got) || f.Pos.Offset != uint64(seen+len(got)) || f.Pos.Epoch != last.Pos.Epoch {
				t.Fatalf("recovered frame %+v after %d replayed messages", f, len(got))
			}
			recoveredAt = len(got)
			continue
		}
		if f.Pos.Offset != uint64(*f.N) {
			t.Fatalf("frame %+v: offset is not n", f)
		}
		got = append(got, *f.N)
		credit <- struct{}{}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if n != seen+1+i {
			t.Fatalf("after the resume, message %d is n=%d; want %d..%d once each, in order (got %v...)", i, n, seen+1, total, got[:min(len(got), 30)])
		}
	}
	if recoveredAt < 150-seen || recoveredAt == len(got) {
		t.Fatalf("recovered frame after %d of %d messages, want after at least %d replayed and before the last", recoveredAt, len(got), 150-seen)
	}
	if !second.ReceiveNothing(ctx, 0) {
		t.Fatal("a frame after the last message")
	}
	if err := second.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

// gatedFeed joins the feed, then waits for the test (which sends more messages meanwhile:
// they reach the consumer live and are in the history too) before resuming.
type gatedFeed struct {
	feed
}

type gateKey struct{}

type gate struct{ joined, resume chan struct{} }

func (f *gatedFeed) Connect(ctx context.Context) error {
	if err := f.GroupAdd(ctx, feedGroup); err != nil {
		return err
	}
	g := f.Scope().Value(gateKey{}).(*gate)
	close(g.joined)
	<-g.resume
	return f.feed.Connect(ctx)
}

// TestGroupAddSinceSkipsReplayed: messages that arrive live while the consumer is already a
// member and are replayed too are handled once: the live copies are skipped.
func TestGroupAddSinceSkipsReplayed(t *testing.T) {
	ctx := testCtx(t)
	l := historyLayer(t, 100)
	logger, logs := newLogger()
	app := consumer.JSONWebsocket[gatedFeed](consumer.WithLayer(l), consumer.WithLogger(logger))
	send := func(from, to int) {
		for i := from; i <= to; i++ {
			if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(1, 5)
	page, _ := layers.History(ctx, l, feedGroup, layers.Position{}, 0)
	g := &gate{joined: make(chan struct{}), resume: make(chan struct{})}
	c := channelstest.NewWebsocketCommunicator(app, "/feed/", channelstest.WithScopeValue(gateKey{}, g),
		channelstest.WithQueryString(resumeQuery(map[string]layers.Position{feedGroup: {Offset: 2, Epoch: page.Top.Epoch}})))
	connected := make(chan error, 1)
	go func() {
		res, err := c.Connect(ctx)
		if err == nil && !res.Accepted {
			err = fmt.Errorf("refused: %+v", res)
		}
		connected <- err
	}()
	<-g.joined
	send(6, 8) // live and in history
	close(g.resume)
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	send(9, 10)
	var got []int
	recovered := false
	for len(got) < 8 || !recovered {
		f := nextFrame(t, ctx, c)
		if f.Gochannels == "recovered" {
			if f.Replayed < 6 || f.Pos.Offset != uint64(2+f.Replayed) || len(got) != f.Replayed {
				t.Fatalf("recovered frame %+v after %v", f, got)
			}
			recovered = true
			continue
		}
		got = append(got, *f.N)
	}
	if fmt.Sprint(got) != "[3 4 5 6 7 8 9 10]" {
		t.Fatalf("handled %v, want 3..10 once each", got)
	}
	// A live message queued behind the skipped ones: once it is handled, they were skipped.
	send(11, 11)
	if f := nextFrame(t, ctx, c); f.N == nil || *f.N != 11 {
		t.Fatalf("frame %+v, want n 11", f)
	}
	// 6, 7 and 8 arrived live before the replay; 9 and 10 may have been sent in time to be
	// replayed too (the connection is accepted before the replay), and then skipped as well.
	for _, off := range []string{"offset=6", "offset=7", "offset=8"} {
		if !strings.Contains(logs.String(), "replayed already\" group=feed.main "+off) {
			t.Fatalf("the live copy at %s was not skipped; log:\n%s", off, logs.String())
		}
	}
	if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

// TestResumeUnrecoverable: a gap (the history is shorter than what was missed) and an epoch
// change each give an "unrecoverable" frame with the current top, and no replay.
func TestResumeUnrecoverable(t *testing.T) {
	ctx := testCtx(t)
	l := historyLayer(t, 5)
	app := consumer.JSONWebsocket[feed](consumer.WithLayer(l))
	for i := 1; i <= 20; i++ {
		if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := layers.History(ctx, l, feedGroup, layers.Position{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since  layers.Position
		reason string
	}{
		{layers.Position{Offset: 3, Epoch: page.Top.Epoch}, layers.ReasonGap},
		{layers.Position{Offset: 3, Epoch: "gone"}, layers.ReasonEpoch},
	} {
		c := connect(t, ctx, app, "/feed/", channelstest.WithQueryString(resumeQuery(map[string]layers.Position{feedGroup: tc.since})))
		f := nextFrame(t, ctx, c)
		if f.Gochannels != "unrecoverable" || f.Reason != tc.reason || f.Stream != feedGroup || f.Pos.Offset != 20 || f.Pos.Epoch != page.Top.Epoch {
			t.Fatalf("since %+v: frame %+v, want unrecoverable %s at 20", tc.since, f, tc.reason)
		}
		// Live messages still flow.
		if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": 21}); err != nil {
			t.Fatal(err)
		}
		if f := nextFrame(t, ctx, c); f.N == nil || *f.N != 21 || f.Pos.Offset != 21 {
			t.Fatalf("live frame %+v, want n 21 at 21", f)
		}
		if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
			t.Fatal(err)
		}
		// Reset the stream for the next case: the same 20 messages in a new epoch.
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 20; i++ {
			if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": i}); err != nil {
				t.Fatal(err)
			}
		}
		if page, err = layers.History(ctx, l, feedGroup, layers.Position{}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeUpToDateAndOtherGroups: a client that missed nothing gets "recovered" with
// nothing replayed; positions for groups the consumer does not join are ignored.
func TestResumeUpToDateAndOtherGroups(t *testing.T) {
	ctx := testCtx(t)
	l := historyLayer(t, 100)
	app := consumer.JSONWebsocket[feed](consumer.WithLayer(l))
	if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "feed.secret", channels.Message{"type": "feed.item", "n": 99}); err != nil {
		t.Fatal(err)
	}
	page, _ := layers.History(ctx, l, feedGroup, layers.Position{}, 0)
	q := resumeQuery(map[string]layers.Position{feedGroup: page.Top, "feed.secret": {Epoch: "x"}})
	c := connect(t, ctx, app, "/feed/", channelstest.WithQueryString(q))
	f := nextFrame(t, ctx, c)
	if f.Gochannels != "recovered" || f.Replayed != 0 || f.Pos.Offset != 1 {
		t.Fatalf("frame %+v, want recovered with nothing replayed at 1", f)
	}
	if !c.ReceiveNothing(ctx, 0) {
		t.Fatal("a frame for a group the consumer does not join")
	}
	if n, err := l.PresenceCount(ctx, "feed.secret"); err != nil || n != 0 {
		t.Fatalf("the client joined a group by naming it: %d members, %v", n, err)
	}
	if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

func TestResumePositions(t *testing.T) {
	scope := func(q string) *channels.Scope { return &channels.Scope{Type: channels.ScopeWebsocket, QueryString: q} }
	got, err := consumer.ResumePositions(scope("a=1&resume=" + url.QueryEscape(`{"room.1":{"offset":12,"epoch":"e1"},"b":{"offset":0,"epoch":""}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["room.1"] != (layers.Position{Offset: 12, Epoch: "e1"}) || got["b"] != (layers.Position{}) {
		t.Fatalf("ResumePositions = %+v", got)
	}
	if got, err := consumer.ResumePositions(scope("resume=" + url.QueryEscape(`{"g":{"offset":1,"epoch":"e","x":1}}`))); err != nil || got["g"].Offset != 1 {
		t.Fatalf("other keys are ignored: %v %v", got, err)
	}
	if got, err := consumer.ResumePositions(scope("a=1")); got != nil || err != nil {
		t.Fatalf("no resume parameter: %v %v", got, err)
	}
	if got, err := consumer.ResumePositions(scope("x=%zz&resume=" + url.QueryEscape(`{"g":{"offset":1,"epoch":"e"}}`))); err != nil || got["g"].Offset != 1 {
		t.Fatalf("a resume beside a malformed parameter: %v %v", got, err)
	}
	many := map[string]any{}
	for i := range consumer.MaxResumeStreams + 1 {
		many[fmt.Sprintf("g%d", i)] = map[string]any{"offset": 1, "epoch": "e"}
	}
	tooMany, _ := json.Marshal(many)
	for _, bad := range []string{
		`not json`, `[]`, `{"g":1}`, `{"g":{"offset":-1,"epoch":"e"}}`, `{"g":{"offset":1.5,"epoch":"e"}}`,
		`{"g":{"offset":"1","epoch":"e"}}`, `{"g":{"offset":1}}`, `{"g":{"offset":1,"epoch":2}}`,
		`{"bad name":{"offset":1,"epoch":"e"}}`, `{"g":{"offset":1,"epoch":""}}`, `{} {}`,
		`{"g":{"offset":1,"epoch":"` + strings.Repeat("e", 200) + `"}}`, string(tooMany),
	} {
		if got, err := consumer.ResumePositions(scope("resume=" + url.QueryEscape(bad))); !errors.Is(err, consumer.ErrBadResume) {
			t.Errorf("ResumePositions(%s) = %v, %v; want ErrBadResume", bad, got, err)
		}
	}
	if _, err := consumer.ResumePositions(scope("resume=%7B&resume=%7B")); !errors.Is(err, consumer.ErrBadResume) {
		t.Errorf("two resume parameters: %v", err)
	}
}

// TestResumeBadRefusedWith400 runs a real server: a bad resume parameter refuses the
// handshake with HTTP 400 and a body that says what is wrong.
func TestResumeBadRefusedWith400(t *testing.T) {
	l := historyLayer(t, 10)
	logger, _ := newLogger()
	base := serveReal(t, consumer.JSONWebsocket[feed](consumer.WithLayer(l), consumer.WithLogger(logger)), logger)
	resp, body := handshakeStatus(t, testCtx(t), base+"/room/x/?resume="+url.QueryEscape(`{"feed.main":{"offset":"x"}}`))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bad resume parameter") {
		t.Fatalf("answered %s %q, want 400 naming the bad resume parameter", resp.Status, body)
	}
}

func TestPositionFrame(t *testing.T) {
	msg := channels.Message{"type": "m", layers.GroupKey: "g", layers.OffsetKey: uint64(3), layers.EpochKey: "e"}
	frame := consumer.AddPosition(map[string]any{"x": 1}, msg)
	b, _ := json.Marshal(frame)
	if string(b) != `{"pos":{"epoch":"e","offset":3,"stream":"g"},"x":1}` {
		t.Fatalf("frame %s", b)
	}
	if frame := consumer.AddPosition(map[string]any{"x": 1}, channels.Message{"type": "m"}); len(frame) != 1 {
		t.Fatalf("a message without position added %v", frame)
	}
}

// FuzzResumePositions: any query string gives positions or an error wrapping ErrBadResume,
// never a panic.
func FuzzResumePositions(f *testing.F) {
	f.Add("resume=" + url.QueryEscape(`{"g":{"offset":1,"epoch":"e"}}`))
	f.Add("resume=%7B%22g%22%3A1%7D")
	f.Add("resume=&resume=")
	f.Add("x=%zz&resume=%7B")
	f.Fuzz(func(t *testing.T, q string) {
		got, err := consumer.ResumePositions(&channels.Scope{Type: channels.ScopeWebsocket, QueryString: q})
		if err != nil {
			if !errors.Is(err, consumer.ErrBadResume) {
				t.Fatalf("error %v does not wrap ErrBadResume", err)
			}
			return
		}
		for g, p := range got {
			if layers.ValidateGroupName(g) != nil || (p.Offset > 0 && p.Epoch == "") {
				t.Fatalf("accepted %q: %+v", g, p)
			}
		}
	})
}
