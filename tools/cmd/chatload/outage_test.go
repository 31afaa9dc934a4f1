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
