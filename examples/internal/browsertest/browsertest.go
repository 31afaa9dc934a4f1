// Package browsertest starts the headless Chromium of the examples' browser tests (chromedp):
// Chromium finds the browser, skipping the test without it (failing it under CI=true,
// redistest.SkipOrFail); Start runs one browser with a fresh profile for a test; Poll waits
// for a JavaScript predicate on the page.
package browsertest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gochannels/gochannels/internal/redistest"
)

// Timeout bounds one browser test. It only stops a hung test: every step waits for what it
// needs on the page, however long a loaded machine takes.
const Timeout = 3 * time.Minute

// Chromium returns the path of Chromium, skipping the test without it (failing it when
// CI=true).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	redistest.SkipOrFail(t, "chromium not found; install it (apt-get install -y chromium) to run the browser test")
	return ""
}

// Start starts one headless Chromium (execPath) with a fresh profile and returns a tab
// context, closed when t ends. A width and height other than zero set the window and the
// viewport to that size; zero keeps Chromium's default.
func Start(t testing.TB, parent context.Context, execPath string, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	var first []chromedp.Action[chromedp.Void]
	if width != 0 || height != 0 {
		opts = append(opts, chromedp.WindowSize(width, height))
		first = append(first, chromedp.EmulateViewport(int64(width), int64(height)))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, first...); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Poll waits until the JavaScript predicate expr holds on the page; only the context's
// deadline (the test's) bounds it.
func Poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(0))
}
