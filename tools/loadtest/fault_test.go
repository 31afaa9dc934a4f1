package loadtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// runFault starts s and runs cfg against it (URLs and Logger set here, 100 ms warm-up).
func runFault(t *testing.T, s *faultServer, cfg Config) *Report {
	t.Helper()
	cfg.URLs, cfg.Logger, cfg.Warmup = []string{startFaultServer(t, s)}, quiet, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// faultRun runs the open loop against a faultServer: 2 rooms of 4 clients, one sender each,
// 400 deliveries/s (100 messages/s) for about a second.
func faultRun(t *testing.T, s *faultServer, drain time.Duration) *Report {
	t.Helper()
	rep := runFault(t, s, Config{
		Clients: 8, Rooms: 2, Senders: 1, Mode: OpenLoop, Rate: 400,
		Duration: time.Second, Drain: drain, EchoTimeout: time.Minute,
	})
	n, faults, _ := s.counts()
	t.Logf("%s: server saw %d messages, made %d faults; report: sent %d, lost %d, duplicates %d, reordered %d, foreign %d, echo timeouts %d",
		s.mode, n, faults, rep.MessagesSent, rep.Lost, rep.Duplicates, rep.Reordered, rep.Foreign, rep.EchoTimeouts)
	if int64(n) != rep.MessagesSent {
		t.Fatalf("the server received %d messages, the report says %d were sent", n, rep.MessagesSent)
	}
	if s.mode != faultNone && faults == 0 {
		t.Fatalf("the server made no %s fault in %d messages", s.mode, n)
	}
	if rep.WriteErrors != 0 || rep.ReadErrors != 0 {
		t.Fatalf("socket errors %d/%d: %s", rep.WriteErrors, rep.ReadErrors, rep.FirstError)
	}
	return rep
}

const members = 4 // per room in faultRun

// checkCounts compares the report's fault counters with the expected ones.
func checkCounts(t *testing.T, rep *Report, lost, dups, reordered, foreign, echoTimeouts int64) {
	t.Helper()
	got := [5]int64{rep.Lost, rep.Duplicates, rep.Reordered, rep.Foreign, rep.EchoTimeouts}
	want := [5]int64{lost, dups, reordered, foreign, echoTimeouts}
	if got != want {
		t.Fatalf("lost, duplicates, reordered, foreign, echo timeouts = %v, want %v", got, want)
	}
	if rep.Delivered != rep.Expected-lost {
		t.Fatalf("delivered %d of %d expected, lost %d", rep.Delivered, rep.Expected, lost)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "reordered") {
		t.Fatalf("text report %q: %v", text.String(), err)
	}
}

func TestFaultFree(t *testing.T) {
	rep := faultRun(t, &faultServer{}, 10*time.Second)
	checkCounts(t, rep, 0, 0, 0, 0, 0)
}

// TestFaultDrop: every 7th message reaches nobody: each is lost by all 4 members, and is one
// own message its sender never hears back (an echo timeout in the open loop).
func TestFaultDrop(t *testing.T) {
	s := &faultServer{mode: faultDrop, every: 7}
	rep := faultRun(t, s, 2*time.Second) // the run drains until the drain time is up
	_, f, _ := s.counts()
	checkCounts(t, rep, int64(f*members), 0, 0, 0, int64(f))
}

func TestFaultDuplicate(t *testing.T) {
	s := &faultServer{mode: faultDup, every: 5}
	rep := faultRun(t, s, 10*time.Second)
	_, f, _ := s.counts()
	checkCounts(t, rep, 0, int64(f*members), 0, 0, 0)
}

// TestFaultReorder: every 6th message of a room is sent after the next one: each member sees
// one message out of order per swap.
func TestFaultReorder(t *testing.T) {
	s := &faultServer{mode: faultReorder, every: 6}
	rep := faultRun(t, s, 10*time.Second)
	_, f, _ := s.counts()
	checkCounts(t, rep, 0, 0, int64(f*members), 0, 0)
}

// TestFaultErrorFrame: every 6th message is answered to its sender with an error frame that
// carries the message back (as examples/chat does when the layer is down). The frame is not a
// delivery: each such message is lost by all 4 members and counted as one error frame.
func TestFaultErrorFrame(t *testing.T) {
	s := &faultServer{mode: faultError, every: 6}
	rep := faultRun(t, s, 2*time.Second)
	_, f, _ := s.counts()
	checkCounts(t, rep, int64(f*members), 0, 0, 0, int64(f))
	if rep.ErrorFrames != int64(f) {
		t.Fatalf("error frames %d, want %d", rep.ErrorFrames, f)
	}
}

// TestFaultForeign: after every 5th message, a frame from sender 999999 (no such client) and
// a malformed JSON frame go to the room.
func TestFaultForeign(t *testing.T) {
	s := &faultServer{mode: faultForeign, every: 5}
	rep := faultRun(t, s, 10*time.Second)
	_, f, _ := s.counts()
	checkCounts(t, rep, 0, 0, 0, int64(2*f*members), 0)
}

// TestInflight: in the closed loop with Inflight 5, a server that holds each sender's
// messages until it has 5 of them (or the sender goes idle) sees bursts of exactly 5 — never
// more, and with one message in flight a sender would never make a burst.
func TestInflight(t *testing.T) {
	s := &faultServer{mode: faultBatch, batch: 5}
	rep := runFault(t, s, Config{
		Clients: 6, Rooms: 1, Senders: 2, Inflight: 5, Mode: ClosedLoop,
		Duration: time.Second, Drain: 10 * time.Second, EchoTimeout: time.Minute,
	})
	n, _, maxBatch := s.counts()
	if maxBatch != 5 {
		t.Fatalf("largest burst the server held: %d messages, want 5", maxBatch)
	}
	if rep.Inflight != 5 || int64(n) != rep.MessagesSent || rep.MessagesSent < 10 {
		t.Fatalf("server saw %d messages; report %+v", n, rep)
	}
	checkCounts(t, rep, 0, 0, 0, 0, 0)
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "5 in flight each") {
		t.Fatalf("text report %q: %v", text.String(), err)
	}
}

// TestSearchFindsLimit: a server that drops messages above 1,000 messages/s (4,000
// deliveries/s in rooms of 4) must get a maximum rate under that, found by ramping from 500
// deliveries/s and bisecting. The bucket lets a burst of 50 ms worth through, so a step up
// to about 5 % over the limit may pass.
func TestSearchFindsLimit(t *testing.T) {
	const limit = 4000.0 // deliveries/s
	s := &faultServer{mode: faultRate, rate: limit / members}
	url := startFaultServer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rows []string
	var progress bytes.Buffer
	sr, err := Search(ctx, SearchConfig{
		Run: Config{
			URLs: []string{url}, Clients: 8, Rooms: 2, Senders: 1,
			Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, Drain: time.Second, Logger: quiet,
		},
		Start: 500, P99: time.Minute, Precision: 0.1, MaxSteps: 10, Pause: 50 * time.Millisecond,
		OnStep:   func(st SearchStep) { rows = append(rows, st.Row()) },
		Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := sr.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	if progress.String() != text.String() {
		t.Fatalf("printed as it went:\n%s\nwritten at the end:\n%s", progress.String(), text.String())
	}
	if len(rows) != len(sr.Steps) || len(sr.Steps) > 10 {
		t.Fatalf("%d rows printed for %d steps", len(rows), len(sr.Steps))
	}
	if sr.MaxRate <= 0 || sr.MaxRate > limit*1.1 || sr.Best == nil || sr.Best.Rate != sr.MaxRate {
		t.Fatalf("max rate %v for a server that drops above %v", sr.MaxRate, limit)
	}
	if sr.FailedAbove <= sr.MaxRate {
		t.Fatalf("lowest failing rate %v, max rate %v", sr.FailedAbove, sr.MaxRate)
	}
	for _, st := range sr.Steps {
		switch {
		case st.Pass && (st.Report.Lost != 0 || st.Report.EchoTimeouts != 0):
			t.Fatalf("step %d passed with loss: %s", st.Step, st.Row())
		case !st.Pass && !strings.Contains(st.Why, "lost"):
			t.Fatalf("step %d failed for %q, not loss", st.Step, st.Why)
		}
	}
	if !strings.Contains(text.String(), "max sustained rate:") || !strings.Contains(text.String(), "echo-to") {
		t.Fatalf("text %q", text.String())
	}
}

func TestNextRate(t *testing.T) {
	for _, c := range []struct {
		pass, fail, last, maxRate, next float64
		more                            bool
	}{
		{0, 0, 1000, 0, 2000, true},       // ramp up
		{1000, 0, 1000, 1500, 1500, true}, // capped
		{1500, 0, 1500, 1500, 0, false},   // at the cap
		{0, 1000, 1000, 0, 500, true},     // ramp down
		{0, 1, 1, 0, 0, false},            // floor
		{1000, 2000, 2000, 0, 1500, true}, // bisect
		{1000, 1040, 1040, 0, 0, false},   // within 5 %
	} {
		next, more := nextRate(c.pass, c.fail, c.last, c.maxRate, 0.05)
		if next != c.next || more != c.more {
			t.Errorf("nextRate(%v, %v, %v, %v) = %v, %v; want %v, %v", c.pass, c.fail, c.last, c.maxRate, next, more, c.next, c.more)
		}
	}
}

// TestClosedLoopEchoTimeout: in the closed loop with one message in flight, a message the
// server drops stalls its sender until the echo timeout, which is counted, and the sender
// goes on; every drop is lost by each member. (With more in flight, a later message of the
// sender coming back answers the dropped one: loss, but no stall.)
func TestClosedLoopEchoTimeout(t *testing.T) {
	s := &faultServer{mode: faultDrop, every: 7}
	rep := runFault(t, s, Config{
		Clients: 4, Rooms: 1, Senders: 2, Inflight: 1, Mode: ClosedLoop,
		Duration: 2 * time.Second, Drain: 2 * time.Second, EchoTimeout: time.Second,
	})
	n, faults, _ := s.counts()
	t.Logf("server saw %d messages, dropped %d; echo timeouts %d", n, faults, rep.EchoTimeouts)
	if faults == 0 || rep.EchoTimeouts == 0 || rep.EchoTimeouts > int64(faults) {
		t.Fatalf("%d dropped, %d echo timeouts", faults, rep.EchoTimeouts)
	}
	if int64(n) != rep.MessagesSent || rep.Lost != int64(faults*4) {
		t.Fatalf("server saw %d messages and dropped %d; report: sent %d, lost %d", n, faults, rep.MessagesSent, rep.Lost)
	}
}
