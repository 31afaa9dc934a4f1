package multichat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gochannels/gochannels/layers"
)

// restartable is one server process that a test can stop and start again on the same
// address (the page reconnects to it), sharing its layer and database across restarts.
type restartable struct {
	t      *testing.T
	layer  layers.Layer
	dbPath string
	addr   string
	app    *App
	done   chan error
}

func startRestartable(t *testing.T, layer layers.Layer, dbPath string) *restartable {
	t.Helper()
	s := &restartable{t: t, layer: layer, dbPath: dbPath, addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *restartable) base() string { return "http://" + s.addr }

func (s *restartable) start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	a, err := New(context.Background(), Config{DBPath: s.dbPath, Layer: s.layer, Worker: true, BcryptCost: 4, Logger: quietLogger()})
	if err != nil {
		ln.Close()
		s.t.Fatal(err)
	}
	s.addr, s.app, s.done = ln.Addr().String(), a, make(chan error, 1)
	go func() { s.done <- a.Serve(ln) }()
}

func (s *restartable) stop() {
	if s.app == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.app.Shutdown(ctx); err != nil {
		s.t.Error(err)
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.t.Error(err)
	}
	s.app = nil
}

// screenshotDir is $MULTICHAT_SCREENSHOTS (created) or a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// js evaluates expr in the page.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// stepTimeout bounds one step of the newer browser tests, leaving time to say what the page
// showed when a step hangs; like browsertest.Timeout it only stops a hung test.
const stepTimeout = 90 * time.Second

// do runs actions, failing the test with what on error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		// What the page showed, to tell why.
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pageState))
		t.Fatalf("%s: %v\npage: %s", what, err, state)
	}
}

// bubble is a JS expression for the message bubble holding exactly text.
func bubble(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages .msg')].find(e => e.querySelector('.body').textContent === %s)`, strconv.Quote(text))
}

// acked is a JS predicate: text's bubble is delivered (no longer pending or failed, with an id).
func acked(text string) string {
	return fmt.Sprintf(`(() => { const b = %s; return !!b && !b.classList.contains('pending') && !b.classList.contains('failed') && b.dataset.id !== ''; })()`, bubble(text))
}

// failed is a JS predicate: text's bubble is marked not sent, with Retry and Edit.
func failed(text string) string {
	return fmt.Sprintf(`(() => { const b = %s; return !!b && b.classList.contains('failed') && !!b.querySelector('button.retry') && !!b.querySelector('button.edit'); })()`, bubble(text))
}

// clickRetry clicks the Retry button of text's failed bubble.
func clickRetry(text string) string {
	return fmt.Sprintf(`(() => { const b = %s; b.querySelector('button.retry').click(); return true; })()`, bubble(text))
}

// typeAndEnter types text in the message box and presses Enter (the keyboard's way to send).
func typeAndEnter(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Focus("#text"),
		chromedp.SendKeys("#text", text),
		chromedp.KeyEvent("\r"),
	)
}

// a11yProblems is a JS expression listing, as strings, accessibility faults the test can
// check without axe-core: buttons and fields without a name, text below WCAG AA contrast
// against its background, and focusable elements without a visible focus style.
const a11yProblems = `(() => {
  const out = [];
  const visible = e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden';
  for (const b of document.querySelectorAll('button')) {
    if (!visible(b)) continue;
    const name = (b.getAttribute('aria-label') || b.textContent || '').trim();
    if (!name) out.push('button without a name: ' + b.outerHTML.slice(0, 80));
  }
  for (const f of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
    if (!visible(f)) continue;
    if (!(f.labels && f.labels.length) && !f.getAttribute('aria-label') && !f.getAttribute('aria-labelledby'))
      out.push('field without a label: ' + f.outerHTML.slice(0, 80));
  }
  const rgb = s => { const m = s.match(/[\d.]+/g) || []; return m.map(Number); };
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const blend = (top, under) => { const a = top.length > 3 ? top[3] : 1; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)); };
  const bgOf = e => {
    const layers = [];
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length > 3 && c[3] === 0) continue;
      layers.push(c);
      if (c.length === 3 || c[3] === 1) break;
    }
    let base = [255, 255, 255];
    for (let i = layers.length - 1; i >= 0; i--) base = blend(layers[i], base);
    return base;
  };
  for (const e of document.querySelectorAll('body *')) {
    if (!visible(e)) continue;
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const st = getComputedStyle(e);
    if (parseFloat(st.opacity) < 1 || e.closest('.pending')) continue; // a pending bubble is dimmed on purpose, briefly
    const bg = bgOf(e), fg = blend(rgb(st.color), bg);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) out.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': ' + e.tagName + '.' + e.className + ' "' + e.textContent.trim().slice(0, 30) + '"');
  }
  return out;
})()`

// checkA11y fails t with every problem a11yProblems finds on the page.
func checkA11y(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if p := js[[]string](t, ctx, a11yProblems); len(p) > 0 {
		t.Errorf("%s: accessibility problems:\n  %s", where, strings.Join(p, "\n  "))
	}
}

// activeID is a JS expression naming the focused element: its id, else its data-room, else
// its tag and class.
const activeID = `(() => { const a = document.activeElement; if (!a) return ''; return a.id || (a.dataset && a.dataset.room ? 'room-' + a.dataset.room : a.tagName.toLowerCase() + '.' + a.className); })()`

// pageState is a JS expression summing up the page for a failure message.
const pageState = `JSON.stringify({status: document.getElementById('status') && document.getElementById('status').textContent,
  toast: document.getElementById('toast') && document.getElementById('toast').textContent,
  note: document.getElementById('composer-note') && document.getElementById('composer-note').textContent,
  box: document.getElementById('text') && document.getElementById('text').value.slice(0, 80),
  title: document.getElementById('roomtitle') && document.getElementById('roomtitle').textContent,
  empty: document.getElementById('empty') && !document.getElementById('empty').hidden && document.getElementById('empty').textContent,
  rooms: [...document.querySelectorAll('#rooms button')].map(b => b.closest('ul').id + ':' + b.getAttribute('aria-label')),
  composer: document.getElementById('composer') && !document.getElementById('composer').hidden,
  last: [...document.querySelectorAll('#messages .msg')].slice(-3).map(b => b.className + ' ' + b.textContent.slice(0, 80))})`
