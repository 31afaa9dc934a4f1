package redislayer

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/internal/redistest"
)

// records is a slog.Handler that keeps what it is given, for the test to read.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }

func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

// about returns the records whose message contains s.
func (h *records) about(s string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.recs {
		if strings.Contains(r.Message, s) {
			out = append(out, r)
		}
	}
	return out
}

// attr returns r's attribute key, and whether it has one.
func attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// clock is a time source the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// go-redis, installed with the adapter, really logs its failed dials through slog: the first
// one at once, the next ones counted until the interval has passed.
func TestSlogLoggerGoRedisDialFailures(t *testing.T) {
	h := &records{}
	clk := &clock{now: time.Unix(1_000_000, 0)}
	redis.SetLogger(&SlogLogger{Logger: slog.New(h), Interval: time.Minute, Now: clk.Now})
	t.Cleanup(func() { UseSlog(nil) })

	dead := redistest.ClosedAddr(t)
	// One dial attempt per command and no command retries, so that each Ping is one failed
	// dial; fewer Pings than PoolSize, so that go-redis starts no background redialer.
	client := redis.NewClient(&redis.Options{Addr: dead, DialerRetries: 1, MaxRetries: -1, PoolSize: 10})
	defer client.Close()
	ctx := context.Background()
	ping := func(n int) {
		for range n {
			if err := client.Ping(ctx).Err(); err == nil {
				t.Fatalf("Ping %s: no error from a closed port", dead)
			}
		}
	}

	ping(3) // go-redis logs each failed dial before the command returns its error
	got := h.about(dead)
	if len(got) != 1 {
		t.Fatalf("after 3 failed dials within the interval: %d lines about %s, want 1: %v", len(got), dead, got)
	}
	if r := got[0]; r.Level != slog.LevelWarn || !strings.HasPrefix(r.Message, "redis: ") || !strings.Contains(r.Message, "failed to dial") {
		t.Errorf("first line: %v %q, want a Warn \"redis: ...failed to dial...\"", r.Level, r.Message)
	}
	if _, has := attr(got[0], "suppressed"); has {
		t.Errorf("the first line counts suppressed ones: %v", got[0])
	}

	clk.advance(time.Minute)
	ping(1)
	got = h.about(dead)
	if len(got) != 2 {
		t.Fatalf("after the interval: %d lines about %s, want 2: %v", len(got), dead, got)
	}
	if v, has := attr(got[1], "suppressed"); !has || v.Int64() != 2 {
		t.Errorf("summary line %q: suppressed=%v (present %v), want 2", got[1].Message, v, has)
	}
}

// dialErr is the error go-redis logs when a dial to addr is refused.
func dialErr(addr string) error {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return &net.OpError{Op: "dial", Net: "tcp", Addr: a, Err: errors.New("connect: connection refused")}
}

// The throttling, line by line: per address, at most one line per interval, each counting
// the ones left out; other lines pass untouched, at a level matching what they report.
func TestSlogLoggerThrottle(t *testing.T) {
	h := &records{}
	clk := &clock{now: time.Unix(1_000_000, 0)}
	s := &SlogLogger{Logger: slog.New(h), Interval: 10 * time.Second, Now: clk.Now}
	ctx := context.Background()
	const dialFormat = "redis: connection pool: failed to dial after %d attempts: %v"
	a, b := "127.0.0.1:7001", "127.0.0.1:7002"

	type want struct {
		addr       string
		suppressed int64 // -1: no attribute
	}
	var wants []want
	step := func(advance time.Duration, addr string, logged bool, suppressed int64) {
		t.Helper()
		clk.advance(advance)
		s.Printf(ctx, dialFormat, 5, dialErr(addr))
		if logged {
			wants = append(wants, want{addr, suppressed})
		}
		got := h.about("failed to dial")
		if len(got) != len(wants) {
			t.Fatalf("after a dial error to %s at +%v: %d lines, want %d", addr, advance, len(got), len(wants))
		}
	}
	step(0, a, true, -1)             // the first: logged
	step(time.Second, a, false, 0)   // within the interval: counted
	step(time.Second, b, true, -1)   // another address has its own throttle
	step(time.Second, a, false, 0)   // counted
	step(7*time.Second, a, true, 2)  // the interval passed: logged, with the 2 left out
	step(9*time.Second, a, false, 0) // a new interval started with that line
	step(time.Second, b, true, -1)   // b: its interval passed, nothing was left out
	step(10*time.Second, a, true, 1) // a: the one left out
	step(time.Hour, a, true, -1)     // a quiet spell: logged as a first one
	for i, r := range h.about("failed to dial") {
		w := wants[i]
		if r.Level != slog.LevelWarn || !strings.Contains(r.Message, w.addr) {
			t.Errorf("line %d: %v %q, want Warn about %s", i, r.Level, r.Message, w.addr)
		}
		v, has := attr(r, "suppressed")
		switch {
		case w.suppressed < 0 && has:
			t.Errorf("line %d %q: suppressed=%v, want no attribute", i, r.Message, v)
		case w.suppressed >= 0 && (!has || v.Int64() != w.suppressed):
			t.Errorf("line %d %q: suppressed=%v (present %v), want %d", i, r.Message, v, has, w.suppressed)
		}
	}

	// Not dial errors: every one written, at its level, with one "redis: " prefix.
	for range 3 {
		s.Printf(ctx, "sentinel: new master=%q addr=%q", "mymaster", "10.0.0.2:6379")
	}
	s.Printf(ctx, "redis: connection pool: failed to process idle connection by hook: %v", errors.New("boom"))
	s.Printf(ctx, "queuedNewConn panic: %+v", "oops")
	if got := h.about("sentinel: new master"); len(got) != 3 || got[0].Level != slog.LevelInfo || got[0].Message != `redis: sentinel: new master="mymaster" addr="10.0.0.2:6379"` {
		t.Errorf("info lines: %v", got)
	}
	if got := h.about("by hook"); len(got) != 1 || got[0].Level != slog.LevelWarn || strings.HasPrefix(got[0].Message, "redis: redis:") {
		t.Errorf("failure line: %v", got)
	}
	if got := h.about("panic"); len(got) != 1 || got[0].Level != slog.LevelError {
		t.Errorf("panic line: %v", got)
	}

	// A sentinel query failing on a dial error is throttled as a dial error.
	for range 2 {
		s.Printf(ctx, "sentinel: GetMasterAddrByName name=%q failed: %s", "mymaster", dialErr("127.0.0.1:26379"))
	}
	if got := h.about("GetMasterAddrByName"); len(got) != 1 || got[0].Level != slog.LevelWarn {
		t.Errorf("sentinel dial errors: %v, want 1 Warn line", got)
	}
}

// A SlogLogger forgets the addresses it no longer hears about, keeping at most maxDialKeys.
func TestSlogLoggerForgetsQuietAddresses(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	s := &SlogLogger{Logger: slog.New(&records{}), Interval: time.Second, Now: clk.Now}
	for i := range 10 * maxDialKeys {
		clk.advance(time.Second)
		s.Printf(context.Background(), "failed to dial: %v", dialErr(net.JoinHostPort("127.0.0.1", strconv.Itoa(10000+i))))
	}
	s.mu.Lock()
	n := len(s.dials)
	s.mu.Unlock()
	if n > maxDialKeys {
		t.Errorf("%d addresses tracked, want at most %d", n, maxDialKeys)
	}
}
