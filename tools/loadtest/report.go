package loadtest

import (
	"fmt"
	"io"
	"strings"
)

func (l Latency) text() string {
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (mean %.2f ms, n=%d)",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
}

// WriteText writes a human-readable summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	inflight := ""
	if r.Inflight > 1 {
		inflight = fmt.Sprintf(", %d in flight each", r.Inflight)
	}
	fmt.Fprintf(&b, "chat load, %s loop: %d clients in %d rooms (%d senders each%s) on %d server(s)%s\n",
		r.Mode, r.Clients, r.Rooms, r.SendersPerRoom, inflight, len(r.Servers), layerText(r.Layer))
	if r.Interrupted {
		b.WriteString("INTERRUPTED: the figures cover the part that ran\n")
	}
	if r.TargetRate > 0 {
		fmt.Fprintf(&b, "target:        %.0f deliveries/s\n", r.TargetRate)
	}
	fmt.Fprintf(&b, "timing:        connect %.2fs, warm-up %.1fs, measured %.1fs, drain %.2fs\n",
		r.ConnectSeconds, r.WarmupSeconds, r.DurationSeconds, r.DrainSeconds)
	fmt.Fprintf(&b, "throughput:    %.0f deliveries/s (%.1f messages/s sent)\n", r.DeliveriesPerSec, r.MessagesPerSec)
	fmt.Fprintf(&b, "latency:       %s\n", r.Latency.text())
	fmt.Fprintf(&b, "deliveries:    %d expected, %d delivered, %d lost, %d duplicates, %d reordered, %d late, %d foreign or malformed, %d error frames\n",
		r.Expected, r.Delivered, r.Lost, r.Duplicates, r.Reordered, r.Late, r.Foreign, r.ErrorFrames)
	fmt.Fprintf(&b, "errors:        %d write, %d read, %d echo timeouts\n", r.WriteErrors, r.ReadErrors, r.EchoTimeouts)
	switch {
	case len(r.LimitsHit) > 0:
		fmt.Fprintf(&b, "limits hit:    %s\n", limitsText(r.LimitsHit))
	case r.LimitsHit != nil && r.Lost > 0:
		b.WriteString("limits hit:    none counted by the servers (loss on the wire or in the client)\n")
	case r.LimitsHit != nil:
		b.WriteString("limits hit:    none\n")
	}
	if c := r.CPU; c != nil {
		fmt.Fprintf(&b, "CPU in window: servers %.2fs, redis %.2fs, this client %.2fs", c.Servers, c.Redis, c.Client)
		if c.DeliveriesPerServerCPUSec > 0 {
			fmt.Fprintf(&b, " (%.0f deliveries per server+redis CPU second)", c.DeliveriesPerServerCPUSec)
		}
		b.WriteString("\n")
	}
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first error:   %s\n", r.FirstError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes a human-readable summary.
func (r *ConnectReport) WriteText(w io.Writer) error {
	s := fmt.Sprintf("connect: %d server(s)%s\nhandshakes:    %d in %.2fs with %d dialers = %.0f/s (%d failed)\nhandshake time: %s\n",
		len(r.Servers), layerText(r.Layer), r.Handshakes, r.Seconds, r.Concurrency, r.PerSec, r.Failed, r.HandshakeTime.text())
	if r.FirstError != "" {
		s += "first error:   " + r.FirstError + "\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

func layerText(layer string) string {
	if layer == "" {
		return ""
	}
	return ", layer " + layer
}

// searchColumns heads the table of SearchStep rows.
const searchColumns = "step   target/s    deliv/s    msgs/s   p50 ms   p99 ms     lost  dups  reord  foreign  echo-to  errors  cpu srv s  cpu redis s  deliv/cpu-s  verdict\n"

// Header returns the lines that head a rate search's table: the shape, the pass rule and
// the column names.
func (r *SearchReport) Header() string {
	return fmt.Sprintf("rate search, open loop, %gs steps: %d clients in %d rooms (%d senders each) on %d server(s)%s; a step passes with 0 lost, 0 echo timeouts, 0 duplicates/reordered/foreign, no socket errors, p99 <= %.0f ms\n",
		r.StepSeconds, r.Clients, r.Rooms, r.SendersPerRoom, len(r.Servers), layerText(r.Layer), r.P99BoundMs) + searchColumns
}

// Row returns the step as one line of the table Header heads.
func (s SearchStep) Row() string {
	r := s.Report
	var srv, redis, per float64
	if c := r.CPU; c != nil {
		srv, redis, per = c.Servers, c.Redis, c.DeliveriesPerServerCPUSec
	}
	verdict := "pass"
	if !s.Pass {
		verdict = "FAIL: " + s.Why
	}
	return fmt.Sprintf("%4d %10.0f %10.0f %9.1f %8.2f %8.2f %8d %5d %6d %8d %8d %7d %10.2f %12.2f %12.0f  %s\n",
		s.Step, s.Rate, r.DeliveriesPerSec, r.MessagesPerSec, r.Latency.P50, r.Latency.P99,
		r.Lost, r.Duplicates, r.Reordered, r.Foreign, r.EchoTimeouts, r.WriteErrors+r.ReadErrors,
		srv, redis, per, verdict)
}

// Summary returns the final line: the highest sustained rate and its figures.
func (r *SearchReport) Summary() string {
	var b strings.Builder
	if r.Interrupted {
		b.WriteString("INTERRUPTED: ")
	}
	if r.Best == nil {
		fmt.Fprintf(&b, "max sustained rate: none of %d steps passed", len(r.Steps))
		if r.FailedAbove > 0 {
			fmt.Fprintf(&b, " (lowest tried %.0f deliveries/s)", r.FailedAbove)
		}
		b.WriteString("\n")
		return b.String()
	}
	rep := r.Best.Report
	fmt.Fprintf(&b, "max sustained rate: %.0f deliveries/s (%.0f measured, %.1f messages/s), p50 %.2f ms, p99 %.2f ms <= %.0f ms, %d lost, %d echo timeouts",
		r.MaxRate, rep.DeliveriesPerSec, rep.MessagesPerSec, rep.Latency.P50, rep.Latency.P99, r.P99BoundMs, rep.Lost, rep.EchoTimeouts)
	if c := rep.CPU; c != nil && c.DeliveriesPerServerCPUSec > 0 {
		fmt.Fprintf(&b, ", %.0f deliveries per server+redis CPU second (servers %.2fs, redis %.2fs)", c.DeliveriesPerServerCPUSec, c.Servers, c.Redis)
	}
	if r.FailedAbove > 0 {
		fmt.Fprintf(&b, "; %.0f/s failed", r.FailedAbove)
	} else {
		b.WriteString("; no step failed (raise -max-rate or -search-steps)")
	}
	b.WriteString("\n")
	return b.String()
}

// WriteText writes the table of steps and the final line.
func (r *SearchReport) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.Header())
	for _, s := range r.Steps {
		b.WriteString(s.Row())
	}
	b.WriteString(r.Summary())
	_, err := io.WriteString(w, b.String())
	return err
}
