package loadtest

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Windows of an outage run's rows: the whole measured window, and its parts before the kill,
// during the outage (from the kill until the restarted redis-server answers PING) and after.
const (
	WindowWhole  = "whole"
	WindowBefore = "before"
	WindowOutage = "outage"
	WindowAfter  = "after"
)

var outageWindows = []string{WindowWhole, WindowBefore, WindowOutage, WindowAfter}

// OutageReport is the outcome of RunOutage. Times are in seconds from the start of the
// measured window.
type OutageReport struct {
	Servers         []string `json:"servers"`
	Layer           string   `json:"layer"`
	Procs           int      `json:"procs"`
	Clients         int      `json:"clients"`
	Rooms           int      `json:"rooms"`
	SendersPerRoom  int      `json:"senders_per_room"`
	TargetRate      float64  `json:"target_deliveries_per_sec"`
	WarmupSeconds   float64  `json:"warmup_s"`
	DurationSeconds float64  `json:"duration_s"`
	ConnectSeconds  float64  `json:"connect_s"`
	DrainSeconds    float64  `json:"drain_s"`
	// GapSeconds is the configured pause between the kill and the restart; KillSeconds when
	// redis-server was killed, RestartedSeconds when the new one answered PING, DownSeconds
	// the difference (at least the gap); all 0 when the run was interrupted first.
	GapSeconds       float64 `json:"gap_s"`
	KillSeconds      float64 `json:"killed_at_s"`
	RestartedSeconds float64 `json:"restarted_at_s"`
	DownSeconds      float64 `json:"down_s"`
	// Rows are the figures for each window (whole, before, outage, after), first over all
	// processes (Process -1), then for each process.
	Rows []OutageRow `json:"rows"`
	// LimitsHit holds, per server process, the loss counters of its /metrics that grew
	// during the run (nil for a process whose /metrics did not answer).
	LimitsHit   []map[string]float64 `json:"limits_hit"`
	FirstError  string               `json:"first_error,omitempty"`
	Interrupted bool                 `json:"interrupted,omitempty"`
}

// OutageRow is one window's figures, over all processes or for one. Deliveries belong to
// the window of their message's intended send time and to the process of their receiver;
// messages, unsent messages, write errors and error frames to the process of their sender;
// closes, reconnects and refusals to the window of their time and the process of their client.
// Received + Lost = Expected, and Lost = LostErrorFrame + LostDisconnected + LostSilent.
type OutageRow struct {
	Window string `json:"window"`
	// Process is the index of the server process (in Servers), or -1 for all.
	Process int `json:"process"`
	// MessagesSent were written to a socket; Unsent were due while their sender had no
	// socket (or its write failed).
	MessagesSent int64 `json:"messages_sent"`
	Unsent       int64 `json:"messages_unsent"`
	// Expected deliveries are messages sent × room members (here: the receivers on Process).
	Expected int64 `json:"expected_deliveries"`
	Received int64 `json:"received"`
	Lost     int64 `json:"lost"`
	// LostErrorFrame were lost with their sender told by an error frame; LostDisconnected
	// were due while their receiver had no socket; LostSilent are the rest: no error frame
	// and the receiver connected (a sender whose socket closed just after the write may have
	// seen the close, but was not told which messages were lost).
	LostErrorFrame   int64 `json:"lost_sender_told"`
	LostDisconnected int64 `json:"lost_receiver_disconnected"`
	LostSilent       int64 `json:"lost_silently"`
	Duplicates       int64 `json:"duplicates"`
	Reordered        int64 `json:"reordered"`
	// ErrorFrames is the number of the senders' messages answered with an error frame
	// (examples/chat's {"error": ..., "message": m}).
	ErrorFrames int64 `json:"error_frames"`
	WriteErrors int64 `json:"write_errors"`
	// Closes counts the sockets that closed during the run by close code ("1006": no close
	// frame); Reconnects the successful reconnects; Refused the failed attempts, by HTTP
	// status ("dial" for no answer).
	Closes     map[string]int64 `json:"closes_by_code,omitempty"`
	Reconnects int64            `json:"reconnects"`
	Refused    map[string]int64 `json:"refused_by_status,omitempty"`
	Foreign    int64            `json:"foreign_or_malformed"`
	Latency    Latency          `json:"latency"`
}

// Row returns the row of window for process (-1: all), or nil.
func (r *OutageReport) Row(window string, process int) *OutageRow {
	for i := range r.Rows {
		if r.Rows[i].Window == window && r.Rows[i].Process == process {
			return &r.Rows[i]
		}
	}
	return nil
}

// has reports whether seq is in the set.
func (b bitset) has(seq int64) bool {
	w := int(seq >> 6)
	return seq >= 0 && w < len(b) && b[w]&(1<<(seq&63)) != 0
}

// phase returns the index in outageWindows of the part of the measured window t falls in
// (1 before, 2 outage, 3 after), or -1 before the measured window. until bounds the last
// part: sendEnd for send times, no bound for events.
func (o *outageRun) phase(t, until time.Duration) int {
	kill, back := time.Duration(o.killed.Load()), time.Duration(o.restarted.Load())
	if kill == 0 {
		kill = o.sendEnd // never killed (interrupted): all before
	}
	if back == 0 {
		back = max(o.sendEnd, kill) // never restarted: the outage lasts to the end
	}
	switch {
	case t < o.measure || t >= until:
		return -1
	case t < kill:
		return 1
	case t < back:
		return 2
	}
	return 3
}

// tally computes the rows from what the senders and readers recorded.
func (o *outageRun) tally() []OutageRow {
	procs := len(o.cl.URLs)
	rows := make([][]OutageRow, len(outageWindows))
	hists := make([][]*Histogram, len(outageWindows))
	for w := range rows {
		rows[w] = make([]OutageRow, procs+1)
		hists[w] = make([]*Histogram, procs+1)
		for p := range rows[w] {
			rows[w][p] = OutageRow{Window: outageWindows[w], Process: p - 1, Closes: map[string]int64{}, Refused: map[string]int64{}}
			hists[w][p] = &Histogram{}
		}
	}
	const forever = time.Duration(1<<63 - 1)
	// add applies f to the whole-window and the phase rows, for all processes and for proc.
	add := func(ph, proc int, f func(*OutageRow)) {
		if ph < 0 {
			return
		}
		for _, w := range []int{0, ph} {
			f(&rows[w][0])
			f(&rows[w][proc+1])
		}
	}
	for _, c := range o.clients {
		for _, t := range c.intended {
			add(o.phase(t, o.sendEnd), c.proc, func(r *OutageRow) { r.MessagesSent++ })
		}
		for _, t := range c.unsent {
			add(o.phase(t, o.sendEnd), c.proc, func(r *OutageRow) { r.Unsent++ })
		}
		for _, t := range c.writeErr {
			add(o.phase(t, forever), c.proc, func(r *OutageRow) { r.WriteErrors++ })
		}
		for _, t := range c.errFrames {
			add(o.phase(t, o.sendEnd), c.proc, func(r *OutageRow) { r.ErrorFrames++ })
		}
		for _, t := range c.dups {
			add(o.phase(t, o.sendEnd), c.proc, func(r *OutageRow) { r.Duplicates++ })
		}
		for _, t := range c.reordered {
			add(o.phase(t, o.sendEnd), c.proc, func(r *OutageRow) { r.Reordered++ })
		}
		for _, e := range c.events {
			add(o.phase(e.at, forever), c.proc, func(r *OutageRow) {
				switch e.kind {
				case "close":
					r.Closes[e.code]++
				case "reconnect":
					r.Reconnects++
				case "refused":
					r.Refused[e.code]++
				}
			})
		}
		rows[0][0].Foreign += c.foreign
		rows[0][c.proc+1].Foreign += c.foreign
		for _, s := range c.lat {
			if ph := o.phase(s.intended, o.sendEnd); ph >= 0 {
				for _, w := range []int{0, ph} {
					hists[w][0].Record(s.latency)
					hists[w][c.proc+1].Record(s.latency)
				}
			}
		}
		// c's deliveries: every message of every member of its room.
		for _, from := range c.room.members {
			seen := c.seen[from.idx]
			for seq, t := range from.intended {
				add(o.phase(t, o.sendEnd), c.proc, func(r *OutageRow) {
					r.Expected++
					switch {
					case seen.has(int64(seq)):
						r.Received++
					case from.errored.has(int64(seq)):
						r.Lost++
						r.LostErrorFrame++
					case c.wasDown(t):
						r.Lost++
						r.LostDisconnected++
					default:
						r.Lost++
						r.LostSilent++
					}
				})
			}
		}
	}
	var out []OutageRow
	for p := range procs + 1 {
		for w := range outageWindows {
			r := rows[w][p]
			r.Latency = hists[w][p].Summary()
			if len(r.Closes) == 0 {
				r.Closes = nil
			}
			if len(r.Refused) == 0 {
				r.Refused = nil
			}
			out = append(out, r)
		}
	}
	return out
}

// wasDown reports whether c had no socket at t.
func (c *outageClient) wasDown(t time.Duration) bool {
	for _, d := range c.down {
		if t >= d[0] && t < d[1] {
			return true
		}
	}
	return false
}

// outageColumns heads the table of OutageRow rows.
const outageColumns = "window  proc      sent  unsent   expected   received     lost  told  recv-down  silent  dups  reord  err-frames  write-err  reconn   p50 ms   p99 ms  closes; refused\n"

// WriteText writes the run's timeline, a table of the rows and the servers' loss counters.
func (r *OutageReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "redis outage, open loop at %.0f deliveries/s: %d clients in %d room(s) (%d senders each) on %d processes, layer %s\n",
		r.TargetRate, r.Clients, r.Rooms, r.SendersPerRoom, r.Procs, r.Layer)
	if r.Interrupted {
		b.WriteString("INTERRUPTED: the figures cover the part that ran\n")
	}
	fmt.Fprintf(&b, "timeline:      connect %.2fs, warm-up %.1fs, measured %.1fs; redis-server killed at %.2fs, restarted after a %.2fs gap, answering at %.2fs (down %.2fs); drain %.2fs\n",
		r.ConnectSeconds, r.WarmupSeconds, r.DurationSeconds, r.KillSeconds, r.GapSeconds, r.RestartedSeconds, r.DownSeconds, r.DrainSeconds)
	b.WriteString("lost = told (its sender got an error frame) + recv-down (its receiver had no socket) + silent (neither: no error frame, receiver connected)\n")
	b.WriteString(outageColumns)
	for _, row := range r.Rows {
		b.WriteString(row.text())
	}
	for i, m := range r.LimitsHit {
		switch {
		case m == nil:
			fmt.Fprintf(&b, "limits hit, process %d: no /metrics\n", i)
		case len(m) == 0:
			fmt.Fprintf(&b, "limits hit, process %d: none\n", i)
		default:
			fmt.Fprintf(&b, "limits hit, process %d: %s\n", i, limitsText(m))
		}
	}
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first error:   %s\n", r.FirstError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (row OutageRow) text() string {
	proc := "all"
	if row.Process >= 0 {
		proc = fmt.Sprint(row.Process)
	}
	return fmt.Sprintf("%-7s %4s %9d %7d %10d %10d %8d %5d %10d %7d %5d %6d %11d %10d %7d %8.2f %8.2f  %s; %s\n",
		row.Window, proc, row.MessagesSent, row.Unsent, row.Expected, row.Received, row.Lost,
		row.LostErrorFrame, row.LostDisconnected, row.LostSilent, row.Duplicates, row.Reordered,
		row.ErrorFrames, row.WriteErrors, row.Reconnects, row.Latency.P50, row.Latency.P99,
		countsText(row.Closes), countsText(row.Refused))
}

// countsText writes {"1011": 3, "1006": 1} as "1006×1 1011×3", "-" when empty.
func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
