package multichat

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gochannels/gochannels/examples/internal/browsertest"
)

// loseAckOf makes the page's next sockets lose the acknowledgement of the message whose text
// is "ack lost": the socket closes as it arrives, before the page sees it (window.__lost).
const loseAckOf = `(() => {
  const d = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    configurable: true,
    get: d.get,
    set(fn) {
      d.set.call(this, fn && function (e) {
        const s = String(e.data);
        if (!window.__lost && s.includes('"client_id"') && s.includes('"message":"ack lost"')) {
          window.__lost = true;
          this.close();
          return;
        }
        return fn.call(this, e);
      });
    },
  });
  window.__sameDocument = true;
  return true;
})()`

// TestBrowserLostAckMerged: a message reaches the room but its acknowledgement is lost with
// the socket, so the page marks it not sent; after the reconnect the message is replayed with
// its client_id, and the page shows it once, delivered, instead of a "not sent" bubble beside
// the replayed copy.
func TestBrowserLostAckMerged(t *testing.T) {
	execPath := browsertest.Chromium(t)
	srv := startRestartable(t, historyLayer(t), filepath.Join(t.TempDir(), "multichat.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	mustSignUp(t, alice, srv.base(), "alice")
	joinLobby(t, alice, "alice")
	sendFromPage(t, alice, "before")
	js[bool](t, alice, loseAckOf)
	// A new socket, which has the patched handler.
	srv.stop()
	do(t, alice, "alice's page is offline", browsertest.Poll(`document.body.dataset.status === 'offline'`))
	srv.start()
	do(t, alice, "alice's page is back", browsertest.Poll(`document.body.dataset.status === 'online'`))

	do(t, alice, "the message is sent, its acknowledgement lost",
		typeAndEnter("ack lost"), browsertest.Poll(`window.__lost === true`))
	do(t, alice, "after the reconnect the replayed message is the sent one", browsertest.Poll(acked("ack lost")))
	if n := js[int](t, alice, `[...document.querySelectorAll('#messages .msg .body')].filter(e => e.textContent === 'ack lost').length`); n != 1 {
		t.Errorf("the page shows the message %d times, want once", n)
	}
	if !js[bool](t, alice, `window.__sameDocument === true`) {
		t.Error("the page reloaded")
	}
}
