package benchpass

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// Sample is one measurement read from a command's output: the figures of one row of the
// report (a benchmark, a server of a table, or the whole run when Row is empty).
type Sample struct {
	Row     string
	Figures []loadtest.Figure
}

// Parser reads the samples of one run of a command from its standard output.
type Parser func(out []byte) ([]Sample, error)

// errNoFigures is returned by a parser that found nothing to read.
var errNoFigures = errors.New("benchpass: no figures in the output")

// benchLine is one line of go test -bench output: name, iterations, then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// ParseGoBench reads `go test -bench` output: one sample per benchmark line, named by the
// benchmark (without the -GOMAXPROCS suffix), with one figure per unit (ns/op, B/op,
// allocs/op and the benchmark's own metrics).
func ParseGoBench(out []byte) ([]Sample, error) {
	var samples []Sample
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		s := Sample{Row: m[1]}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			s.Figures = append(s.Figures, loadtest.Figure{Name: f[i+1], Value: v})
		}
		if len(s.Figures) > 0 {
			samples = append(samples, s)
		}
	}
	if len(samples) == 0 {
		return nil, errNoFigures
	}
	return samples, nil
}

// ParseChatload reads `chatload -json` output of the closed, open, search, outage and
// reconnect modes (the figures the tool's own -repeat reports), of connect mode and of idle
// mode. The mode is told by the report's fields.
func ParseChatload(out []byte) ([]Sample, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(out), &probe); err != nil {
		return nil, fmt.Errorf("benchpass: chatload -json output: %w", err)
	}
	has := func(k string) bool { _, ok := probe[k]; return ok }
	var fig loadtest.Figured
	switch {
	case has("summary") && has("rows"):
		return parseTable(out)
	case has("handshakes_per_sec"):
		var r loadtest.ConnectReport
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, err
		}
		return []Sample{{Figures: []loadtest.Figure{
			{Name: "handshakes/s", Value: r.PerSec},
			{Name: "p50 ms", Value: r.HandshakeTime.P50},
			{Name: "p99 ms", Value: r.HandshakeTime.P99},
			{Name: "max ms", Value: r.HandshakeTime.Max},
			{Name: "failed", Value: float64(r.Failed)},
		}}}, nil
	case has("rss_per_conn_kib"):
		var r loadtest.IdleReport
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, err
		}
		f := []loadtest.Figure{{Name: "KiB per connection", Value: r.PerConnKiB}, {Name: "connections", Value: float64(r.Connections)}}
		lowest := 0.0
		for i, s := range r.Servers {
			if i == 0 || s.PerConnKiB < lowest {
				lowest = s.PerConnKiB
			}
		}
		return []Sample{{Figures: append(f,
			loadtest.Figure{Name: "servers", Value: float64(len(r.Servers))},
			loadtest.Figure{Name: "least KiB per connection of a server", Value: lowest})}}, nil
	case has("max_sustained_deliveries_per_sec"):
		var r loadtest.SearchReport
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, err
		}
		fig = &r
	case has("rows"):
		var r loadtest.OutageReport
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, err
		}
		fig = &r
	case has("recovery_seconds"):
		var r loadtest.ReconnectReport
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, err
		}
		fig = &r
	case has("delivered"):
		var r loadtest.Report
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, err
		}
		fig = &r
	default:
		return nil, errNoFigures
	}
	return []Sample{{Figures: fig.Figures()}}, nil
}

// parseTable reads a chatload table (-server a,b,c): one sample per row, that is per server
// and round, named by the server spec and the shape, so that the rounds make the spread.
func parseTable(out []byte) ([]Sample, error) {
	var r loadtest.TableReport
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, err
	}
	var samples []Sample
	for _, row := range r.Rows {
		if row.Report == nil {
			continue
		}
		name := fmt.Sprintf("%s, %s", specName(row.Server), shapeName(row.Shape))
		samples = append(samples, Sample{Row: name, Figures: append([]loadtest.Figure{
			{Name: "deliveries/s", Value: row.Report.DeliveriesPerSec},
			{Name: "per server CPU-s", Value: row.DeliveriesPerServerCPUSec},
			{Name: "per server+redis CPU-s", Value: row.DeliveriesPerServerRedisCPUSec},
			{Name: "lost", Value: float64(row.Report.Lost)},
			{Name: "echo timeouts", Value: float64(row.Report.EchoTimeouts)},
		}, costFigures(row.Costs)...)})
	}
	if len(samples) == 0 {
		return nil, errNoFigures
	}
	return samples, nil
}

// costFigures are a profiled row's costs per delivery (chatload -profile; the figures of
// DIR/<row>-costs.txt, read from the row's JSON): nil for a row without them. GC cycles
// are per million deliveries, as costs.txt gives them.
func costFigures(c *loadtest.Costs) []loadtest.Figure {
	if c == nil {
		return nil
	}
	f := []loadtest.Figure{
		{Name: "CPU µs", Value: c.Server.CPUMicros},
		{Name: "write syscalls", Value: c.Server.WriteSyscalls},
		{Name: "read syscalls", Value: c.Server.ReadSyscalls},
		{Name: "bytes written", Value: c.Server.BytesWritten},
		{Name: "bytes read", Value: c.Server.BytesRead},
		{Name: "context switches", Value: c.Server.ContextSwitches},
	}
	if c.Redis != nil {
		f = append(f, loadtest.Figure{Name: "redis CPU µs", Value: c.Redis.CPUMicros})
	}
	if r := c.Runtime; r != nil {
		f = append(f,
			loadtest.Figure{Name: "heap allocs", Value: r.Allocs},
			loadtest.Figure{Name: "heap bytes", Value: r.AllocBytes},
			loadtest.Figure{Name: "GC cycles per million", Value: 1e6 * r.GCCycles},
			loadtest.Figure{Name: "GC CPU µs", Value: r.GCCPUMicros},
			loadtest.Figure{Name: "goroutines created", Value: r.GoroutinesCreated},
			loadtest.Figure{Name: "goroutine schedulings", Value: r.GoroutineRuns},
			loadtest.Figure{Name: "mutex wait ns", Value: r.MutexWaitNanos})
	}
	if t := c.Trace; t != nil {
		f = append(f, loadtest.Figure{Name: "wake-ups (trace)", Value: t.WakeUps}, loadtest.Figure{Name: "Go syscalls (trace)", Value: t.Syscalls})
	}
	return f
}

// specName names a table's server spec as chatload's -server list does.
func specName(s loadtest.ServerSpec) string {
	if s.Layer == "" {
		return s.Server
	}
	return s.Server + ":" + s.Layer
}

// shapeName writes a shape as rooms × members.
func shapeName(s loadtest.Shape) string {
	return fmt.Sprintf("%d × %d", s.Rooms, s.Members)
}

// redisbenchLine is one row of redisbench's comparison table.
var redisbenchLine = regexp.MustCompile(`^(.+?) \((msg/s|sends/s|cmds)\)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)`)

// ParseRedisbench reads tools/redisbench's comparison table: one sample per workload row,
// with both sides' figures, their ratio and each side's lost deliveries.
func ParseRedisbench(out []byte) ([]Sample, error) {
	var samples []Sample
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := redisbenchLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] == "workload" {
			continue
		}
		num := func(s string) float64 {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64) // "-": 0
			return v
		}
		lost := func(s string) float64 { // "3/20000", "-"
			n, _, _ := strings.Cut(s, "/")
			return num(n)
		}
		samples = append(samples, Sample{Row: m[1] + " (" + m[2] + ")", Figures: []loadtest.Figure{
			{Name: "gochannels", Value: num(m[3])},
			{Name: "channels_redis", Value: num(m[4])},
			{Name: "ratio", Value: num(m[5])},
			{Name: "go lost", Value: lost(m[6])},
			{Name: "python lost", Value: lost(m[7])},
		}})
	}
	if len(samples) == 0 {
		return nil, errNoFigures
	}
	return samples, nil
}

var (
	idleKiB        = regexp.MustCompile(`RSS per idle connection: (-?[\d.]+) KiB`)
	idleGoroutines = regexp.MustCompile(`\(([\d.]+) per connection\)`)
)

// ParseIdleconns reads tools/cmd/idleconns: RSS and goroutines per idle connection.
func ParseIdleconns(out []byte) ([]Sample, error) {
	m := idleKiB.FindSubmatch(out)
	if m == nil {
		return nil, errNoFigures
	}
	kib, _ := strconv.ParseFloat(string(m[1]), 64)
	f := []loadtest.Figure{{Name: "KiB per connection", Value: kib}}
	if g := idleGoroutines.FindSubmatch(out); g != nil {
		v, _ := strconv.ParseFloat(string(g[1]), 64)
		f = append(f, loadtest.Figure{Name: "goroutines per connection", Value: v})
	}
	return []Sample{{Figures: f}}, nil
}

// ParseConformance reads the summary table that TestConformance logs (-test.v): the total of
// each verdict.
func ParseConformance(out []byte) ([]Sample, error) {
	var header []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[0] == "family" {
			header = f[1:]
			continue
		}
		if header == nil || len(f) != len(header)+1 || f[0] != "total" {
			continue
		}
		s := Sample{}
		for i, h := range header {
			v, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil {
				return nil, fmt.Errorf("benchpass: conformance total %q: %w", sc.Text(), err)
			}
			s.Figures = append(s.Figures, loadtest.Figure{Name: h, Value: v})
		}
		return []Sample{s}, nil
	}
	return nil, errNoFigures
}
