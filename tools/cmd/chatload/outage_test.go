package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// TestOutageMode runs -mode outage briefly (two processes by default, redis-server killed
// and restarted) and checks that the JSON report parses, with every row's loss accounted for.
func TestOutageMode(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found (CI=true: not skipping)")
		}
		t.Skip("redis-server not found")
	}
	var rep loadtest.OutageReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-mode", "outage", "-clients", "6", "-rate", "300",
		"-warmup", "100ms", "-duration", "1500ms", "-drain", "2s", "-outage-at", "300ms", "-outage-gap", "400ms")
	if rep.Procs != 2 || len(rep.Rows) != 12 || rep.GapSeconds != 0.4 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Rows {
		if r.Received+r.Lost != r.Expected {
			t.Errorf("row %+v: received + lost != expected", r)
		}
	}
}

// TestOutageFlags: outage mode starts its own servers on its own Redis.
func TestOutageFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "outage", "-url", "ws://127.0.0.1:1"},
		{"-mode", "outage", "-redis", "redis://127.0.0.1:1/0"},
		{"-mode", "outage", "-layer", "memory"},
		{"-mode", "outage", "-server", "django"},
		{"-mode", "outage", "-outage-gap", "0s"},
		{"-mode", "outage", "-outage-at", "-1s"},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &stderr, &stderr); err == nil || !strings.Contains(err.Error(), "outage") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestRepeat: -repeat 2 runs the open loop twice on the same server and reports each
// figure's median, min–max and both values.
func TestRepeat(t *testing.T) {
	var rep loadtest.RepeatReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-clients", "5", "-mode", "open", "-rate", "500",
		"-duration", "300ms", "-warmup", "50ms", "-pause", "10ms", "-repeat", "2")
	if rep.Runs != 2 || len(rep.Reports) != 2 || len(rep.Spreads) == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range rep.Spreads {
		if len(s.Values) != 2 || s.Min > s.Median || s.Median > s.Max {
			t.Fatalf("spread %+v", s)
		}
	}
	var stderr bytes.Buffer
	for _, args := range [][]string{
		{"-repeat", "0", "-url", "ws://127.0.0.1:1"},
		{"-repeat", "2", "-mode", "search", "-url", "ws://127.0.0.1:1"},
		{"-repeat", "2", "-mode", "connect", "-url", "ws://127.0.0.1:1"},
	} {
		if err := run(context.Background(), args, &stderr, &stderr); err == nil || !strings.Contains(err.Error(), "-repeat") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
