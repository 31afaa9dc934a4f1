package multichat

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/layers"
)

// testTimeout is the safety net of every wait in these tests.
const testTimeout = 60 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestApp returns an App on a fresh database in t's temp dir, with the background
// consumer running, closed when t ends.
func newTestApp(t *testing.T, layer layers.Layer, dbPath string) *App {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "multichat.db")
	}
	a, err := New(context.Background(), Config{DBPath: dbPath, Layer: layer, Worker: true, BcryptCost: 4, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func memoryLayer(t *testing.T) layers.Layer {
	t.Helper()
	l, err := layers.Open(context.Background(), "memory://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustUser(t *testing.T, a *App, name string) *User {
	t.Helper()
	u, err := a.store.CreateUser(context.Background(), name, "password-"+name, false)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// tab is one connected chat socket of a user.
type tab struct {
	t *testing.T
	c *channelstest.WebsocketCommunicator
}

func connect(t *testing.T, a *App, u *User) *tab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := channelstest.NewWebsocketCommunicator(a.socketApp(), SocketPath,
		channelstest.WithScope(func(s *channels.Scope) { auth.SetUser(s, u) }))
	res, err := c.Connect(ctx)
	if err != nil || !res.Accepted {
		t.Fatalf("connect %s: accepted=%v err=%v", u.Name, res.Accepted, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = c.Disconnect(ctx, channels.CloseNormal)
		_ = c.Wait(ctx)
	})
	return &tab{t: t, c: c}
}

func (tb *tab) send(v any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := tb.c.SendJSON(ctx, v); err != nil {
		tb.t.Fatal(err)
	}
}

// expect reads events until one satisfies match, and returns it.
func (tb *tab) expect(what string, match func(map[string]any) bool) map[string]any {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var seen []string
	for {
		var ev map[string]any
		if err := tb.c.ReceiveJSON(ctx, &ev); err != nil {
			tb.t.Fatalf("waiting for %s: %v (seen: %s)", what, err, strings.Join(seen, " "))
		}
		if match(ev) {
			return ev
		}
		b, _ := json.Marshal(ev)
		seen = append(seen, string(b))
	}
}

func isJoin(room string) func(map[string]any) bool {
	return func(ev map[string]any) bool { return ev["join"] == room }
}

func isError(code string) func(map[string]any) bool {
	return func(ev map[string]any) bool { return ev["error"] == code }
}

func isMsg(typ float64, room, user string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		return ev["msg_type"] == typ && ev["room"] == room && ev["username"] == user
	}
}

func TestProtocolJoinSendLeave(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	alice, bob := mustUser(t, a, "alice"), mustUser(t, a, "bob")
	ta, tb := connect(t, a, alice), connect(t, a, bob)

	ta.send(map[string]any{"command": "join", "room": "1"})
	j := ta.expect("join reply", isJoin("1"))
	if j["title"] != "Lobby" {
		t.Errorf("join reply %v: want title Lobby", j)
	}
	tb.send(map[string]any{"command": "join", "room": "1"})
	tb.expect("join reply", isJoin("1"))
	ta.expect("bob's entered notice", isMsg(MsgTypeEnter, "1", "bob"))

	tb.send(map[string]any{"command": "send", "room": "1", "message": "<b>hi</b> & welcome"})
	for _, x := range []*tab{ta, tb} {
		ev := x.expect("bob's message", isMsg(MsgTypeMessage, "1", "bob"))
		if ev["message"] != "<b>hi</b> & welcome" || ev["id"] == "" || ev["ts"] == nil {
			t.Errorf("message event %v", ev)
		}
	}

	tb.send(map[string]any{"command": "leave", "room": "1"})
	tb.expect("leave reply", func(ev map[string]any) bool { return ev["leave"] == "1" })
	ta.expect("bob's left notice", isMsg(MsgTypeLeave, "1", "bob"))

	// After leaving, bob may not send to the room.
	tb.send(map[string]any{"command": "send", "room": "1", "message": "still here?"})
	tb.expect("access denied", isError(ErrCodeRoomAccessDenied))
}

func TestProtocolErrors(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	mustUser(t, a, "alice") // first account: staff
	bob := mustUser(t, a, "bob")
	tb := connect(t, a, bob)

	cases := []struct {
		name string
		cmd  map[string]any
		code string
	}{
		{"unknown room", map[string]any{"command": "join", "room": "999"}, ErrCodeRoomInvalid},
		{"room not a number", map[string]any{"command": "join", "room": "lobby"}, ErrCodeRoomInvalid},
		{"no room", map[string]any{"command": "join"}, ErrCodeRoomInvalid},
		{"staff-only room", map[string]any{"command": "join", "room": "3"}, ErrCodeRoomAccessDenied},
		{"send without join", map[string]any{"command": "send", "room": "2", "message": "x"}, ErrCodeRoomAccessDenied},
		{"unknown command", map[string]any{"command": "dance"}, ErrCodeBadCommand},
	}
	for _, c := range cases {
		tb.send(c.cmd)
		ev := tb.expect(c.name, func(ev map[string]any) bool { return ev["error"] != nil })
		if ev["error"] != c.code {
			t.Errorf("%s: got %v, want error %s", c.name, ev, c.code)
		}
	}

	tb.send(map[string]any{"command": "join", "room": 2}) // a number is accepted too
	tb.expect("join reply", isJoin("2"))
	tb.send(map[string]any{"command": "send", "room": "2", "message": strings.Repeat("é", MaxMessageRunes+1)})
	tb.expect("too long", isError(ErrCodeMessageTooLong))
	tb.send(map[string]any{"command": "send", "room": "2", "message": "   "})
	tb.expect("empty", isError(ErrCodeMessageEmpty))
	tb.send(map[string]any{"command": "send", "room": "2", "message": strings.Repeat("é", MaxMessageRunes)})
	tb.expect("longest message", isMsg(MsgTypeMessage, "2", "bob"))

	// Not JSON closes the socket (the consumer's default policy), and nothing else.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := tb.c.SendText(ctx, "{not json"); err != nil {
		t.Fatal(err)
	}
	out, err := tb.c.ReceiveOutput(ctx)
	if err != nil || out.Type() != channels.TypeWebsocketClose {
		t.Fatalf("after bad JSON: %v %v, want a close", out, err)
	}
}

func TestStaffOnlyRoom(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	alice := mustUser(t, a, "alice")
	if !alice.Staff {
		t.Fatal("the first account is not staff")
	}
	ta := connect(t, a, alice)
	ta.send(map[string]any{"command": "join", "room": "3"})
	if j := ta.expect("join reply", isJoin("3")); j["staff_only"] != true {
		t.Errorf("join reply %v: want staff_only true", j)
	}
}

func TestRateLimit(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	u := mustUser(t, a, "alice")
	ta := connect(t, a, u)
	ta.send(map[string]any{"command": "join", "room": "1"})
	ta.expect("join reply", isJoin("1"))
	for i := 0; i < RateBurst+10; i++ {
		ta.send(map[string]any{"command": "send", "room": "1", "message": "flood"})
	}
	ev := ta.expect("rate limit error", isError(ErrCodeRateLimited))
	if msg, _ := ev["message"].(string); msg == "" {
		t.Errorf("rate limit error %v has no readable message", ev)
	}
}

func TestTokenBucket(t *testing.T) {
	now := time.Now()
	b := tokenBucket{rate: 10, burst: 20, tokens: 20, last: now}
	n := 0
	for b.take(now) {
		n++
	}
	if n != 20 {
		t.Fatalf("burst: took %d, want 20", n)
	}
	if !b.take(now.Add(100 * time.Millisecond)) {
		t.Fatal("no token after 100ms at 10/s")
	}
	if b.take(now.Add(100 * time.Millisecond)) {
		t.Fatal("two tokens after 100ms at 10/s")
	}
}

// waitCount waits until room holds n stored messages.
func waitCount(t *testing.T, s *Store, room int64, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		got, err := s.CountMessages(context.Background(), room)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %d holds %d messages, want %d", room, got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHistoryOnJoin(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	alice, bob := mustUser(t, a, "alice"), mustUser(t, a, "bob")
	ta := connect(t, a, alice)
	ta.send(map[string]any{"command": "join", "room": "2"})
	ta.expect("join reply", isJoin("2"))
	for _, m := range []string{"one", "two", "three"} {
		ta.send(map[string]any{"command": "send", "room": "2", "message": m})
		ta.expect("echo", func(ev map[string]any) bool { return ev["message"] == m })
	}
	waitCount(t, a.store, 2, 3) // stored by the background consumer

	tb := connect(t, a, bob)
	tb.send(map[string]any{"command": "join", "room": "2"})
	j := tb.expect("join reply", isJoin("2"))
	hist, _ := j["history"].([]any)
	var got []string
	for _, h := range hist {
		m := h.(map[string]any)
		if m["username"] != "alice" || m["room"] != "2" || m["msg_type"] != float64(0) {
			t.Errorf("history entry %v", m)
		}
		got = append(got, m["message"].(string))
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Errorf("history %v, want one,two,three", got)
	}
}

func TestHistoryKeepsLast50(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	ctx := context.Background()
	for i := 0; i < HistoryLen+5; i++ {
		if err := a.store.SaveMessage(ctx, ChatLine{MsgID: newMsgID(), RoomID: 1, UserID: 1, Username: "x", Text: "m", TS: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := a.store.History(ctx, 1, HistoryLen)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != HistoryLen || h[0].TS != 5 || h[len(h)-1].TS != HistoryLen+4 {
		t.Fatalf("history: %d entries from ts %d to %d", len(h), h[0].TS, h[len(h)-1].TS)
	}
}

func TestMultiTab(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	alice := mustUser(t, a, "alice")
	t1, t2 := connect(t, a, alice), connect(t, a, alice)

	// A join in one tab joins the room in the other.
	t1.send(map[string]any{"command": "join", "room": "2"})
	t1.expect("join reply", isJoin("2"))
	t2.expect("join followed", isJoin("2"))

	t1.send(map[string]any{"command": "send", "room": "2", "message": "from tab 1"})
	t2.expect("message in tab 2", func(ev map[string]any) bool { return ev["message"] == "from tab 1" })

	// A new tab gets the user's rooms back without asking.
	t3 := connect(t, a, alice)
	t3.expect("restored room", isJoin("2"))

	// A leave in one tab leaves everywhere.
	t2.send(map[string]any{"command": "leave", "room": "2"})
	for _, x := range []*tab{t1, t2, t3} {
		x.expect("leave", func(ev map[string]any) bool { return ev["leave"] == "2" })
	}
	// And a fresh tab no longer restores it.
	t4 := connect(t, a, alice)
	if !t4.c.ReceiveNothing(context.Background(), 200*time.Millisecond) {
		var ev map[string]any
		_ = t4.c.ReceiveJSON(context.Background(), &ev)
		t.Errorf("new tab after leave got %v", ev)
	}
}

func TestAnonymousSocketRefused(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, origin := range []string{"http://localhost:8000", "http://evil.example"} {
		c := channelstest.NewWebsocketCommunicator(a.Application(), SocketPath, channelstest.WithHeader("Origin", origin))
		res, err := c.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted {
			t.Errorf("origin %s: anonymous socket accepted", origin)
		}
		if err := c.Wait(ctx); err != nil {
			t.Error(err)
		}
	}
}
