// Package tasks is the background-tasks example: a web page starts a slow computation
// (counting the primes below n, in steps), a background consumer on the channel
// "background-tasks" does the work, and reports its progress and result to the browser that
// asked, over that browser's WebSocket.
//
// The browser never names a channel or a group. Its WebSocket (at WebsocketPath) is given a
// random watcher token when it connects, and joins the group WatchGroup(token). The page then
// POSTs {"n": n, "watcher": token} to TasksPath; the server checks both, makes a random task
// id, and sends the task to "background-tasks" with the reply group derived from the token.
// The worker group-sends "task.progress" and "task.done" to that group. Joining the group
// before the task exists means no progress is missed, however fast the worker is.
//
// The worker may run in the web process (worker.Start on the in-memory layer) or in other
// processes (cmd/runworker background-tasks, on a Redis layer); a Django process can send
// tasks too.
package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
)

// Names and limits of the example.
const (
	// Channel is the worker channel the tasks go to.
	Channel = "background-tasks"
	// TaskType is the type of a task message ("task.primes", handled by TaskPrimes).
	TaskType = "task.primes"
	// TasksPath takes POST {"n": n, "watcher": token} and answers 202 {"id": id}.
	TasksPath = "/tasks"
	// WebsocketPath is the browser's socket: it receives {"watcher": token} and then the
	// progress of its tasks.
	WebsocketPath = "/ws/tasks/"
	// MaxN bounds the computation a client can ask for.
	MaxN = 20_000_000
	// Steps is the number of progress reports per task.
	Steps = 10
	// watchPrefix starts every reply group.
	watchPrefix = "watch."
)

// WatchGroup returns the reply group of a watcher token.
func WatchGroup(token string) string { return watchPrefix + token }

// validToken reports whether s is 32 lowercase hex digits, the form of watcher tokens and
// task ids.
func validToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Worker is the background consumer on Channel: "task.primes" messages call TaskPrimes.
type Worker struct {
	consumer.Consumer
}

// TaskPrimes counts the primes below msg["n"] in Steps steps, group-sending a
// "task.progress" after each step and a "task.done" with the count to msg["reply_group"]
// (which must be a watcher's group). msg["step_delay_ms"], set by the web server, slows each
// step down so that people can watch.
func (w *Worker) TaskPrimes(ctx context.Context, msg channels.Message) error {
	id := msg.String("id")
	group := msg.String("reply_group")
	n, ok := msg.Int("n")
	switch {
	case !validToken(id):
		return fmt.Errorf("task %q: the id is not 32 hex digits", id)
	case !strings.HasPrefix(group, watchPrefix) || !validToken(strings.TrimPrefix(group, watchPrefix)):
		return fmt.Errorf("task %s: reply group %q is not a watcher's group", id, group)
	case !ok || n < 2 || n > MaxN:
		return fmt.Errorf("task %s: n = %v, want 2 to %d", id, msg["n"], MaxN)
	}
	delayMS, _ := msg.Int("step_delay_ms")
	delay := time.Duration(min(max(delayMS, 0), 5000)) * time.Millisecond
	counter := newPrimeCounter(n)
	found := 0
	for step := 1; step <= Steps; step++ {
		lo, hi := n*(step-1)/Steps, n*step/Steps
		found += counter.count(lo, hi)
		if err := w.GroupSend(ctx, group, channels.Message{
			"type": "task.progress", "id": id, "step": step, "steps": Steps, "found": found,
		}); err != nil {
			return err
		}
		if delay > 0 && step < Steps {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return w.GroupSend(ctx, group, channels.Message{"type": "task.done", "id": id, "n": n, "primes": found})
}

// primeCounter counts primes in ranges below n with a segmented sieve.
type primeCounter struct {
	base []int // primes up to sqrt(n)
}

func newPrimeCounter(n int) *primeCounter {
	limit := 1
	for limit*limit < n {
		limit++
	}
	composite := make([]bool, limit+1)
	pc := &primeCounter{}
	for i := 2; i <= limit; i++ {
		if composite[i] {
			continue
		}
		pc.base = append(pc.base, i)
		for j := i * i; j <= limit; j += i {
			composite[j] = true
		}
	}
	return pc
}

// count returns the number of primes p with lo <= p < hi.
func (pc *primeCounter) count(lo, hi int) int {
	lo = max(lo, 2)
	if hi <= lo {
		return 0
	}
	composite := make([]bool, hi-lo)
	for _, p := range pc.base {
		if p*p >= hi {
			break
		}
		start := max(p*p, (lo+p-1)/p*p)
		for j := start; j < hi; j += p {
			composite[j-lo] = true
		}
	}
	c := 0
	for _, x := range composite {
		if !x {
			c++
		}
	}
	return c
}

// NewWorkerApplication returns the worker side: the background consumer routed on Channel.
// It is what cmd/runworker hosts and what worker.Start runs in a single process.
func NewWorkerApplication(l layers.Layer) channels.Application {
	return router.ChannelName{Channel: consumer.New[Worker](consumer.WithLayer(l))}
}

// Watcher is the browser's WebSocket: on connect it joins a new watcher group and tells the
// client its token; the worker's progress messages to that group go to the client.
type Watcher struct {
	consumer.JSONWebsocketConsumer
}

// Connect joins a fresh watcher group, accepts, and sends {"watcher": token}.
func (c *Watcher) Connect(ctx context.Context) error {
	token := newToken()
	if err := c.GroupAdd(ctx, WatchGroup(token)); err != nil {
		return err
	}
	if err := c.Accept(ctx); err != nil {
		return err
	}
	return c.SendJSON(ctx, map[string]string{"watcher": token})
}

// ReceiveJSON answers anything the client sends with an error: the socket takes no
// commands (tasks are started over HTTP).
func (c *Watcher) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	return c.SendJSON(ctx, map[string]string{"error": "this socket takes no commands; POST " + TasksPath + " to start a task"})
}

// TaskProgress forwards a worker's progress report to the client.
func (c *Watcher) TaskProgress(ctx context.Context, msg channels.Message) error {
	return c.SendJSON(ctx, map[string]any{"event": "progress", "id": msg.String("id"), "step": msg["step"], "steps": msg["steps"], "found": msg["found"]})
}

// TaskDone forwards a task's result to the client.
func (c *Watcher) TaskDone(ctx context.Context, msg channels.Message) error {
	return c.SendJSON(ctx, map[string]any{"event": "done", "id": msg.String("id"), "n": msg["n"], "primes": msg["primes"]})
}

// Options configure the web side.
type Options struct {
	// StepDelay slows each step of a task down, so that its progress can be watched.
	StepDelay time.Duration
	// Logger receives failures (slog.Default() when nil).
	Logger *slog.Logger
}

// NewApplication returns the web side: the page, the task endpoint and the WebSocket.
func NewApplication(l layers.Layer, opts Options) channels.Application {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		_, _ = w.Write([]byte(page))
	})
	mux.Handle("POST "+TasksPath, &taskHandler{layer: l, opts: opts})
	ws := router.URL(router.Path(WebsocketPath, consumer.JSONWebsocket[Watcher](consumer.WithLayer(l), consumer.WithLogger(opts.Logger))))
	ws.Logger = opts.Logger
	return router.ProtocolType{
		channels.ScopeHTTP:      channels.FromHTTPHandler(mux),
		channels.ScopeWebsocket: ws,
	}
}

// taskHandler takes POST {"n": n, "watcher": token} and enqueues the task.
type taskHandler struct {
	layer layers.Layer
	opts  Options
}

func (h *taskHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		N       int    `json:"n"`
		Watcher string `json:"watcher"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		jsonError(w, http.StatusBadRequest, `want {"n": number, "watcher": token}: `+err.Error())
		return
	}
	if req.N < 2 || req.N > MaxN {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("n must be 2 to %d", MaxN))
		return
	}
	if !validToken(req.Watcher) {
		jsonError(w, http.StatusBadRequest, "watcher must be the token your WebSocket received")
		return
	}
	id := newToken()
	task := channels.Message{
		"type":          TaskType,
		"id":            id,
		"n":             req.N,
		"reply_group":   WatchGroup(req.Watcher),
		"step_delay_ms": int(h.opts.StepDelay / time.Millisecond),
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := h.layer.Send(ctx, Channel, task); err != nil {
		h.opts.Logger.Error("tasks: enqueue failed", "id", id, "error", err)
		status := http.StatusServiceUnavailable
		if !errors.Is(err, layers.ErrChannelFull) {
			status = http.StatusInternalServerError
		}
		jsonError(w, status, "the task could not be queued; try again later")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
