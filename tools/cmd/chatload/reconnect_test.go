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

// TestReconnectMode runs -mode reconnect briefly (two processes, the last one killed and
// restarted, 8 clients) and checks that the JSON report parses and that every cut-off client
// recovered without loss or duplicates.
func TestReconnectMode(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found (CI=true: not skipping)")
		}
		t.Skip("redis-server not found")
	}
	var rep loadtest.ReconnectReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-mode", "reconnect", "-clients", "8", "-rooms", "2", "-rate", "100",
		"-duration", "200ms", "-drain", "10s", "-history", "500")
	if rep.Procs != 2 || rep.Clients != 8 || rep.Rooms != 2 || rep.History != 500 || rep.By != loadtest.ReconnectKill || rep.Affected != 4 {
		t.Fatalf("report %+v", rep)
	}
	if !rep.AllCaughtUp || rep.Recovered != 4 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Replayed != rep.ReplayedFrames {
		t.Fatalf("recovery: %+v", rep)
	}
}

// TestReconnectFlags: reconnect mode starts its own servers on its own Redis.
func TestReconnectFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "reconnect", "-url", "ws://127.0.0.1:1"},
		{"-mode", "reconnect", "-redis", "redis://127.0.0.1:1/0"},
		{"-mode", "reconnect", "-layer", "memory"},
		{"-mode", "reconnect", "-catchup", "0s"},
		{"-mode", "reconnect", "-history", "0"},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &stderr, &stderr); err == nil || !strings.Contains(err.Error(), "reconnect") && !strings.Contains(err.Error(), "-history") {
			t.Errorf("%v: %v", args, err)
		}
	}
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-mode", "reconnect", "-reconnect-by", "nope", "-chat-bin", "/nonexistent"}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("-reconnect-by nope: %v", err)
	}
}
