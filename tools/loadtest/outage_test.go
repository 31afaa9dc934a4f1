package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

// TestOutage runs the outage mode for real: two examples/chat processes (built by the run) on
// a private redis-server that is SIGKILLed and restarted on the same port mid-run. It checks
// that the report is produced and that its counters agree with each other (received + lost =
// expected in every row, the windows add up to the whole, the processes to all), not any
// figure: how much an outage loses is what the tool measures, not what this test asserts.
func TestOutage(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		redistest.SkipOrFail(t, "redis-server not found: install redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunOutage(ctx, OutageConfig{
		Clients: 10, Rate: 500, Warmup: 200 * time.Millisecond, Duration: 2 * time.Second, Drain: 3 * time.Second,
		KillAfter: 400 * time.Millisecond, Gap: 500 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Procs != 2 || len(rep.Servers) != 2 || len(rep.LimitsHit) != 2 || rep.Interrupted {
		t.Fatalf("report %+v", rep)
	}
	if !(rep.KillSeconds > 0 && rep.RestartedSeconds > rep.KillSeconds && rep.DownSeconds >= rep.GapSeconds) {
		t.Fatalf("timeline: killed at %v, answering at %v, down %v, gap %v", rep.KillSeconds, rep.RestartedSeconds, rep.DownSeconds, rep.GapSeconds)
	}
	if len(rep.Rows) != len(outageWindows)*(rep.Procs+1) {
		t.Fatalf("%d rows", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.Received+r.Lost != r.Expected || r.LostErrorFrame+r.LostDisconnected+r.LostSilent != r.Lost {
			t.Errorf("row %s/%d: received %d + lost %d != expected %d, or lost != %d told + %d receiver down + %d silent",
				r.Window, r.Process, r.Received, r.Lost, r.Expected, r.LostErrorFrame, r.LostDisconnected, r.LostSilent)
		}
		if int64(r.Latency.Count) != r.Received {
			t.Errorf("row %s/%d: %d latencies for %d received", r.Window, r.Process, r.Latency.Count, r.Received)
		}
	}
	all := rep.Row(WindowWhole, -1)
	if all == nil || all.MessagesSent == 0 || all.Received == 0 || all.Foreign != 0 {
		t.Fatalf("whole run: %+v", all)
	}
	// Every client is in the one room: each message is due to all of them.
	if all.Expected != all.MessagesSent*int64(rep.Clients) {
		t.Errorf("expected %d deliveries for %d messages to %d clients", all.Expected, all.MessagesSent, rep.Clients)
	}
	type sums struct{ sent, unsent, expected, received, lost, errFrames, dups, reordered, reconnects int64 }
	of := func(r *OutageRow) sums {
		return sums{r.MessagesSent, r.Unsent, r.Expected, r.Received, r.Lost, r.ErrorFrames, r.Duplicates, r.Reordered, r.Reconnects}
	}
	plus := func(a, b sums) sums {
		return sums{a.sent + b.sent, a.unsent + b.unsent, a.expected + b.expected, a.received + b.received, a.lost + b.lost,
			a.errFrames + b.errFrames, a.dups + b.dups, a.reordered + b.reordered, a.reconnects + b.reconnects}
	}
	for p := -1; p < rep.Procs; p++ {
		var parts sums
		for _, w := range []string{WindowBefore, WindowOutage, WindowAfter} {
			parts = plus(parts, of(rep.Row(w, p)))
		}
		if whole := of(rep.Row(WindowWhole, p)); parts != whole {
			t.Errorf("process %d: the windows add up to %+v, the whole run is %+v", p, parts, whole)
		}
	}
	for _, w := range outageWindows {
		var procs sums
		for p := range rep.Procs {
			procs = plus(procs, of(rep.Row(w, p)))
		}
		if a := of(rep.Row(w, -1)); procs != a {
			t.Errorf("window %s: the processes add up to %+v, all is %+v", w, procs, a)
		}
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"redis-server killed at", "\noutage   all", "\nwhole      1", "limits hit, process 1"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back OutageReport
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rows) != len(rep.Rows) || back.Rows[0].Expected != rep.Rows[0].Expected {
		t.Fatalf("report %s does not parse back: %v", b, err)
	}
}

// TestOutageConfig: configurations the run cannot honour are refused before anything starts.
func TestOutageConfig(t *testing.T) {
	for _, cfg := range []OutageConfig{
		{Clients: 10, Duration: time.Second, KillAfter: 600 * time.Millisecond, Gap: 500 * time.Millisecond},
		{Clients: 0, Duration: time.Second},
		{Clients: 10, Rooms: 20, Duration: time.Second},
		{Clients: 10, Duration: 0},
		{Clients: 10, Procs: -1, Duration: 5 * time.Second},
	} {
		if _, err := RunOutage(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
