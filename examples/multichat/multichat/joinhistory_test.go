package multichat

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// joinHistory joins room 1 from a new tab of u and returns the texts of the join reply's
// history, oldest first.
func joinHistory(t *testing.T, a *App, u *User) []string {
	t.Helper()
	tt := connectTab(t, a, u)
	tt.send(map[string]any{"command": "join", "room": "1"})
	j := tt.expect("join reply", isJoin("1"))
	if _, ok := j["pos"].(map[string]any); !ok {
		t.Errorf("join reply without a position: %v", j)
	}
	var got []string
	for _, h := range j["history"].([]any) {
		got = append(got, h.(map[string]any)["message"].(string))
	}
	closeTab(tt)
	return got
}

// TestJoinHistoryFromTheLayer: a join reply's recent messages come from the framework's
// history of the room's group; the archive fills in only the older part when that history
// holds fewer than HistoryLen messages, each message once.
func TestJoinHistoryFromTheLayer(t *testing.T) {
	a := newTestApp(t, historyLayer(t), "")
	ctx := context.Background()
	alice := mustUser(t, a, "alice")

	// Older messages only in the archive (as after a Redis restart without persistence).
	for i := range 3 {
		line := ChatLine{MsgID: fmt.Sprint("old", i), RoomID: 1, UserID: 1, Username: "x", Text: fmt.Sprint("old", i), TS: int64(i + 1)}
		if err := a.store.SaveMessage(ctx, line); err != nil {
			t.Fatal(err)
		}
	}
	// A message sent to the group and archived: once in the reply.
	// One sent to the group only (the archive has not stored it yet): from the layer.
	for i, text := range []string{"both", "layer only"} {
		msg := channels.Message{"type": typeChatMessage, "room": "1", "username": "bob", "message": text, "id": "n" + fmt.Sprint(i), "ts": 100 + i}
		if text == "both" {
			if err := a.store.SaveMessage(ctx, ChatLine{MsgID: "n0", RoomID: 1, UserID: 2, Username: "bob", Text: text, TS: 100}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.layer.GroupSend(ctx, RoomGroup("1"), msg); err != nil {
			t.Fatal(err)
		}
	}
	// A notice in the group is not a message of the history.
	if err := a.layer.GroupSend(ctx, RoomGroup("1"), channels.Message{"type": typeChatLeave, "room": "1", "username": "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(joinHistory(t, a, alice), ","); got != "old0,old1,old2,both,layer only" {
		t.Errorf("history %q, want the archive's older lines then the layer's, each once", got)
	}

	// With HistoryLen messages in the layer's history, the archive is not needed.
	for i := range HistoryLen {
		msg := channels.Message{"type": typeChatMessage, "room": "1", "username": "bob", "message": fmt.Sprint("new", i), "id": fmt.Sprint("new", i), "ts": 1000 + i}
		if err := a.layer.GroupSend(ctx, RoomGroup("1"), msg); err != nil {
			t.Fatal(err)
		}
	}
	got := joinHistory(t, a, alice)
	if len(got) != HistoryLen || got[0] != "new0" || got[HistoryLen-1] != fmt.Sprint("new", HistoryLen-1) {
		t.Errorf("history %q, want the layer's last %d", got, HistoryLen)
	}
}
