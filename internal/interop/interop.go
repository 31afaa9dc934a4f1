// Package interop drives Django's channels_redis from Go tests: Start runs a Python helper
// (crhelper.py beside this file) that owns one channels_redis layer and answers JSON requests
// line by line, so that a test can interleave Go and Python operations on one Redis.
//
// Values cross as "typed JSON" (see Typed) so that every msgpack type is compared exactly.
package interop

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

// callTimeout bounds every request to the helper.
const callTimeout = 20 * time.Second

// Config configures the helper's layer; zero fields take channels_redis's defaults.
type Config struct {
	// PubSub makes the helper's layer a RedisPubSubChannelLayer (only Hosts and Prefix
	// apply) instead of a RedisChannelLayer.
	PubSub   bool
	Hosts    []string // redis:// URLs, one per shard
	Prefix   string
	Keys     []string // symmetric_encryption_keys
	Expiry   int
	Capacity int
}

// Py is a running helper process.
type Py struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan struct{}
}

// Start runs the helper with a layer built from cfg; it is stopped when the test ends. It
// skips the test when Python, Django's channels or channels_redis is missing (fails with
// CI=true).
func Start(t testing.TB, cfg Config) *Py {
	t.Helper()
	python := redistest.RequirePython(t)
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "crhelper.py")
	cmd := exec.Command(python, script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: start %s: %v", script, err)
	}
	p := &Py{t: t, cmd: cmd, in: in, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(p.stop)
	req := map[string]any{"op": "config", "hosts": cfg.Hosts}
	if cfg.PubSub {
		req["pubsub"] = true
	}
	if cfg.Prefix != "" {
		req["prefix"] = cfg.Prefix
	}
	if len(cfg.Keys) > 0 {
		req["keys"] = cfg.Keys
	}
	if cfg.Expiry > 0 {
		req["expiry"] = cfg.Expiry
	}
	if cfg.Capacity > 0 {
		req["capacity"] = cfg.Capacity
	}
	p.Must(req)
	return p
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Logf("python: %s", b)
	return len(b), nil
}

func (p *Py) stop() {
	_ = p.in.Close()
	exited := make(chan struct{})
	go func() {
		for range p.lines { // drain so the reader goroutine ends
		}
		_ = p.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

// Call sends one request and returns the answer (which may hold "error").
func (p *Py) Call(req map[string]any) map[string]any {
	p.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		p.t.Fatalf("interop: encode request: %v", err)
	}
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("interop: write request: %v", err)
	}
	select {
	case line, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("interop: helper exited during %v", req["op"])
		}
		var ans map[string]any
		if err := json.Unmarshal([]byte(line), &ans); err != nil {
			p.t.Fatalf("interop: bad answer %q: %v", line, err)
		}
		return ans
	case <-time.After(callTimeout):
		p.t.Fatalf("interop: no answer to %v within %v", req["op"], callTimeout)
	}
	return nil
}

// Must is Call that fails the test on an error answer.
func (p *Py) Must(req map[string]any) map[string]any {
	p.t.Helper()
	ans := p.Call(req)
	if e, ok := ans["error"]; ok {
		p.t.Fatalf("interop: python %v: %v", req["op"], e)
	}
	return ans
}

// NewChannel returns a new process-specific channel of the Python layer.
func (p *Py) NewChannel() string {
	p.t.Helper()
	return p.Must(map[string]any{"op": "new_channel"})["channel"].(string)
}

// Receive receives one message on channel in Python and returns it in typed JSON.
func (p *Py) Receive(channel string) any {
	p.t.Helper()
	return p.Must(map[string]any{"op": "receive", "channel": channel, "timeout": 10})["msg"]
}

// Typed converts a Go value to typed JSON: []byte → {"$bytes": base64}, every integer →
// {"$int": decimal}, floats → {"$float": IEEE-754 bits in hex}; maps and lists recursively.
// Values that are already typed JSON pass through.
func Typed(v any) any {
	switch x := v.(type) {
	case nil, string, bool:
		return x
	case []byte:
		return map[string]any{"$bytes": base64.StdEncoding.EncodeToString(x)}
	case float64:
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], math.Float64bits(x))
		return map[string]any{"$float": hex.EncodeToString(b[:])}
	case float32:
		return Typed(float64(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Typed(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"$int": strconv.FormatInt(rv.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"$int": strconv.FormatUint(rv.Uint(), 10)}
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			out[it.Key().String()] = Typed(it.Value().Interface())
		}
		return out
	}
	panic(fmt.Sprintf("interop: Typed: unsupported %T", v))
}

// Normalize makes a decoded JSON value comparable with reflect.DeepEqual (json numbers never
// occur in typed JSON, so only maps and lists need walking).
func Normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
