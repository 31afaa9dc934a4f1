package multichat

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/internal/redistest"
)

// sameBrowser returns a client of base holding b's cookies: another tab of the same browser,
// on another process.
func (b *browserish) sameBrowser(base string) *browserish {
	other := newBrowserish(b.t, base)
	from, _ := url.Parse(b.base)
	to, _ := url.Parse(base)
	other.c.Jar.SetCookies(to, b.c.Jar.Cookies(from))
	return other
}

// expectClosed reads until the server's close frame and checks its code.
func (w *wsClient) expectClosed(code int) {
	w.t.Helper()
	w.conn.ExpectClosed(w.t, code, testTimeout)
}

// TestLogoutClosesOtherTabs: alice has a tab on each of two processes; logging out in one
// closes both with auth.CloseLoggedOut (4001), and what the closed tab sends afterwards
// never reaches the room.
func TestLogoutClosesOtherTabs(t *testing.T) {
	srv := redistest.Start(t)
	p1, p2 := startTwoProcesses(t, redisLayerURL(srv))
	alice, bob := aliceAndBob(t, p1, p2)
	tab1 := alice.mustDial("http://localhost")
	tab2 := alice.sameBrowser(p2.base).mustDial("http://localhost")
	wb := bob.mustDial("http://localhost")
	for _, w := range []*wsClient{tab1, tab2, wb} {
		w.join("1")
	}

	if st := alice.post("/logout", nil); st != http.StatusOK {
		t.Fatalf("logout: status %d", st)
	}
	tab1.expectClosed(auth.CloseLoggedOut)
	tab2.expectClosed(auth.CloseLoggedOut)

	// The second tab cannot post any more: its message never reaches bob, whose own
	// message comes through.
	_ = tab2.conn.SendText(`{"command": "send", "room": "1", "message": "after logout"}`) // the socket is closed; this may fail
	wb.send(map[string]any{"command": "send", "room": "1", "message": "still here"})
	ev := wb.expect("a message", func(ev map[string]any) bool { return ev["msg_type"] == float64(MsgTypeMessage) })
	if ev["username"] != "bob" || ev["message"] != "still here" {
		t.Fatalf("bob got %v after alice logged out", ev)
	}
}
