package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// SearchConfig describes a rate search: open-loop runs of a fixed length at rates chosen to
// find the highest sustained rate with nothing lost and the p99 latency under a bound.
type SearchConfig struct {
	// Run is the run every step makes; Search sets its Mode to OpenLoop and its Rate per step.
	Run Config
	// Start is the first rate tried, in deliveries per second (default 1,000). MaxRate, when
	// positive, caps the ramp.
	Start, MaxRate float64
	// P99 is the latency bound a passing step stays at or under (default 100ms).
	P99 time.Duration
	// Precision ends the bisection once the lowest failing rate is within this fraction above
	// the highest passing one (default 0.05).
	Precision float64
	// MaxSteps bounds the number of runs (default 16).
	MaxSteps int
	// Pause is the wait between steps, so that a server can work off what an overloaded step
	// left it (default 1s).
	Pause time.Duration
	// OnStep, when not nil, is called after each step.
	OnStep func(SearchStep)
	// Progress, when not nil, receives the table as it grows: the header before the first
	// step, a row after each, and the final line (SearchReport.WriteText writes the same).
	Progress io.Writer
	// Layer names the servers' layer in the reports.
	Layer string
}

// SearchStep is one run of a rate search.
type SearchStep struct {
	Step int     `json:"step"`
	Rate float64 `json:"target_deliveries_per_sec"`
	Pass bool    `json:"pass"`
	// Why says why a step failed ("lost 12, p99 130.2 ms > 100 ms").
	Why    string  `json:"why,omitempty"`
	Report *Report `json:"report"`
}

// SearchReport is the outcome of Search.
type SearchReport struct {
	Servers        []string     `json:"servers"`
	Layer          string       `json:"layer,omitempty"`
	Clients        int          `json:"clients"`
	Rooms          int          `json:"rooms"`
	SendersPerRoom int          `json:"senders_per_room"`
	P99BoundMs     float64      `json:"p99_bound_ms"`
	StepSeconds    float64      `json:"step_s"`
	Steps          []SearchStep `json:"steps"`
	// MaxRate is the highest target rate that passed (0: none did); Best is its step.
	MaxRate float64     `json:"max_sustained_deliveries_per_sec"`
	Best    *SearchStep `json:"best,omitempty"`
	// FailedAbove is the lowest target rate that failed above MaxRate (0: none did).
	FailedAbove float64 `json:"lowest_failing_deliveries_per_sec,omitempty"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

func (c *SearchConfig) defaults() error {
	if c.Start <= 0 {
		c.Start = 1000
	}
	if c.P99 <= 0 {
		c.P99 = 100 * time.Millisecond
	}
	if c.Precision <= 0 {
		c.Precision = 0.05
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = 16
	}
	if c.Pause <= 0 {
		c.Pause = time.Second
	}
	if c.MaxRate > 0 && c.MaxRate < c.Start {
		return fmt.Errorf("loadtest: search: maximum rate %v below the start rate %v", c.MaxRate, c.Start)
	}
	c.Run.Mode = OpenLoop
	c.Run.Rate = c.Start
	return c.Run.check()
}

// judge says whether a step passed: nothing lost, duplicated, reordered, foreign or timed
// out, no socket errors, and p99 within the bound.
func (c *SearchConfig) judge(r *Report) (bool, string) {
	var why []string
	add := func(n int64, what string) {
		if n != 0 {
			why = append(why, fmt.Sprintf("%s %d", what, n))
		}
	}
	add(r.Lost, "lost")
	add(r.EchoTimeouts, "echo timeouts")
	add(r.Duplicates, "duplicates")
	add(r.Reordered, "reordered")
	add(r.Foreign, "foreign")
	add(r.ErrorFrames, "error frames")
	add(r.WriteErrors+r.ReadErrors, "socket errors")
	bound := float64(c.P99) / float64(time.Millisecond)
	switch {
	case r.Latency.Count == 0:
		why = append(why, "nothing measured")
	case r.Latency.P99 > bound:
		why = append(why, fmt.Sprintf("p99 %.1f ms > %.0f ms", r.Latency.P99, bound))
	}
	if r.Interrupted {
		why = append(why, "interrupted")
	}
	if len(r.LimitsHit) > 0 {
		why = append(why, "limits hit: "+limitsText(r.LimitsHit))
	}
	return len(why) == 0, strings.Join(why, ", ")
}

// Search looks for the highest open-loop rate the servers sustain: it doubles the rate from
// Start until a step fails (or halves it until one passes), then bisects between the highest
// passing and the lowest failing rate until they are within Precision, in at most MaxSteps
// runs of cfg.Run's Warmup+Duration each (every step connects fresh clients in fresh
// rooms). It returns the steps so far with an error when a step cannot connect.
func Search(ctx context.Context, cfg SearchConfig) (*SearchReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	members := cfg.Run.Clients / cfg.Run.Rooms
	senders := members
	if cfg.Run.Senders > 0 {
		senders = min(cfg.Run.Senders, members)
	}
	sr := &SearchReport{
		Servers: cfg.Run.URLs, Layer: cfg.Layer, Clients: cfg.Run.Clients, Rooms: cfg.Run.Rooms, SendersPerRoom: senders,
		P99BoundMs: float64(cfg.P99) / float64(time.Millisecond), StepSeconds: cfg.Run.Duration.Seconds(),
	}
	var pass, fail float64 // highest passing and lowest failing rate so far (0: none)
	best := -1
	rate := cfg.Start
	progress := func(s string) {
		if cfg.Progress != nil {
			_, _ = io.WriteString(cfg.Progress, s)
		}
	}
	progress(sr.Header())
	for step := 1; step <= cfg.MaxSteps; step++ {
		if step > 1 && sleepCtx(ctx, cfg.Pause) != nil {
			sr.Interrupted = true
			break
		}
		run := cfg.Run
		run.Rate = rate
		rep, err := Run(ctx, run)
		if err != nil {
			return sr, fmt.Errorf("loadtest: search step %d at %.0f deliveries/s: %w", step, rate, err)
		}
		rep.Layer = cfg.Layer
		ok, why := cfg.judge(rep)
		st := SearchStep{Step: step, Rate: rate, Pass: ok, Why: why, Report: rep}
		sr.Steps = append(sr.Steps, st)
		progress(st.Row())
		if cfg.OnStep != nil {
			cfg.OnStep(st)
		}
		if rep.Interrupted || ctx.Err() != nil {
			sr.Interrupted = true
			break
		}
		if ok {
			pass, best = rate, len(sr.Steps)-1
		} else if fail == 0 || rate < fail {
			fail = rate
		}
		next, more := nextRate(pass, fail, rate, cfg.MaxRate, cfg.Precision)
		if !more {
			break
		}
		rate = next
	}
	sr.MaxRate, sr.FailedAbove = pass, fail
	if best >= 0 {
		sr.Best = &sr.Steps[best]
	}
	progress(sr.Summary())
	return sr, nil
}

// nextRate picks the next rate from the highest passing and lowest failing rates so far (0:
// none): doubling while nothing failed, halving while nothing passed, else bisecting. It
// reports false when the search is done.
func nextRate(pass, fail, last, maxRate, precision float64) (float64, bool) {
	switch {
	case fail == 0: // ramp up
		if maxRate > 0 && last >= maxRate {
			return 0, false
		}
		next := 2 * last
		if maxRate > 0 {
			next = min(next, maxRate)
		}
		return next, true
	case pass == 0: // nothing passed yet: ramp down
		next := math.Round(fail / 2)
		if next < 1 || next >= fail {
			return 0, false
		}
		return next, true
	default:
		if fail <= pass*(1+precision) {
			return 0, false
		}
		next := math.Round((pass + fail) / 2)
		if next <= pass || next >= fail {
			return 0, false
		}
		return next, true
	}
}
