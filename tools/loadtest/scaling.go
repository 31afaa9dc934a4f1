package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Shape is one load shape of a table: Rooms rooms of Members clients each.
type Shape struct {
	Rooms   int `json:"rooms"`
	Members int `json:"members"`
}

// Conns is the number of client connections the shape needs.
func (s Shape) Conns() int { return s.Rooms * s.Members }

// String returns the shape as ParseShapes reads it: "<rooms>x<members>".
func (s Shape) String() string { return strconv.Itoa(s.Rooms) + "x" + strconv.Itoa(s.Members) }

// ScalingShapes is the scaling table's grid: one room of 10, 100, 1,000 and 10,000 members,
// then 10 and 1,000 rooms of 10 (so that cost is seen growing with the room and with the
// number of rooms), at most 10,000 connections each.
var ScalingShapes = []Shape{{1, 10}, {1, 100}, {1, 1000}, {1, 10000}, {10, 10}, {1000, 10}}

// ParseShapes reads a comma-separated list of <rooms>x<members> shapes ("1x100,10x100"), or
// "scaling" for ScalingShapes. Shapes needing more than maxConns connections (when
// positive) are refused, so that a table's connection count stays bounded.
func ParseShapes(list string, maxConns int) ([]Shape, error) {
	var shapes []Shape
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		switch {
		case entry == "":
			continue
		case entry == "scaling":
			shapes = append(shapes, ScalingShapes...)
			continue
		}
		r, m, ok := strings.Cut(entry, "x")
		rooms, err1 := strconv.Atoi(r)
		members, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || rooms < 1 || members < 1 {
			return nil, fmt.Errorf("loadtest: shape %q: want <rooms>x<members>, both positive", entry)
		}
		shapes = append(shapes, Shape{Rooms: rooms, Members: members})
	}
	if len(shapes) == 0 {
		return nil, fmt.Errorf("loadtest: no shape in %q", list)
	}
	if maxConns > 0 {
		for _, s := range shapes {
			if s.Conns() > maxConns {
				return nil, fmt.Errorf("loadtest: shape %s needs %d connections, over the bound of %d", s, s.Conns(), maxConns)
			}
		}
	}
	return shapes, nil
}

// TableConfig describes a table of runs: every server spec under every shape, for Rounds
// rounds, each server's processes started afresh per round (StartCluster) and kept for its
// shapes; the order of the servers alternates from one round to the next.
type TableConfig struct {
	Servers []ServerSpec
	Shapes  []Shape
	// Rounds is the number of passes over the servers (default 1).
	Rounds int
	// Cluster is the template of every StartCluster: Procs is the default for specs without
	// their own; Server and LayerURL are set per spec.
	Cluster ClusterConfig
	// DefaultLayer is the layer of specs without one: "memory", "redis" or a layer URL.
	// RedisURL, when set, is the Redis a "redis" layer uses (else a private redis-server per
	// server spec and round).
	DefaultLayer, RedisURL string
	// Run is the template of every run: URLs, Clients, Rooms and the PIDs are set per run.
	Run Config
	// ProfileDir, when set, starts the Go servers with -pprof and captures profiles and the
	// costs per delivery of every run there (see Profiler).
	ProfileDir string
	// Progress, when not nil, receives the table as it grows (header, a row per run, the
	// summary), and each run's costs per delivery when profiling.
	Progress io.Writer
}

// TableRow is one run of a table.
type TableRow struct {
	Round  int        `json:"round"`
	Server ServerSpec `json:"server"`
	Layer  string     `json:"layer"`
	Procs  int        `json:"procs"`
	Shape  Shape      `json:"shape"`
	Report *Report    `json:"report"`
	// DeliveriesPerServerCPUSec is deliveries per CPU second of the server processes alone;
	// DeliveriesPerServerRedisCPUSec also counts Redis (the same figure without Redis).
	DeliveriesPerServerCPUSec      float64 `json:"deliveries_per_server_cpu_s"`
	DeliveriesPerServerRedisCPUSec float64 `json:"deliveries_per_server_redis_cpu_s"`
	Costs                          *Costs  `json:"costs,omitempty"`
}

// TableSummary is one server spec under one shape over all rounds: the medians of the
// rounds, and the ratios to the table's first server spec under the same shape.
type TableSummary struct {
	Server                         ServerSpec `json:"server"`
	Shape                          Shape      `json:"shape"`
	Rounds                         int        `json:"rounds"`
	DeliveriesPerSec               float64    `json:"deliveries_per_sec"`
	DeliveriesPerServerCPUSec      float64    `json:"deliveries_per_server_cpu_s"`
	DeliveriesPerServerRedisCPUSec float64    `json:"deliveries_per_server_redis_cpu_s"`
	Lost                           int64      `json:"lost"`
	Expected                       int64      `json:"expected"`
	// RateRatio and CPURatio are the deliveries/s and the deliveries per (server + Redis)
	// CPU second as fractions of the first server spec's (1 for itself; 0 when it has no
	// figure).
	RateRatio float64 `json:"rate_ratio"`
	CPURatio  float64 `json:"cpu_ratio"`
}

// TableReport is the outcome of RunTable.
type TableReport struct {
	Mode           string         `json:"mode"`
	SendersPerRoom int            `json:"senders_per_room"`
	Inflight       int            `json:"inflight,omitempty"`
	Rate           float64        `json:"target_deliveries_per_sec,omitempty"`
	WindowSeconds  float64        `json:"window_s"`
	Rows           []TableRow     `json:"rows"`
	Summary        []TableSummary `json:"summary"`
	Profiling      bool           `json:"profiling,omitempty"`
	Interrupted    bool           `json:"interrupted,omitempty"`
}

// RunTable runs the table. It stops at the first server that does not start or run that
// cannot connect, and returns the rows so far with the error.
func RunTable(ctx context.Context, cfg TableConfig) (*TableReport, error) {
	if len(cfg.Servers) == 0 || len(cfg.Shapes) == 0 {
		return nil, errors.New("loadtest: a table needs at least one server and one shape")
	}
	cfg.Rounds = max(cfg.Rounds, 1)
	log := cfg.Cluster.Logger
	if log == nil {
		log = slog.Default()
	}
	tr := &TableReport{
		Mode: cfg.Run.Mode, SendersPerRoom: cfg.Run.Senders, Inflight: cfg.Run.Inflight,
		WindowSeconds: cfg.Run.Duration.Seconds(), Profiling: cfg.ProfileDir != "",
	}
	if cfg.Run.Mode == OpenLoop {
		tr.Rate = cfg.Run.Rate
	}
	progress := func(s string) {
		if cfg.Progress != nil {
			_, _ = io.WriteString(cfg.Progress, s)
		}
	}
	progress(tr.Header())
	err := func() error {
		for round := 1; round <= cfg.Rounds; round++ {
			order := slices.Clone(cfg.Servers)
			if round%2 == 0 {
				slices.Reverse(order)
			}
			for _, spec := range order {
				if err := runSpec(ctx, cfg, tr, round, spec, log, progress); err != nil {
					return err
				}
				if ctx.Err() != nil {
					tr.Interrupted = true
					return nil
				}
			}
		}
		return nil
	}()
	tr.summarize(cfg.Servers, cfg.Shapes)
	progress(tr.SummaryText())
	return tr, err
}

// runSpec starts one server spec's processes and runs every shape against them.
func runSpec(ctx context.Context, cfg TableConfig, tr *TableReport, round int, spec ServerSpec, log *slog.Logger, progress func(string)) error {
	cc := cfg.Cluster
	cc.Server = spec.Server
	if spec.Procs > 0 {
		cc.Procs = spec.Procs
	}
	cc.Procs = max(cc.Procs, 1)
	if spec.Server == ServerBare {
		cc.Procs = 1
	}
	cc.LayerURL = resolveLayer(spec.Layer, cfg.DefaultLayer, cfg.RedisURL, cc.Procs)
	cc.Pprof = cfg.ProfileDir != "" && spec.Server != ServerDjango
	cl, err := StartCluster(ctx, cc)
	if err != nil {
		return fmt.Errorf("loadtest: table: start %s: %w", spec, err)
	}
	defer cl.Close()
	for _, shape := range cfg.Shapes {
		run := cfg.Run
		run.URLs, run.Clients, run.Rooms = cl.URLs, shape.Conns(), shape.Rooms
		run.ServerPIDs, run.RedisPID = cl.PIDs(), cl.RedisPID()
		label := costLabel(spec, cl.LayerURL, cc.Procs, shape, round)
		var prof *Profiler
		if cfg.ProfileDir != "" && len(cl.PprofURLs) > 0 {
			prof = NewProfiler(ctx, ProfileConfig{
				Dir: cfg.ProfileDir, Label: label, PprofURLs: cl.PprofURLs, ServerPIDs: cl.PIDs(),
				RedisPID: cl.RedisPID(), Window: run.Duration, Logger: log,
			})
			run.OnWindow = prof.Start
		}
		rep, err := Run(ctx, run)
		if err != nil {
			return fmt.Errorf("loadtest: table: %s, shape %s: %w", spec, shape, err)
		}
		rep.Layer = redactLayer(cl.LayerURL)
		row := TableRow{Round: round, Server: spec, Layer: rep.Layer, Procs: cc.Procs, Shape: shape, Report: rep}
		if c := rep.CPU; c != nil {
			window := rep.DeliveriesPerSec * rep.DurationSeconds
			if c.Servers > 0 {
				row.DeliveriesPerServerCPUSec = round3(window / c.Servers)
			}
			if c.Servers+c.Redis > 0 {
				row.DeliveriesPerServerRedisCPUSec = round3(window / (c.Servers + c.Redis))
			}
		}
		if prof != nil {
			costs, err := prof.Costs(int64(rep.DeliveriesPerSec*rep.DurationSeconds + 0.5))
			if costs != nil {
				row.Costs = costs
				if werr := costs.WriteFiles(ctx, cfg.ProfileDir); werr != nil {
					err = errors.Join(err, werr)
				}
			}
			if err != nil {
				log.Warn("loadtest: profile", "run", label, "error", err)
			}
		}
		tr.Rows = append(tr.Rows, row)
		progress(row.Row())
		if row.Costs != nil && cfg.Progress != nil {
			_ = row.Costs.WriteText(cfg.Progress)
		}
		if rep.Interrupted {
			return nil
		}
	}
	return nil
}

// resolveLayer maps a spec's layer to a ClusterConfig.LayerURL.
func resolveLayer(layer, def, redisURL string, procs int) string {
	if layer == "" {
		layer = def
	}
	switch layer {
	case "":
		if procs == 1 && redisURL == "" {
			return "memory://"
		}
		return redisURL
	case "memory":
		return "memory://"
	case "redis":
		return redisURL // empty: a private redis-server
	}
	if q, ok := strings.CutPrefix(layer, "redis?"); ok && redisURL != "" {
		return withQuery(redisURL, q)
	}
	return layer
}

// costLabel names a run's profile files: server-layer[-Np]-shape-rRound.
func costLabel(spec ServerSpec, layerURL string, procs int, shape Shape, round int) string {
	layer := LayerNone
	switch {
	case strings.HasPrefix(layerURL, "memory:"):
		layer = "memory"
	case strings.Contains(layerURL, "pipeline_depth="):
		layer = "redis-pipelined"
	case strings.HasPrefix(layerURL, "redis"):
		layer = "redis"
	}
	l := spec.Server + "-" + layer
	if procs > 1 {
		l += "-" + strconv.Itoa(procs) + "p"
	}
	return l + "-" + shape.String() + "-r" + strconv.Itoa(round)
}

// summarize fills Summary: per shape, per server spec, the medians over the rounds and the
// ratios to the first server spec that ran the shape.
func (tr *TableReport) summarize(servers []ServerSpec, shapes []Shape) {
	tr.Summary = nil
	for _, shape := range shapes {
		first := -1 // index in Summary of the shape's first server
		for _, spec := range servers {
			var rate, cpu, cpuRedis []float64
			s := TableSummary{Server: spec, Shape: shape}
			for _, r := range tr.Rows {
				if r.Server != spec || r.Shape != shape {
					continue
				}
				s.Rounds++
				rate = append(rate, r.Report.DeliveriesPerSec)
				cpu = append(cpu, r.DeliveriesPerServerCPUSec)
				cpuRedis = append(cpuRedis, r.DeliveriesPerServerRedisCPUSec)
				s.Lost += r.Report.Lost
				s.Expected += r.Report.Expected
			}
			if s.Rounds == 0 {
				continue
			}
			s.DeliveriesPerSec, s.DeliveriesPerServerCPUSec, s.DeliveriesPerServerRedisCPUSec = medianOf(rate), medianOf(cpu), medianOf(cpuRedis)
			if first < 0 {
				first = len(tr.Summary)
				s.RateRatio, s.CPURatio = 1, 1
			} else {
				f := tr.Summary[first]
				if f.DeliveriesPerSec > 0 {
					s.RateRatio = round3(s.DeliveriesPerSec / f.DeliveriesPerSec)
				}
				if f.DeliveriesPerServerRedisCPUSec > 0 {
					s.CPURatio = round3(s.DeliveriesPerServerRedisCPUSec / f.DeliveriesPerServerRedisCPUSec)
				}
			}
			tr.Summary = append(tr.Summary, s)
		}
	}
}

// medianOf is the median of v rounded for the table (0 when v is empty).
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m, _, _ := median(v)
	return round3(m)
}

// tableColumns heads the rows of a table.
const tableColumns = "round  server               layer                      procs  shape        deliv/s   srv cpu s  redis cpu s  deliv/srv-cpu-s  deliv/(srv+redis)-cpu-s      lost   loss %\n"

// Header returns the lines that head the table.
func (tr *TableReport) Header() string {
	load := fmt.Sprintf("%s loop", tr.Mode)
	if tr.Mode == OpenLoop {
		load += fmt.Sprintf(" at %.0f deliveries/s", tr.Rate)
	}
	senders := "every member sends"
	if tr.SendersPerRoom > 0 {
		senders = fmt.Sprintf("%d sender(s) per room", tr.SendersPerRoom)
	}
	if tr.Inflight > 1 {
		senders += fmt.Sprintf(", %d in flight each", tr.Inflight)
	}
	prof := ""
	if tr.Profiling {
		prof = "; PROFILING ON (block and mutex profiles and a CPU profile slow the Go servers: compare the rates of a run without -profile)"
	}
	return fmt.Sprintf("table: %s, %s, %gs windows%s\n", load, senders, tr.WindowSeconds, prof) + tableColumns
}

// Row returns the run as one line of the table.
func (r TableRow) Row() string {
	rep := r.Report
	var srv, redis float64
	if c := rep.CPU; c != nil {
		srv, redis = c.Servers, c.Redis
	}
	loss := 0.0
	if rep.Expected > 0 {
		loss = 100 * float64(rep.Lost) / float64(rep.Expected)
	}
	row := fmt.Sprintf("%5d  %-20s %-26s %5d  %-9s %10.0f %11.2f %12.2f %16.0f %24.0f %9d %8.3f\n",
		r.Round, r.Server.Server, r.Layer, r.Procs, r.Shape, rep.DeliveriesPerSec, srv, redis,
		r.DeliveriesPerServerCPUSec, r.DeliveriesPerServerRedisCPUSec, rep.Lost, loss)
	if rep.Lost == 0 && rep.FirstError == "" {
		return row
	}
	// Say where the loss came from, as a single run's report does.
	var why []string
	switch {
	case len(rep.LimitsHit) > 0:
		why = append(why, "limits hit: "+limitsText(rep.LimitsHit))
	case rep.Lost > 0 && rep.LimitsHit != nil:
		why = append(why, fmt.Sprintf("no limit counted by the server (late past the %.1fs drain, or lost on the wire)", rep.DrainSeconds))
	}
	if rep.EchoTimeouts > 0 {
		why = append(why, fmt.Sprintf("%d echo timeouts", rep.EchoTimeouts))
	}
	if rep.FirstError != "" {
		why = append(why, "first error: "+rep.FirstError)
	}
	if len(why) == 0 {
		return row
	}
	return row + "       ^ " + strings.Join(why, "; ") + "\n"
}

// SummaryText returns the summary: per shape, each server's medians and its ratios to the
// first server.
func (tr *TableReport) SummaryText() string {
	var b strings.Builder
	if tr.Interrupted {
		b.WriteString("INTERRUPTED: the summary covers the runs that ended\n")
	}
	b.WriteString("summary (medians over rounds; ratios to the first server of each shape):\n")
	for _, s := range tr.Summary {
		loss := 0.0
		if s.Expected > 0 {
			loss = 100 * float64(s.Lost) / float64(s.Expected)
		}
		fmt.Fprintf(&b, "  %-9s %-22s %10.0f deliv/s (%5.1f%%)  %10.0f per srv CPU-s  %10.0f per (srv+redis) CPU-s (%5.1f%%)  lost %d (%.3f%%), %d round(s)\n",
			s.Shape, s.Server, s.DeliveriesPerSec, 100*s.RateRatio, s.DeliveriesPerServerCPUSec,
			s.DeliveriesPerServerRedisCPUSec, 100*s.CPURatio, s.Lost, loss, s.Rounds)
	}
	return b.String()
}

// WriteText writes the whole table: header, rows, summary.
func (tr *TableReport) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString(tr.Header())
	for _, r := range tr.Rows {
		b.WriteString(r.Row())
	}
	b.WriteString(tr.SummaryText())
	_, err := io.WriteString(w, b.String())
	return err
}
