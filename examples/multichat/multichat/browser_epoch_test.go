package multichat

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gochannels/gochannels/examples/internal/browsertest"
	"github.com/gochannels/gochannels/internal/redistest"
)

// recordJoins makes the page count the join replies of room 1 that bring the archive's
// messages (window.__archiveJoins), as they reach the page's listeners (gochannels.js hands
// the page its frames as "message" events; the socket is already open, so patching the
// WebSocket constructor would not see them), and marks the page (window.__sameDocument).
const recordJoins = `(() => {
  window.__archiveJoins = 0;
  window.__sameDocument = true;
  const orig = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function (e) {
    const d = e.type === 'message' && e.detail && e.detail.data;
    if (d && d.join === '1' && Array.isArray(d.history)) window.__archiveJoins++;
    return orig.call(this, e);
  };
  return true;
})()`

// lostNotice is a JS predicate: the open room says that messages could not be restored.
const lostNotice = `[...document.querySelectorAll('#messages .notice .text')].some(e => e.textContent.includes('could not be restored'))`

// TestBrowserEpochChange: Redis is restarted without persistence under a room with history:
// its stream and epoch are gone. Alice's page, whose socket may stay open through it, sees
// the room's next event in another epoch, says in the room that messages could not be
// restored, and reloads the room from the archive (a join reply with history; the messages it
// had stay, once each); the room keeps working.
func TestBrowserEpochChange(t *testing.T) {
	execPath := browsertest.Chromium(t)
	srv := redistest.StartPrivate(t)
	p := startProcess(t, WithRoomHistory(redisLayerURL(srv))+"&send_timeout=0.3", filepath.Join(t.TempDir(), "multichat.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	mustSignUp(t, alice, p.base, "alice")
	joinLobby(t, alice, "alice")
	bob := connectTab(t, p.app, mustUser(t, p.app, "bob"))
	bob.send(map[string]any{"command": "join", "room": "1"})
	bob.expect("bob's join reply", isJoin("1"))
	for _, text := range []string{"epoch 1", "epoch 2"} {
		sendFromPage(t, alice, text)
		bob.expect("alice's "+text, isText(text))
	}
	waitCount(t, p.app.store, 1, 2) // in the archive
	js[bool](t, alice, recordJoins)

	srv.Restart() // SIGKILL, then a fresh redis-server on the same port: no data
	// Bob sends until his message goes through the new Redis and reaches alice's page
	// (UNAVAILABLE while the layer reconnects and puts its channels back into the groups).
	deadline := time.Now().Add(testTimeout)
	for i := 1; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no message of bob's reached alice's page after the restart")
		}
		text := fmt.Sprint("after the restart ", i)
		bob.send(map[string]any{"command": "send", "room": "1", "message": text})
		bob.expect("an answer to "+text, func(ev map[string]any) bool {
			return isText(text)(ev) || isError(ErrCodeUnavailable)(ev) || isError(ErrCodeRateLimited)(ev)
		})
		// A short look at the page (which also paces bob's sends below the rate limit).
		look, cancel := context.WithTimeout(alice, 500*time.Millisecond)
		err := chromedp.Do(look, browsertest.Poll(lostNotice))
		cancel()
		if err == nil {
			break
		}
	}
	do(t, alice, "the page says so and reloads the room", browsertest.Poll(lostNotice), browsertest.Poll(`window.__archiveJoins > 0`))
	if got := js[[]string](t, alice, bodiesWithPrefix("epoch ")); strings.Join(got, "|") != "epoch 1|epoch 2" {
		t.Errorf("after the reload alice's page shows %q, want the room's messages once each", got)
	}
	if !js[bool](t, alice, `window.__sameDocument === true`) {
		t.Error("the whole page reloaded")
	}
	// The room keeps working, both ways.
	sendFromPage(t, alice, "epoch 3")
	bob.expect("alice's message after the reload", isText("epoch 3"))
	bob.send(map[string]any{"command": "send", "room": "1", "message": "epoch 4"})
	do(t, alice, "bob's message after the reload", browsertest.Poll(hasMessage("epoch 4")))
	if n := js[int](t, alice, `[...document.querySelectorAll('#messages .notice .text')].filter(e => e.textContent.includes('could not be restored')).length`); n != 1 {
		t.Errorf("the room says %d times that messages could not be restored, want once", n)
	}
}
