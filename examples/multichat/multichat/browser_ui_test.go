package multichat

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gochannels/gochannels/examples/internal/browsertest"
)

const (
	// emptyCentred is a JS predicate: the empty state is shown, in place of the messages,
	// with its text centred in the pane.
	emptyCentred = `(() => {
	  const e = document.getElementById('empty'), p = document.getElementById('empty-text');
	  if (e.hidden || !document.getElementById('messages').hidden) return false;
	  const a = e.getBoundingClientRect(), b = p.getBoundingClientRect();
	  return a.height > 200 && Math.abs((a.top + a.bottom) / 2 - (b.top + b.bottom) / 2) < 8 && Math.abs((a.left + a.right) / 2 - (b.left + b.right) / 2) < 8;
	})()`
	emptyText   = `document.getElementById('empty-text').textContent`
	statusText  = `document.getElementById('status').textContent`
	focusInside = `document.getElementById('sidebar').contains(document.activeElement)`
	drawerShut  = `!document.body.classList.contains('menu-open') && document.getElementById('scrim').hidden && !document.getElementById('top').inert && !document.getElementById('main').inert`
)

// TestBrowserUI walks the chat page at desktop (1280x800) and phone (390x844) sizes: true,
// centred empty states; joined and other rooms apart, with unread counts; the phone's drawer
// (scrim, outside tap, Escape, focus kept inside); keyboard-only use; names, labels and
// contrast; and the connection state with a live countdown and Retry now.
func TestBrowserUI(t *testing.T) {
	execPath := browsertest.Chromium(t)
	dir := screenshotDir(t)
	srv := startRestartable(t, memoryLayer(t), filepath.Join(t.TempDir(), "multichat.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1280, 800)
	bob := browsertest.Start(t, ctx, execPath, 390, 844)
	mustSignUp(t, alice, srv.base(), "alice")
	do(t, bob, "the log-in page", chromedp.Navigate(srv.base()+"/"), chromedp.WaitVisible("#signup-username"))
	checkA11y(t, bob, "phone, log-in page")
	mustSignUp(t, bob, srv.base(), "bob")

	// Desktop, no room open: the empty state says so, centred; no "No messages yet".
	do(t, alice, "the empty state", browsertest.Poll(emptyCentred))
	if s := js[string](t, alice, emptyText); !strings.Contains(s, "No room is open") {
		t.Errorf("empty state with no room open: %q", s)
	}
	if js[bool](t, alice, `!document.getElementById('joined-empty').hidden && document.querySelectorAll('#joined button').length === 0`) != true {
		t.Error("before joining, 'Your rooms' is not empty with its hint")
	}
	if l := js[string](t, alice, `document.querySelector('#others button[data-room="1"]').getAttribute('aria-label')`); l != "Join Lobby" {
		t.Errorf("the Lobby, not joined, is labelled %q", l)
	}
	checkA11y(t, alice, "desktop, no room")
	screenshot(t, alice, dir, "ui-desktop-no-room")

	// Keyboard only: the skip link, then the header, then the rooms; focus is visible;
	// Enter joins a room and puts the cursor in the box; Enter sends.
	js[bool](t, alice, `document.activeElement.blur() || true`)
	var order []string
	for i := 0; i < 10 && (len(order) == 0 || order[len(order)-1] != "room-1"); i++ {
		do(t, alice, "Tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, js[string](t, alice, activeID))
		if !js[bool](t, alice, `(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()`) {
			t.Errorf("focus on %s is not visible", order[len(order)-1])
		}
	}
	if strings.Join(order, " ") != "a.skip logout room-1" {
		t.Errorf("tab order %v, want the skip link, Log out, then the first room", order)
	}
	do(t, alice, "Enter joins the Lobby", chromedp.KeyEvent("\r"), browsertest.Poll(`document.activeElement.id === 'text'`),
		chromedp.WaitVisible(`#joined button[data-room="1"]`))
	do(t, alice, "Enter sends", typeAndEnter("typed with the keyboard"), browsertest.Poll(acked("typed with the keyboard")))

	// Joined vs other rooms, and unread counts: alice joins Random and goes back to the Lobby;
	// bob (phone) writes in Random.
	do(t, alice, "alice joins Random", chromedp.Click(`#others button[data-room="2"]`), chromedp.WaitVisible(`#joined button[data-room="2"]`),
		chromedp.Click(`#joined button[data-room="1"]`), browsertest.Poll(`document.getElementById('roomtitle').textContent === 'Lobby'`))

	// Phone: a first visit with no room opens the drawer, with a scrim; Escape closes it.
	do(t, bob, "the drawer opens by itself, with a scrim", browsertest.Poll(drawerOpen),
		browsertest.Poll(`getComputedStyle(document.getElementById('scrim')).display === 'block' && !document.getElementById('scrim').hidden`))
	screenshot(t, bob, dir, "ui-phone-drawer")
	do(t, bob, "Escape closes the drawer", chromedp.KeyEvent(kb.Escape), browsertest.Poll(drawerShut))
	if s := js[string](t, bob, emptyText); !strings.Contains(s, "☰") {
		t.Errorf("phone empty state: %q, want a pointer to the room list", s)
	}
	do(t, bob, "the phone's empty state", browsertest.Poll(emptyCentred))
	// The ☰ button opens it with focus inside, and Tab and Shift+Tab stay inside.
	do(t, bob, "☰ opens the drawer", chromedp.Click("#menu"), browsertest.Poll(drawerOpen), browsertest.Poll(focusInside))
	if !js[bool](t, bob, `document.getElementById('menu').getAttribute('aria-expanded') === 'true' && document.getElementById('top').inert && document.getElementById('main').inert`) {
		t.Error("with the drawer open, the rest of the page is not inert or ☰ is not expanded")
	}
	for i := 0; i < 8; i++ {
		opt := []chromedp.KeyOption{}
		if i >= 5 {
			opt = append(opt, chromedp.KeyModifiers(chromedp.ModifierShift))
		}
		do(t, bob, "Tab in the drawer", chromedp.KeyEvent(kb.Tab, opt...))
		if !js[bool](t, bob, focusInside) {
			t.Fatalf("Tab %d left the open drawer for %s", i+1, js[string](t, bob, activeID))
		}
	}
	checkA11y(t, bob, "phone, drawer open")
	// A tap outside the drawer (on the scrim) closes it and gives focus back to ☰.
	do(t, bob, "a tap outside closes the drawer", chromedp.MouseClickXY(372, 500), browsertest.Poll(drawerShut), browsertest.Poll(`document.activeElement.id === 'menu'`))
	do(t, bob, "bob joins Random from the drawer", chromedp.Click("#menu"), browsertest.Poll(drawerOpen),
		chromedp.Click(`#others button[data-room="2"]`), browsertest.Poll(drawerShut), chromedp.WaitVisible("#composer"))
	do(t, bob, "bob writes in Random", typeAndEnter("news in Random"), browsertest.Poll(acked("news in Random")))
	do(t, alice, "alice sees Random's unread count", browsertest.Poll(`(() => { const u = document.querySelector('#joined button[data-room="2"] .unread'); return !!u && u.textContent === '1'; })()`))
	if l := js[string](t, alice, `document.querySelector('#joined button[data-room="2"]').getAttribute('aria-label')`); l != "Random, 1 unread message" {
		t.Errorf("Random with one unread message is labelled %q", l)
	}
	checkA11y(t, alice, "desktop, in a room")
	checkA11y(t, bob, "phone, in a room")
	screenshot(t, alice, dir, "ui-desktop-room")
	screenshot(t, bob, dir, "ui-phone-room")

	// Leaving a room: the header and the body agree that no room is open.
	do(t, alice, "alice leaves the Lobby", chromedp.Click("#leave"), browsertest.Poll(`document.getElementById('roomtitle').textContent === 'Pick a room'`), browsertest.Poll(emptyCentred),
		chromedp.WaitVisible(`#others button[data-room="1"]`))
	if s := js[string](t, alice, emptyText); strings.Contains(s, "No messages") {
		t.Errorf("after leaving, the body says %q", s)
	}
	// A room just joined shows its notices (or, with nothing at all, says it has no messages).
	do(t, alice, "alice opens the staff room", chromedp.Click(`#others button[data-room="3"]`), chromedp.WaitVisible("#composer"),
		browsertest.Poll(`document.getElementById('roomtitle').textContent === 'Staff only' && (document.querySelectorAll('#messages .notice').length > 0 || `+emptyCentred+`)`))
	if !js[bool](t, alice, `document.getElementById('messages').hidden || document.getElementById('empty').hidden`) {
		t.Error("an open room shows both its messages and the empty state")
	}

	// The server goes away: the page says offline (not online, not busy), counts down to its
	// next try, and Retry now reconnects at once once the server is back.
	srv.stop()
	retrying := regexp.MustCompile(`retrying in (\d+)s`)
	do(t, alice, "offline with a countdown of a few seconds", browsertest.Poll(`document.body.dataset.status === 'offline' && /retrying in ([2-9]|\d\d)s/.test(`+statusText+`)`))
	first, _ := strconv.Atoi(retrying.FindStringSubmatch(js[string](t, alice, statusText))[1])
	do(t, alice, "the countdown counts down", browsertest.Poll(`(() => { const m = /retrying in (\d+)s/.exec(`+statusText+`); return !!m && +m[1] < `+strconv.Itoa(first)+`; })()`))
	if s := js[string](t, alice, statusText); !strings.HasPrefix(s, "offline") || js[bool](t, alice, `document.getElementById('retrynow').hidden`) {
		t.Errorf("while the server is away: status %q, Retry now shown: %v", s, !js[bool](t, alice, `document.getElementById('retrynow').hidden`))
	}
	// A message typed while offline is not sent and stays in the box.
	do(t, alice, "Enter while offline keeps the text", typeAndEnter("typed while offline"),
		browsertest.Poll(`document.getElementById('composer-note').textContent.startsWith('Not connected')`))
	if v := js[string](t, alice, `document.getElementById('text').value`); v != "typed while offline" {
		t.Errorf("offline, the box holds %q after Enter", v)
	}
	screenshot(t, alice, dir, "ui-desktop-offline")
	// Retry now tries at once, without waiting for the countdown: with the server still away
	// that try fails and the page counts down again. (Clicked while the server is away, so
	// that the page cannot have reconnected by itself before the click on a slow machine.)
	do(t, alice, "Retry now tries at once", browsertest.Poll(`(() => { const b = document.getElementById('retrynow'); if (b.hidden) return false; b.click(); return document.body.dataset.status === 'connecting'; })()`),
		browsertest.Poll(`document.body.dataset.status === 'offline' && /retrying in \d+s/.test(`+statusText+`)`))
	srv.start()
	do(t, alice, "Retry now reconnects once the server is back", browsertest.Poll(`(() => { if (document.body.dataset.status === 'online') return true; const b = document.getElementById('retrynow'); if (!b.hidden) b.click(); return false; })()`))
	do(t, alice, "the kept text is sent once online", chromedp.Focus("#text"), chromedp.KeyEvent("\r"), browsertest.Poll(acked("typed while offline")))
	do(t, bob, "bob's page is back too", browsertest.Poll(`document.body.dataset.status === 'online'`))
}
