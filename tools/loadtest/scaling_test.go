package loadtest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseShapes(t *testing.T) {
	got, err := ParseShapes("1x100, 10x10,scaling", 10000)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]Shape{{1, 100}, {10, 10}}, ScalingShapes...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, s := range ScalingShapes {
		if s.Conns() > 10000 {
			t.Errorf("scaling shape %s needs %d connections", s, s.Conns())
		}
	}
	for _, bad := range []string{"", "10", "0x10", "1x0", "ax1", "2x6000"} {
		if _, err := ParseShapes(bad, 10000); err == nil {
			t.Errorf("ParseShapes(%q): no error", bad)
		}
	}
}

// TestTableTiny runs a tiny scaling table, the bare server against examples/chat on the
// in-memory layer, two shapes, two rounds: every run is in the table, nothing is lost, the
// order of the servers alternates and the summary has a ratio per server and shape.
func TestTableTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := RunTable(ctx, TableConfig{
		Servers: []ServerSpec{{Server: ServerBare}, {Server: ServerGo, Layer: "memory"}},
		Shapes:  []Shape{{1, 4}, {2, 3}},
		Rounds:  2,
		Cluster: ClusterConfig{Procs: 1, Logger: quiet},
		Run: Config{Mode: ClosedLoop, Senders: 1, Inflight: 2, Warmup: 100 * time.Millisecond,
			Duration: 400 * time.Millisecond, Drain: 5 * time.Second, Logger: quiet},
		Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 8 {
		t.Fatalf("%d rows, want 8:\n%s", len(rep.Rows), progress.String())
	}
	for i, r := range rep.Rows {
		if r.Report.Lost != 0 || r.Report.MessagesSent == 0 || r.Report.Clients != r.Shape.Conns() || r.Report.Rooms != r.Shape.Rooms {
			t.Errorf("row %d: %+v", i, r.Report)
		}
		if r.Report.CPU == nil || r.DeliveriesPerServerRedisCPUSec < 0 {
			t.Errorf("row %d: no CPU figures", i)
		}
	}
	if rep.Rows[0].Server.Server != ServerBare || rep.Rows[4].Server.Server != ServerGo {
		t.Errorf("round 2 did not start with the other server: %v, %v", rep.Rows[0].Server, rep.Rows[4].Server)
	}
	if len(rep.Summary) != 4 || rep.Summary[0].RateRatio != 1 || rep.Summary[0].Rounds != 2 || rep.Summary[1].Server.Server != ServerGo {
		t.Errorf("summary %+v", rep.Summary)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text.String(), "table: closed loop, 1 sender(s) per room, 2 in flight each") || !strings.Contains(text.String(), "gochannels:memory") {
		t.Errorf("table text:\n%s", text.String())
	}
	if progress.String() != text.String() {
		t.Errorf("the progress and the table differ:\n%s\n---\n%s", progress.String(), text.String())
	}
}

// TestProfiles captures profiles of the bare server and of examples/chat over a short
// window: both have their four profiles, costs per delivery and the top of each profile.
func TestProfiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	rep, err := RunTable(ctx, TableConfig{
		Servers: []ServerSpec{{Server: ServerBare}, {Server: ServerGo, Layer: "memory"}},
		Shapes:  []Shape{{1, 10}},
		Cluster: ClusterConfig{Procs: 1, Logger: quiet},
		Run: Config{Mode: ClosedLoop, Senders: 2, Inflight: 5, Warmup: 100 * time.Millisecond,
			Duration: time.Second, Drain: 5 * time.Second, Logger: quiet},
		ProfileDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		c := r.Costs
		if c == nil {
			t.Fatalf("%s: no costs", r.Server)
		}
		if len(c.Errors) != 0 || len(c.Files) != len(ProfileKinds)+1 {
			t.Errorf("%s: files %v (want the profiles and a trace), errors %v", r.Server, c.Files, c.Errors)
		}
		if c.Trace == nil || c.Trace.WakeUps <= 0 || c.Trace.Syscalls <= 0 || len(c.Trace.Blocks) == 0 {
			t.Errorf("%s: trace costs %+v", r.Server, c.Trace)
		}
		if c.Deliveries <= 0 || c.Server.CPUMicros <= 0 || c.Server.WriteSyscalls <= 0 || c.Server.BytesWritten <= 0 || c.Redis != nil {
			t.Errorf("%s: costs %+v", r.Server, c)
		}
		if c.Runtime == nil || c.Runtime.Allocs <= 0 || c.Runtime.AllocBytes <= 0 {
			t.Errorf("%s: runtime costs %+v", r.Server, c.Runtime)
		}
		for _, f := range append(c.Files, filepath.Join(dir, c.Label+"-costs.txt")) {
			if st, err := os.Stat(f); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	if !strings.HasPrefix(rep.Header(), "table: closed loop") || !strings.Contains(rep.Header(), "PROFILING ON") {
		t.Errorf("header %q", rep.Header())
	}
}

func TestParseTraceDump(t *testing.T) {
	dump := `M=1 P=-1 G=-1 StateTransition Time=1 ProcID=1 Undetermined->Running Reason=""
M=1 P=1 G=1 StateTransition Time=2 GoID=1 Running->Syscall Reason=""
M=1 P=1 G=1 StateTransition Time=3 GoID=1 Syscall->Running Reason=""
M=1 P=1 G=1 StateTransition Time=4 GoID=1 Running->Waiting Reason="chan receive"
M=1 P=1 G=2 StateTransition Time=5 GoID=2 Running->Waiting Reason="network"
M=1 P=1 G=3 StateTransition Time=6 GoID=3 Running->Waiting Reason="chan receive"
M=1 P=1 G=-1 StateTransition Time=7 GoID=1 Waiting->Runnable Reason=""
M=1 P=1 G=1 StateTransition Time=8 GoID=9 NotExist->Runnable Reason=""
M=1 P=1 G=1 Metric Time=9 Name="/sched/gomaxprocs:threads" Value=Value{Uint64(2)}
`
	c, err := parseTraceDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	if c.wakeUps != 1 || c.syscalls != 1 || c.created != 1 || c.blocks["chan receive"] != 2 || c.blocks["network"] != 1 || len(c.blocks) != 2 {
		t.Fatalf("counts %+v", c)
	}
	tc := c.perDelivery(2)
	if tc.WakeUps != 0.5 || tc.Blocks["chan receive"] != 1 || tc.blockReasons()[0] != "chan receive" {
		t.Fatalf("per delivery %+v", tc)
	}
}

func TestProcCounters(t *testing.T) {
	c, err := readProcCounters(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c.cpu <= 0 || c.syscr <= 0 || c.ctxSwitches <= 0 {
		t.Errorf("counters of this process: %+v", c)
	}
	p := NewProfiler(context.Background(), ProfileConfig{Label: "never"})
	if _, err := p.Costs(1); err == nil {
		t.Error("Costs of a profiler never started: no error")
	}
}

// TestTableRowSaysWhyLost: a row with loss names the limit the servers counted, or says
// that none did.
func TestTableRowSaysWhyLost(t *testing.T) {
	r := TableRow{Round: 1, Server: ServerSpec{Server: ServerGo}, Shape: Shape{1, 10}, Report: &Report{Expected: 100, Lost: 3, DrainSeconds: 5}}
	if got := r.Row(); strings.Contains(got, "^") {
		t.Errorf("without /metrics, a row says nothing more: %q", got)
	}
	r.Report.LimitsHit = map[string]float64{}
	if got := r.Row(); !strings.Contains(got, "no limit counted by the server (late past the 5.0s drain") {
		t.Errorf("row %q", got)
	}
	r.Report.LimitsHit = map[string]float64{"chat_mailbox_full_total": 3}
	if got := r.Row(); !strings.Contains(got, "limits hit: ") || !strings.Contains(got, "chat_mailbox_full_total") {
		t.Errorf("row %q", got)
	}
	r.Report.Lost, r.Report.LimitsHit = 0, nil
	if got := r.Row(); strings.Count(got, "\n") != 1 {
		t.Errorf("a clean row is one line: %q", got)
	}
}
