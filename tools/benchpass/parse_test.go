package benchpass

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/tools/loadtest"
)

func figure(t *testing.T, s Sample, name string) float64 {
	t.Helper()
	for _, f := range s.Figures {
		if f.Name == name {
			return f.Value
		}
	}
	t.Fatalf("row %q has no figure %q: %+v", s.Row, name, s.Figures)
	return 0
}

func TestParseGoBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkGroupSendHistory/members=10/history=false-2         	    2000	    140000 ns/op	      7142 sends/s	   71420 deliveries/s	    2048 B/op	      30 allocs/op
BenchmarkMemoryPresence/members=100-2   	  300000	      3150 ns/op
PASS
`)
	got, err := ParseGoBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Row != "BenchmarkGroupSendHistory/members=10/history=false" || got[1].Row != "BenchmarkMemoryPresence/members=100" {
		t.Fatalf("rows: %+v", got)
	}
	if figure(t, got[0], "sends/s") != 7142 || figure(t, got[0], "allocs/op") != 30 || figure(t, got[1], "ns/op") != 3150 {
		t.Fatalf("figures: %+v", got)
	}
	if _, err := ParseGoBench([]byte("PASS\n")); err == nil {
		t.Fatal("no benchmark lines: want an error")
	}
}

func TestParseRedisbench(t *testing.T) {
	out := []byte(`workload                                                           gochannels channels_redis    ratio  go lost          python lost
send+receive, 100 channels (msg/s)                                    37200           2108    17.6x  0/20000          3/20000
group of 1000, 4 processes: group sends (sends/s)                      1258           34.5    36.5x  0/400000         0/400000
Redis commands per group send, 1 process (cmds)                         10.0           14.9    0.67x  -                -
`)
	got, err := ParseRedisbench(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Row != "group of 1000, 4 processes: group sends (sends/s)" {
		t.Fatalf("rows: %+v", got)
	}
	if figure(t, got[0], "ratio") != 17.6 || figure(t, got[0], "python lost") != 3 || figure(t, got[1], "channels_redis") != 34.5 || figure(t, got[2], "go lost") != 0 {
		t.Fatalf("figures: %+v", got)
	}
}

func TestParseConformanceAndIdleconns(t *testing.T) {
	conf := []byte("    conformance_test.go:93: \n        family              OK     NON-STRICT  INFORMATIONAL         FAILED        UNCLEAN\n        1.x                 10              0              0              0              0\n        total              393             16              1              0              0\n")
	got, err := ParseConformance(conf)
	if err != nil {
		t.Fatal(err)
	}
	if figure(t, got[0], "OK") != 393 || figure(t, got[0], "NON-STRICT") != 16 || figure(t, got[0], "UNCLEAN") != 0 {
		t.Fatalf("conformance: %+v", got)
	}
	idle := []byte("server goroutines: 12 before, 10012 after (1.00 per connection)\nRSS per idle connection: 5.58 KiB\n")
	got, err = ParseIdleconns(idle)
	if err != nil {
		t.Fatal(err)
	}
	if figure(t, got[0], "KiB per connection") != 5.58 || figure(t, got[0], "goroutines per connection") != 1 {
		t.Fatalf("idleconns: %+v", got)
	}
}

// TestSpreadsAndCells: repeated samples of a row become its median and min–max, as the
// report prints them.
func TestSpreadsAndCells(t *testing.T) {
	s := func(v float64) Sample {
		return Sample{Row: "r", Figures: []loadtest.Figure{{Name: "deliveries/s", Value: v}}}
	}
	rows, err := spreads(t.Context(), []Sample{s(498506), s(387070), s(507476)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || cell(rows[0].Spreads[0]) != "498,506 (387,070–507,476)" {
		t.Fatalf("rows %+v, cell %q", rows, cell(rows[0].Spreads[0]))
	}
	for v, want := range map[float64]string{0: "0", 8.674: "8.67", 1234567: "1,234,567", 0.0512: "0.0512", -1500: "-1,500"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestCatalog: every run names a built binary, a parser, arguments for both sizes and an
// estimate, and the full pass stays within its budget.
func TestCatalog(t *testing.T) {
	var total int64
	names := map[string]bool{}
	for _, s := range Sections() {
		if names[s.Name] {
			t.Errorf("duplicate section %q", s.Name)
		}
		names[s.Name] = true
		for _, r := range s.Runs {
			if _, ok := binaries[r.Bin]; !ok || r.Parse == nil || r.Quick == nil || r.Est <= 0 || r.QuickEst <= 0 || r.Source == "" {
				t.Errorf("%s: run %q incomplete: %+v", s.Name, r.Name, r)
			}
		}
		total += int64(s.Estimate(3, false).Seconds())
	}
	// Every row now runs at least twice and the pass has the scaling and profiles sections:
	// 81 minutes estimated; the target is about 62 once the longest rows are trimmed.
	if total > 82*60 {
		t.Errorf("full pass estimated at %d s, over the 82-minute cap", total)
	}
}

// TestParseProfiles reads a real chatload -profile table (-server bare,gochannels:memory,
// gochannels:redis, 1 × 10, captured with a 1 s window): each server's row carries its
// costs per delivery, the same figures as its DIR/<row>-costs.txt, and Redis's CPU only
// where there is a Redis.
func TestParseProfiles(t *testing.T) {
	out, err := os.ReadFile("testdata/profiles-chatload.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseChatload(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Row != "bare, 1 × 10" || got[2].Row != "gochannels:redis, 1 × 10" {
		t.Fatalf("rows: %+v", got)
	}
	// gochannels-redis-1x10-r1-costs.txt of the same run: CPU µs 86.7769, redis 24.7934,
	// heap allocations 12.6050, heap bytes 4007.7, GC cycles per million 826.45, write
	// syscalls 1.13926, goroutines created 1.89215, wake-ups (trace) 0.25492.
	r := got[2]
	for name, want := range map[string]float64{"CPU µs": 86.7769, "redis CPU µs": 24.7934, "heap allocs": 12.6050, "heap bytes": 4007.7,
		"GC cycles per million": 826.45, "write syscalls": 1.13926, "goroutines created": 1.89215, "wake-ups (trace)": 0.25492} {
		if v := figure(t, r, name); math.Abs(v-want) > 1e-4*math.Max(1, want) {
			t.Errorf("%s: %v, want %v", name, v, want)
		}
	}
	for _, s := range got[:2] {
		if slices.ContainsFunc(s.Figures, func(f loadtest.Figure) bool { return f.Name == "redis CPU µs" }) {
			t.Errorf("%s has a Redis cost without a Redis", s.Row)
		}
		if figure(t, s, "CPU µs") <= 0 || figure(t, s, "heap allocs") <= 0 {
			t.Errorf("%s: no costs: %+v", s.Row, s.Figures)
		}
	}
	// The report's table shows the profile columns, a dash where a row has no figure.
	rows, err := spreads(t.Context(), got)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeRun(&b, RunResult{Name: "1 sender × 10 in flight", Runs: 1, Rows: rows, Columns: profileColumns})
	if !strings.Contains(b.String(), "| gochannels:redis, 1 × 10 | ") || !strings.Contains(b.String(), "| 86.78 | 24.79 | 12.60 | 4,008 | 826 |") {
		t.Errorf("report table:\n%s", b.String())
	}
}
