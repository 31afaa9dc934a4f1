// Command chatload drives examples/chat with WebSocket clients and reports end-to-end
// figures: deliveries per second, loss, duplicates and send-to-receive latency percentiles,
// handshakes per second, and server RSS per idle connection.
//
// By default it starts everything itself: it builds examples/chat, starts a private
// redis-server on a free loopback port when the layer is Redis and no -redis URL is given,
// starts -procs chat servers on free loopback ports, and stops all of them at the end (also
// on SIGINT/SIGTERM and on error). With -url it targets servers that are already running.
//
//	go run ./tools/cmd/chatload -clients 100 -rooms 1                       # closed loop, in-memory layer
//	go run ./tools/cmd/chatload -clients 1000 -rooms 10 -procs 2            # two processes on one Redis
//	go run ./tools/cmd/chatload -mode open -rate 2000 -clients 100          # fixed 2,000 deliveries/s
//	go run ./tools/cmd/chatload -clients 100 -senders 10 -inflight 50        # 10 senders, 50 in flight each
//	go run ./tools/cmd/chatload -mode search -clients 100 -p99 100ms         # highest clean sustained rate
//	go run ./tools/cmd/chatload -mode outage -rate 2000 -clients 100         # Redis killed, restarted 1.5 s later
//	go run ./tools/cmd/chatload -mode reconnect                             # 10,000 clients resume after a server's SIGKILL
//	go run ./tools/cmd/chatload -mode open -rate 2000 -clients 100 -repeat 5  # five runs: median, min–max
//	go run ./tools/cmd/chatload -mode connect -k 5000 -c 50                 # handshakes per second
//	go run ./tools/cmd/chatload -mode idle -clients 50000 -procs 3          # RSS per idle connection
//	go run ./tools/cmd/chatload -url ws://127.0.0.1:8000,ws://127.0.0.1:8001 -clients 200
//	go run ./tools/cmd/chatload -server django -clients 100 -layer redis     # the Django reference
//
// -server django runs the same load against the Django Channels tutorial chat under daphne
// (channels_redis, or the in-memory layer with -layer memory) instead of examples/chat, so that
// a comparison is made on one machine in one sitting; it needs Debian's python3-daphne,
// python3-django-channels and python3-channels-redis.
//
// Each client message is {"message": "id:seq:ns"}: the sender's id, its sequence number and
// the (intended) send time, so every receiver detects loss (expected deliveries = messages ×
// room members) and duplicates and measures latency. In the closed loop each sender waits for
// its own message before sending the next; in the open loop -rate is deliveries per second
// over all rooms (messages per second = rate / members per room), scheduled from a ticker and
// timed from the intended send time, so a stalled server cannot hide latency (no coordinated
// omission). With -inflight N each closed-loop sender keeps N of its own messages unanswered
// (a burst) instead of one.
//
// -server bare runs the same load against the bare reference broadcast server
// (tools/bareserver: gobwas/ws, a reader and a batching writer per connection, no framework,
// no layer, one process), the ceiling examples/chat is measured against. A comma-separated
// list of server[:layer[:procs]] runs each in turn, every one in fresh processes, and prints
// one table with deliveries/s, deliveries per server CPU-second and per (server + Redis)
// CPU-second, and loss, then medians and ratios to the first server; -rounds N repeats the
// pass N times, alternating the order. -shapes gives the table's <rooms>x<members> shapes
// ("scaling": rooms of 10 to 10,000 members, and 1 to 1,000 rooms; -max-conns bounds them).
// -profile DIR also captures CPU, block, mutex and allocation profiles of the Go servers over
// each measured window (they run with -pprof) and their costs per delivery:
//
//	go run ./tools/cmd/chatload -server bare,gochannels:memory,gochannels:redis -clients 100 -senders 10 -inflight 50
//	go run ./tools/cmd/chatload -server bare,gochannels -shapes scaling -senders 1 -inflight 10
//	go run ./tools/cmd/chatload -server bare,gochannels:memory -clients 100 -senders 10 -inflight 50 -profile /tmp/prof
//
// -mode search finds the highest open-loop rate the servers sustain with nothing lost, no echo
// timeouts and p99 at most -p99: steps of -warmup + -duration each, doubling from -rate until
// one fails, then bisecting to -precision, in at most -search-steps steps. It prints a table
// row per step (rate, deliveries/s, p50/p99, loss, duplicates, reordered, foreign, echo
// timeouts, server and Redis CPU, deliveries per server+Redis CPU second) and a final line.
//
// -repeat N runs the same shape N times (closed, open, search and outage modes; on the same
// servers, except in outage mode, which starts its own each time), -pause apart, and reports
// each figure's median, min–max and every run's value, so that a published figure shows its
// spread (a repeated search: the highest sustained rate and the figures at it).
//
// -mode outage starts -procs chat servers (default 2) on a private redis-server, drives the
// open loop at -rate (default 2,000 deliveries/s), SIGKILLs redis-server -outage-at into the
// measured duration (default a third of it), restarts it on the same port -outage-gap later
// (default 1.5s) and keeps sending until the duration ends. Clients whose socket closes
// reconnect. It reports, for the whole measured window and for the parts before, during and
// after the outage, over both processes and for each: messages sent and unsent, deliveries
// expected, received and lost (split into lost with the sender told by an error frame, lost
// while the receiver had no socket, and lost silently), duplicates, reordering, error frames,
// write errors, sockets closed by code, reconnects, refused reconnects by HTTP status, p50 and
// p99; then each process's loss counters from /metrics.
//
// -mode reconnect starts -procs chat servers (default 2) with -history (default 1,000
// messages per room) on a private redis-server, connects -clients receivers (default 10,000,
// in -rooms rooms, default one per 100 clients) and -senders senders per room (default 1, on
// the first process) sending -rate messages per second over all rooms (default 100), then
// takes sockets away: -reconnect-by kill (default) SIGKILLs the last process and restarts it
// on its port, -reconnect-by drop closes every client's socket at once. Each cut-off client
// reconnects at once with ?resume= its last position. It reports the time until every one
// has its recovery frame (all, p50, p99), messages replayed, Redis commands per client during
// the recovery (INFO commandstats, the steady rate subtracted), lost and duplicated messages
// (checked per client by offset), and unrecoverable frames; -catchup bounds the wait. In this
// mode -warmup bounds the wait for every client's first message (default 30s), -duration is
// the steady window whose Redis commands are the baseline (default 2s) and -outage-gap how
// long the killed process stays down (default 0).
//
// Every receiver counts loss, duplicates, reordering (per sender) and foreign or malformed
// frames; the open loop counts as an echo timeout each own message a sender never hears back,
// or hears back after -echo-timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "chatload:", err)
		stop()
		os.Exit(1)
	}
}

type options struct {
	mode, urls, layer, redis, chatBin, origin, server string
	procs, clients, rooms, senders, size, inflight    int
	rate, maxRate, precision                          float64
	duration, warmup, drain, settle, timeout          time.Duration
	echoTimeout, p99, pause                           time.Duration
	outageAt, outageGap                               time.Duration
	reconnectBy                                       string
	history                                           int
	catchUp                                           time.Duration
	set                                               map[string]bool
	searchSteps, repeat                               int
	k, c, perProc, perSource, offset                  int
	jsonOut, verbose, worker, keepLogs                bool
	perServer                                         int
	table                                             *tableOptions
}

// idleHandshakeTimeout bounds one handshake in idle mode, on both sides (the client's dial,
// daphne's wait for its application to accept).
const idleHandshakeTimeout = time.Minute

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chatload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "closed", "closed (closed loop), open (fixed rate), search (highest rate with 0 loss and p99 under -p99), outage (open loop through a Redis restart), reconnect (a mass reconnect with recovery), connect (handshakes/s) or idle (RSS per idle connection)")
	fs.StringVar(&o.urls, "url", "", "comma-separated base URLs of running servers (ws://127.0.0.1:8000,...); empty: start them")
	fs.IntVar(&o.procs, "procs", 1, "chat server processes to start")
	fs.StringVar(&o.layer, "layer", "", `layer of started servers: "memory", "redis" or a layer URL (default memory for one process, redis for more)`)
	fs.StringVar(&o.redis, "redis", "", "redis:// URL of a running Redis for the redis layer (default: start a private redis-server)")
	fs.StringVar(&o.server, "server", loadtest.ServerGo, `servers to start: "gochannels" (examples/chat), "bare" (the bare reference broadcast server, tools/bareserver) or "django" (the Django Channels tutorial chat under daphne); a comma-separated list of server[:layer[:procs]] runs each in turn and prints one table (bare,gochannels:memory,gochannels:redis)`)
	fs.StringVar(&o.chatBin, "chat-bin", "", "a built examples/chat binary (default: go build it)")
	fs.StringVar(&o.origin, "origin", "", "Origin header (default http://<server host:port>)")
	fs.IntVar(&o.clients, "clients", 100, "WebSocket clients (idle mode: connections)")
	fs.IntVar(&o.rooms, "rooms", 1, "rooms the clients are spread over")
	fs.IntVar(&o.senders, "senders", 0, "sending clients per room (0: all)")
	fs.IntVar(&o.size, "size", 0, "pad each message string to this many bytes")
	fs.IntVar(&o.inflight, "inflight", 1, "closed loop: own messages each sender keeps in flight")
	fs.Float64Var(&o.rate, "rate", 2000, "open loop: total deliveries per second (messages/s = rate / clients per room); search: the first rate tried")
	fs.DurationVar(&o.p99, "p99", 100*time.Millisecond, "search: the p99 latency bound a step must stay under")
	fs.Float64Var(&o.precision, "precision", 0.05, "search: stop once the lowest failing rate is within this fraction above the highest passing one")
	fs.Float64Var(&o.maxRate, "max-rate", 0, "search: highest rate tried (0: no cap)")
	fs.IntVar(&o.searchSteps, "search-steps", 16, "search: most steps")
	fs.DurationVar(&o.pause, "pause", 2*time.Second, "search, -repeat: pause between steps or runs, for the servers to work off a backlog")
	fs.IntVar(&o.repeat, "repeat", 1, "closed, open, search and outage modes: run the same shape this many times and report each figure's median and min–max")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before measuring")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "longest wait for late deliveries after the last send")
	fs.DurationVar(&o.echoTimeout, "echo-timeout", 5*time.Second, "closed loop: how long a sender waits for its own message before giving it up and sending the next; open loop: an own message back later than this (or never) counts as an echo timeout")
	fs.DurationVar(&o.outageAt, "outage-at", 0, "outage mode: when, into the measured duration, redis-server is killed (default a third of -duration)")
	fs.DurationVar(&o.outageGap, "outage-gap", 1500*time.Millisecond, "outage mode: how long redis-server stays down before it is restarted on the same port")
	fs.StringVar(&o.reconnectBy, "reconnect-by", loadtest.ReconnectKill, "reconnect mode: kill (SIGKILL the last server process and restart it) or drop (close every client's socket at once)")
	fs.IntVar(&o.history, "history", 1000, "reconnect mode: the chat servers' -history, messages kept per room")
	fs.DurationVar(&o.catchUp, "catchup", 2*time.Minute, "reconnect mode: longest wait until every cut-off client has recovered")
	fs.IntVar(&o.k, "k", 2000, "connect mode: handshakes")
	fs.IntVar(&o.c, "c", 50, "connect mode: concurrent dialers")
	fs.IntVar(&o.perProc, "per-proc", 15000, "idle mode: most connections per client process (more use worker processes)")
	fs.IntVar(&o.perSource, "per-source", 5000, "client sockets per source address 127.0.0.x")
	fs.IntVar(&o.perServer, "per-server", 0, "idle mode: connections per server process (sets -clients to this times -procs), to compare servers like for like")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "idle mode: pause before each RSS reading")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: the run's own length plus 5 minutes)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the started servers' logs (the directory is printed to stderr)")
	fs.BoolVar(&o.worker, "idle-worker", false, "internal: run as an idle-mode client worker")
	fs.IntVar(&o.offset, "offset", 0, "internal: source index offset of an idle-mode worker")
	o.table = tableFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.mode == "reconnect" {
		if !o.set["procs"] {
			o.procs = 2
		}
		if o.urls != "" || o.redis != "" || o.server != loadtest.ServerGo || o.layer != "" {
			return nil, errors.New("reconnect mode starts its own chat servers on a private redis-server: leave out -url, -redis, -server and -layer")
		}
		if o.catchUp <= 0 || o.history < 1 {
			return nil, fmt.Errorf("-catchup %v, -history %d: want a positive bound and history", o.catchUp, o.history)
		}
	}
	if o.mode == "outage" {
		set := o.set
		if !set["procs"] {
			o.procs = 2 // the shape of the figure: two processes on one Redis
		}
		if o.urls != "" || o.redis != "" || o.server != loadtest.ServerGo || (o.layer != "" && o.layer != "redis") {
			return nil, errors.New("outage mode starts its own chat servers on a private redis-server: leave out -url, -redis, -server and -layer")
		}
		if o.outageGap <= 0 || o.outageAt < 0 {
			return nil, fmt.Errorf("-outage-gap %v, -outage-at %v: want a positive gap and a kill time not negative", o.outageGap, o.outageAt)
		}
	}
	if o.perServer > 0 && !o.worker {
		o.clients = o.perServer * o.procs
	}
	if o.inflight < 1 || (o.inflight > 1 && o.mode != loadtest.ClosedLoop) {
		return nil, fmt.Errorf("-inflight %d: want 1 or more, and more than 1 only in the closed loop", o.inflight)
	}
	if o.repeat < 1 || (o.repeat > 1 && (o.mode == "connect" || o.mode == "idle")) {
		return nil, fmt.Errorf("-repeat %d: want 1 or more, and more than 1 only in the closed, open, search, outage and reconnect modes", o.repeat)
	}
	if o.timeout <= 0 {
		o.timeout = o.warmup + o.duration + o.drain + 5*time.Minute
		if o.repeat > 1 { // each run also connects afresh (and, in outage mode, starts its servers)
			o.timeout += time.Duration(o.repeat-1) * (o.warmup + o.duration + o.drain + o.pause + time.Minute)
		}
		if o.mode == "reconnect" { // a first message bound, the catch-up bound
			o.timeout += time.Duration(o.repeat) * (o.catchUp + time.Minute)
		}
		if o.mode == "search" { // each step also connects its clients afresh
			o.timeout += time.Duration(o.repeat*o.searchSteps) * (o.warmup + o.duration + o.drain + o.pause + time.Minute)
		}
		o.timeout += o.table.extraTime(o)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	limit, err := loadtest.RaiseFileLimit()
	if err != nil {
		logger.Warn("chatload: cannot raise the open-files limit", "error", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dialer := loadtest.Dialer{Origin: o.origin, PerSource: o.perSource}
	if o.mode == "idle" || o.worker {
		// Memory, not handshake latency: on a loaded machine a server still opening thousands
		// of connections (daphne most of all) may take longer than the default 10 s for one.
		dialer.Timeout = idleHandshakeTimeout
	}
	if o.worker {
		return loadtest.ServeWorker(ctx, dialer, splitURLs(o.urls), o.clients, o.rooms, o.offset, os.Stdin, stdout)
	}

	if o.table.wanted(o) {
		return runTable(ctx, o, logger, stdout)
	}

	urls := splitURLs(o.urls)
	if o.mode == "idle" && limit > 0 {
		// Every server process holds its share of the sockets (plus a few of its own).
		if per := (o.clients+o.procs-1)/o.procs + 200; uint64(per) > limit {
			return fmt.Errorf("idle mode: %d connections over %d server process(es) need about %d open files each, over the limit of %d (the hard limit; raising it needs CAP_SYS_RESOURCE): use -procs %d or more",
				o.clients, o.procs, per, limit, (o.clients+int(limit)-201)/(int(limit)-200))
		}
	}
	if o.mode == "outage" {
		once := func(ctx context.Context, _ int) (loadtest.Figured, error) {
			return figured(loadtest.RunOutage(ctx, loadtest.OutageConfig{
				Procs: o.procs, ChatBinary: o.chatBin, Clients: o.clients, Rooms: o.rooms, Senders: o.senders,
				Rate: o.rate, Warmup: o.warmup, Duration: o.duration, Drain: o.drain, Size: o.size,
				KillAfter: o.outageAt, Gap: o.outageGap, Dialer: dialer, Logger: logger, KeepLogs: o.keepLogs,
			}))
		}
		report, err := repeated(ctx, o, logger, once)
		if err != nil {
			return err
		}
		return writeReport(stdout, o.jsonOut, report)
	}
	if o.mode == "reconnect" {
		once := func(ctx context.Context, _ int) (loadtest.Figured, error) {
			return figured(loadtest.RunReconnect(ctx, reconnectConfig(o, dialer, logger)))
		}
		report, err := repeated(ctx, o, logger, once)
		if err != nil {
			return err
		}
		return writeReport(stdout, o.jsonOut, report)
	}
	var cluster *loadtest.Cluster
	var serverPIDs []int
	var redisPID int
	layerName := ""
	if len(urls) == 0 {
		layer := o.layer
		switch {
		case layer == "" && o.procs == 1 && o.redis == "":
			layer = "memory://"
		case layer == "memory":
			layer = "memory://"
		case layer == "" || layer == "redis":
			layer = o.redis // empty: a private redis-server
		}
		var handshakeTimeout time.Duration
		if o.mode == "idle" {
			// The idle figure is memory: a daphne busy opening thousands of connections on a
			// loaded machine must not reject (403) the ones it has not accepted within its
			// default 5 s, which would fail the run.
			handshakeTimeout = idleHandshakeTimeout
		}
		cluster, err = loadtest.StartCluster(ctx, loadtest.ClusterConfig{
			Procs: o.procs, LayerURL: layer, ChatBinary: o.chatBin, Server: o.server, Logger: logger, KeepLogs: o.keepLogs,
			DjangoHandshakeTimeout: handshakeTimeout,
		})
		if err != nil {
			return err
		}
		defer cluster.Close()
		if o.keepLogs {
			fmt.Fprintln(stderr, "chatload: server logs in", cluster.Dir())
		}
		urls = cluster.URLs
		layerName = redactURL(cluster.LayerURL)
		serverPIDs, redisPID = cluster.PIDs(), cluster.RedisPID()
	} else if o.mode == "idle" {
		return errors.New("idle mode measures the servers it starts; leave out -url")
	}

	var report interface{ WriteText(io.Writer) error }
	switch o.mode {
	case loadtest.ClosedLoop, loadtest.OpenLoop:
		once := func(ctx context.Context, _ int) (loadtest.Figured, error) {
			rep, err := loadtest.Run(ctx, loadtest.Config{
				URLs: urls, Clients: o.clients, Rooms: o.rooms, Senders: o.senders, Mode: o.mode,
				Rate: o.rate, Warmup: o.warmup, Duration: o.duration, Drain: o.drain, Size: o.size, Inflight: o.inflight,
				EchoTimeout: o.echoTimeout, Dialer: dialer, ServerPIDs: serverPIDs, RedisPID: redisPID, Logger: logger,
			})
			if err != nil {
				return nil, err
			}
			rep.Layer = layerName
			return rep, nil
		}
		report, err = repeated(ctx, o, logger, once)
	case "search":
		cfg := loadtest.SearchConfig{
			Run: loadtest.Config{
				URLs: urls, Clients: o.clients, Rooms: o.rooms, Senders: o.senders,
				Warmup: o.warmup, Duration: o.duration, Drain: o.drain, Size: o.size,
				EchoTimeout: o.echoTimeout, Dialer: dialer, ServerPIDs: serverPIDs, RedisPID: redisPID, Logger: logger,
			},
			Start: o.rate, MaxRate: o.maxRate, P99: o.p99, Precision: o.precision, MaxSteps: o.searchSteps,
			Pause: o.pause, Layer: layerName,
		}
		if !o.jsonOut {
			cfg.Progress = stdout // the table as it grows, then nothing more
		}
		if o.repeat > 1 { // every run's table as it grows, then the spread
			report, err = repeated(ctx, o, logger, func(ctx context.Context, _ int) (loadtest.Figured, error) {
				return figured(loadtest.Search(ctx, cfg))
			})
			break
		}
		var rep *loadtest.SearchReport
		rep, err = loadtest.Search(ctx, cfg)
		if err != nil {
			return err
		}
		if !o.jsonOut {
			return nil
		}
		report = rep
	case "connect":
		var rep *loadtest.ConnectReport
		rep, err = loadtest.RunConnect(ctx, loadtest.ConnectConfig{
			URLs: urls, Total: o.k, Concurrency: o.c, Rooms: o.rooms, Dialer: dialer,
		})
		if rep != nil {
			rep.Layer = layerName
			report = rep
		}
	case "idle":
		exe, eerr := os.Executable()
		if eerr != nil {
			return fmt.Errorf("find this program for idle workers: %w", eerr)
		}
		var rep *loadtest.IdleReport
		rep, err = loadtest.RunIdle(ctx, loadtest.IdleConfig{
			URLs: urls, PIDs: cluster.PIDs(), Conns: o.clients, Rooms: o.rooms, PerProcess: o.perProc,
			Settle: o.settle, Dialer: dialer,
			Worker: func(offset, n int) *exec.Cmd {
				return exec.CommandContext(ctx, exe, "-idle-worker", "-url", strings.Join(urls, ","),
					"-clients", strconv.Itoa(n), "-rooms", strconv.Itoa(o.rooms), "-offset", strconv.Itoa(offset),
					"-per-source", strconv.Itoa(o.perSource), "-origin", o.origin, "-timeout", o.timeout.String())
			},
		})
		if rep != nil {
			rep.FileLimit = limit
			rep.Layer = layerName
			report = rep
		}
	default:
		return fmt.Errorf("unknown -mode %q (want closed, open, search, outage, reconnect, connect or idle)", o.mode)
	}
	if err != nil {
		return err
	}
	return writeReport(stdout, o.jsonOut, report)
}

// reconnectConfig is the reconnect mode's configuration: the flags given, the mode's own
// defaults (loadtest.ReconnectConfig) for those not given.
func reconnectConfig(o *options, dialer loadtest.Dialer, logger *slog.Logger) loadtest.ReconnectConfig {
	cfg := loadtest.ReconnectConfig{
		Procs: o.procs, ChatBinary: o.chatBin, History: o.history, By: o.reconnectBy, CatchUp: o.catchUp,
		Drain: o.drain, Dialer: dialer, Logger: logger, KeepLogs: o.keepLogs,
	}
	if o.set["clients"] {
		cfg.Clients = o.clients
	}
	if o.set["rooms"] {
		cfg.Rooms = o.rooms
	}
	if o.set["senders"] {
		cfg.SendersPerRoom = o.senders
	}
	if o.set["rate"] {
		cfg.Rate = o.rate
	}
	if o.set["warmup"] {
		cfg.Warmup = o.warmup
	}
	if o.set["duration"] {
		cfg.Baseline = o.duration
	}
	if o.set["outage-gap"] {
		cfg.Gap = o.outageGap
	}
	return cfg
}

// repeated runs once -repeat times: one run's report, or the spread of several.
func repeated(ctx context.Context, o *options, logger *slog.Logger, once func(context.Context, int) (loadtest.Figured, error)) (interface{ WriteText(io.Writer) error }, error) {
	if o.repeat <= 1 {
		return once(ctx, 0)
	}
	return loadtest.Repeat(ctx, o.repeat, o.pause, func(ctx context.Context, i int) (loadtest.Figured, error) {
		logger.Info("chatload: run", "n", i+1, "of", o.repeat)
		return once(ctx, i)
	})
}

// figured returns a run's report as a loadtest.Figured, nil on error (not a nil pointer in an
// interface).
func figured[R loadtest.Figured](r R, err error) (loadtest.Figured, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// writeReport writes a report as indented JSON or as text.
func writeReport(w io.Writer, jsonOut bool, report interface{ WriteText(io.Writer) error }) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.WriteText(w)
}

func splitURLs(s string) []string {
	var out []string
	for u := range strings.SplitSeq(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// redactURL hides a password in a layer URL.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}
