package multichat

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/examples/internal/browsertest"
)

// recordFrames makes the page's next sockets keep the framework frames they receive
// ({"gochannels": ...}) in window.__frames, and marks the page (window.__sameDocument) so that
// a reload shows.
const recordFrames = `(() => {
  const O = WebSocket;
  window.__frames = [];
  window.__sameDocument = true;
  const W = function (u, p) {
    const s = p === undefined ? new O(u) : new O(u, p);
    s.addEventListener('message', e => { if (String(e.data).includes('"gochannels"')) window.__frames.push(JSON.parse(e.data)); });
    return s;
  };
  W.prototype = O.prototype;
  W.CONNECTING = O.CONNECTING; W.OPEN = O.OPEN; W.CLOSING = O.CLOSING; W.CLOSED = O.CLOSED;
  window.WebSocket = W;
  return true;
})()`

// catchUpBodies is a JS expression: the texts of the open room's messages that start with
// "catch-up", in page order.
const catchUpBodies = `[...document.querySelectorAll('#messages .msg .body')].map(e => e.textContent).filter(s => s.startsWith('catch-up'))`

// TestBrowserCatchUpAfterReconnect: alice's page shows who is online; her server goes away
// (closing her socket) while bob, on another process sharing the layer and the database,
// keeps sending; when it is back her page rejoins the room since the last position it saw
// and shows every message exactly once, in order, without reloading.
func TestBrowserCatchUpAfterReconnect(t *testing.T) {
	execPath := browsertest.Chromium(t)
	layer := historyLayer(t)
	db := filepath.Join(t.TempDir(), "multichat.db")
	srv := startRestartable(t, layer, db)
	other := newTestApp(t, layer, db) // bob's process
	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	mustSignUp(t, alice, srv.base(), "alice")
	joinLobby(t, alice, "alice",
		browsertest.Poll(`document.getElementById('whocount').textContent === '1 online'`))

	bob := connectTab(t, other, mustUser(t, other, "bob"))
	bob.send(map[string]any{"command": "join", "room": "1"})
	bob.expect("bob's join reply", isJoin("1"))
	do(t, alice, "bob shows online", browsertest.Poll(`document.getElementById('whocount').textContent === '2 online'`))
	if l := js[[]string](t, alice, `[...document.querySelectorAll('#wholist li')].map(e => e.textContent)`); strings.Join(l, ",") != "alice,bob" {
		t.Errorf("who's online list %v, want alice,bob", l)
	}

	bobSends := func(text string) {
		t.Helper()
		bob.send(map[string]any{"command": "send", "room": "1", "message": text})
		bob.expect("echo of "+text, isText(text))
	}
	bobSends("catch-up 0")
	do(t, alice, "alice sees the first message", browsertest.Poll(hasMessage("catch-up 0")))
	js[bool](t, alice, recordFrames)

	srv.stop() // closes alice's socket (1001)
	do(t, alice, "alice's page is offline", browsertest.Poll(`document.body.dataset.status === 'offline'`))
	const missed = 6
	for i := 1; i <= missed; i++ {
		bobSends(fmt.Sprint("catch-up ", i))
	}
	srv.start()
	do(t, alice, "alice's page reconnects and catches up", browsertest.Poll(`document.body.dataset.status === 'online'`),
		browsertest.Poll(hasMessage(fmt.Sprint("catch-up ", missed))))
	bobSends("catch-up live")
	do(t, alice, "a live message after the catch-up", browsertest.Poll(hasMessage("catch-up live")))

	want := []string{"catch-up 0"}
	for i := 1; i <= missed; i++ {
		want = append(want, fmt.Sprint("catch-up ", i))
	}
	want = append(want, "catch-up live")
	if got := js[[]string](t, alice, catchUpBodies); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("alice's page shows %q, want each message once, in order: %q", got, want)
	}
	if !js[bool](t, alice, `window.__sameDocument === true`) {
		t.Error("the page reloaded to catch up")
	}
	frames := js[string](t, alice, `JSON.stringify(window.__frames)`)
	if !strings.Contains(frames, `"gochannels":"recovered"`) || !strings.Contains(frames, `"stream":"room-1"`) {
		t.Errorf("framework frames %s: want room-1 recovered", frames)
	}
}
