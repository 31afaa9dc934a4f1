package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProfileKinds are the pprof profiles a Profiler captures over the measured window, each a
// delta over the window (/debug/pprof/<kind>?seconds=N).
var ProfileKinds = []string{"profile", "block", "mutex", "allocs"}

// schedSampling is how many goroutine schedulings the runtime counts per sample in
// /sched/latencies:seconds (it tracks one transition in eight).
const schedSampling = 8

// ProfileConfig describes what a Profiler captures.
type ProfileConfig struct {
	// Dir receives the files: <Label>[-i]-<kind>.pb.gz per server process (kind "profile"
	// is the CPU profile), <Label>-<i>-trace.out (a TraceSeconds execution trace, when the go
	// command is on PATH to count it), <Label>-top.txt (go tool pprof -top of the profiles)
	// and <Label>-costs.txt.
	Dir, Label string
	// PprofURLs are the servers' debug addresses (Cluster.PprofURLs); the processes' own
	// counters are read from /proc for ServerPIDs and RedisPID.
	PprofURLs  []string
	ServerPIDs []int
	RedisPID   int
	// Window is the measured window's length (Config.Duration).
	Window time.Duration
	// Logger receives what could not be captured (slog.Default() when nil).
	Logger *slog.Logger
}

// Profiler captures CPU, block, mutex and allocation profiles of the servers over a run's
// measured window, with the counters that make a cost per delivery: CPU time, syscalls,
// bytes through syscalls and thread context switches from /proc, heap allocations,
// goroutine schedulings and mutex wait from the runtime/metrics the servers serve at
// /debug/metrics (examples/chat and the bare server with -pprof). Start it at the window's
// start (Config.OnWindow = p.Start), then ask Costs once the run is over.
type Profiler struct {
	cfg     ProfileConfig
	ctx     context.Context
	log     *slog.Logger
	once    sync.Once
	started chan struct{}
	done    chan struct{}

	before, after counterSample
	trace         *traceCounts // nil without a trace
	files         []string
	errs          []error
}

// NewProfiler returns a Profiler; ctx bounds its fetches.
func NewProfiler(ctx context.Context, cfg ProfileConfig) *Profiler {
	p := &Profiler{cfg: cfg, ctx: ctx, log: cfg.Logger, started: make(chan struct{}), done: make(chan struct{})}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p
}

// Start samples the counters, starts the profile fetches of the window's length and samples
// the counters again when the window ends, in a goroutine of its own; it returns at once.
// Only the first call counts.
func (p *Profiler) Start() {
	p.once.Do(func() {
		close(p.started)
		go p.capture()
	})
}

func (p *Profiler) capture() {
	defer close(p.done)
	secs := max(1, int(math.Round(p.cfg.Window.Seconds())))
	if err := os.MkdirAll(p.cfg.Dir, 0o755); err != nil {
		p.errs = append(p.errs, fmt.Errorf("loadtest: profile directory: %w", err))
		return
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Duration(secs)*time.Second + time.Minute}
	p.before = p.sample(client)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, base := range p.cfg.PprofURLs {
		for _, kind := range ProfileKinds {
			name := p.cfg.Label
			if len(p.cfg.PprofURLs) > 1 {
				name += "-" + strconv.Itoa(i)
			}
			path := filepath.Join(p.cfg.Dir, name+"-"+kind+".pb.gz")
			wg.Go(func() {
				err := fetchTo(p.ctx, client, base+"/debug/pprof/"+kind+"?seconds="+strconv.Itoa(secs), path)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					p.errs = append(p.errs, err)
					return
				}
				p.files = append(p.files, path)
			})
		}
	}
	var traces []string
	if _, err := exec.LookPath("go"); err == nil {
		for i, base := range p.cfg.PprofURLs {
			path := filepath.Join(p.cfg.Dir, p.cfg.Label+"-"+strconv.Itoa(i)+"-trace.out")
			wg.Go(func() {
				err := fetchTo(p.ctx, client, base+"/debug/pprof/trace?seconds="+strconv.Itoa(TraceSeconds), path)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					p.errs = append(p.errs, err)
					return
				}
				traces = append(traces, path)
			})
		}
	} else {
		p.errs = append(p.errs, fmt.Errorf("loadtest: no execution trace: %w", err))
	}
	if sleepCtx(p.ctx, p.cfg.Window) == nil {
		p.after = p.sample(client)
	}
	wg.Wait()
	// The traces' counts, summed over the servers.
	if len(traces) < len(p.cfg.PprofURLs) {
		traces = nil // a partial sum would mislead
	}
	for _, path := range traces {
		c, err := countTrace(p.ctx, path)
		if err != nil {
			p.errs = append(p.errs, err)
			break
		}
		p.files = append(p.files, path)
		if p.trace == nil {
			p.trace = &traceCounts{blocks: map[string]float64{}}
		}
		p.trace.wakeUps += c.wakeUps
		p.trace.syscalls += c.syscalls
		p.trace.created += c.created
		for k, v := range c.blocks {
			p.trace.blocks[k] += v
		}
	}
}

// counterSample is the processes' counters at one moment.
type counterSample struct {
	at            time.Time
	server, redis procCounters
	runtime       map[string]float64 // summed over the servers
	ok, runtimeOK bool
}

// procCounters are one or more processes' counters from /proc.
type procCounters struct {
	cpu                                     time.Duration
	syscr, syscw, rchar, wchar, ctxSwitches float64
}

func (a procCounters) sub(b procCounters) procCounters {
	return procCounters{cpu: a.cpu - b.cpu, syscr: a.syscr - b.syscr, syscw: a.syscw - b.syscw,
		rchar: a.rchar - b.rchar, wchar: a.wchar - b.wchar, ctxSwitches: a.ctxSwitches - b.ctxSwitches}
}

func (p *Profiler) sample(client *http.Client) counterSample {
	s := counterSample{at: time.Now(), ok: true, runtime: map[string]float64{}}
	for _, pid := range p.cfg.ServerPIDs {
		c, err := readProcCounters(pid)
		if err != nil {
			p.log.Warn("loadtest: profile counters", "error", err)
			s.ok = false
		}
		s.server = add(s.server, c)
	}
	if p.cfg.RedisPID != 0 {
		c, err := readProcCounters(p.cfg.RedisPID)
		if err != nil {
			p.log.Warn("loadtest: profile counters", "error", err)
			s.ok = false
		}
		s.redis = c
	}
	s.runtimeOK = len(p.cfg.PprofURLs) > 0
	for _, base := range p.cfg.PprofURLs {
		m, err := fetchRuntimeMetrics(p.ctx, client, base+"/debug/metrics")
		if err != nil {
			p.log.Warn("loadtest: runtime metrics", "error", err)
			s.runtimeOK = false
			continue
		}
		for k, v := range m {
			s.runtime[k] += v
		}
	}
	return s
}

func add(a, b procCounters) procCounters {
	return procCounters{cpu: a.cpu + b.cpu, syscr: a.syscr + b.syscr, syscw: a.syscw + b.syscw,
		rchar: a.rchar + b.rchar, wchar: a.wchar + b.wchar, ctxSwitches: a.ctxSwitches + b.ctxSwitches}
}

// readProcCounters reads a process's CPU time, its read and write syscalls and bytes
// (/proc/<pid>/io) and the context switches of all its threads (/proc/<pid>/task/*/status).
func readProcCounters(pid int) (procCounters, error) {
	var c procCounters
	var err error
	if c.cpu, err = CPUTime(pid); err != nil {
		return c, err
	}
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/io")
	if err != nil {
		return c, fmt.Errorf("loadtest: read syscall counters: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch k {
		case "syscr":
			c.syscr = n
		case "syscw":
			c.syscw = n
		case "rchar":
			c.rchar = n
		case "wchar":
			c.wchar = n
		}
	}
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return c, fmt.Errorf("loadtest: read threads: %w", err)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				c.ctxSwitches += n
			}
		}
	}
	return c, nil
}

// fetchRuntimeMetrics reads the "name value" lines of a server's /debug/metrics.
func fetchRuntimeMetrics(ctx context.Context, client *http.Client, u string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadtest: runtime metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadtest: runtime metrics: %s from %s", resp.Status, u)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[k] = f
		}
	}
	return m, sc.Err()
}

// fetchTo writes the body of GET u to path.
func fetchTo(ctx context.Context, client *http.Client, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("loadtest: fetch profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("loadtest: fetch profile %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("loadtest: profile file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("loadtest: fetch profile %s: %w", u, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("loadtest: profile file: %w", err)
	}
	return nil
}

// Costs is what the servers (and Redis) spent in a measured window, per delivery.
type Costs struct {
	Label         string  `json:"label"`
	Deliveries    int64   `json:"deliveries"`
	WindowSeconds float64 `json:"window_s"`
	// Server and Redis are per delivery; Redis is nil without a private redis-server.
	Server ProcessCosts  `json:"server_per_delivery"`
	Redis  *ProcessCosts `json:"redis_per_delivery,omitempty"`
	// Runtime holds the servers' runtime/metrics per delivery (nil without /debug/metrics).
	Runtime *RuntimeCosts `json:"runtime_per_delivery,omitempty"`
	// Trace holds the counts of a TraceSeconds execution trace taken at the window's start,
	// per delivery at the window's mean rate (nil without one).
	Trace *TraceCosts `json:"trace_per_delivery,omitempty"`
	// Files are the profiles written; Errors what could not be captured.
	Files  []string `json:"files,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// ProcessCosts are a process's /proc counters per delivery.
type ProcessCosts struct {
	CPUMicros       float64 `json:"cpu_us"`
	ReadSyscalls    float64 `json:"read_syscalls"`
	WriteSyscalls   float64 `json:"write_syscalls"`
	BytesRead       float64 `json:"bytes_read"`
	BytesWritten    float64 `json:"bytes_written"`
	ContextSwitches float64 `json:"thread_context_switches"`
}

// RuntimeCosts are the Go runtime's counters per delivery.
type RuntimeCosts struct {
	Allocs            float64 `json:"heap_allocs"`
	AllocBytes        float64 `json:"heap_alloc_bytes"`
	GoroutineRuns     float64 `json:"goroutine_schedulings_est"`
	GoroutinesCreated float64 `json:"goroutines_created"`
	MutexWaitNanos    float64 `json:"mutex_wait_ns"`
	GCCPUMicros       float64 `json:"gc_cpu_us"`
	GCCycles          float64 `json:"gc_cycles"`
}

// Costs waits for the capture to end and divides its counters by deliveries (the
// deliveries of the measured window: Report.DeliveriesPerSec × Report.DurationSeconds).
// It fails when Start was never called or the counters could not be read.
func (p *Profiler) Costs(deliveries int64) (*Costs, error) {
	select {
	case <-p.started:
	default:
		return nil, errors.New("loadtest: the profiler never started (no measured window)")
	}
	<-p.done
	c := &Costs{Label: p.cfg.Label, Deliveries: deliveries, Files: p.files}
	for _, err := range p.errs {
		c.Errors = append(c.Errors, err.Error())
	}
	if !p.before.ok || !p.after.ok {
		return c, errors.New("loadtest: profile counters missing (see the log)")
	}
	if deliveries <= 0 {
		return c, errors.New("loadtest: no deliveries in the window to divide by")
	}
	c.WindowSeconds = round3(p.after.at.Sub(p.before.at).Seconds())
	n := float64(deliveries)
	c.Server = perDelivery(p.after.server.sub(p.before.server), n)
	if p.cfg.RedisPID != 0 {
		r := perDelivery(p.after.redis.sub(p.before.redis), n)
		c.Redis = &r
	}
	if p.before.runtimeOK && p.after.runtimeOK {
		d := func(k string) float64 { return (p.after.runtime[k] - p.before.runtime[k]) / n }
		c.Runtime = &RuntimeCosts{
			Allocs:            d("/gc/heap/allocs:objects"),
			AllocBytes:        d("/gc/heap/allocs:bytes"),
			GoroutineRuns:     schedSampling * d("/sched/latencies:seconds#count"),
			GoroutinesCreated: d("/sched/goroutines-created:goroutines"),
			MutexWaitNanos:    1e9 * d("/sync/mutex/wait/total:seconds"),
			GCCPUMicros:       1e6 * d("/cpu/classes/gc/total:cpu-seconds"),
			GCCycles:          d("/gc/cycles/total:gc-cycles"),
		}
	}
	if p.trace != nil && c.WindowSeconds > 0 {
		c.Trace = p.trace.perDelivery(n * TraceSeconds / c.WindowSeconds)
	}
	return c, nil
}

func perDelivery(c procCounters, n float64) ProcessCosts {
	return ProcessCosts{
		CPUMicros:       1e6 * c.cpu.Seconds() / n,
		ReadSyscalls:    c.syscr / n,
		WriteSyscalls:   c.syscw / n,
		BytesRead:       c.rchar / n,
		BytesWritten:    c.wchar / n,
		ContextSwitches: c.ctxSwitches / n,
	}
}

// WriteText writes the costs per delivery as a small table.
func (c *Costs) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cost per delivery, %s: %d deliveries in %.1fs\n", c.Label, c.Deliveries, c.WindowSeconds)
	row := func(what string, srv float64, redis func(*ProcessCosts) float64, format string) {
		fmt.Fprintf(&b, "  %-34s "+format, what, srv)
		if c.Redis != nil && redis != nil {
			fmt.Fprintf(&b, "   redis "+format, redis(c.Redis))
		}
		b.WriteString("\n")
	}
	row("CPU µs", c.Server.CPUMicros, func(p *ProcessCosts) float64 { return p.CPUMicros }, "%9.4f")
	row("read syscalls", c.Server.ReadSyscalls, func(p *ProcessCosts) float64 { return p.ReadSyscalls }, "%9.5f")
	row("write syscalls", c.Server.WriteSyscalls, func(p *ProcessCosts) float64 { return p.WriteSyscalls }, "%9.5f")
	row("bytes read (syscalls)", c.Server.BytesRead, func(p *ProcessCosts) float64 { return p.BytesRead }, "%9.1f")
	row("bytes written (syscalls)", c.Server.BytesWritten, func(p *ProcessCosts) float64 { return p.BytesWritten }, "%9.1f")
	row("thread context switches", c.Server.ContextSwitches, func(p *ProcessCosts) float64 { return p.ContextSwitches }, "%9.5f")
	if r := c.Runtime; r != nil {
		row("heap allocations", r.Allocs, nil, "%9.4f")
		row("heap bytes allocated", r.AllocBytes, nil, "%9.1f")
		row("goroutine schedulings (8 x sampled)", r.GoroutineRuns, nil, "%9.4f")
		row("goroutines created", r.GoroutinesCreated, nil, "%9.5f")
		row("mutex wait ns", r.MutexWaitNanos, nil, "%9.1f")
		row("GC CPU µs", r.GCCPUMicros, nil, "%9.4f")
		fmt.Fprintf(&b, "  %-34s %8.2f\n", "GC cycles per million deliveries", 1e6*r.GCCycles)
	}
	if t := c.Trace; t != nil {
		row("goroutine wake-ups (trace)", t.WakeUps, nil, "%9.5f")
		row("Go syscalls (trace)", t.Syscalls, nil, "%9.5f")
		row("goroutines created (trace)", t.GoroutinesCreated, nil, "%9.5f")
		reasons := t.blockReasons()
		var other float64
		for i, k := range reasons {
			if i < 4 {
				row("blocked: "+k+" (trace)", t.Blocks[k], nil, "%9.5f")
			} else {
				other += t.Blocks[k]
			}
		}
		if len(reasons) > 4 {
			row("blocked: other reasons (trace)", other, nil, "%9.5f")
		}
	}
	for _, f := range c.Files {
		fmt.Fprintf(&b, "  profile: %s\n", f)
	}
	for _, e := range c.Errors {
		fmt.Fprintf(&b, "  not captured: %s\n", e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFiles writes <Label>-costs.txt and, when the go command is on PATH, <Label>-top.txt:
// go tool pprof -top of each profile captured (block and mutex without the frames of
// net/http/pprof, whose delta handlers block for the whole window).
func (c *Costs) WriteFiles(ctx context.Context, dir string) error {
	var b strings.Builder
	if err := c.WriteText(&b); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, c.Label+"-costs.txt"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("loadtest: costs file: %w", err)
	}
	if _, err := exec.LookPath("go"); err != nil || len(c.Files) == 0 {
		return nil
	}
	var top strings.Builder
	for _, f := range c.Files {
		if !strings.HasSuffix(f, ".pb.gz") {
			continue // the execution trace
		}
		args := []string{"tool", "pprof", "-top", "-nodecount=25"}
		switch {
		case strings.HasSuffix(f, "-allocs.pb.gz"):
			args = append(args, "-sample_index=alloc_objects")
		case strings.HasSuffix(f, "-block.pb.gz"), strings.HasSuffix(f, "-mutex.pb.gz"):
			// The delta profiles' own handlers wait the whole window: not the server's cost.
			args = append(args, "-ignore=net/http/pprof")
		}
		out, err := exec.CommandContext(ctx, "go", append(args, f)...).CombinedOutput()
		fmt.Fprintf(&top, "==> go %s\n%s\n", strings.Join(append(args, filepath.Base(f)), " "), out)
		if err != nil {
			fmt.Fprintf(&top, "(failed: %v)\n", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, c.Label+"-top.txt"), []byte(top.String()), 0o644); err != nil {
		return fmt.Errorf("loadtest: top file: %w", err)
	}
	return nil
}
