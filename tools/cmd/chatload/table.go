package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// tableOptions are the flags of table mode: several servers, shapes or rounds in one run.
type tableOptions struct {
	shapes     string
	rounds     int
	maxConns   int
	profileDir string
}

func tableFlags(fs *flag.FlagSet) *tableOptions {
	t := &tableOptions{}
	fs.StringVar(&t.shapes, "shapes", "", `table: comma-separated <rooms>x<members> shapes ("1x100,10x100"), or "scaling" (1x10,1x100,1x1000,1x10000,10x10,1000x10); each replaces -clients and -rooms`)
	fs.IntVar(&t.rounds, "rounds", 1, "table: passes over the servers, alternating their order")
	fs.IntVar(&t.maxConns, "max-conns", 10000, "table: refuse shapes needing more client connections than this")
	fs.StringVar(&t.profileDir, "profile", "", "capture CPU, block, mutex and allocation profiles of the Go servers over each measured window into this directory, and a 1 s execution trace, with the costs per delivery (allocations, syscalls, context switches, goroutine wake-ups and starts, mutex wait)")
	return t
}

// wanted reports whether the options ask for a table: a list of servers, shapes, rounds or
// profiles.
func (t *tableOptions) wanted(o *options) bool {
	return strings.Contains(o.server, ",") || t.shapes != "" || t.rounds > 1 || t.profileDir != ""
}

// runTable runs every server of -server under every shape and prints the table.
func runTable(ctx context.Context, o *options, logger *slog.Logger, stdout io.Writer) error {
	t := o.table
	if o.urls != "" {
		return fmt.Errorf("table mode (-server list, -shapes, -rounds, -profile) starts its servers; leave out -url")
	}
	if o.mode != loadtest.ClosedLoop && o.mode != loadtest.OpenLoop {
		return fmt.Errorf("table mode runs the closed or the open loop, not -mode %s", o.mode)
	}
	specs, err := loadtest.ParseServerSpecs(o.server)
	if err != nil {
		return err
	}
	shapeList := t.shapes
	if shapeList == "" {
		shapeList = fmt.Sprintf("%dx%d", o.rooms, o.clients/max(o.rooms, 1))
	}
	shapes, err := loadtest.ParseShapes(shapeList, t.maxConns)
	if err != nil {
		return err
	}
	cfg := loadtest.TableConfig{
		Servers: specs, Shapes: shapes, Rounds: t.rounds,
		Cluster:      loadtest.ClusterConfig{Procs: o.procs, ChatBinary: o.chatBin, Logger: logger, KeepLogs: o.keepLogs},
		DefaultLayer: o.layer, RedisURL: o.redis,
		Run: loadtest.Config{
			Senders: o.senders, Mode: o.mode, Rate: o.rate, Warmup: o.warmup, Duration: o.duration, Drain: o.drain,
			Size: o.size, Inflight: o.inflight, EchoTimeout: o.echoTimeout,
			Dialer: loadtest.Dialer{Origin: o.origin, PerSource: o.perSource}, Logger: logger,
		},
		ProfileDir: t.profileDir,
	}
	if !o.jsonOut {
		cfg.Progress = stdout
	}
	rep, err := loadtest.RunTable(ctx, cfg)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}

// extraTime is the time a table needs beyond one run: each of its runs, plus starting each
// server spec's processes.
func (t *tableOptions) extraTime(o *options) time.Duration {
	if !t.wanted(o) {
		return 0
	}
	specs, err1 := loadtest.ParseServerSpecs(o.server)
	shapes, err2 := loadtest.ParseShapes(cmp.Or(t.shapes, "1x1"), 0)
	if err1 != nil || err2 != nil {
		return 0
	}
	runs := time.Duration(max(t.rounds, 1) * len(specs) * len(shapes))
	return runs*(o.warmup+o.duration+o.drain+time.Minute) + time.Duration(max(t.rounds, 1)*len(specs))*2*time.Minute
}
