package multichat

import (
	"strings"
	"testing"
	"time"
)

// TestSendAcknowledgedByClientID: a send with a client_id comes back to the socket that sent
// it carrying that client_id (its acknowledgement), and to every other socket without it; a
// retry with the same client_id gets the same message id.
func TestSendAcknowledgedByClientID(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	alice, bob := mustUser(t, a, "alice"), mustUser(t, a, "bob")
	ta1, ta2, tb := connect(t, a, alice), connect(t, a, alice), connect(t, a, bob)
	ta1.send(map[string]any{"command": "join", "room": "1"})
	ta1.expect("join reply", isJoin("1"))
	ta2.expect("join followed", isJoin("1"))
	tb.send(map[string]any{"command": "join", "room": "1"})
	tb.expect("join reply", isJoin("1"))

	ta1.send(map[string]any{"command": "send", "room": "1", "message": "hi", "client_id": "c-1"})
	ack := ta1.expect("the acknowledgement", isMsg(MsgTypeMessage, "1", "alice"))
	if ack["client_id"] != "c-1" || ack["message"] != "hi" {
		t.Fatalf("acknowledgement %v: want client_id c-1", ack)
	}
	for name, x := range map[string]*tab{"alice's other tab": ta2, "bob": tb} {
		ev := x.expect("the message", isMsg(MsgTypeMessage, "1", "alice"))
		if _, ok := ev["client_id"]; ok {
			t.Errorf("%s got the sender's client_id: %v", name, ev)
		}
		if ev["id"] != ack["id"] {
			t.Errorf("%s: id %v, the sender's %v", name, ev["id"], ack["id"])
		}
	}

	// The same client_id again (a retry after a lost acknowledgement): the same message id.
	ta1.send(map[string]any{"command": "send", "room": "1", "message": "hi", "client_id": "c-1"})
	again := ta1.expect("the retry's acknowledgement", isMsg(MsgTypeMessage, "1", "alice"))
	if again["id"] != ack["id"] {
		t.Errorf("retry id %v, first %v: a retry must keep its id", again["id"], ack["id"])
	}
	// Another user's identical client_id is another message.
	tb.send(map[string]any{"command": "send", "room": "1", "message": "hi", "client_id": "c-1"})
	other := tb.expect("bob's acknowledgement", func(ev map[string]any) bool { return ev["client_id"] == "c-1" })
	if other["id"] == ack["id"] {
		t.Errorf("two users' messages share id %v", ack["id"])
	}
	waitCount(t, a.store, 1, 2) // alice's (once) and bob's
}

// TestErrorsCarryClientIDAndRetryAfter: every error answering a command with a client_id
// carries it; RATE_LIMITED says when to try again; a bad client_id is BAD_COMMAND.
func TestErrorsCarryClientIDAndRetryAfter(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	u := mustUser(t, a, "alice")
	ta := connect(t, a, u)
	ta.send(map[string]any{"command": "send", "room": "2", "message": "x", "client_id": "not-joined"})
	if ev := ta.expect("access denied", isError(ErrCodeRoomAccessDenied)); ev["client_id"] != "not-joined" {
		t.Errorf("error %v: want client_id not-joined", ev)
	}
	ta.send(map[string]any{"command": "join", "room": "2"})
	ta.expect("join reply", isJoin("2"))
	ta.send(map[string]any{"command": "send", "room": "2", "message": strings.Repeat("x", MaxMessageRunes+1), "client_id": "long"})
	if ev := ta.expect("too long", isError(ErrCodeMessageTooLong)); ev["client_id"] != "long" {
		t.Errorf("error %v: want client_id long", ev)
	}
	for _, bad := range []any{"", strings.Repeat("a", MaxClientIDLen+1), "has space", 12, "é"} {
		ta.send(map[string]any{"command": "send", "room": "2", "message": "x", "client_id": bad})
		ev := ta.expect("bad client_id", func(ev map[string]any) bool { return ev["error"] != nil })
		if ev["error"] != ErrCodeBadCommand {
			t.Errorf("client_id %#v: %v, want BAD_COMMAND", bad, ev)
		}
	}
	ta.send(map[string]any{"command": "send", "room": "2", "message": "ok", "client_id": strings.Repeat("a", MaxClientIDLen)})
	ta.expect("longest client_id accepted", func(ev map[string]any) bool { return ev["message"] == "ok" })

	for i := 0; i < RateBurst+5; i++ {
		ta.send(map[string]any{"command": "send", "room": "2", "message": "flood", "client_id": "f-" + string(rune('a'+i))})
	}
	ev := ta.expect("rate limit", isError(ErrCodeRateLimited))
	ra, _ := ev["retry_after"].(float64)
	if ra <= 0 || ra > 1 {
		t.Errorf("rate limit error %v: want 0 < retry_after <= 1 s", ev)
	}
	if cid, _ := ev["client_id"].(string); !strings.HasPrefix(cid, "f-") {
		t.Errorf("rate limit error %v: want the command's client_id", ev)
	}
	if msg, _ := ev["message"].(string); strings.Contains(msg, ":") {
		t.Errorf("rate limit message %q has an internal prefix", msg)
	}
}

// TestPing: a ping comes back through the channel layer as {"pong": true} with its client_id.
func TestPing(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), "")
	ta := connect(t, a, mustUser(t, a, "alice"))
	ta.send(map[string]any{"command": "ping", "client_id": "p1"})
	ev := ta.expect("pong", func(ev map[string]any) bool { return ev["pong"] == true })
	if ev["client_id"] != "p1" {
		t.Errorf("pong %v: want client_id p1", ev)
	}
}

func TestTokenBucketWait(t *testing.T) {
	now := time.Now()
	b := tokenBucket{rate: 10, burst: 1, tokens: 1, last: now}
	if !b.take(now) || b.take(now) {
		t.Fatal("burst of 1")
	}
	if w := b.wait(); w <= 0 || w > 100*time.Millisecond {
		t.Fatalf("wait %v, want (0, 100ms]", w)
	}
	if w := retryAfter(b.wait()); w <= 0 || w > 0.1 {
		t.Fatalf("retryAfter %v", w)
	}
}
