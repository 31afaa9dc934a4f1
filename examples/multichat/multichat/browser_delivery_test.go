package multichat

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gochannels/gochannels/examples/internal/browsertest"
	"github.com/gochannels/gochannels/internal/redistest"
)

// closeOnNextSend makes the page's socket close instead of carrying its next "send" command:
// the connection drops in the middle of sending.
const closeOnNextSend = `(() => {
  const orig = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    if (String(d).includes('"command":"send"')) { WebSocket.prototype.send = orig; this.close(); return; }
    return orig.call(this, d);
  };
  return true;
})()`

// dropNextSend makes the page's next "send" command vanish on the way, the socket staying
// open: no acknowledgement ever comes.
const dropNextSend = `(() => {
  const orig = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    if (String(d).includes('"command":"send"')) { WebSocket.prototype.send = orig; return; }
    return orig.call(this, d);
  };
  return true;
})()`

// TestBrowserDeliveryFailedAndRetry: a message is pending until the server acknowledges it;
// when the socket closes before that, or no acknowledgement comes, it is marked not sent with
// Retry and Edit, and Retry delivers it; too-long and rate-limited messages keep their text.
func TestBrowserDeliveryFailedAndRetry(t *testing.T) {
	execPath := browsertest.Chromium(t)
	dir := screenshotDir(t)
	srv := startRestartable(t, memoryLayer(t), filepath.Join(t.TempDir(), "multichat.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	mustSignUp(t, alice, srv.base(), "alice")
	bob := newBrowserish(t, srv.base())
	bob.signup("bob")
	wb, err := bob.dial("http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	wb.send(map[string]any{"command": "join", "room": "1"})
	wb.expect("bob's join", isJoin("1"))
	bobGets := func(text string) {
		t.Helper()
		wb.expect("bob receives "+text[:min(len(text), 20)], func(ev map[string]any) bool { return ev["message"] == text })
	}

	do(t, alice, "alice joins the Lobby",
		chromedp.Click(chromedp.CSS(`#rooms button[data-room="1"]`)),
		chromedp.WaitVisible("#composer"),
		browsertest.Poll(`document.activeElement.id === "text"`)) // joining puts the cursor in the box
	do(t, alice, "a message is delivered", typeAndEnter("first"), browsertest.Poll(acked("first")))
	if v := js[string](t, alice, `document.getElementById('text').value`); v != "" {
		t.Errorf("after a delivered message the box holds %q", v)
	}
	bobGets("first")

	// The socket closes in the middle of sending: not sent, kept, and Retry delivers it.
	js[bool](t, alice, closeOnNextSend)
	do(t, alice, "the message fails with the socket", typeAndEnter("lost with the socket"), browsertest.Poll(failed("lost with the socket")))
	if r := js[string](t, alice, bubble("lost with the socket")+`.querySelector('.reason').textContent`); !strings.Contains(r, "connection closed") {
		t.Errorf("failed bubble says %q, want why (the connection closed)", r)
	}
	screenshot(t, alice, dir, "delivery-failed-desktop")
	do(t, alice, "the page reconnects", browsertest.Poll(`document.body.dataset.status === "online"`))
	js[bool](t, alice, clickRetry("lost with the socket"))
	do(t, alice, "Retry delivers it", browsertest.Poll(acked("lost with the socket")))
	bobGets("lost with the socket")

	// No acknowledgement within the page's timeout: not sent; Retry delivers it.
	js[bool](t, alice, dropNextSend)
	do(t, alice, "an unanswered message fails", typeAndEnter("no answer"), browsertest.Poll(failed("no answer")))
	if r := js[string](t, alice, bubble("no answer")+`.querySelector('.reason').textContent`); !strings.Contains(r, "No answer") {
		t.Errorf("failed bubble says %q, want no answer", r)
	}
	js[bool](t, alice, clickRetry("no answer"))
	do(t, alice, "Retry delivers it", browsertest.Poll(acked("no answer")))
	bobGets("no answer")

	// Edit puts a failed message back in the box; Enter sends it.
	js[bool](t, alice, closeOnNextSend)
	do(t, alice, "a message fails", typeAndEnter("edit me"), browsertest.Poll(failed("edit me")),
		browsertest.Poll(`document.body.dataset.status === "online"`))
	js[bool](t, alice, bubble("edit me")+`.querySelector('button.edit').click() || true`)
	if v := js[string](t, alice, `document.getElementById('text').value`); v != "edit me" {
		t.Fatalf("Edit put %q in the box, want %q", v, "edit me")
	}
	do(t, alice, "the edited message is delivered", chromedp.Focus("#text"), chromedp.KeyEvent("\r"), browsertest.Poll(acked("edit me")))
	bobGets("edit me")

	// Rate limited: 45 messages at once; those refused are kept — the first back in the
	// box, the others marked not sent — and the page says when sending works again.
	js[bool](t, alice, `(() => { const t = document.getElementById('text'), f = document.getElementById('composer');
	  for (let i = 0; i < 45; i++) { t.value = 'flood ' + i; f.requestSubmit(); } return true; })()`)
	do(t, alice, "every flood message is answered",
		browsertest.Poll(`[...document.querySelectorAll('#messages .msg.pending')].length === 0 && /^flood \d+$/.test(document.getElementById('text').value)`))
	counts := js[map[string]int](t, alice, `(() => {
	  const c = {acked: 0, failed: 0, box: 0, dup: 0}, seen = new Set();
	  for (const b of document.querySelectorAll('#messages .msg')) {
	    const t = b.querySelector('.body').textContent;
	    if (!t.startsWith('flood ')) continue;
	    if (seen.has(t)) c.dup++;
	    seen.add(t);
	    if (b.classList.contains('failed')) c.failed++; else if (b.dataset.id) c.acked++;
	  }
	  const v = document.getElementById('text').value;
	  if (v.startsWith('flood ')) { c.box++; if (seen.has(v)) c.dup++; }
	  return c;
	})()`)
	if counts["acked"]+counts["failed"]+counts["box"] != 45 || counts["dup"] != 0 || counts["box"] != 1 || counts["failed"]+counts["box"] == 0 {
		t.Errorf("45 messages at once: %v; want each one delivered, kept as not sent, or back in the box, once", counts)
	}
	if n := js[string](t, alice, `document.getElementById('composer-note').textContent`); !strings.Contains(n, "send again") {
		t.Errorf("rate limited: the note says %q, want when the user can send again", n)
	}
	screenshot(t, alice, dir, "delivery-rate-limited-desktop")
	kept := js[string](t, alice, `document.getElementById('text').value`)
	do(t, alice, "the kept message is sent with Enter once allowed",
		browsertest.Poll(`!document.getElementById('composer-note').textContent.includes('send again in')`),
		chromedp.Focus("#text"), chromedp.KeyEvent("\r"), browsertest.Poll(acked(kept)))

	// Too long: a counter, no silent cut, and refused without sending; the text stays.
	if js[bool](t, alice, `document.getElementById('text').hasAttribute('maxlength')`) {
		t.Error("the message box cuts text silently (maxlength)")
	}
	long := strings.Repeat("y", MaxMessageRunes+1)
	js[bool](t, alice, `(() => { const t = document.getElementById('text'); t.focus(); t.select(); document.execCommand('insertText', false, 'y'.repeat(2001)); return true; })()`)
	do(t, alice, "the counter shows the excess", browsertest.Poll(`!document.getElementById('counter').hidden && document.getElementById('counter').textContent.startsWith('1 character too many')`))
	do(t, alice, "Enter refuses", chromedp.KeyEvent("\r"), browsertest.Poll(`document.getElementById('composer-note').textContent.includes('at most 2,000 characters')`))
	if v := js[string](t, alice, `document.getElementById('text').value`); v != long {
		t.Errorf("after refusing a long message the box holds %d characters, want %d", len(v), len(long))
	}
	if js[bool](t, alice, `!!`+bubble(long)) {
		t.Error("a message over the limit was sent")
	}
	screenshot(t, alice, dir, "delivery-too-long-desktop")
	do(t, alice, "2,000 characters are sent", chromedp.KeyEvent("\b"),
		browsertest.Poll(`document.getElementById('counter').textContent === '0 left'`),
		chromedp.KeyEvent("\r"), browsertest.Poll(acked(long[1:])))
	bobGets(long[1:])
	checkA11y(t, alice, "delivery page")
}

// TestBrowserDeliveryRedisOutage: Redis is killed under two processes. A message typed then
// is marked not sent (the server answered UNAVAILABLE for it) and kept; the other user's page
// says the server is busy instead of "online"; after the restart Retry delivers the message
// and both pages say online.
func TestBrowserDeliveryRedisOutage(t *testing.T) {
	execPath := browsertest.Chromium(t)
	dir := screenshotDir(t)
	srv := redistest.StartPrivate(t)
	p1, p2 := startTwoProcesses(t, redisLayerURL(srv)+"&send_timeout=0.3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	bob := browsertest.Start(t, ctx, execPath, 390, 844)
	mustSignUp(t, alice, p1.base, "alice")
	mustSignUp(t, bob, p2.base, "bob")
	do(t, alice, "alice joins", chromedp.Click(chromedp.CSS(`#rooms button[data-room="1"]`)), chromedp.WaitVisible("#composer"))
	do(t, bob, "bob joins", browsertest.Poll(drawerOpen), chromedp.Click(chromedp.CSS(`#rooms button[data-room="1"]`)), chromedp.WaitVisible("#composer"))
	do(t, alice, "alice says hello", typeAndEnter("before the outage"), browsertest.Poll(acked("before the outage")))
	do(t, bob, "bob hears it", browsertest.Poll(hasMessage("before the outage")))

	srv.Kill()
	do(t, alice, "a message during the outage is not sent",
		typeAndEnter("during the outage"), browsertest.Poll(failed("during the outage")),
		browsertest.Poll(`document.body.dataset.status === "busy"`))
	if r := js[string](t, alice, bubble("during the outage")+`.querySelector('.reason').textContent`); !strings.Contains(r, "busy") || strings.Contains(r, ":") && !strings.HasPrefix(r, "Not sent:") {
		t.Errorf("failed bubble says %q", r)
	}
	// Bob's page checks when it gets focus (and every little while): the server cannot
	// carry messages, so it is not "online".
	js[bool](t, bob, `window.dispatchEvent(new Event('focus')) || true`)
	do(t, bob, "bob's page shows the outage", browsertest.Poll(`document.body.dataset.status === "busy"`))
	if s := js[string](t, bob, `document.getElementById('status').textContent`); !strings.Contains(s, "busy") {
		t.Errorf("bob's status during the outage: %q", s)
	}
	screenshot(t, alice, dir, "outage-desktop")
	screenshot(t, bob, dir, "outage-phone")

	srv.Restart()
	// Retry until the layers are back (UNAVAILABLE again meanwhile is a fair answer: group
	// sends wait for every process to rejoin its groups, longer than this test's send
	// timeout). Like a person, retry once the page says it is online again (its ping went
	// through the layer), so that retries never come faster than the rate limit allows.
	for !js[bool](t, alice, acked("during the outage")) {
		do(t, alice, "alice's page sees the layer back", browsertest.Poll(`document.body.dataset.status === "online" || `+acked("during the outage")))
		do(t, alice, "retry is answered", browsertest.Poll(`(() => { const b = `+bubble("during the outage")+`; return !b.classList.contains('pending'); })()`))
		if js[bool](t, alice, failed("during the outage")) {
			js[bool](t, alice, clickRetry("during the outage"))
		}
	}
	do(t, alice, "alice's page is online again", browsertest.Poll(`document.body.dataset.status === "online"`))
	do(t, bob, "bob's page is online again", browsertest.Poll(`document.body.dataset.status === "online"`))
}
