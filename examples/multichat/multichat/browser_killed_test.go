package multichat

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/examples/internal/browsertest"
	"github.com/gochannels/gochannels/internal/redistest"
)

// sendFromPage sends text from the page's message box (as Enter does) and waits until the
// server has acknowledged it: each message waits for the one before, which paces them.
func sendFromPage(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	do(t, ctx, "send "+text, browsertest.Poll(fmt.Sprintf(`(() => {
  const box = document.getElementById('text');
  box.value = %s;
  box.dispatchEvent(new Event('input'));
  document.getElementById('composer').requestSubmit();
  return true;
})()`, strconv.Quote(text))), browsertest.Poll(acked(text)))
}

// bodiesWithPrefix is a JS expression: the texts of the open room's messages that start
// with prefix, in page order.
func bodiesWithPrefix(prefix string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages .msg .body')].map(e => e.textContent).filter(s => s.startsWith(%s))`, strconv.Quote(prefix))
}

// TestBrowserServerKilled: alice and bob chat in one room, each on a server process of their
// own sharing Redis and the database. Alice's server is killed with SIGKILL (no drain, no
// close frame) while bob keeps sending, and started again on the same port; her page
// reconnects by itself, resumes the room from the last position it saw, and ends with every
// message of bob exactly once, in order, without reloading.
func TestBrowserServerKilled(t *testing.T) {
	execPath := browsertest.Chromium(t)
	srv := redistest.StartPrivate(t)
	layerURL := redisLayerURL(srv)
	db := filepath.Join(t.TempDir(), "multichat.db")
	procB := startChild(t, "-layer", layerURL, "-db", db)                  // bob's, with the history worker
	procA := startChild(t, "-layer", layerURL, "-db", db, "-worker=false") // alice's, killed below

	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	bob := browsertest.Start(t, ctx, execPath, 1280, 800)
	mustSignUp(t, alice, procA.base(), "alice")
	mustSignUp(t, bob, procB.base(), "bob")
	joinLobby(t, alice, "alice")
	joinLobby(t, bob, "bob")
	for _, p := range []context.Context{alice, bob} {
		do(t, p, "both are online in the room, across processes", browsertest.Poll(`document.getElementById('whocount').textContent === '2 online'`))
	}

	n := 0
	bobSends := func(count int) {
		t.Helper()
		for range count {
			n++
			sendFromPage(t, bob, fmt.Sprint("kill ", n))
		}
	}
	bobSends(3)
	do(t, alice, "alice sees bob's first messages", browsertest.Poll(hasMessage("kill 3")))
	js[bool](t, alice, recordFrames) // also marks the document: a reload would show

	procA.kill(t)
	do(t, alice, "alice's page is offline", browsertest.Poll(`document.body.dataset.status === 'offline'`))
	bobSends(5) // while alice's server is gone
	startChild(t, "-addr", procA.Addr, "-layer", layerURL, "-db", db, "-worker=false")
	bobSends(3) // while alice's page waits to reconnect, or reconnects
	do(t, alice, "alice's page reconnects by itself", browsertest.Poll(`document.body.dataset.status === 'online'`))
	bobSends(3) // live again
	do(t, alice, "alice sees the last message", browsertest.Poll(hasMessage(fmt.Sprint("kill ", n))))

	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprint("kill ", i))
	}
	if got := js[[]string](t, alice, bodiesWithPrefix("kill ")); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("alice's page shows %q, want each of bob's messages once, in order: %q", got, want)
	}
	if !js[bool](t, alice, `window.__sameDocument === true`) {
		t.Error("alice's page reloaded")
	}
	frames := js[string](t, alice, `JSON.stringify(window.__frames)`)
	if !strings.Contains(frames, `"gochannels":"recovered"`) || !strings.Contains(frames, `"stream":"room-1"`) {
		t.Errorf("framework frames %s: want room-1 recovered", frames)
	}
}
