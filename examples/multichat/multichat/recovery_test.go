package multichat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

func historyLayer(t *testing.T) layers.Layer {
	t.Helper()
	l, err := layers.Open(context.Background(), WithRoomHistory("memory://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// since reads the "pos" of a frame as a join command's since.
func since(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	p, ok := ev["pos"].(map[string]any)
	if !ok || p["stream"] != "room-1" || p["epoch"] == "" {
		t.Fatalf("frame %v: want a pos of stream room-1", ev)
	}
	return map[string]any{"offset": p["offset"], "epoch": p["epoch"]}
}

func isText(text string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		return ev["msg_type"] == float64(MsgTypeMessage) && ev["message"] == text
	}
}

func TestWithRoomHistory(t *testing.T) {
	for in, want := range map[string]string{
		"memory://":                    "memory://?history=room-*:100:3600",
		"memory://?history=x:1:0":      "memory://?history=x:1:0",
		"redis://localhost:6379/0":     "redis://localhost:6379/0?history=room-*:100:3600",
		"redis+pubsub://localhost:1/0": "redis+pubsub://localhost:1/0",
		"memory://?capacity=10":        "memory://?capacity=10&history=room-*:100:3600",
		"redis-pubsub://localhost:1/0": "redis-pubsub://localhost:1/0",
	} {
		if got := WithRoomHistory(in); got != want {
			t.Errorf("WithRoomHistory(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestResumeReplaysMissed: alice's socket goes away while bob keeps sending; her page
// reconnects with the last position it saw in room 1 as ?resume=, and the server restores the
// room since then. She gets exactly the missed messages, in order, then "recovered", then a
// resumed join reply, and the following live messages once each.
func TestResumeReplaysMissed(t *testing.T) {
	a := newTestApp(t, historyLayer(t), "")
	alice, bob := mustUser(t, a, "alice"), mustUser(t, a, "bob")
	ta, tb := connectTab(t, a, alice), connectTab(t, a, bob)
	ta.send(map[string]any{"command": "join", "room": "1"})
	ta.expect("join reply", isJoin("1"))
	tb.send(map[string]any{"command": "join", "room": "1"})
	tb.expect("join reply", isJoin("1"))

	tb.send(map[string]any{"command": "send", "room": "1", "message": "m0"})
	last := since(t, ta.expect("m0", isText("m0")))
	tb.expect("m0 echo", isText("m0"))

	closeTab(ta)
	tb.expect("alice's socket left", isPresence("leave", "1", "alice"))
	const missed = 5
	for i := 1; i <= missed; i++ {
		tb.send(map[string]any{"command": "send", "room": "1", "message": fmt.Sprint("m", i)})
		tb.expect("echo", isText(fmt.Sprint("m", i)))
	}

	resume, err := json.Marshal(map[string]any{"room-1": last})
	if err != nil {
		t.Fatal(err)
	}
	ta = connectTab(t, a, alice, channelstest.WithQueryString(consumer.ResumeParam+"="+url.QueryEscape(string(resume))))
	var got []string
	var recovered map[string]any
	ta.expect("recovered", func(ev map[string]any) bool {
		if ev["join"] != nil {
			t.Fatalf("join reply %v before the recovery frame", ev)
		}
		if ev["msg_type"] == float64(MsgTypeMessage) {
			got = append(got, ev["message"].(string))
			since(t, ev)
		}
		if ev["gochannels"] != nil {
			recovered = ev
			return true
		}
		return false
	})
	if recovered["gochannels"] != "recovered" || recovered["stream"] != "room-1" {
		t.Fatalf("recovery frame %v: want recovered for room-1", recovered)
	}
	if fmt.Sprint(got) != "[m1 m2 m3 m4 m5]" {
		t.Fatalf("replayed %v, want [m1 m2 m3 m4 m5]", got)
	}
	j := ta.expect("resumed join reply", isJoin("1"))
	if j["resumed"] != true || j["history"] != nil {
		t.Errorf("join reply %v: want resumed, without archive history", j)
	}

	tb.send(map[string]any{"command": "send", "room": "1", "message": "m6"})
	ta.expect("m6 live", func(ev map[string]any) bool {
		if ev["msg_type"] == float64(MsgTypeMessage) && ev["message"] != "m6" {
			t.Fatalf("message %v again after the replay", ev["message"])
		}
		return isText("m6")(ev)
	})
}

// TestJoinSinceUnrecoverable: a join command with a position of another epoch (the layer
// restarted) gets "unrecoverable", then the usual join reply with the archive's recent
// messages.
func TestJoinSinceUnrecoverable(t *testing.T) {
	a := newTestApp(t, historyLayer(t), "")
	alice := mustUser(t, a, "alice")
	ta := connectTab(t, a, alice)
	ta.send(map[string]any{"command": "join", "room": "1", "since": map[string]any{"offset": 7, "epoch": "gone"}})
	ev := ta.expect("unrecoverable", func(ev map[string]any) bool { return ev["gochannels"] != nil })
	if ev["gochannels"] != "unrecoverable" || ev["reason"] != layers.ReasonEpoch {
		t.Fatalf("recovery frame %v: want unrecoverable, reason epoch", ev)
	}
	j := ta.expect("join reply", isJoin("1"))
	if _, ok := j["history"].([]any); !ok || j["resumed"] != nil {
		t.Errorf("join reply %v: want the archive history, not resumed", j)
	}

	ta.send(map[string]any{"command": "join", "room": "1", "since": map[string]any{"offset": 3}})
	ta.expect("bad since refused", isError(ErrCodeBadCommand))
}

// TestResumeReplayCarriesOwnClientID: a message whose acknowledgement was lost with the
// socket comes back, replayed after the reconnect, with its client_id, so that the page
// matches it with the bubble it shows as not sent; others' messages come without theirs.
func TestResumeReplayCarriesOwnClientID(t *testing.T) {
	a := newTestApp(t, historyLayer(t), "")
	alice, bob := mustUser(t, a, "alice"), mustUser(t, a, "bob")
	ta, tb := connectTab(t, a, alice), connectTab(t, a, bob)
	ta.send(map[string]any{"command": "join", "room": "1"})
	last := since(t, ta.expect("join reply", isJoin("1")))
	tb.send(map[string]any{"command": "join", "room": "1"})
	tb.expect("join reply", isJoin("1"))

	ta.send(map[string]any{"command": "send", "room": "1", "message": "mine", "client_id": "c-7"})
	ta.expect("the acknowledgement (lost, as far as the page knows)", isText("mine"))
	tb.send(map[string]any{"command": "send", "room": "1", "message": "bob's", "client_id": "c-8"})
	tb.expect("bob's acknowledgement", isText("bob's"))
	closeTab(ta)

	resume, err := json.Marshal(map[string]any{"room-1": last})
	if err != nil {
		t.Fatal(err)
	}
	ta = connectTab(t, a, alice, channelstest.WithQueryString(consumer.ResumeParam+"="+url.QueryEscape(string(resume))))
	if ev := ta.expect("alice's message replayed", isText("mine")); ev["client_id"] != "c-7" {
		t.Errorf("replayed %v: want alice's client_id c-7", ev)
	}
	if ev := ta.expect("bob's message replayed", isText("bob's")); ev["client_id"] != nil {
		t.Errorf("replayed %v: bob's client_id reached alice", ev)
	}
	ta.expect("recovered", func(ev map[string]any) bool { return ev["gochannels"] == "recovered" })
	// Live again: another socket's message has no client_id for this one, even alice's own.
	tb.send(map[string]any{"command": "send", "room": "1", "message": "live", "client_id": "c-9"})
	if ev := ta.expect("live", isText("live")); ev["client_id"] != nil {
		t.Errorf("live %v: carries another socket's client_id", ev)
	}
}
