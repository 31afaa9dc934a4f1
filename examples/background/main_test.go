package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/background/tasks"
	"github.com/gochannels/gochannels/examples/internal/wstest"
	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/worker"
)

func TestMain(m *testing.M) {
	proctest.RunMainIfChild(main)
	goleak.VerifyTestMain(m)
}

// start runs the program with args on loopback and returns what it started; it is stopped
// (and checked to stop cleanly) when the test ends.
func start(t *testing.T, args ...string) started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan started, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-step-delay", "0"}, args...), logger, func(s started) { readyc <- s })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the program did not stop")
		}
	})
	select {
	case s := <-readyc:
		return s
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not start")
	}
	return started{}
}

// dialWS opens a WebSocket to path from a page of the server's own origin.
func dialWS(ctx context.Context, addr, path string) (*wstest.Conn, error) {
	return wstest.Dial(ctx, "ws://"+addr+path, http.Header{"Origin": {"http://" + addr}})
}

// watch opens a watcher socket and reads the watcher token it is given (32 hex
// characters); the caller closes the socket.
func watch(t *testing.T, ctx context.Context, addr string) (*wstest.Conn, string) {
	t.Helper()
	c, err := dialWS(ctx, addr, tasks.WebsocketPath)
	if err != nil {
		t.Fatal(err)
	}
	watcher, _ := c.ReadJSON(t)["watcher"].(string)
	if len(watcher) != 32 {
		c.Close()
		t.Fatalf("watcher token %q", watcher)
	}
	return c, watcher
}

func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func post(t *testing.T, c *http.Client, addr, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := c.Post("http://"+addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// runTask opens a watcher socket, starts a task over HTTP and follows it to the end.
func runTask(t *testing.T, addr string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, watcher := watch(t, ctx, addr)
	defer c.Close()
	body, _ := json.Marshal(map[string]any{"n": n, "watcher": watcher})
	status, res := post(t, httpClient(t), addr, tasks.TasksPath, string(body))
	if status != http.StatusAccepted {
		t.Fatalf("POST: %d %v", status, res)
	}
	id := res["id"].(string)
	steps := 0
	for {
		m := c.ReadJSON(t)
		if m["id"] != id {
			t.Fatalf("event for task %v, want %s", m["id"], id)
		}
		if m["event"] == "progress" {
			steps++
			if m["step"] != float64(steps) {
				t.Fatalf("progress %v after %d steps", m, steps-1)
			}
			continue
		}
		if m["event"] != "done" || m["primes"] != float64(168) || steps != tasks.Steps {
			t.Fatalf("end %v after %d steps; want 168 primes below 1000 after %d steps", m, steps, tasks.Steps)
		}
		return
	}
}

// One process, in-memory layer: the worker runs beside the server.
func TestSingleProcess(t *testing.T) {
	t.Setenv(layers.EnvURL, "")
	s := start(t)
	if s.worker == nil {
		t.Fatal("no in-process worker with the memory layer")
	}
	runTask(t, s.addr.String(), 1000)
	if st := handled(s.worker); st.Handled != 1 || st.Failed != 0 {
		t.Errorf("worker stats %+v", st)
	}
}

// handled returns the worker's statistics of the task channel once no message is in flight
// (the client can read the task's last event before the worker counts the message handled),
// or after a minute (only a hung test).
func handled(w *worker.Worker) worker.ChannelStats {
	deadline := time.Now().Add(60 * time.Second) // only stops a hung test
	for {
		st := w.Stats()[tasks.Channel]
		if st.InFlight == 0 || time.Now().After(deadline) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two processes' worth of layers on one Redis: the server sends, a worker with its own layer
// instance (as cmd/runworker would be) handles, and the progress comes back to the browser.
func TestAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	s := start(t, "-layer", srv.URL()+"?prefix="+srv.Prefix())
	if s.worker != nil {
		t.Fatal("the server runs a worker itself with a Redis layer and no -worker")
	}
	wl, err := redislayer.New(redislayer.Options{Hosts: []string{srv.URL()}, Prefix: srv.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Close()
	w := &worker.Worker{Layer: wl, Application: tasks.NewWorkerApplication(wl), PollInterval: 300 * time.Millisecond}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	runTask(t, s.addr.String(), 1000)
	if st := handled(w); st.Handled != 1 {
		t.Errorf("worker stats %+v", st)
	}
}

// No client can get a message onto a worker channel: crafted paths, bodies and frames naming
// "background-tasks" (as a target, a reply channel, a group, a watcher) reach nothing, and the
// web application has no route for channel scopes at all.
func TestClientsCannotReachWorkerChannels(t *testing.T) {
	t.Setenv(layers.EnvURL, "")
	s := start(t)
	addr := s.addr.String()
	hc := httpClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c, watcher := watch(t, ctx, addr)
	defer c.Close()

	// HTTP: bodies naming the channel, bad watchers, extra fields.
	for _, body := range []string{
		`{"n": 1000, "watcher": "background-tasks"}`,
		`{"n": 1000, "watcher": "` + watcher + `", "channel": "background-tasks"}`,
		`{"n": 1000, "watcher": "` + watcher + `", "reply_group": "background-tasks"}`,
		`{"n": 1000, "watcher": "` + watcher + `", "type": "task.primes"}`,
		`{"n": 1000, "watcher": "../background-tasks"}`,
		`{"n": 1000, "watcher": "` + strings.ToUpper(watcher) + `"}`,
		`{"n": 99999999999, "watcher": "` + watcher + `"}`,
		`{"type": "task.primes", "id": "x", "reply_group": "background-tasks", "n": 5}`,
		`[{"n": 1000}]`,
		`not json`,
	} {
		if status, res := post(t, hc, addr, tasks.TasksPath, body); status != http.StatusBadRequest {
			t.Errorf("POST %s: %d %v; want 400", body, status, res)
		}
	}
	// HTTP: paths naming the channel.
	for _, path := range []string{"/background-tasks", "/tasks/background-tasks", "/channel/background-tasks", "/ws/background-tasks/", "/tasks/../background-tasks", "/%62ackground-tasks"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(`{"type":"task.primes"}`))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("%s %s: %d", method, path, resp.StatusCode)
			}
		}
	}
	// WebSocket: paths naming the channel are refused.
	for _, path := range []string{"/ws/background-tasks/", "/ws/tasks/background-tasks/", "/background-tasks", "/ws/tasks/../background-tasks/"} {
		if bad, err := dialWS(ctx, addr, path); err == nil {
			bad.Close()
			t.Errorf("WebSocket %s accepted", path)
		}
	}
	// WebSocket: frames naming the channel get an error and reach nothing.
	for _, frame := range []string{
		`{"type": "task.primes", "n": 1000, "id": "` + watcher + `", "reply_group": "watch.` + watcher + `"}`,
		`{"channel": "background-tasks", "message": {"type": "task.primes"}}`,
		`{"command": "send", "to": "background-tasks"}`,
		`{"reply_channel": "background-tasks"}`,
	} {
		c.WriteText(t, frame)
		if m := c.ReadJSON(t); m["error"] == nil {
			t.Errorf("frame %s answered %v", frame, m)
		}
	}
	// The web application has no route for a channel scope, whatever the scope says.
	app := tasks.NewApplication(s.layer, tasks.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := app.Serve(ctx, &channels.Scope{Type: channels.ScopeChannel, Channel: tasks.Channel}, channels.NewMailbox(1), channels.SendFunc(func(context.Context, channels.Message) error { return nil }))
	if !errors.Is(err, router.ErrNoRoute) {
		t.Errorf("channel scope on the web application: %v; want ErrNoRoute", err)
	}

	// Nothing reached the worker so far.
	if st := s.worker.Stats()[tasks.Channel]; st.Handled+st.Failed+uint64(st.InFlight) != 0 {
		t.Fatalf("the worker got messages from crafted requests: %+v", st)
	}
	// The legitimate path still works on the same socket, and its task is the sentinel: it is
	// sent after every crafted request was answered, and the worker takes the channel's
	// messages one at a time in order, so a crafted message on the channel would have been
	// handled (or failed) before it.
	body, _ := json.Marshal(map[string]any{"n": 1000, "watcher": watcher})
	if status, res := post(t, hc, addr, tasks.TasksPath, string(body)); status != http.StatusAccepted {
		t.Fatalf("legit POST: %d %v", status, res)
	}
	for {
		if m := c.ReadJSON(t); m["event"] == "done" {
			break
		}
	}
	if st := handled(s.worker); st.Handled != 1 || st.Failed != 0 {
		t.Errorf("stats after one legit task: %+v; want it alone handled", st)
	}
}

// TestOperations runs the program as a process and checks its operations side: /healthz,
// /readyz, /metrics with connection, message and worker counters after a task and a
// WebSocket exchange, the access log, and the drain on SIGTERM: /readyz turns 503 while the
// WebSocket stays open, the WebSocket then gets close 1001, and the process exits 0.
func TestOperations(t *testing.T) {
	p := proctest.Start(t, "background", "-addr", "127.0.0.1:0", "-layer", "memory://", "-step-delay", "0", "-drain-delay", "2s")
	base := "http://" + p.Addr
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		if code, body := proctest.Get(t, c, base+path); code != 200 {
			t.Fatalf("%s = %d %q", path, code, body)
		}
	}
	runTask(t, p.Addr, 1000) // through the in-process worker

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, _ := watch(t, ctx, p.Addr)
	defer w.Close()
	w.WriteText(t, `{"hello":1}`)
	if m := w.ReadJSON(t); m["error"] == nil {
		t.Fatalf("reply %v, want an error", m)
	}

	p.CheckMetrics(t, c, map[string]float64{
		`gochannels_connections_total{type="websocket"}`:                   2,
		`gochannels_connections_open{type="websocket"}`:                    1,
		`gochannels_messages_received_total{type="websocket"}`:             1,
		`gochannels_messages_sent_total{type="websocket"}`:                 3,
		`gochannels_http_responses_total{class="2xx"}`:                     2,
		`gochannels_connections_total{type="channel"}`:                     1,
		`gochannels_worker_handled_total{channel="` + tasks.Channel + `"}`: 1,
	})

	closed := make(chan error, 1)
	go func() {
		_, err := w.ReadText(20 * time.Second) // answers the close frame
		closed <- err
	}()
	p.Drain(t, c, closed, `msg=access type=websocket path=`+tasks.WebsocketPath, `close_code=1001 closed_by=server`, `msg=access type=http path=`+tasks.TasksPath)
}
