package multichat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gochannels/gochannels/examples/internal/browsertest"
	"github.com/gochannels/gochannels/internal/redistest"
)

// EnvScreenshots names a directory for the browser test's screenshots (t.TempDir() otherwise).
const envScreenshots = "MULTICHAT_SCREENSHOTS"

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// drawerOpen is a JS predicate: the phone's room list has finished sliding in (its transform
// is at rest, not in the middle of the transition).
const drawerOpen = `document.body.classList.contains("menu-open") && getComputedStyle(document.getElementById("sidebar")).transform === "none" && document.getElementById("sidebar").getAnimations().length === 0`

// hasMessage is a JS predicate: the open room shows a message with exactly this text.
func hasMessage(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages .msg .body')].some(e => e.textContent === %s)`, strconv.Quote(text))
}

func signUp(ctx context.Context, base, name string) error {
	pw := "password-" + name
	return chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#signup-username"),
		chromedp.SendKeys("#signup-username", name),
		chromedp.SendKeys("#signup-password", pw),
		chromedp.SendKeys("#signup-password2", pw),
		chromedp.Click("#signup-submit"),
		chromedp.WaitVisible(chromedp.CSS(`#rooms button[data-room="1"]`)),
		browsertest.Poll(`document.body.dataset.status === "online"`),
	)
}

// mustSignUp is signUp that fails the test on an error.
func mustSignUp(t *testing.T, ctx context.Context, base, name string) {
	t.Helper()
	if err := signUp(ctx, base, name); err != nil {
		t.Fatalf("%s signs up: %v", name, err)
	}
}

// clickLobby is a JS predicate that clicks the Lobby in the room list once it is there.
// Clicked from the page: the room list may be redrawn between finding the button and a click
// from outside.
const clickLobby = `(() => { const b = document.querySelector('#rooms button[data-room="1"]'); if (!b) return false; b.click(); return true; })()`

// joinLobby opens the Lobby on who's page, waits for its composer, then runs the further
// waits of more.
func joinLobby(t *testing.T, ctx context.Context, who string, more ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	do(t, ctx, who+" joins the Lobby", append([]chromedp.Action[chromedp.Void]{browsertest.Poll(clickLobby), chromedp.WaitVisible("#composer")}, more...)...)
}

func sendMessage(ctx context.Context, text string) error {
	return chromedp.Do(ctx,
		chromedp.SendKeys("#text", text),
		chromedp.Click("#send"),
		browsertest.Poll(hasMessage(text)),
	)
}

// TestBrowserTwoUsersTwoProcesses drives two headless Chromiums, one per server process, both
// processes sharing Redis and the database: sign up, join the Lobby, talk, reload for history.
func TestBrowserTwoUsersTwoProcesses(t *testing.T) {
	execPath := browsertest.Chromium(t)
	srv := redistest.Start(t)
	dir := screenshotDir(t)
	p1, p2 := startTwoProcesses(t, redisLayerURL(srv))

	ctx, cancel := context.WithTimeout(context.Background(), browsertest.Timeout)
	defer cancel()
	alice := browsertest.Start(t, ctx, execPath, 1200, 800) // a desktop
	bob := browsertest.Start(t, ctx, execPath, 390, 844)    // a phone

	if err := signUp(alice, p1.base, "alice"); err != nil {
		t.Fatalf("alice signs up on process 1: %v", err)
	}
	if err := chromedp.Do(bob, chromedp.Navigate(p2.base+"/"), chromedp.WaitVisible("#signup-username")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, bob, dir, "0-login-phone")
	if err := signUp(bob, p2.base, "bob"); err != nil {
		t.Fatalf("bob signs up on process 2: %v", err)
	}

	// Alice joins the Lobby from the sidebar; Bob from the phone menu.
	if err := chromedp.Do(alice,
		chromedp.Click(chromedp.CSS(`#rooms button[data-room="1"]`)),
		chromedp.WaitVisible("#composer"),
	); err != nil {
		t.Fatalf("alice joins: %v", err)
	}
	if err := chromedp.Do(bob,
		// A phone with no room open starts with the room list shown, sliding in.
		browsertest.Poll(drawerOpen),
		chromedp.Click(chromedp.CSS(`#rooms button[data-room="1"]`)),
		chromedp.WaitVisible("#composer"),
	); err != nil {
		t.Fatalf("bob joins: %v", err)
	}

	evil := `<img src=x onerror="document.body.dataset.pwned=1"> hi Bob`
	if err := sendMessage(alice, evil); err != nil {
		t.Fatalf("alice sends: %v", err)
	}
	if err := chromedp.Do(bob, browsertest.Poll(hasMessage(evil))); err != nil {
		t.Fatalf("bob (process 2) never saw alice's message (process 1): %v", err)
	}
	if err := sendMessage(bob, "hello Alice, from my phone"); err != nil {
		t.Fatalf("bob sends: %v", err)
	}
	if err := chromedp.Do(alice, browsertest.Poll(hasMessage("hello Alice, from my phone"))); err != nil {
		t.Fatalf("alice never saw bob's message: %v", err)
	}
	for name, c := range map[string]context.Context{"alice": alice, "bob": bob} {
		pwned, err := chromedp.Run(c, chromedp.Evaluate[bool](`document.body.dataset.pwned === "1" || document.querySelector('#messages img') !== null`))
		if err != nil || pwned {
			t.Errorf("%s's page ran or rendered user HTML (pwned=%v, err=%v)", name, pwned, err)
		}
	}
	// Alice (staff) creates a room: she lands in it, and Bob's list on the other process
	// shows it without a reload. The post redirects to /?room=<id>: RunResponse waits for
	// that page to load.
	if _, err := chromedp.RunResponse(alice,
		chromedp.SendKeys("#newroom-title", "Go fans"),
		chromedp.Click(chromedp.CSS("form.newroom button")),
	); err != nil {
		t.Fatalf("alice creates a room: %v", err)
	}
	if err := chromedp.Do(alice,
		browsertest.Poll(`document.querySelector("#roomtitle").textContent.includes("Go fans") && !document.querySelector("#composer").hidden && location.search === ""`),
	); err != nil {
		t.Fatalf("alice did not land in the room she created: %v", err)
	}
	if err := chromedp.Do(bob, browsertest.Poll(`[...document.querySelectorAll("#rooms button")].some(b => b.textContent.includes("Go fans"))`)); err != nil {
		t.Fatalf("bob's room list (process 2) never showed the new room: %v", err)
	}
	screenshot(t, alice, dir, "1-alice-desktop")
	screenshot(t, bob, dir, "2-bob-phone")

	// History is written by the background consumers; wait for both lines, then reload.
	waitCount(t, p1.app.store, 1, 2)
	if err := chromedp.Do(bob,
		chromedp.Reload(),
		browsertest.Poll(`document.body.dataset.status === "online"`),
		browsertest.Poll(hasMessage(evil)+" && "+hasMessage("hello Alice, from my phone")),
	); err != nil {
		t.Fatalf("bob's reload did not restore the room with its history: %v", err)
	}
	screenshot(t, bob, dir, "3-bob-phone-after-reload")
	if err := chromedp.Do(bob, chromedp.Click("#menu"), browsertest.Poll(drawerOpen)); err != nil {
		t.Fatalf("bob's menu did not open: %v", err)
	}
	screenshot(t, bob, dir, "4-bob-phone-menu")
}
