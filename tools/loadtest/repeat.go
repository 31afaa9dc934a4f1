package loadtest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Figure is one named number of a run's report ("deliveries/s", "p99 ms", "lost").
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Figured is a run's report that lists its figures, for Repeat.
type Figured interface {
	// Figures returns the report's figures, in the same order and with the same names for
	// every run of one shape.
	Figures() []Figure
	// WriteText writes the report for people.
	WriteText(w io.Writer) error
}

// Spread is one figure over repeated runs: its median (the mean of the middle two for an
// even number of runs), its least and greatest values, and every run's value in run order.
type Spread struct {
	Name   string    `json:"name"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

// RepeatReport is the outcome of Repeat: the spread of every figure, and each run's report.
type RepeatReport struct {
	Runs    int      `json:"runs"`
	Spreads []Spread `json:"spreads"`
	Reports []any    `json:"reports"`
}

// Repeat runs the same shape n times (run(ctx, i) for i in [0, n)), pausing between runs,
// and reports the spread of each figure. It stops at the first run that fails, or that was
// interrupted (its report is kept), and returns an error for a failed run or a context done
// before all n ran; a figure missing from a run (a different shape) is an error too.
func Repeat(ctx context.Context, n int, pause time.Duration, run func(ctx context.Context, i int) (Figured, error)) (*RepeatReport, error) {
	if n < 1 {
		return nil, fmt.Errorf("loadtest: repeat: need at least one run, got %d", n)
	}
	rep := &RepeatReport{}
	var runs [][]Figure
	for i := range n {
		if i > 0 {
			if err := sleepCtx(ctx, pause); err != nil {
				return nil, err
			}
		}
		r, err := run(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("loadtest: repeat: run %d of %d: %w", i+1, n, err)
		}
		rep.Reports = append(rep.Reports, r)
		runs = append(runs, r.Figures())
		if ctx.Err() != nil {
			return nil, fmt.Errorf("loadtest: repeat: interrupted in run %d of %d: %w", i+1, n, ctx.Err())
		}
	}
	rep.Runs = len(runs)
	spreads, err := spreadOf(runs)
	if err != nil {
		return nil, err
	}
	rep.Spreads = spreads
	return rep, nil
}

// spreadOf computes each figure's spread over the runs; every run must list the same names.
func spreadOf(runs [][]Figure) ([]Spread, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	out := make([]Spread, len(runs[0]))
	for k, f := range runs[0] {
		out[k].Name = f.Name
	}
	for i, figs := range runs {
		if len(figs) != len(out) {
			return nil, fmt.Errorf("loadtest: repeat: run %d has %d figures, run 1 has %d", i+1, len(figs), len(out))
		}
		for k, f := range figs {
			if f.Name != out[k].Name {
				return nil, fmt.Errorf("loadtest: repeat: run %d's figure %d is %q, run 1's is %q", i+1, k+1, f.Name, out[k].Name)
			}
			out[k].Values = append(out[k].Values, f.Value)
		}
	}
	for k := range out {
		out[k].Median, out[k].Min, out[k].Max = median(out[k].Values)
	}
	return out, nil
}

// median returns the median, least and greatest of vs (not empty).
func median(vs []float64) (med, lo, hi float64) {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// WriteText writes the first run's description, then one line per figure: median, min–max
// and the runs' values.
func (r *RepeatReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d runs of the same shape; median and min–max of each figure, then every run's value\n", r.Runs)
	if len(r.Reports) > 0 {
		if f, ok := r.Reports[0].(Figured); ok {
			var first strings.Builder
			if err := f.WriteText(&first); err != nil {
				return err
			}
			head, _, _ := strings.Cut(first.String(), "\n")
			fmt.Fprintf(&b, "shape: %s\n", head)
		}
	}
	width := len("figure")
	for _, s := range r.Spreads {
		width = max(width, len(s.Name))
	}
	fmt.Fprintf(&b, "%-*s %12s %25s  runs\n", width, "figure", "median", "min–max")
	for _, s := range r.Spreads {
		vals := make([]string, len(s.Values))
		for i, v := range s.Values {
			vals[i] = num(v)
		}
		fmt.Fprintf(&b, "%-*s %12s %25s  %s\n", width, s.Name, num(s.Median), num(s.Min)+" – "+num(s.Max), strings.Join(vals, " "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// num formats a figure: whole numbers without decimals, others with two.
func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// Figures implements Figured: throughput, latency, loss and errors, and CPU when measured.
func (r *Report) Figures() []Figure {
	f := []Figure{
		{"deliveries/s", r.DeliveriesPerSec},
		{"messages/s", r.MessagesPerSec},
		{"p50 ms", r.Latency.P50},
		{"p90 ms", r.Latency.P90},
		{"p99 ms", r.Latency.P99},
		{"p99.9 ms", r.Latency.P999},
		{"max ms", r.Latency.Max},
		{"expected", float64(r.Expected)},
		{"delivered", float64(r.Delivered)},
		{"lost", float64(r.Lost)},
		{"duplicates", float64(r.Duplicates)},
		{"reordered", float64(r.Reordered)},
		{"foreign", float64(r.Foreign)},
		{"echo timeouts", float64(r.EchoTimeouts)},
		{"write errors", float64(r.WriteErrors)},
		{"read errors", float64(r.ReadErrors)},
	}
	if c := r.CPU; c != nil {
		f = append(f,
			Figure{"cpu servers s", c.Servers},
			Figure{"cpu redis s", c.Redis},
			Figure{"deliveries per server+redis cpu-s", c.DeliveriesPerServerCPUSec})
	}
	return f
}

// Figures implements Figured: the outage's length, then for each window over all processes
// and for each process the loss and its kinds, error frames, closes, reconnects and p99.
func (r *OutageReport) Figures() []Figure {
	f := []Figure{{"down s", r.DownSeconds}}
	for _, row := range r.Rows {
		proc := "all"
		if row.Process >= 0 {
			proc = fmt.Sprintf("proc %d", row.Process)
		}
		p := row.Window + " " + proc + ": "
		var closes, refused int64
		for _, n := range row.Closes {
			closes += n
		}
		for _, n := range row.Refused {
			refused += n
		}
		f = append(f,
			Figure{p + "expected", float64(row.Expected)},
			Figure{p + "received", float64(row.Received)},
			Figure{p + "lost", float64(row.Lost)},
			Figure{p + "lost, sender told", float64(row.LostErrorFrame)},
			Figure{p + "lost, receiver down", float64(row.LostDisconnected)},
			Figure{p + "lost silently", float64(row.LostSilent)},
			Figure{p + "duplicates", float64(row.Duplicates)},
			Figure{p + "reordered", float64(row.Reordered)},
			Figure{p + "unsent", float64(row.Unsent)},
			Figure{p + "error frames", float64(row.ErrorFrames)},
			Figure{p + "closes", float64(closes)},
			Figure{p + "reconnects", float64(row.Reconnects)},
			Figure{p + "refused reconnects", float64(refused)},
			Figure{p + "p99 ms", row.Latency.P99},
		)
	}
	return f
}

// Figures implements Figured: the highest sustained rate and the lowest failing one, then the
// figures of the best step (all 0 when no step passed), so that repeated searches show how
// much the headline moves between runs.
func (r *SearchReport) Figures() []Figure {
	f := []Figure{
		{"max sustained deliveries/s", r.MaxRate},
		{"lowest failing deliveries/s", r.FailedAbove},
		{"steps", float64(len(r.Steps))},
	}
	var best Report
	if r.Best != nil && r.Best.Report != nil {
		best = *r.Best.Report
	}
	var perCPU float64
	if best.CPU != nil {
		perCPU = best.CPU.DeliveriesPerServerCPUSec
	}
	return append(f,
		Figure{"best: deliveries/s", best.DeliveriesPerSec},
		Figure{"best: p50 ms", best.Latency.P50},
		Figure{"best: p99 ms", best.Latency.P99},
		Figure{"best: deliveries per server+redis cpu-s", perCPU},
	)
}
