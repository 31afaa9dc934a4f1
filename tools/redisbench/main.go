// Command redisbench measures the Redis channel layers against Django's channels_redis on the
// same Redis server in the same run, and prints a table with the ratios and each side's loss:
//
//	go run ./tools/redisbench                 # starts its own redis-server on loopback
//	go run ./tools/redisbench -redis redis://127.0.0.1:6379/0 -scale 0.5
//	go run ./tools/redisbench -run 'group of 1000' -cpuprofile cpu.prof   # some workloads, profiled
//
// Workloads (the same for both sides, with the same operation counts, warm-up and number of
// concurrent senders): send+receive (messages sent to 100 channels of another process,
// messages/s); group sends to groups of 1, 10, 100 and 1,000 members spread over 1 and 4
// processes (group sends/s, deliveries/s, and Redis commands per group send from INFO
// commandstats deltas, all clients). Each workload first makes -warmup × its count unmeasured
// operations and waits for their deliveries; the clock runs from the first measured operation
// to the last delivery, once every expected delivery has arrived or none has for -drain.
// Every row reports lost/expected deliveries for both sides (warm-up included).
//
// Our side runs in this process: one layer instance per "process" of the shape, and one
// sending instance. channels_redis runs as Django does, in separate OS processes: crbench.py
// beside this file (under /usr/bin/python3, -python) forks one process per receiving
// "process", each with its own RedisChannelLayer and asyncio loop, and the sending processes
// (sharing the concurrent senders). redisbench tries several layouts (-py-senders, and
// -py-receivers for send+receive), prints them all, and compares against the best: the
// fastest without loss. A channels_redis run that fails leaves its figure empty instead of
// ending the run.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers/redislayer"
)

//go:embed crbench.py
var crbench []byte

// channelsN is the number of channels of send+receive.
const channelsN = 100

// bench holds the settings shared by both sides, and the run's Redis.
type bench struct {
	redisURL     string
	pythonPath   string // empty: no channels_redis half
	scale        float64
	messages     int     // send+receive messages, before scale
	warmup       float64 // warm-up operations, as a fraction of each workload's count
	concurrency  int
	capacity     int
	drain        time.Duration
	pyTimeout    time.Duration
	receiveLimit int // >0: each receiving process stops counting after this many (makes loss)
	pySenders    []int
	pyReceivers  []int
	only         *regexp.Regexp

	script   string
	admin    *redis.Client
	log      *slog.Logger
	progress io.Writer
}

// groupSends is each group size's number of group sends before scale: about as many
// deliveries as send+receive's messages for the small groups, enough operations to time for
// the large ones.
var groupSends = map[int]int{1: 20000, 10: 4000, 100: 1000, 1000: 400}

func (b *bench) count(n int) int { return max(1, int(float64(n)*b.scale)) }

func (b *bench) warmups(n int) int { return int(float64(n) * b.warmup) }

func (b *bench) newLayer(prefix string) (*redislayer.Layer, error) {
	l, err := redislayer.New(redislayer.Options{Hosts: []string{b.redisURL}, Prefix: prefix,
		Capacity: b.capacity, InboxCapacity: b.capacity, LocalCapacity: b.capacity, Logger: b.log})
	if err != nil {
		return nil, fmt.Errorf("new layer: %w", err)
	}
	return l, nil
}

func uniquePrefix(tag string) string {
	return "gob" + tag + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// workload is one workload's results: ours, and channels_redis's in each layout tried.
type workload struct {
	name     string
	members  int // 0 for send+receive
	gor      result
	py       []result
	pyErrs   []error
	best     int // index in py of the figure compared against; -1 when none
	pyLayout []pyLayout
}

func (w *workload) pickBest() {
	w.best = -1
	for i, r := range w.py {
		if r.ok() && (w.best < 0 || r.better(w.py[w.best])) {
			w.best = i
		}
	}
}

func (w *workload) bestPy() result {
	if w.best < 0 {
		return result{}
	}
	return w.py[w.best]
}

func main() {
	b := &bench{only: regexp.MustCompile(""), progress: os.Stderr}
	flag.StringVar(&b.redisURL, "redis", "", "Redis server to use (default: start redis-server on a free loopback port)")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter with channels_redis")
	noPython := flag.Bool("no-python", false, "skip the channels_redis half")
	flag.Float64Var(&b.scale, "scale", 1, "multiply every operation count (both sides) by this")
	flag.IntVar(&b.messages, "messages", 20000, "send+receive messages (both sides; group sends: 20000, 4000, 1000 and 400 for 1, 10, 100 and 1000 members), before -scale")
	flag.Float64Var(&b.warmup, "warmup", 0.1, "unmeasured warm-up operations before each workload, as a fraction of its count (both sides)")
	flag.IntVar(&b.concurrency, "concurrency", 32, "concurrent senders (both sides; channels_redis's are shared by its sending processes)")
	flag.IntVar(&b.capacity, "capacity", 1<<20, "channel capacity (both sides; no workload is meant to hit it)")
	flag.DurationVar(&b.drain, "drain", 10*time.Second, "stop waiting for deliveries after this long without one (the rest is reported as lost)")
	flag.DurationVar(&b.pyTimeout, "py-timeout", 5*time.Minute, "give up on one channels_redis run after this long")
	flag.IntVar(&b.receiveLimit, "receive-limit", 0, "each receiving process stops counting after this many messages (to check that loss is reported)")
	pySenders := flag.String("py-senders", "1,2,4", "channels_redis sending processes to try, comma-separated")
	pyReceivers := flag.String("py-receivers", "1,2", "channels_redis receiving processes to try for send+receive, comma-separated")
	only := flag.String("run", "", "run only the workloads whose name matches this regular expression (e.g. 'group of 1000')")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the Go half to this file")
	flag.Parse()
	fail := func(code int, err error) {
		fmt.Fprintln(os.Stderr, "redisbench:", err)
		pprof.StopCPUProfile()
		os.Exit(code)
	}
	var err error
	if b.only, err = regexp.Compile(*only); err != nil {
		fail(2, fmt.Errorf("-run: %w", err))
	}
	if b.pySenders, err = parseInts(*pySenders); err != nil {
		fail(2, fmt.Errorf("-py-senders: %w", err))
	}
	if b.pyReceivers, err = parseInts(*pyReceivers); err != nil {
		fail(2, fmt.Errorf("-py-receivers: %w", err))
	}
	if !*noPython {
		b.pythonPath = *python
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(1, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(1, err)
		}
		defer pprof.StopCPUProfile()
	}
	b.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "redisbench")
	if err != nil {
		fail(1, err)
	}
	defer os.RemoveAll(dir)
	if b.redisURL == "" {
		stop, u, err := startRedis(dir)
		if err != nil {
			fail(1, err)
		}
		defer stop()
		b.redisURL = u
	}
	ws, err := b.run(ctx, dir)
	if err != nil {
		fail(1, err)
	}
	b.print(os.Stdout, ws)
	opt, _ := redis.ParseURL(b.redisURL)
	if out, err := redisBenchmark(opt); err == nil {
		fmt.Printf("\nredis-benchmark -P 16 -q -t zadd -n 200000 (for scale): %s\n", out)
	} else {
		fmt.Printf("\nredis-benchmark: %v\n", err)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures every selected workload on both sides; dir holds crbench.py.
func (b *bench) run(ctx context.Context, dir string) ([]*workload, error) {
	b.script = filepath.Join(dir, "crbench.py")
	if err := os.WriteFile(b.script, crbench, 0o600); err != nil {
		return nil, fmt.Errorf("write crbench.py: %w", err)
	}
	opt, err := redis.ParseURL(b.redisURL)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	b.admin = redis.NewClient(opt)
	defer b.admin.Close()
	if err := b.admin.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	fmt.Fprintf(b.progress, "redisbench: Redis %s, %d concurrent senders, scale %g, warm-up %g\n", opt.Addr, b.concurrency, b.scale, b.warmup)

	var ws []*workload
	if b.only.MatchString("send+receive") {
		n := b.count(b.messages)
		w := &workload{name: fmt.Sprintf("send+receive, %d channels", channelsN)}
		if w.gor, err = b.goSendRecv(ctx, n); err != nil {
			return nil, fmt.Errorf("send+receive: %w", err)
		}
		for _, r := range b.pyReceivers {
			for _, s := range b.pySenders {
				w.pyLayout = append(w.pyLayout, pyLayout{senders: s, receivers: r})
			}
		}
		b.runPython(ctx, w, map[string]any{"op": "sendrecv", "channels": channelsN}, n)
		ws = append(ws, w)
	}
	for _, procs := range []int{1, 4} {
		for _, members := range []int{1, 10, 100, 1000} {
			name := fmt.Sprintf("group of %d over %d proc", members, procs)
			if members < procs || !b.only.MatchString(name) {
				continue
			}
			sends := b.count(groupSends[members])
			w := &workload{name: name, members: members}
			if w.gor, err = b.goGroup(ctx, members, procs, sends); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for _, s := range b.pySenders {
				w.pyLayout = append(w.pyLayout, pyLayout{senders: s, receivers: procs})
			}
			b.runPython(ctx, w, map[string]any{"op": "group", "members": members}, sends)
			ws = append(ws, w)
		}
	}
	return ws, nil
}

// runPython runs w through channels_redis in each of its layouts and picks the best.
func (b *bench) runPython(ctx context.Context, w *workload, cfg map[string]any, ops int) {
	fmt.Fprintf(b.progress, "  %s: gochannels %s/s, lost %s\n", w.name, fmtNum(w.gor.opRate()), w.gor.loss())
	if b.pythonPath == "" {
		w.best = -1
		return
	}
	for _, l := range w.pyLayout {
		c := make(map[string]any, len(cfg))
		for k, v := range cfg {
			c[k] = v
		}
		r, err := b.python(ctx, c, ops, l)
		if err != nil {
			fmt.Fprintf(b.progress, "  %s: channels_redis, %s: failed: %v\n", w.name, l, err)
		} else {
			fmt.Fprintf(b.progress, "  %s: channels_redis, %s: %s/s, lost %s\n", w.name, l, fmtNum(r.opRate()), r.loss())
		}
		w.py = append(w.py, r)
		w.pyErrs = append(w.pyErrs, err)
	}
	w.pickBest()
}

// print writes the table of both sides (channels_redis in its best layout) and then every
// layout tried.
func (b *bench) print(out io.Writer, ws []*workload) {
	fmt.Fprintf(out, "%-64s %12s %14s %8s  %-16s %-16s\n", "workload", "gochannels", "channels_redis", "ratio", "go lost", "python lost")
	line := func(name, unit string, gov, pyv float64, g, p result) {
		ratio := "-"
		if pyv > 0 {
			if unit == "cmds" {
				ratio = fmt.Sprintf("%.2fx", gov/pyv)
			} else {
				ratio = fmt.Sprintf("%.1fx", gov/pyv)
			}
		}
		fmt.Fprintf(out, "%-64s %12s %14s %8s  %-16s %-16s\n", name+" ("+unit+")", fmtNum(gov), fmtNum(pyv), ratio, g.loss(), p.loss())
	}
	for _, w := range ws {
		g, p := w.gor, w.bestPy()
		if w.members == 0 {
			line(w.name, "msg/s", g.opRate(), p.opRate(), g, p)
			continue
		}
		line(w.name+": group sends", "sends/s", g.opRate(), p.opRate(), g, p)
		line(w.name+": deliveries", "msg/s", g.deliveryRate(), p.deliveryRate(), g, p)
		line(w.name+": Redis commands per group send", "cmds", g.perOp(), p.perOp(), g, p)
	}
	if b.pythonPath == "" {
		return
	}
	fmt.Fprintf(out, "\nchannels_redis layouts tried (* = the one compared above: fastest without loss):\n")
	for _, w := range ws {
		for i, l := range w.pyLayout {
			mark := " "
			if i == w.best {
				mark = "*"
			}
			if w.pyErrs[i] != nil {
				fmt.Fprintf(out, "%s %-40s %-36s failed (see above)\n", mark, w.name, l)
				continue
			}
			r := w.py[i]
			fmt.Fprintf(out, "%s %-40s %-36s %10s ops/s  lost %s\n", mark, w.name, l, fmtNum(r.opRate()), r.loss())
		}
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
