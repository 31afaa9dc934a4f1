package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/background/tasks"
	"github.com/gochannels/gochannels/internal/interop"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(redistest.LeakOptions(), goleak.Cleanup(func(int) {
		if buildDir != "" {
			_ = os.RemoveAll(buildDir)
		}
	}))...)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// binary builds the command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "runworker-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "runworker")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBinaryExitCodes(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "name at least one channel to serve (this application routes: background-tasks, multichat-history)"},
		{[]string{"emails"}, 2, `does not route this channel: "emails"`},
		{[]string{"-layer", "redis://[::1", "background-tasks"}, 2, "bad layer URL"},
		{[]string{"-layer", "redis://127.0.0.1:1/0", "background-tasks"}, 1, "cannot be reached"},
		{[]string{"-h"}, 0, "Channels this application routes:\n  background-tasks"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Env = append(os.Environ(), layers.EnvURL+"=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		if got := exitCode(err); got != tc.code {
			t.Errorf("runworker %v: exit %d, want %d; stderr:\n%s", tc.args, got, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("runworker %v: stderr lacks %q:\n%s", tc.args, tc.want, stderr.String())
		}
	}
}

// startBinary runs runworker on srv's Redis and returns its stderr; the process gets SIGTERM
// at the end and must exit 0.
func startBinary(t *testing.T, srv *redistest.Server) *logbuf.Buffer {
	t.Helper()
	cmd := exec.Command(binary(t), "-layer", srv.URL()+"?prefix="+srv.Prefix(), "background-tasks")
	stderr := &logbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if code := exitCode(err); code != 0 {
				t.Errorf("runworker exited %d after SIGTERM; stderr:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "worker: stopped") {
				t.Errorf("no graceful stop in stderr:\n%s", stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("runworker did not stop on SIGTERM; stderr:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second) // only stops a hung test
	for !strings.Contains(stderr.String(), "worker: serving") {
		if time.Now().After(deadline) {
			t.Fatalf("runworker did not start; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return stderr
}

const watcher = "0123456789abcdef0123456789abcdef"

func task(id string) channels.Message {
	return channels.Message{"type": tasks.TaskType, "id": id, "n": 1000, "reply_group": tasks.WatchGroup(watcher)}
}

// A task sent by Go to "background-tasks" is handled by the runworker binary (another
// process), which reports to the reply group.
func TestBinaryHandlesGoTask(t *testing.T) {
	srv := redistest.Start(t)
	startBinary(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := redislayer.New(redislayer.Options{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan channels.Message, 32)
	ch, stop, err := layers.Listen(ctx, l, "specific", func(m channels.Message) bool { got <- m; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.GroupAdd(ctx, tasks.WatchGroup(watcher), ch); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 16)
	if err := l.Send(ctx, tasks.Channel, task(id)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, got, id, 168)
}

func waitDone(t *testing.T, got <-chan channels.Message, id string, primes int) channels.Message {
	t.Helper()
	for {
		select {
		case m := <-got:
			if m.Type() != "task.done" {
				continue
			}
			if n, _ := m.Int("primes"); n != primes || m.String("id") != id {
				t.Fatalf("done %v; want %d primes for %s", m, primes, id)
			}
			return m
		case <-time.After(15 * time.Second):
			t.Fatal("no task.done")
		}
	}
}

// Django → Go: channels_redis sends the task; our runworker handles it and group-sends the
// progress and the result to a group whose member is a Django channel.
func TestDjangoTaskHandledByRunworker(t *testing.T) {
	srv := redistest.Start(t)
	py := interop.Start(t, interop.Config{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	startBinary(t, srv)
	pych := py.NewChannel()
	py.Must(map[string]any{"op": "group_add", "group": tasks.WatchGroup(watcher), "channel": pych})
	id := strings.Repeat("cd", 16)
	py.Must(map[string]any{"op": "send", "channel": tasks.Channel, "msg": interop.Typed(map[string]any{
		"type": tasks.TaskType, "id": id, "n": 1000, "reply_group": tasks.WatchGroup(watcher),
	})})
	for step := 1; step <= tasks.Steps+1; step++ {
		m := interop.Normalize(py.Receive(pych)).(map[string]any)
		want := "task.progress"
		if step > tasks.Steps {
			want = "task.done"
		}
		if m["type"] != want || m["id"] != id {
			t.Fatalf("python received %v at step %d; want %s", m, step, want)
		}
		if want == "task.done" {
			if p, _ := m["primes"].(map[string]any); p["$int"] != "168" {
				t.Fatalf("result %v", m)
			}
		}
	}
}

// Go → Django: a Go process sends the task; Django Channels' own channels.worker.Worker (what
// manage.py runworker runs) handles it and group-sends the result to a Go channel.
func TestGoTaskHandledByDjangoWorker(t *testing.T) {
	srv := redistest.Start(t)
	python := redistest.RequirePython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(python, "testdata/djworker.py", srv.URL(), srv.Prefix())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &logbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("django worker stderr:\n%s", stderr.String())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("django worker: %q %v; stderr:\n%s", line, err, stderr.String())
	}
	l, err := redislayer.New(redislayer.Options{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan channels.Message, 8)
	ch, stop, err := layers.Listen(ctx, l, "specific", func(m channels.Message) bool { got <- m; return true })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := l.GroupAdd(ctx, tasks.WatchGroup(watcher), ch); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ef", 16)
	if err := l.Send(ctx, tasks.Channel, task(id)); err != nil {
		t.Fatal(err)
	}
	m := waitDone(t, got, id, 168)
	if m.String("by") != "django:background-tasks" {
		t.Errorf("handled by %q", m.String("by"))
	}
}
