package jsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/internal/browsertest"
)

// stepTimeout bounds one wait of a step, so that a step that never comes fails with the
// page's event log while the browser is still there to give it. It is not a timing
// assertion: every step takes well under a second.
const stepTimeout = time.Minute

// tab is the loaded test page.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// wait waits for the predicate, failing the test with the page's event log when it does not
// come.
func (p tab) wait(what, expr string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		p.t.Fatalf("%s: waiting for %s: %v\nevents: %s", what, expr, err, p.str("JSON.stringify(window.log)"))
	}
}

// run evaluates a statement.
func (p tab) run(js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](js+"; undefined")); err != nil && err != chromedp.ErrJSUndefined {
		p.t.Fatalf("%s: %v", js, err)
	}
}

func (p tab) str(expr string) string {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return fmt.Sprintf("(%s: %v)", expr, err)
	}
	return s
}

// get decodes the JSON of a JS value into v.
func (p tab) get(expr string, v any) {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		p.t.Fatalf("%s = %s: %v", expr, s, err)
	}
}

func open(t *testing.T, ctx context.Context, base string) tab {
	t.Helper()
	p := tab{t, ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), browsertest.Poll(`window.ready === true`)); err != nil {
		t.Fatalf("load the test page: %v", err)
	}
	return p
}

type event struct {
	Type   string          `json:"type"`
	Detail json.RawMessage `json:"detail"`
}

type retrying struct {
	Delay   float64 `json:"delay"`
	Cap     float64 `json:"cap"`
	Attempt int     `json:"attempt"`
}

type sendResult struct {
	OK         bool     `json:"ok"`
	ID         string   `json:"id"`
	Code       string   `json:"code"`
	Message    string   `json:"message"`
	RetryAfter *float64 `json:"retryAfter"`
	Name       string   `json:"name"`
}

// TestBrowserClient drives gochannels.js in headless Chromium against a real server: acked
// sends (pending → acked, nack → failed with the server's code, close before the ack →
// failed), reconnect after the server closes the socket, backoff growing with jitter within
// its bounds while handshakes are refused, resume with the last position and the replay of
// the missed messages exactly once and in order, recovered and unrecoverable (epoch, gap)
// events, and no framework frame reaching the application.
func TestBrowserClient(t *testing.T) {
	execPath := browsertest.Chromium(t)
	base, h := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), browsertest.Timeout)
	defer cancel()
	p := open(t, browsertest.Start(t, ctx, execPath, 0, 0), base)

	const minDelay, maxDelay = 50, 400
	p.run(fmt.Sprintf(`make({minDelay: %d, maxDelay: %d, stableAfter: 300}).connect()`, minDelay, maxDelay))
	p.wait("first connect", `gc.state === "open"`)
	if r, n := h.lastResume(); n != 1 || r != "" {
		t.Fatalf("first connect: resume %q (connection %d), want none", r, n)
	}

	// pending → acked; the message comes back with its position.
	p.run(`sendAcked("a1", {say: "m1"})`)
	p.wait("ack", `results.a1 && results.a1.ok && gc.positions.room && gc.positions.room.offset === 1`)
	var sends []event
	p.get(`log.filter(e => e.type === "send")`, &sends)
	if len(sends) != 2 || string(sends[0].Detail) == string(sends[1].Detail) {
		t.Fatalf("send events: %+v, want pending then acked", sends)
	}
	var first, second struct{ ID, State string }
	_ = json.Unmarshal(sends[0].Detail, &first)
	_ = json.Unmarshal(sends[1].Detail, &second)
	if first.State != "pending" || second.State != "acked" || first.ID != second.ID || first.ID == "" {
		t.Fatalf("send events: %+v then %+v, want pending then acked, same id", first, second)
	}

	// nack → failed with the server's code, message and retry_after; the socket stays open.
	p.run(`sendAcked("n1", {refuse: true}); sendAcked("u1", {unavailable: true})`)
	p.wait("nacks", `results.n1 && results.u1`)
	var n1, u1 sendResult
	p.get(`results.n1`, &n1)
	p.get(`results.u1`, &u1)
	if n1.OK || n1.Name != "SendFailure" || n1.Code != "too_long" || n1.Message != "at most 10 characters" || n1.RetryAfter == nil || *n1.RetryAfter != 3 {
		t.Errorf("nack: %+v", n1)
	}
	if u1.OK || u1.Code != "unavailable" || u1.RetryAfter == nil || *u1.RetryAfter != 2 {
		t.Errorf("nack for ErrUnavailable: %+v", u1)
	}
	if s := p.str(`gc.state`); s != "open" {
		t.Fatalf("after the nacks: state %s, want open", s)
	}

	// Close before the ack → failed "closed"; the server then refuses handshakes while
	// messages are sent, so the client retries with growing caps.
	h.down.Store(true)
	p.run(`sendAcked("h1", {hold: true})`)
	p.wait("close before the ack", `results.h1 && results.h1.code === "closed"`)
	if err := h.appendText(ctx, "m2"); err != nil {
		t.Fatal(err)
	}
	if err := h.appendText(ctx, "m3"); err != nil {
		t.Fatal(err)
	}
	p.wait("six refused reconnects", `count("retrying") >= 6`)
	h.down.Store(false)
	p.wait("reconnect and recover", `count("recovered") === 1`)

	var retries []retrying
	p.get(`log.filter(e => e.type === "retrying").map(e => e.detail)`, &retries)
	jittered := 0 // delays well below their cap: all six at 0.9 cap or more has odds of 1e-6
	for i, r := range retries {
		want := float64(min(maxDelay, minDelay<<min(i, 20)))
		if r.Attempt != i || r.Cap != want || r.Delay < 0 || r.Delay >= r.Cap {
			t.Errorf("retry %d: %+v, want attempt %d, cap %v, delay in [0, cap)", i, r, i, want)
		}
		if r.Delay < 0.9*r.Cap {
			jittered++
		}
	}
	if jittered == 0 {
		t.Errorf("no jitter: %+v", retries)
	}
	raw, _ := h.lastResume()
	var resume map[string]resumePos
	if err := json.Unmarshal([]byte(raw), &resume); err != nil || resume[streamName] != (resumePos{Offset: 1, Epoch: "e1"}) {
		t.Fatalf("resume parameter %q (%v), want room at offset 1 of e1", raw, err)
	}
	var recovered struct {
		Stream   string
		Replayed int
		Pos      posJSON
	}
	p.get(`log.find(e => e.type === "recovered").detail`, &recovered)
	if recovered.Stream != streamName || recovered.Replayed != 2 || recovered.Pos.Offset != 3 {
		t.Errorf("recovered: %+v, want 2 replayed up to 3", recovered)
	}
	// The replayed messages come before the recovered event, once each and in order.
	var order []string
	p.get(`log.filter(e => e.type === "message" || e.type === "recovered").map(e => e.type === "message" ? e.detail.data.text : "recovered")`, &order)
	if fmt.Sprint(order) != "[m1 m2 m3 recovered]" {
		t.Errorf("messages and recovery: %v, want [m1 m2 m3 recovered]", order)
	}
	// The backoff starts again once the connection is stable.
	p.wait("attempts reset", `gc.attempt === 0`)

	// Live messages after the recovery, then a server restart (1012) that the client rides
	// out with nothing to replay.
	if err := h.appendText(ctx, "m4"); err != nil {
		t.Fatal(err)
	}
	p.wait("live message", `gc.positions.room.offset === 4`)
	if err := h.closeAll(ctx, channels.CloseServiceRestart, "restart"); err != nil {
		t.Fatal(err)
	}
	p.wait("reconnect after a server close", `count("recovered") === 2 && gc.state === "open"`)

	// Epoch change while the client is away: unrecoverable "epoch", and it adopts the new top.
	h.down.Store(true)
	if err := h.closeAll(ctx, channels.CloseServiceRestart, "restart"); err != nil {
		t.Fatal(err)
	}
	p.wait("retrying", `gc.state === "retrying"`)
	h.newEpoch()
	if err := h.appendText(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	h.down.Store(false)
	p.wait("unrecoverable epoch", `count("unrecoverable") === 1`)
	var unrec struct {
		Stream, Reason string
		Pos            posJSON
	}
	p.get(`log.filter(e => e.type === "unrecoverable")[0].detail`, &unrec)
	if unrec.Reason != "epoch" || unrec.Pos.Epoch != "e2" || unrec.Pos.Offset != 1 {
		t.Errorf("unrecoverable: %+v, want epoch, e2 at 1", unrec)
	}
	p.wait("the new position", `gc.positions.room.epoch === "e2" && gc.positions.room.offset === 1`)

	// A gap: messages the client missed are no longer kept.
	h.down.Store(true)
	if err := h.closeAll(ctx, channels.CloseServiceRestart, "restart"); err != nil {
		t.Fatal(err)
	}
	p.wait("retrying", `gc.state === "retrying"`)
	for i := range 5 {
		if err := h.appendText(ctx, fmt.Sprintf("g%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.trim(2)
	h.down.Store(false)
	p.wait("unrecoverable gap", `count("unrecoverable") === 2`)
	p.get(`log.filter(e => e.type === "unrecoverable")[1].detail`, &unrec)
	if unrec.Reason != "gap" || unrec.Pos.Offset != 6 {
		t.Errorf("unrecoverable: %+v, want gap at 6", unrec)
	}
	p.wait("the new position", `gc.positions.room.offset === 6`)

	// No framework frame reached the application: every message is a stream message.
	var msgs []map[string]any
	p.get(`msgs`, &msgs)
	for _, m := range msgs {
		if _, ok := m["gochannels"]; ok || m["pos"] == nil {
			t.Errorf("the application got %v", m)
		}
	}
	if n := p.str(`String(count("framework"))`); n != "0" {
		t.Errorf("%s unknown framework frames", n)
	}
}

// TestBrowserRetryNowAndPermanentClose: a send not acknowledged in time fails with
// "timeout"; a long backoff shows its countdown and retryNow() (or the browser going back
// online) skips it; a permanent close
// (4001) ends in "failed" without retrying, until retryNow(); a send on a closed client fails
// with "not_open"; which codes are permanent.
func TestBrowserRetryNowAndPermanentClose(t *testing.T) {
	execPath := browsertest.Chromium(t)
	base, h := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), browsertest.Timeout)
	defer cancel()
	p := open(t, browsertest.Start(t, ctx, execPath, 0, 0), base)

	p.run(`make({minDelay: 60000, maxDelay: 60000, random: () => 0.5, ackTimeout: 200}).connect()`)
	p.wait("connect", `gc.state === "open"`)

	// No ack within ackTimeout: failed "timeout"; the late ack changes nothing.
	p.run(`sendAcked("t1", {wait: true})`)
	p.wait("ack timeout", `results.t1 && results.t1.code === "timeout" && gc.pending.length === 0`)
	close(h.release)
	p.run(`sendAcked("t2", {say: "after"})`) // acknowledged after the late ack of t1
	p.wait("the next ack", `results.t2 && results.t2.ok`)
	var states []string
	p.get(`log.filter(e => e.type === "send").map(e => e.detail.state)`, &states)
	if fmt.Sprint(states) != "[pending failed pending acked]" {
		t.Errorf("send states: %v, want [pending failed pending acked]", states)
	}
	if err := h.closeAll(ctx, channels.CloseServiceRestart, "restart"); err != nil {
		t.Fatal(err)
	}
	p.wait("a long wait", `gc.state === "retrying" && gc.retryIn > 1000 && log.some(e => e.type === "countdown" && e.detail.seconds === 30)`)
	p.run(`gc.retryNow()`)
	p.wait("retryNow", `gc.state === "open" && count("retrying") === 1`)

	// The browser going back online ends the wait too.
	if err := h.closeAll(ctx, channels.CloseServiceRestart, "restart"); err != nil {
		t.Fatal(err)
	}
	p.wait("a second long wait", `gc.state === "retrying" && count("retrying") === 2`)
	p.run(`window.dispatchEvent(new Event("online"))`)
	p.wait("online", `gc.state === "open"`)

	if err := h.closeAll(ctx, 4001, "logged out"); err != nil {
		t.Fatal(err)
	}
	p.wait("failed", `gc.state === "failed" && log.some(e => e.type === "failed" && e.detail.code === 4001 && e.detail.reason === "logged out")`)
	if n := p.str(`String(count("retrying"))`); n != "2" {
		t.Errorf("%s retries, want none after a permanent close", n)
	}
	p.run(`gc.retryNow()`)
	p.wait("retryNow after failed", `gc.state === "open"`)
	p.run(`gc.close()`)
	p.wait("closed", `gc.state === "closed"`)
	p.run(`sendAcked("x1", {say: "nobody"})`)
	p.wait("send while closed", `results.x1 && results.x1.code === "not_open"`)

	var permanent []bool
	p.get(`[[1008, "policy"], [1008, "event queue full"], [1008, "slow client"], [1003, ""], [4000, ""], [4499, ""], [4500, ""], [1006, ""], [1011, ""], [1012, ""], [1013, ""], [1000, ""]].map(([c, r]) => isPermanentClose(c, r))`, &permanent)
	if fmt.Sprint(permanent) != "[true false false true true true false false false false false false]" {
		t.Errorf("isPermanentClose: %v", permanent)
	}
}
