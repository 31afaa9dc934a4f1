package multichat

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
)

// connectTab is connect with more scope options (a query string); the tab can be closed
// before the test ends with closeTab.
func connectTab(t *testing.T, a *App, u *User, opts ...channelstest.Option) *tab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	opts = append([]channelstest.Option{channelstest.WithScope(func(s *channels.Scope) { auth.SetUser(s, u) })}, opts...)
	c := channelstest.NewWebsocketCommunicator(a.socketApp(), SocketPath, opts...)
	res, err := c.Connect(ctx)
	if err != nil || !res.Accepted {
		t.Fatalf("connect %s: accepted=%v err=%v", u.Name, res.Accepted, err)
	}
	tb := &tab{t: t, c: c}
	t.Cleanup(func() { closeTab(tb) })
	return tb
}

// closeTab closes the tab's socket as a browser would, and waits for its consumer to end.
func closeTab(tb *tab) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_ = tb.c.Disconnect(ctx, channels.CloseGoingAway)
	_ = tb.c.Wait(ctx)
}

// members reads a join reply's or who answer's members as user name → number of sockets.
func members(t *testing.T, ev map[string]any) map[string]int {
	t.Helper()
	list, ok := ev["members"].([]any)
	if !ok {
		t.Fatalf("no members in %v", ev)
	}
	out := map[string]int{}
	for _, x := range list {
		m := x.(map[string]any)
		out[m["name"].(string)] = len(m["sids"].([]any))
	}
	if n, _ := ev["member_count"].(float64); int(n) != len(out) {
		t.Errorf("member_count %v, want %d (%v)", ev["member_count"], len(out), ev)
	}
	return out
}

func isPresence(kind, room, name string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		return ev["presence"] == kind && ev["room"] == room && ev["name"] == name
	}
}

func isWho(room string) func(map[string]any) bool {
	return func(ev map[string]any) bool { return ev["who"] == room }
}

// TestPresenceAcrossProcesses: two Apps (two processes) on one layer and one database; the
// room's members are listed from either, one per user however many tabs they have, and
// joins and leaves reach the other process's pages.
func TestPresenceAcrossProcesses(t *testing.T) {
	layer := memoryLayer(t)
	db := filepath.Join(t.TempDir(), "multichat.db")
	a1 := newTestApp(t, layer, db)
	a2 := newTestApp(t, layer, db)
	alice, bob := mustUser(t, a1, "alice"), mustUser(t, a1, "bob")

	ta := connectTab(t, a1, alice)
	ta.send(map[string]any{"command": "join", "room": "1"})
	if got := members(t, ta.expect("alice's join reply", isJoin("1"))); len(got) != 1 || got["alice"] != 1 {
		t.Fatalf("members after alice joined: %v, want alice with 1 socket", got)
	}

	tb := connectTab(t, a2, bob)
	tb.send(map[string]any{"command": "join", "room": "1"})
	if got := members(t, tb.expect("bob's join reply", isJoin("1"))); len(got) != 2 || got["alice"] != 1 || got["bob"] != 1 {
		t.Fatalf("members seen by bob: %v, want alice and bob", got)
	}
	join := ta.expect("bob's presence join on the other process", isPresence("join", "1", "bob"))
	if join["user_id"] != bob.ID() || join["sid"] == "" {
		t.Errorf("presence join %v: want bob's user_id and a sid", join)
	}

	// A second tab of alice's, on the other process: restored into room 1 at connect.
	ta2 := connectTab(t, a2, alice)
	ta2.expect("room 1 restored", isJoin("1"))
	second := tb.expect("alice's second socket", isPresence("join", "1", "alice"))
	tb.send(map[string]any{"command": "who", "room": "1"})
	if got := members(t, tb.expect("who answer", isWho("1"))); len(got) != 2 || got["alice"] != 2 || got["bob"] != 1 {
		t.Fatalf("who with alice in two tabs: %v, want alice (2 sockets) and bob: one person each", got)
	}

	closeTab(ta2)
	left := tb.expect("alice's second socket leaves", isPresence("leave", "1", "alice"))
	if left["sid"] != second["sid"] {
		t.Errorf("leave sid %v, want the second socket's %v", left["sid"], second["sid"])
	}
	tb.send(map[string]any{"command": "who", "room": "1"})
	if got := members(t, tb.expect("who answer", isWho("1"))); got["alice"] != 1 || got["bob"] != 1 {
		t.Fatalf("who after alice closed a tab: %v, want alice (1 socket) and bob", got)
	}

	// who for a room the socket is not in is refused.
	tb.send(map[string]any{"command": "who", "room": "2"})
	tb.expect("who refused", isError(ErrCodeRoomAccessDenied))
}
