package benchpass

import (
	"strings"
	"time"
)

// Need names a service a section's commands need on the machine.
type Need string

const (
	// NeedRedis is a redis-server on the PATH (the tools start private ones).
	NeedRedis Need = "redis-server"
	// NeedDjango is Debian's python3-daphne, python3-django-channels and
	// python3-channels-redis under /usr/bin/python3 (the Django reference, channels_redis).
	NeedDjango Need = "django"
)

// Run is one published figure's command: run Repeat times (0: the pass's -repeat), each
// run's output read by Parse.
type Run struct {
	// Name labels the figure's rows in the report ("gochannels, 1 × 100, Redis").
	Name string
	// Bin is the binary to run, one of the pass's builds (see binaries).
	Bin string
	// Args are its arguments for the full pass; Quick replaces them under -quick. In both,
	// {bin} stands for the directory of the built binaries and {raw} for the run's raw
	// output directory.
	Args, Quick []string
	// Source is the command as BENCHMARKS.md gives it, run from the repository root.
	Source string
	// Repeat is how many times the command runs (0: the pass's -repeat; 1 for a command
	// that repeats inside itself or is too long to repeat).
	Repeat int
	// Parse reads one run's standard output.
	Parse Parser
	// Columns are the figures shown in the report's table, in order (nil: all of them);
	// every figure is kept in the raw JSON.
	Columns []string
	// Est and QuickEst are the expected duration of one run.
	Est, QuickEst time.Duration
	// Needs are the services it needs.
	Needs []Need
}

// Section is a group of figures that BENCHMARKS.md or the README publishes together.
type Section struct {
	// Name is the section's -only name.
	Name string
	// Title says which figures of BENCHMARKS.md and the README it re-measures.
	Title string
	// Runs are its commands, run in order.
	Runs []Run
}

// Needs returns every service the section's runs need.
func (s Section) Needs() []Need {
	seen := map[Need]bool{}
	var needs []Need
	for _, r := range s.Runs {
		for _, n := range r.Needs {
			if !seen[n] {
				seen[n] = true
				needs = append(needs, n)
			}
		}
	}
	return needs
}

// Estimate is the section's expected duration with repeat as the pass's default.
func (s Section) Estimate(repeat int, quick bool) time.Duration {
	var d time.Duration
	for _, r := range s.Runs {
		n := r.times(repeat, quick)
		if quick {
			d += time.Duration(n) * r.QuickEst
		} else {
			d += time.Duration(n) * r.Est
		}
	}
	return d
}

// times is how often the run's command runs in a pass with the given -repeat.
func (r Run) times(repeat int, quick bool) int {
	if quick {
		return 1
	}
	if r.Repeat > 0 {
		return r.Repeat
	}
	return max(repeat, 1)
}

// f splits a command line into arguments (no quoting: the catalog needs none).
func f(s string) []string { return strings.Fields(s) }

// Columns of the chatload reports.
var (
	closedColumns  = []string{"deliveries/s", "p50 ms", "p99 ms", "lost", "echo timeouts", "deliveries per server+redis cpu-s"}
	openColumns    = []string{"deliveries/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "lost", "echo timeouts"}
	searchColumns  = []string{"max sustained deliveries/s", "lowest failing deliveries/s", "best: p99 ms", "best: deliveries per server+redis cpu-s", "steps"}
	connectColumns = []string{"handshakes/s", "p50 ms", "p99 ms", "max ms", "failed"}
	idleColumns    = []string{"KiB per connection", "least KiB per connection of a server", "connections", "servers"}
	outageColumns  = []string{"whole all: expected", "whole all: received", "whole all: lost", "whole all: lost silently",
		"outage all: lost", "after all: lost", "whole all: error frames", "outage all: p99 ms", "whole all: closes"}
	reconnectColumns = []string{"catch-up, all (s)", "catch-up p50 (s)", "catch-up p99 (s)", "replayed", "redis commands per client", "lost", "duplicates", "unrecoverable"}
	tableColumns     = []string{"deliveries/s", "per server CPU-s", "per server+redis CPU-s", "lost", "echo timeouts"}
	profileColumns   = []string{"deliveries/s", "CPU µs", "redis CPU µs", "heap allocs", "heap bytes", "GC cycles per million",
		"write syscalls", "read syscalls", "context switches", "goroutines created", "wake-ups (trace)"}
	benchColumns []string // every unit the benchmarks report
)

// chatload is a run of tools/cmd/chatload with -json, gochannels built once (-chat-bin).
func chatload(name, args, quick string, est, quickEst time.Duration, needs ...Need) Run {
	cols := closedColumns
	switch {
	case strings.Contains(args, "-mode open"):
		cols = openColumns
	case strings.Contains(args, "-mode search"):
		cols = searchColumns
	case strings.Contains(args, "-mode connect"):
		cols = connectColumns
	case strings.Contains(args, "-mode idle"):
		cols = idleColumns
	case strings.Contains(args, "-mode outage"):
		cols = outageColumns
	case strings.Contains(args, "-mode reconnect"):
		cols = reconnectColumns
	case strings.Contains(args, "-server bare"):
		cols = tableColumns
	}
	django := strings.Contains(args, "-server django")
	redis := !strings.Contains(args, "-layer memory") && (strings.Contains(args, "redis") || strings.Contains(args, "-procs") ||
		strings.Contains(args, "-mode outage") || strings.Contains(args, "-mode reconnect") || strings.Contains(args, "-server bare"))
	if django {
		needs = append(needs, NeedDjango, NeedRedis) // channels_redis, and the tool's checks
	} else if redis {
		needs = append(needs, NeedRedis)
	}
	extra := " -json -chat-bin {bin}/chat"
	return Run{
		Name: name, Bin: "chatload", Args: f(args + extra), Quick: f(quick + extra),
		Source: "go run ./tools/cmd/chatload " + args, Parse: ParseChatload, Columns: cols,
		Est: est, QuickEst: quickEst, Needs: needs,
	}
}

// bench is a run of one package's compiled test binary with -bench.
func bench(name, bin, pkg, pattern string, extra string, est time.Duration, needs ...Need) Run {
	args := "-test.run ^$ -test.bench " + pattern + " -test.benchmem " + extra
	src := "go test -run '^$' -bench '" + pattern + "' -benchmem " + strings.ReplaceAll(strings.TrimSpace(extra), "-test.", "-") + " " + pkg
	return Run{
		Name: name, Bin: bin, Args: f(args), Quick: f("-test.run ^$ -test.bench " + pattern + " -test.benchmem -test.benchtime 20x"),
		Source: strings.Join(strings.Fields(src), " "), Parse: ParseGoBench, Columns: benchColumns,
		Est: est, QuickEst: 15 * time.Second, Needs: needs,
	}
}

// Sizes. The published shapes are kept, since they are what the figures mean, and the
// tools' default windows (10 s after a 2 s warm-up), except in the rate searches, whose 5 s
// steps bisecting to 15 % keep one round of eight searches near seven minutes, and in the
// scaling table (5 s windows). Every row runs at least twice so that its spread shows:
// three runs where a run is short and its spread is the question (the chatload default
// shape, bursts, handshakes); two elsewhere, counting the bare and scaling tables' rounds
// (-rounds 2) as runs; the profiles section once, as it measures costs, not rates. That
// makes about 81 minutes on the 2-core machine of BENCHMARKS.md (go run
// ./tools/cmd/benchpass -plan, plus the builds); about 60 is the aim, and -only splits the
// pass into invocations on one commit.

// Sections returns the pass's sections in the order they run.
func Sections() []Section {
	const s = time.Second
	return []Section{
		{Name: "outage", Title: "A Redis restart under 2,000 deliveries/s (BENCHMARKS pass of 2026-12-04; README)", Runs: []Run{
			withRepeat(2, chatload("two processes, 100 clients, redis-server killed and restarted 1.5 s later",
				"-mode outage -clients 100 -rate 2000 -duration 10s -outage-gap 1.5s",
				"-mode outage -clients 10 -rate 200 -duration 3s -warmup 500ms -outage-gap 500ms", 25*s, 15*s)),
		}},
		{Name: "closed", Title: "Closed loop, every client sending: the chatload default shape and the saturated rows against Django (summary; End to end)", Runs: []Run{
			chatload("gochannels, 1 × 100, Redis (the default shape)", "-clients 100 -layer redis", "-clients 10 -layer redis -duration 1s -warmup 500ms", 16*s, 6*s),
			chatload("gochannels, 1 × 100, memory", "-clients 100", "-clients 10 -duration 1s -warmup 500ms", 15*s, 5*s),
			withRepeat(2, chatload("Django, 1 × 100, Redis", "-clients 100 -layer redis -server django", "-clients 10 -layer redis -server django -duration 1s -warmup 500ms", 18*s, 10*s)),
			withRepeat(2, chatload("gochannels, 10 × 100, 1 process, Redis", "-clients 1000 -rooms 10 -layer redis", "-clients 20 -rooms 2 -layer redis -duration 1s -warmup 500ms", 17*s, 6*s)),
			withRepeat(2, chatload("Django, 10 × 100, 1 process, Redis", "-clients 1000 -rooms 10 -layer redis -server django", "-clients 20 -rooms 2 -layer redis -server django -duration 1s -warmup 500ms", 22*s, 10*s)),
			withRepeat(2, chatload("gochannels, 10 × 100, 2 processes, Redis", "-clients 1000 -rooms 10 -procs 2", "-clients 20 -rooms 2 -procs 2 -duration 1s -warmup 500ms", 18*s, 6*s)),
			withRepeat(2, chatload("Django, 10 × 100, 2 processes, Redis", "-clients 1000 -rooms 10 -procs 2 -server django", "-clients 20 -rooms 2 -procs 2 -server django -duration 1s -warmup 500ms", 24*s, 10*s)),
			withRepeat(2, chatload("gochannels, 1 × 100, Redis, 10 senders", "-clients 100 -senders 10 -layer redis", "-clients 10 -senders 2 -layer redis -duration 1s -warmup 500ms", 16*s, 6*s)),
			withRepeat(2, chatload("gochannels, 10 × 100, 2 processes, 10 senders per room", "-clients 1000 -rooms 10 -procs 2 -senders 10", "-clients 20 -rooms 2 -procs 2 -senders 2 -duration 1s -warmup 500ms", 18*s, 6*s)),
		}},
		{Name: "bursts", Title: "Delivery under bursts: 10 senders × 50 in flight (pass of 2026-12-03; README), and the open-loop burst (Bursts: nothing lost)", Runs: []Run{
			chatload("1 × 100, memory", "-clients 100 -senders 10 -inflight 50", "-clients 10 -senders 2 -inflight 5 -duration 1s -warmup 500ms", 15*s, 5*s),
			chatload("1 × 100, Redis", "-clients 100 -senders 10 -inflight 50 -layer redis", "-clients 10 -senders 2 -inflight 5 -layer redis -duration 1s -warmup 500ms", 16*s, 6*s),
			withRepeat(2, chatload("10 × 100, 2 processes, Redis", "-clients 1000 -rooms 10 -procs 2 -senders 10 -inflight 50", "-clients 20 -rooms 2 -procs 2 -senders 2 -inflight 5 -duration 1s -warmup 500ms", 18*s, 6*s)),
			withRepeat(2, chatload("open loop far past capacity, 1 × 100, memory, 10 senders", "-mode open -clients 100 -senders 10 -rate 300000 -duration 4s -warmup 1s", "-mode open -clients 10 -senders 2 -rate 2000 -duration 1s -warmup 500ms", 12*s, 5*s)),
		}},
		{Name: "search", Title: "Highest clean rate: 0 lost, 0 echo timeouts, p99 ≤ 100 ms (pass of 2026-12-03; the README's headline)", Runs: searchRuns()},
		{Name: "latency", Title: "Latency at a fixed 2,000 deliveries/s, open loop (End to end; README)", Runs: []Run{
			withRepeat(2, chatload("1 × 100, Redis", "-mode open -rate 2000 -clients 100 -layer redis", "-mode open -rate 200 -clients 10 -layer redis -duration 1s -warmup 500ms", 16*s, 6*s)),
			withRepeat(2, chatload("1 × 100, Redis, Django", "-mode open -rate 2000 -clients 100 -layer redis -server django", "-mode open -rate 200 -clients 10 -layer redis -server django -duration 1s -warmup 500ms", 18*s, 10*s)),
			withRepeat(2, chatload("1 × 100, memory", "-mode open -rate 2000 -clients 100 -layer memory", "-mode open -rate 200 -clients 10 -layer memory -duration 1s -warmup 500ms", 15*s, 5*s)),
			withRepeat(2, chatload("10 × 100, 2 processes, Redis", "-mode open -rate 2000 -clients 1000 -rooms 10 -procs 2", "-mode open -rate 200 -clients 20 -rooms 2 -procs 2 -duration 1s -warmup 500ms", 18*s, 6*s)),
			withRepeat(2, chatload("10 × 100, 2 processes, Redis, Django", "-mode open -rate 2000 -clients 1000 -rooms 10 -procs 2 -server django", "-mode open -rate 200 -clients 20 -rooms 2 -procs 2 -server django -duration 1s -warmup 500ms", 24*s, 10*s)),
		}},
		{Name: "connect", Title: "WebSocket handshakes per second (End to end; README)", Runs: []Run{
			chatload("gochannels, Redis", "-mode connect -k 20000 -c 50 -layer redis", "-mode connect -k 200 -c 10 -layer redis", 8*s, 4*s),
			chatload("gochannels, memory", "-mode connect -k 20000 -c 50 -layer memory", "-mode connect -k 200 -c 10 -layer memory", 6*s, 3*s),
			withRepeat(2, chatload("Django, Redis", "-server django -mode connect -k 5000 -c 50 -layer redis", "-server django -mode connect -k 100 -c 10 -layer redis", 10*s, 8*s)),
			withRepeat(2, chatload("Django, memory", "-server django -mode connect -k 5000 -c 50 -layer memory", "-server django -mode connect -k 100 -c 10 -layer memory", 8*s, 8*s)),
		}},
		{Name: "bare", Title: "Against the bare Go ceiling (pass of 2026-12-04; README): -rounds alternate the order, each round a sample", Runs: []Run{
			withRepeat(1, chatload("10 senders × 50 in flight", "-server "+bareServers+" -clients 100 -senders 10 -inflight 50 -rounds 2",
				"-server "+bareServers+" -clients 10 -senders 2 -inflight 5 -duration 1s -warmup 500ms", 120*s, 25*s)),
			withRepeat(1, chatload("1 sender × 10 in flight", "-server "+bareServers+" -clients 100 -senders 1 -inflight 10 -rounds 2",
				"-server "+bareServers+" -clients 10 -senders 1 -inflight 2 -duration 1s -warmup 500ms", 120*s, 25*s)),
			withRepeat(1, chatload("10 rooms × 100, 1 sender × 10 in flight per room; Redis on two processes", "-server gochannels:memory,gochannels:redis:2,gochannels:redis?pipeline_depth=256:2 -clients 1000 -rooms 10 -senders 1 -inflight 10 -rounds 2",
				"-server gochannels:memory,gochannels:redis:2,gochannels:redis?pipeline_depth=256:2 -clients 20 -rooms 2 -senders 1 -inflight 2 -duration 1s -warmup 500ms", 90*s, 20*s)),
		}},
		{Name: "scaling", Title: "Scaling: deliveries per CPU second as a room grows (10 to 10,000 members) and as rooms multiply (1 to 1,000 of 10), 1 sender × 10 in flight per room; -rounds alternate the order, each round a sample", Runs: []Run{
			withRepeat(1, chatload("bare, memory, Redis under the scaling grid", "-server bare,gochannels:memory,gochannels:redis -shapes scaling -senders 1 -inflight 10 -drain 10s -duration 5s -warmup 1s -rounds 2",
				"-server bare,gochannels:memory,gochannels:redis -shapes 1x10,2x10 -senders 1 -inflight 2 -drain 2s -duration 1s -warmup 500ms", scalingEst, 25*s)),
		}},
		{Name: "profiles", Title: "Where a delivery's time goes: costs per delivery from one profiled run each (-profile; a profile, not a rate: profiling slows the servers, and each figure is one run)", Runs: []Run{
			profile("10 senders × 50 in flight", "-clients 100 -senders 10 -inflight 50", "-clients 10 -senders 2 -inflight 5"),
			profile("1 sender × 10 in flight", "-clients 100 -senders 1 -inflight 10", "-clients 10 -senders 1 -inflight 2"),
		}},
		{Name: "reconnect", Title: "Mass reconnect with recovery, 10,000 clients (pass of 2026-12-04; README)", Runs: []Run{
			withRepeat(2, chatload("kill one of two processes", "-mode reconnect", "-mode reconnect -clients 40 -rooms 2 -rate 20 -warmup 10s -duration 500ms -catchup 30s", 45*s, 10*s)),
			withRepeat(2, chatload("drop all 10,000 sockets", "-mode reconnect -reconnect-by drop", "-mode reconnect -reconnect-by drop -clients 40 -rooms 2 -rate 20 -warmup 10s -duration 500ms -catchup 30s", 45*s, 10*s)),
		}},
		{Name: "history", Title: "History and presence costs (pass of 2026-12-04)", Runs: []Run{
			withRepeat(2, bench("Redis group send with and without history", "redislayer.test", "./layers/redislayer/", "BenchmarkGroupSendHistory", "", 40*time.Second, NeedRedis)),
			withRepeat(2, bench("Redis presence", "redislayer.test", "./layers/redislayer/", "BenchmarkPresence$", "-test.benchtime 200x", 15*time.Second, NeedRedis)),
			withRepeat(2, bench("memory group send with and without history", "layers.test", "./layers/", "BenchmarkMemoryGroupSendHistory", "", 5*time.Second)),
			withRepeat(2, bench("memory presence", "layers.test", "./layers/", "BenchmarkMemoryPresence", "", 8*time.Second)),
		}},
		{Name: "idle-redis", Title: "Memory per idle connection, Redis, 3 processes × 5,000, both servers (Memory per idle connection)", Runs: []Run{
			withRepeat(2, chatload("gochannels, Redis, 3 × 5,000", "-mode idle -layer redis -procs 3 -per-server 5000 -rooms 100",
				"-mode idle -layer redis -procs 3 -per-server 50 -rooms 7", 25*s, 8*s)),
			withRepeat(2, chatload("daphne, Redis, 3 × 5,000", "-mode idle -layer redis -procs 3 -per-server 5000 -rooms 100 -server django",
				"-mode idle -layer redis -procs 3 -per-server 50 -rooms 7 -server django", 150*s, 20*s)),
		}},
		{Name: "idle", Title: "Memory per idle connection: idleconns, the memory layer like for like, 50,000 over 3 processes (Memory per idle connection; README)", Runs: []Run{
			withRepeat(2, idleconns("epoll poller, trivial app, 10,000", "-n 10000", "-n 100")),
			withRepeat(2, idleconns("reader goroutine per connection, 10,000", "-n 10000 -no-poller", "-n 100 -no-poller")),
			withRepeat(2, idleconns("chat consumer, memory, 10 rooms, 10,000", "-n 10000 -chat", "-n 100 -chat")),
			withRepeat(2, chatload("gochannels, memory, 1 × 5,000", "-mode idle -layer memory -procs 1 -per-server 5000 -rooms 50",
				"-mode idle -layer memory -procs 1 -per-server 50 -rooms 5", 20*s, 5*s)),
			withRepeat(2, chatload("daphne, memory, 1 × 5,000", "-mode idle -layer memory -procs 1 -per-server 5000 -rooms 50 -server django",
				"-mode idle -layer memory -procs 1 -per-server 50 -rooms 5 -server django", 60*s, 10*s)),
			withRepeat(2, chatload("gochannels, Redis, 50,000 over 3 processes", "-mode idle -layer redis -procs 3 -clients 50000 -rooms 500",
				"-mode idle -layer redis -procs 3 -clients 150 -rooms 5", 60*s, 8*s)),
		}},
		{Name: "redisbench", Title: "The Redis layer against channels_redis, Python in separate processes (pass of 2026-12-03; README)", Runs: []Run{{
			Name: "fair harness, best layout of 1/2/4 senders", Bin: "redisbench", Args: nil,
			Quick:  f("-scale 0.02 -py-senders 1 -py-receivers 1 -drain 5s"),
			Source: "go run ./tools/redisbench", Repeat: 2, Parse: ParseRedisbench,
			Columns: []string{"gochannels", "channels_redis", "ratio", "go lost", "python lost"},
			Est:     240 * s, QuickEst: 40 * s, Needs: []Need{NeedRedis, NeedDjango},
		}}},
		{Name: "micro", Title: "Go micro-benchmarks: sockets, wire protocol, consumers, layers, operations, sessions, routing", Runs: []Run{
			withRepeat(2, bench("echo and broadcast over real sockets", "channels.test", "./channels/", ".", "", 35*s)),
			withRepeat(2, bench("wire protocol", "wsproto.test", "./internal/wsproto/", ".", "", 8*s)),
			withRepeat(2, bench("chat handshake", "chat.test", "./examples/chat/chat/", "Connect", "", 5*s)),
			withRepeat(2, bench("consumers in process", "consumer.test", "./consumer/", "Echo|Broadcast|Dispatch|WebsocketReceive", "", 15*s)),
			withRepeat(2, bench("worker", "worker.test", "./worker/", ".", "", 5*s)),
			withRepeat(2, bench("memory layer", "layers.test", "./layers/", "^Benchmark(Memory(SendReceive|SendReceiveParallel|ListenSend|GroupSend)|CapacityMatch)$", "", 15*s)),
			withRepeat(2, bench("Redis layer, one call at a time", "redislayer.test", "./layers/redislayer/", "^Benchmark(SendReceive|SendListen|GroupSend)$", "", 20*s, NeedRedis)),
			withRepeat(2, bench("operations overhead", "ops.test", "./ops/", ".", "", 6*s)),
			withRepeat(2, bench("sessions", "sessions.test", "./sessions/", ".", "", 8*s)),
			withRepeat(2, bench("routing", "router.test", "./router/", ".", "", 6*s)),
		}},
		{Name: "conformance", Title: "Protocol conformance, 410 Autobahn-style cases (Protocol conformance)", Runs: []Run{{
			Name: "TestConformance", Bin: "conformance.test", Args: f("-test.run ^TestConformance$ -test.v"),
			Quick:  f("-test.run ^TestConformance$ -test.v"),
			Source: "go test -v -run TestConformance ./internal/conformance", Parse: ParseConformance,
			Est: 5 * s, QuickEst: 5 * s,
		}}},
	}
}

// bareServers is the bare section's table: the ceiling, the memory layer, and the Redis
// layer with strict group sends and with pipelined ones (redislayer's pipeline_depth).
const bareServers = "bare,gochannels:memory,gochannels:redis,gochannels:redis?pipeline_depth=256"

// searchRuns are the rate searches: 5 s steps after a 1 s warm-up (the default 10 s steps
// would make this one section 20 minutes), bisecting to 10 %, each server starting near its
// earlier result so that few doubling steps are spent below it.
func searchRuns() []Run {
	const s = time.Second
	step := " -duration 5s -warmup 1s -pause 1s -precision 0.15"
	quick := " -duration 1s -warmup 300ms -pause 200ms -precision 0.5 -search-steps 3"
	var runs []Run
	for _, shape := range []struct{ name, args, quick string }{
		{"1 × 100, 1 process", "-clients 100 -layer redis", "-clients 10 -layer redis"},
		{"10 × 100, 1 process", "-clients 1000 -rooms 10 -layer redis", "-clients 20 -rooms 2 -layer redis"},
		{"1 × 100, 2 processes", "-clients 100 -procs 2", "-clients 10 -procs 2"},
		{"10 × 100, 2 processes", "-clients 1000 -rooms 10 -procs 2", "-clients 20 -rooms 2 -procs 2"},
	} {
		runs = append(runs,
			withRepeat(2, chatload("gochannels, "+shape.name, "-mode search "+shape.args+" -rate 100000"+step,
				"-mode search "+shape.quick+" -rate 500"+quick, 60*s, 8*s)),
			withRepeat(2, chatload("Django, "+shape.name, "-mode search "+shape.args+" -server django -rate 1000"+step,
				"-mode search "+shape.quick+" -server django -rate 100"+quick, 50*s, 12*s)))
	}
	return runs
}

// scalingEst is one run of the scaling table: 18 rows (3 servers × 6 shapes) of a 1 s
// warm-up, a 5 s window and up to 10 s of drain, with the connecting of up to 10,000
// clients, twice (-rounds 2).
const scalingEst = 13*time.Minute + 30*time.Second

// profile is one profiled chatload table over the bare section's servers: a 5 s window,
// the profiles and costs kept under the run's raw directory, one run (a profile: its
// figures are costs per delivery, not rates to spread).
func profile(name, shape, quick string) Run {
	dir := "{raw}/" + slug(name)
	r := chatload(name, "-server "+bareServers+" "+shape+" -duration 5s -profile "+dir,
		"-server "+bareServers+" "+quick+" -duration 1s -warmup 500ms -profile "+dir, 100*time.Second, 90*time.Second)
	r.Source = "go run ./tools/cmd/chatload -server " + bareServers + " " + shape + " -duration 5s -profile DIR"
	r.Columns = profileColumns
	return withRepeat(1, r)
}

// idleconns is a run of tools/cmd/idleconns.
func idleconns(name, args, quick string) Run {
	return Run{
		Name: name, Bin: "idleconns", Args: f(args), Quick: f(quick),
		Source: "go run ./tools/cmd/idleconns " + args, Parse: ParseIdleconns,
		Columns: []string{"KiB per connection", "goroutines per connection"},
		Est:     20 * time.Second, QuickEst: 3 * time.Second,
	}
}

// withRepeat sets a run's repeat count.
func withRepeat(n int, r Run) Run {
	r.Repeat = n
	return r
}
