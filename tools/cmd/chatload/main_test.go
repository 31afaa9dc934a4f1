package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Idle mode re-runs this program as a client worker; in tests "this program" is the
	// test binary.
	if len(os.Args) > 1 && os.Args[1] == "-idle-worker" {
		if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "chatload-test-")
	if err != nil {
		panic(err)
	}
	chatBin = filepath.Join(dir, "chat")
	if out, err := exec.Command("go", "build", "-o", chatBin, loadtest.ChatPackage).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic(fmt.Sprintf("build %s: %v\n%s", loadtest.ChatPackage, err, out))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// chatBin is examples/chat, built once for the tests that do not test building it.
var chatBin string

func runJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, append([]string{"-json"}, args...), &stdout, &stderr); err != nil {
		t.Fatalf("chatload %v: %v\n%s", args, err, stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("report does not parse: %v\n%s", err, stdout.String())
	}
}

// TestShortRun builds and starts examples/chat (one process, in-memory layer), runs 1 room ×
// 10 clients for 2 s, and checks the JSON report: nothing lost or duplicated. The open loop
// at a modest rate keeps the server far from overload, where it may drop messages for a
// consumer whose queue is full (what the closed loop at full speed measures).
func TestShortRun(t *testing.T) {
	var rep loadtest.Report
	runJSON(t, &rep, "-clients", "10", "-rooms", "1", "-mode", "open", "-rate", "1000", "-duration", "2s", "-warmup", "200ms")
	if rep.Delivered == 0 || rep.Lost != 0 || rep.Duplicates != 0 || rep.ReadErrors != 0 || rep.WriteErrors != 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Clients != 10 || len(rep.Servers) != 1 || rep.DeliveriesPerSec <= 0 || rep.Latency.P99 <= 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestRedisTwoProcesses: two chat processes on a private redis-server; every room spans both.
func TestRedisTwoProcesses(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found (CI=true: not skipping)")
		}
		t.Skip("redis-server not found")
	}
	var rep loadtest.Report
	runJSON(t, &rep, "-chat-bin", chatBin, "-procs", "2", "-clients", "8", "-rooms", "2", "-mode", "open", "-rate", "400",
		"-duration", "1s", "-warmup", "200ms")
	if len(rep.Servers) != 2 || rep.Delivered == 0 || rep.Lost != 0 || rep.Duplicates != 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestSearchMode runs a three-step rate search (500, 1,000, 2,000 deliveries/s, capped
// there) against examples/chat, as JSON and as the text table.
func TestSearchMode(t *testing.T) {
	args := []string{"-chat-bin", chatBin, "-mode", "search", "-clients", "10", "-rate", "500", "-max-rate", "2000",
		"-search-steps", "3", "-duration", "300ms", "-warmup", "100ms", "-pause", "50ms", "-p99", "10s"}
	var rep loadtest.SearchReport
	runJSON(t, &rep, args...)
	if len(rep.Steps) == 0 || len(rep.Steps) > 3 || rep.Steps[0].Rate != 500 || rep.P99BoundMs != 10000 {
		t.Fatalf("report %+v", rep)
	}
	for _, st := range rep.Steps {
		if st.Report == nil || st.Report.MessagesSent == 0 || st.Report.CPU == nil {
			t.Fatalf("step %+v", st)
		}
	}
	if (rep.MaxRate > 0) != (rep.Best != nil) {
		t.Fatalf("max rate %v, best %+v", rep.MaxRate, rep.Best)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("chatload %v: %v\n%s", args, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[1], "step") || !strings.HasPrefix(lines[len(lines)-1], "max sustained rate:") {
		t.Fatalf("text output:\n%s", stdout.String())
	}
	if !strings.Contains(lines[1], "deliv/cpu-s") || !strings.Contains(lines[1], "echo-to") || !strings.Contains(lines[1], "lost") {
		t.Fatalf("columns %q", lines[1])
	}
}

func TestConnectMode(t *testing.T) {
	var rep loadtest.ConnectReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-mode", "connect", "-k", "100", "-c", "4")
	if rep.Handshakes != 100 || rep.Failed != 0 || rep.PerSec <= 0 || rep.HandshakeTime.P99 <= 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestIdleMode opens 40 idle connections, 25 of them from a worker process.
func TestIdleMode(t *testing.T) {
	var rep loadtest.IdleReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-mode", "idle", "-clients", "40", "-per-proc", "15", "-settle", "200ms")
	if rep.Connections != 40 || rep.ClientProcesses != 3 || len(rep.Servers) != 1 || rep.Servers[0].AfterKiB <= 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestBadFlags(t *testing.T) {
	ctx := context.Background()
	var stderr bytes.Buffer
	for _, args := range [][]string{
		{"-mode", "sideways", "-url", "ws://127.0.0.1:1"},
		{"-mode", "idle", "-url", "ws://127.0.0.1:1"},
		{"-nope"},
		{"extra"},
		{"-mode", "open", "-inflight", "5", "-url", "ws://127.0.0.1:1"},
		{"-inflight", "0", "-url", "ws://127.0.0.1:1"},
	} {
		if err := run(ctx, args, &stderr, &stderr); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if err := run(ctx, []string{"-procs", "2", "-layer", "memory"}, &stderr, &stderr); err == nil || !strings.Contains(err.Error(), "in-memory") {
		t.Errorf("two processes on the memory layer: %v", err)
	}
}
