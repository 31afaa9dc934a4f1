// Command redisbench measures the Redis channel layers against Django's channels_redis on the
// same Redis server in the same run, and prints a table with the ratios:
//
//	go run ./tools/redisbench                 # starts its own redis-server on loopback
//	go run ./tools/redisbench -redis redis://127.0.0.1:6379/0 -scale 0.5
//	go run ./tools/redisbench -run 'group of 1000' -cpuprofile cpu.prof   # some workloads, profiled
//
// Workloads (the same for both): send+receive (one "process" sends to 100 channels of another,
// 32 concurrent senders; messages/s until all are received); group sends to groups of 1, 10,
// 100 and 1,000 members spread over 1 and 4 "processes" (layer instances; for Python, four
// RedisChannelLayer instances in one asyncio loop), 32 concurrent senders, group sends/s and
// deliveries/s until every member has every message; Redis commands per group send (all
// clients, from INFO commandstats deltas over the send phase); and redis-benchmark's
// pipelined ZADD/s for scale. The Python half is crbench.py beside this file, run with
// /usr/bin/python3 (-python). Loops are fixed counts (-scale multiplies them). A Python run
// that fails or times out (60 s) leaves its row's Python figure empty instead of ending the
// run.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers/redislayer"
)

//go:embed crbench.py
var crbench []byte

const (
	concurrency = 32
	channelsN   = 100
	capacity    = 1 << 20 // no workload is meant to hit a capacity
)

func main() {
	redisURL := flag.String("redis", "", "Redis server to use (default: start redis-server on a free loopback port)")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter with channels_redis")
	scale := flag.Float64("scale", 1, "multiply every fixed count by this")
	noPython := flag.Bool("no-python", false, "skip the channels_redis half")
	only := flag.String("run", "", "run only the workloads whose name matches this regular expression (e.g. 'group of 1000')")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the Go half to this file")
	flag.Parse()
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisbench: -run:", err)
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "redisbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "redisbench:", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(*redisURL, *python, *scale, *noPython, re, log); err != nil {
		fmt.Fprintln(os.Stderr, "redisbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type row struct {
	name     string
	unit     string
	gov, pyv float64
}

func run(redisURL, python string, scale float64, noPython bool, only *regexp.Regexp, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "redisbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if redisURL == "" {
		stop, u, err := startRedis(dir)
		if err != nil {
			return err
		}
		defer stop()
		redisURL = u
	}
	script := filepath.Join(dir, "crbench.py")
	if err := os.WriteFile(script, crbench, 0o600); err != nil {
		return err
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	admin := redis.NewClient(opt)
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	count := func(n int) int { return max(1, int(float64(n)*scale)) }
	py := func(cfg map[string]any) (map[string]float64, error) {
		if noPython {
			return nil, nil
		}
		cfg["hosts"] = []string{redisURL}
		cfg["prefix"] = "pyb" + strconv.FormatInt(time.Now().UnixNano(), 36)
		cfg["concurrency"] = concurrency
		cfg["timeout"] = 60
		b, _ := json.Marshal(cfg)
		// In some runs channels_redis stops delivering before every member has every message
		// and crbench.py times out: that loses one row's Python figure, not the whole run.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // crbench.py's own timeouts do not cover a stuck send
		defer cancel()
		cmd := exec.CommandContext(pctx, python, script, string(b))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return nil, fmt.Errorf("python %v: %w: %s", cfg["op"], err, ee.Stderr)
			}
			return nil, fmt.Errorf("python: %w", err)
		}
		var res map[string]float64
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, fmt.Errorf("python output %q: %w", out, err)
		}
		return res, nil
	}

	var rows []row
	fmt.Fprintf(os.Stderr, "redisbench: Redis %s, %d concurrent senders, scale %g\n", opt.Addr, concurrency, scale)

	// Send + receive.
	if only.MatchString("send+receive") {
		n := count(100000)
		d, err := goSendRecv(ctx, redisURL, n, log)
		if err != nil {
			return err
		}
		r := row{name: "send+receive, 100 channels", unit: "msg/s", gov: float64(n) / d.Seconds()}
		pn := count(5000)
		res, err := py(map[string]any{"op": "sendrecv", "messages": pn, "channels": channelsN})
		if err != nil {
			fmt.Fprintf(os.Stderr, "  %s: channels_redis failed, no Python figure: %v\n", "send+receive", err)
			res = nil
		}
		if res != nil {
			r.pyv = res["messages"] / res["seconds"]
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "  %s: go %.0f, python %.0f\n", r.name, r.gov, r.pyv)
	}

	// Group sends.
	for _, procs := range []int{1, 4} {
		for _, members := range []int{1, 10, 100, 1000} {
			label := fmt.Sprintf("group of %d over %d proc", members, procs)
			if members < procs || !only.MatchString(label) {
				continue
			}
			sends := count(max(400, 200000/members))
			g, err := goGroup(ctx, redisURL, admin, members, procs, sends, log)
			if err != nil {
				return err
			}
			psends := count(max(20, 5000/members))
			res, err := py(map[string]any{"op": "group", "members": members, "procs": procs, "sends": psends})
			if err != nil {
				fmt.Fprintf(os.Stderr, "  %s: channels_redis failed, no Python figure: %v\n", label, err)
				res = nil
			}
			var p groupResult
			if res != nil {
				p = groupResult{sends: int(res["sends"]), deliveries: int(res["deliveries"]), dur: time.Duration(res["seconds"] * float64(time.Second)), commands: res["commands"]}
			}
			rows = append(rows,
				row{label + ": group sends", "sends/s", g.sendRate(), p.sendRate()},
				row{label + ": deliveries", "msg/s", g.deliveryRate(), p.deliveryRate()},
				row{label + ": Redis commands per group send", "cmds", g.perSend(), p.perSend()},
			)
			fmt.Fprintf(os.Stderr, "  %s: go %.0f sends/s, python %.0f sends/s\n", label, g.sendRate(), p.sendRate())
		}
	}
	printTable(rows, noPython)
	if out, err := redisBenchmark(opt); err == nil {
		fmt.Printf("\nredis-benchmark -P 16 -q -t zadd -n 200000 (for scale): %s\n", out)
	} else {
		fmt.Printf("\nredis-benchmark: %v\n", err)
	}
	return nil
}

func printTable(rows []row, noPython bool) {
	fmt.Printf("%-58s %14s %14s %9s\n", "workload", "gochannels", "channels_redis", "ratio")
	for _, r := range rows {
		ratio := "-"
		if !noPython && r.pyv > 0 {
			if r.unit == "cmds" {
				ratio = fmt.Sprintf("%.2fx", r.gov/r.pyv)
			} else {
				ratio = fmt.Sprintf("%.1fx", r.gov/r.pyv)
			}
		}
		fmt.Printf("%-58s %14s %14s %9s\n", r.name+" ("+r.unit+")", fmtNum(r.gov), fmtNum(r.pyv), ratio)
	}
}

func fmtNum(v float64) string {
	if v == 0 {
		return "-"
	}
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func newLayer(redisURL, prefix string, log *slog.Logger) (*redislayer.Layer, error) {
	return redislayer.New(redislayer.Options{Hosts: []string{redisURL}, Prefix: prefix, Capacity: capacity, LocalCapacity: capacity, Logger: log})
}

func uniquePrefix(tag string) string {
	return "gob" + tag + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// goSendRecv: one layer sends n messages to 100 channels of another (Listen), with 32
// concurrent senders; the result is the time until the last one is delivered.
func goSendRecv(ctx context.Context, redisURL string, n int, log *slog.Logger) (time.Duration, error) {
	prefix := uniquePrefix("sr")
	a, err := newLayer(redisURL, prefix, log)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	b, err := newLayer(redisURL, prefix, log)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	var got atomic.Int64
	done := make(chan struct{})
	chans := make([]string, channelsN)
	for i := range chans {
		ch, stop, err := b.Listen(ctx, "specific", func(channels.Message) bool {
			if got.Add(1) == int64(n) {
				close(done)
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		defer stop()
		chans[i] = ch
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := parallel(n, func(i int) error {
		return a.Send(ctx, chans[i%channelsN], channels.Message{"type": "bench.msg", "i": i})
	}); err != nil {
		return 0, err
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("send+receive: %d of %d delivered after 2 minutes", got.Load(), n)
	}
	d := time.Since(start)
	return d, b.Flush(ctx)
}

// parallel runs fn(0..n-1) on `concurrency` goroutines and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for k := 0; k < concurrency; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += concurrency {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type groupResult struct {
	sends, deliveries int
	dur               time.Duration
	commands          float64
}

func (g groupResult) sendRate() float64 {
	if g.dur <= 0 {
		return 0
	}
	return float64(g.sends) / g.dur.Seconds()
}

func (g groupResult) deliveryRate() float64 {
	if g.dur <= 0 {
		return 0
	}
	return float64(g.deliveries) / g.dur.Seconds()
}

func (g groupResult) perSend() float64 {
	if g.sends == 0 {
		return 0
	}
	return g.commands / float64(g.sends)
}

// goGroup: members spread round-robin over procs layer instances join one group; a separate
// sender instance makes `sends` group sends with 32 concurrent senders; the result holds the
// time until every member has every message.
func goGroup(ctx context.Context, redisURL string, admin *redis.Client, members, procs, sends int, log *slog.Logger) (groupResult, error) {
	prefix := uniquePrefix("g")
	var all []*redislayer.Layer
	defer func() {
		for _, l := range all {
			_ = l.Close()
		}
	}()
	for i := 0; i <= procs; i++ {
		l, err := newLayer(redisURL, prefix, log)
		if err != nil {
			return groupResult{}, err
		}
		all = append(all, l)
	}
	sender, receivers := all[0], all[1:]
	target := int64(sends) * int64(members)
	var got atomic.Int64
	done := make(chan struct{})
	for m := 0; m < members; m++ {
		l := receivers[m%procs]
		ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool {
			if got.Add(1) == target {
				close(done)
			}
			return true
		})
		if err != nil {
			return groupResult{}, err
		}
		defer stop()
		if err := l.GroupAdd(ctx, "bench", ch); err != nil {
			return groupResult{}, err
		}
	}
	time.Sleep(200 * time.Millisecond)
	before, err := commandCalls(ctx, admin)
	if err != nil {
		return groupResult{}, err
	}
	start := time.Now()
	if err := parallel(sends, func(i int) error {
		return sender.GroupSend(ctx, "bench", channels.Message{"type": "bench.msg", "i": i})
	}); err != nil {
		return groupResult{}, err
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return groupResult{}, fmt.Errorf("group of %d: %d of %d delivered after 2 minutes", members, got.Load(), target)
	}
	d := time.Since(start)
	after, err := commandCalls(ctx, admin)
	if err != nil {
		return groupResult{}, err
	}
	// The INFO call itself is one command.
	res := groupResult{sends: sends, deliveries: int(got.Load()), dur: d, commands: float64(after - before - 1)}
	return res, sender.Flush(ctx)
}

// commandCalls sums the calls of INFO commandstats.
func commandCalls(ctx context.Context, c *redis.Client) (int64, error) {
	s, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO commandstats: %w", err)
	}
	var total int64
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		_, rest, _ := strings.Cut(line, ":calls=")
		v, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
	}
	return total, nil
}

func redisBenchmark(opt *redis.Options) (string, error) {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return "", errors.New("redis-benchmark not installed")
	}
	host, port, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return "", err
	}
	args := []string{"-h", host, "-p", port, "-P", "16", "-q", "-t", "zadd", "-n", "200000"}
	if opt.Password != "" {
		args = append(args, "-a", opt.Password)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	// The -q output rewrites its progress line with \r; keep the final one.
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndex(s, "\r"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s), nil
}

// startRedis runs a private redis-server on a free loopback port, without persistence.
func startRedis(dir string) (stop func(), url string, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server not found; install it or pass -redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--daemonize", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url = "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer c.Close()
	for i := 0; i < 200; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return stop, url, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return nil, "", errors.New("redis-server did not answer PING within 5 s")
}
