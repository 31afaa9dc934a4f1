package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/layers"
)

func checkClean(t *testing.T, rep *Report, layer *layers.Memory) {
	t.Helper()
	// The server may drop a message for a consumer whose queue is full (a starved goroutine
	// on a busy machine): every loss must be one the layer counted, and nothing else lost.
	st := layer.Stats()
	drops := int64(st.Dropped + st.RejectedFull + st.Expired)
	if drops > 0 {
		t.Logf("the server dropped %d deliveries (layer statistics %+v)", drops, st)
	}
	if rep.Lost != drops {
		t.Fatalf("lost %d deliveries, the layer dropped %d", rep.Lost, drops)
	}
	if rep.MessagesSent == 0 || rep.Delivered == 0 || rep.Latency.Count == 0 {
		t.Fatalf("nothing measured: %+v", rep)
	}
	if rep.Duplicates != 0 || rep.Reordered != 0 || rep.Foreign != 0 || rep.WriteErrors != 0 || rep.ReadErrors != 0 {
		t.Fatalf("duplicates %d, reordered %d, foreign %d, errors %d/%d (%s)", rep.Duplicates, rep.Reordered, rep.Foreign, rep.WriteErrors, rep.ReadErrors, rep.FirstError)
	}
	if rep.Expected != rep.MessagesSent*int64(rep.Clients/rep.Rooms) {
		t.Fatalf("expected %d deliveries for %d messages in rooms of %d", rep.Expected, rep.MessagesSent, rep.Clients/rep.Rooms)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "deliveries/s") {
		t.Fatalf("text report %q: %v", text.String(), err)
	}
}

// TestClosedLoop: 1 room × 10 clients on the in-memory layer for 2 s, one sender: nothing may
// be lost or duplicated (but what the server itself dropped); the JSON report parses back.
func TestClosedLoop(t *testing.T) {
	url, layer := startChatLayer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		URLs: []string{url}, Clients: 10, Rooms: 1, Senders: 1, Mode: ClosedLoop, ServerPIDs: []int{os.Getpid()},
		Warmup: 200 * time.Millisecond, Duration: 2 * time.Second, Drain: 5 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, rep, layer)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report %s does not parse: %v", b, err)
	}
	if rep.CPU == nil || rep.CPU.Servers <= 0 || rep.CPU.DeliveriesPerServerCPUSec <= 0 {
		t.Fatalf("CPU figures %+v", rep.CPU)
	}
	if back.Delivered != rep.Delivered || back.Latency.P99 != rep.Latency.P99 || back.Mode != ClosedLoop {
		t.Fatalf("report changed in JSON: %+v vs %+v", back, rep)
	}
}

// TestClosedLoopInflight: 2 of 10 clients each keep 20 messages in flight through the real
// chat application: nothing lost, duplicated or reordered.
func TestClosedLoopInflight(t *testing.T) {
	url, layer := startChatLayer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		URLs: []string{url}, Clients: 10, Rooms: 1, Senders: 2, Inflight: 20, Mode: ClosedLoop,
		Warmup: 200 * time.Millisecond, Duration: time.Second, Drain: 5 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, rep, layer)
	if rep.Inflight != 20 || rep.SendersPerRoom != 2 {
		t.Fatalf("report %+v", rep)
	}
}

// TestOpenLoop: every client of 2 rooms sends, at a fixed 1,000 deliveries/s.
func TestOpenLoop(t *testing.T) {
	url, layer := startChatLayer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		URLs: []string{url}, Clients: 10, Rooms: 2, Mode: OpenLoop, Rate: 1000, Size: 64,
		Warmup: 200 * time.Millisecond, Duration: 2 * time.Second, Drain: 5 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, rep, layer)
	// 1,000 deliveries/s in rooms of 5 is 200 messages/s: 440 in 2.2 s (±1 per tick).
	if rep.MessagesSent < 430 || rep.MessagesSent > 442 {
		t.Fatalf("sent %d messages, want about 440", rep.MessagesSent)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Clients: 1, Rooms: 1, Mode: ClosedLoop, Duration: time.Second},
		{URLs: []string{"ws://127.0.0.1:1"}, Clients: 1, Rooms: 2, Mode: ClosedLoop, Duration: time.Second},
		{URLs: []string{"ws://127.0.0.1:1"}, Clients: 1, Rooms: 1, Mode: "sideways", Duration: time.Second},
		{URLs: []string{"ws://127.0.0.1:1"}, Clients: 1, Rooms: 1, Mode: OpenLoop, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	// Nothing listens on port 1: the connect error is reported.
	_, err := Run(context.Background(), Config{URLs: []string{"ws://127.0.0.1:1"}, Clients: 2, Rooms: 1, Mode: ClosedLoop, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "dial") {
		t.Fatalf("connecting to a closed port: %v", err)
	}
}

func TestConnect(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := RunConnect(ctx, ConnectConfig{URLs: []string{url}, Total: 60, Concurrency: 4, Rooms: 3, Dialer: Dialer{PerSource: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Handshakes != 60 || rep.Failed != 0 || rep.PerSec <= 0 || rep.HandshakeTime.Count != 60 || rep.HandshakeTime.P99 <= 0 {
		t.Fatalf("report %+v", rep)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !strings.Contains(text.String(), "/s") {
		t.Fatalf("text %q", text.String())
	}

	// A foreign Origin is refused by the chat server: every handshake fails, with the reason.
	rep, err = RunConnect(ctx, ConnectConfig{URLs: []string{url}, Total: 3, Concurrency: 1, Dialer: Dialer{Origin: "http://evil.example"}})
	if err == nil || rep.Failed != 3 || !strings.Contains(rep.FirstError, "403") {
		t.Fatalf("foreign origin: %+v, %v", rep, err)
	}
}

// TestIdleWorkers opens idle connections from this process and from a worker process (this
// test binary again), and measures this process's RSS.
func TestIdleWorkers(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunIdle(ctx, IdleConfig{
		URLs: []string{url}, PIDs: []int{os.Getpid()}, Conns: 30, Rooms: 2, PerProcess: 20,
		Settle: 100 * time.Millisecond, Dialer: Dialer{PerSource: 7},
		Worker: func(offset, n int) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), workerEnv+"="+url+" "+strconv.Itoa(n)+" "+strconv.Itoa(offset))
			return cmd
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connections != 30 || rep.ClientProcesses != 2 || len(rep.Servers) != 1 || rep.Servers[0].AfterKiB <= 0 {
		t.Fatalf("report %+v", rep)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !strings.Contains(text.String(), "per idle connection") {
		t.Fatalf("text %q", text.String())
	}

	// A client worker that dies mid-run fails the run.
	rep, err = RunIdle(ctx, IdleConfig{
		URLs: []string{url}, PIDs: []int{os.Getpid()}, Conns: 30, Rooms: 2, PerProcess: 20,
		Settle: 100 * time.Millisecond, Dialer: Dialer{PerSource: 7},
		Worker: func(offset, n int) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), workerEnv+"="+url+" "+strconv.Itoa(n)+" "+strconv.Itoa(offset))
			return cmd
		},
		afterOpen: func(r *idleRun) {
			_ = r.workers[0].cmd.Process.Kill()
			<-r.workers[0].fail.Done()
		},
	})
	if err == nil || !strings.Contains(err.Error(), "client worker") || !strings.Contains(err.Error(), "exited before the end of the run") {
		t.Fatalf("a worker killed mid-run: report %+v, error %v", rep, err)
	}

	// Past PerProcess without a worker command: a clear error.
	if _, err := RunIdle(ctx, IdleConfig{URLs: []string{url}, PIDs: []int{os.Getpid()}, Conns: 3, PerProcess: 2, Settle: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "worker") {
		t.Fatalf("no worker: %v", err)
	}
}
