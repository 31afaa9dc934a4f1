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
	fmt.Fprintf(&b, "chat load, %s loop: %d clients in %d rooms (%d senders each) on %d server(s)%s\n",
		r.Mode, r.Clients, r.Rooms, r.SendersPerRoom, len(r.Servers), layerText(r.Layer))
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
	fmt.Fprintf(&b, "deliveries:    %d expected, %d delivered, %d lost, %d duplicates, %d late, %d foreign\n",
		r.Expected, r.Delivered, r.Lost, r.Duplicates, r.Late, r.Foreign)
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
