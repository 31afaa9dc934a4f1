package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// ReconnectReport is the result of RunReconnect.
type ReconnectReport struct {
	Servers []string `json:"servers"`
	Layer   string   `json:"layer"`
	Procs   int      `json:"procs"`
	Clients int      `json:"clients"`
	Rooms   int      `json:"rooms"`
	Senders int      `json:"senders"`
	// Rate is the messages per second sent over all rooms; History the messages kept per room.
	Rate    float64 `json:"rate"`
	History int     `json:"history"`
	// By is how the sockets were taken away: "kill" or "drop".
	By string `json:"by"`
	// Affected is the number of clients whose socket was taken away.
	Affected       int     `json:"affected"`
	ConnectSeconds float64 `json:"connect_seconds"`
	// DownSeconds is, for a kill, the time from the kill until the restarted process
	// answered the run's own probe (which may wait behind the clients' reconnects in the
	// accept queue). FirstReconnectSeconds and LastReconnectSeconds are the first and the
	// last cut-off client's handshake after the cut-off.
	DownSeconds           float64 `json:"down_seconds,omitempty"`
	FirstReconnectSeconds float64 `json:"first_reconnect_seconds"`
	LastReconnectSeconds  float64 `json:"last_reconnect_seconds"`

	// AllCaughtUp is true when every affected client got its recovery frame; CaughtUp counts
	// those that did. RecoverySeconds is the time from the cut-off until the last of them (or
	// until the wait gave up); CatchUpP50, P99 and Max are the affected clients' times from
	// the cut-off to their recovery frame, in seconds.
	AllCaughtUp     bool    `json:"all_caught_up"`
	CaughtUp        int     `json:"caught_up"`
	RecoverySeconds float64 `json:"recovery_seconds"`
	CatchUpP50      float64 `json:"catch_up_p50_seconds"`
	CatchUpP99      float64 `json:"catch_up_p99_seconds"`
	CatchUpMax      float64 `json:"catch_up_max_seconds"`

	// Recovered and Unrecoverable count the recovery frames (by reason); Replayed is the sum
	// of the recovered frames' "replayed", ReplayedFrames the messages the clients received
	// before those frames (the two agree when the server keeps its word).
	Recovered            int64            `json:"recovered"`
	Unrecoverable        int64            `json:"unrecoverable"`
	UnrecoverableReasons map[string]int64 `json:"unrecoverable_reasons"`
	Replayed             int64            `json:"replayed"`
	ReplayedFrames       int64            `json:"replayed_frames"`
	// MissingAtCatchUp counts messages at or below a recovered frame's position that the
	// client had not received by then (0 when recovery is complete).
	MissingAtCatchUp int64 `json:"missing_at_catch_up"`
	Reconnects       int64 `json:"reconnects"`
	// RefusedDials counts reconnect attempts that failed (the killed process not yet back).
	RefusedDials int64 `json:"refused_dials"`
	// Closes counts the clients' sockets closed, by close code ("1006": no close frame).
	Closes map[string]int64 `json:"closes"`

	// RedisCommands is the redis-server's command count from the cut-off until every
	// affected client caught up (INFO commandstats; RedisByCommand per command);
	// RedisBaselinePerSecond the steady rate before the cut-off (the senders' cost);
	// RedisCommandsPerClient is (RedisCommands - baseline over the recovery) / Affected.
	RedisCommands          int64            `json:"redis_commands"`
	RedisByCommand         map[string]int64 `json:"redis_by_command"`
	RedisBaselinePerSecond float64          `json:"redis_baseline_per_second"`
	RedisCommandsPerClient float64          `json:"redis_commands_per_client"`

	// MessagesSent were written by the senders, SendErrors answered with an error frame,
	// Stored got a position (the sum of the rooms' top offsets).
	MessagesSent int64 `json:"messages_sent"`
	SendErrors   int64 `json:"send_errors"`
	Stored       int64 `json:"stored"`
	// Expected is, summed over the clients, the messages of their room from the first one
	// they received to the room's top; Received the distinct ones received, Lost the rest
	// (ClientsWithLoss clients lost some); Duplicates are second copies, Reordered messages
	// behind a later one, Foreign frames that are not the room's, EpochChanges messages of
	// another epoch.
	Expected              int64 `json:"expected"`
	Received              int64 `json:"received"`
	Lost                  int64 `json:"lost"`
	ClientsWithLoss       int   `json:"clients_with_loss"`
	Duplicates            int64 `json:"duplicates"`
	ClientsWithDuplicates int   `json:"clients_with_duplicates"`
	Reordered             int64 `json:"reordered"`
	Foreign               int64 `json:"foreign"`
	EpochChanges          int64 `json:"epoch_changes"`

	DrainSeconds float64 `json:"drain_seconds"`
	Interrupted  bool    `json:"interrupted,omitempty"`
	FirstError   string  `json:"first_error,omitempty"`
}

// Figures returns the report's figures (for -repeat).
func (r *ReconnectReport) Figures() []Figure {
	return []Figure{
		{Name: "catch-up, all (s)", Value: r.RecoverySeconds},
		{Name: "catch-up p50 (s)", Value: r.CatchUpP50},
		{Name: "catch-up p99 (s)", Value: r.CatchUpP99},
		{Name: "replayed", Value: float64(r.Replayed)},
		{Name: "redis commands per client", Value: r.RedisCommandsPerClient},
		{Name: "lost", Value: float64(r.Lost)},
		{Name: "duplicates", Value: float64(r.Duplicates)},
		{Name: "unrecoverable", Value: float64(r.Unrecoverable)},
	}
}

// WriteText writes the report for people.
func (r *ReconnectReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mass reconnect (%s): %d clients + %d senders in %d rooms over %d processes%s, history %d, %.0f messages/s\n",
		r.By, r.Clients, r.Senders, r.Rooms, r.Procs, layerText(r.Layer), r.History, r.Rate)
	fmt.Fprintf(&b, "connected in %.3fs; %d clients cut off", r.ConnectSeconds, r.Affected)
	if r.By == ReconnectKill {
		fmt.Fprintf(&b, " (process killed, answering the probe after %.3fs)", r.DownSeconds)
	}
	fmt.Fprintf(&b, "; reconnected from %.3fs to %.3fs after the cut-off\n", r.FirstReconnectSeconds, r.LastReconnectSeconds)
	all := "all caught up"
	if !r.AllCaughtUp {
		all = fmt.Sprintf("NOT all caught up (%d of %d)", r.CaughtUp, r.Affected)
	}
	fmt.Fprintf(&b, "%s in %.3fs after the cut-off; per client p50 %.3fs, p99 %.3fs, max %.3fs\n",
		all, r.RecoverySeconds, r.CatchUpP50, r.CatchUpP99, r.CatchUpMax)
	fmt.Fprintf(&b, "recovered %d, unrecoverable %d%s; replayed %d (frames before the recovery frames %d), missing at catch-up %d\n",
		r.Recovered, r.Unrecoverable, countsSuffix(r.UnrecoverableReasons), r.Replayed, r.ReplayedFrames, r.MissingAtCatchUp)
	fmt.Fprintf(&b, "reconnects %d, refused attempts %d, sockets closed%s\n", r.Reconnects, r.RefusedDials, countsSuffix(r.Closes))
	fmt.Fprintf(&b, "redis commands during the recovery %d (baseline %.0f/s): %.2f per client;%s\n",
		r.RedisCommands, r.RedisBaselinePerSecond, r.RedisCommandsPerClient, countsSuffix(r.RedisByCommand))
	fmt.Fprintf(&b, "messages sent %d, send errors %d, stored %d; deliveries expected %d, received %d\n",
		r.MessagesSent, r.SendErrors, r.Stored, r.Expected, r.Received)
	fmt.Fprintf(&b, "lost %d (%d clients), duplicated %d (%d clients), reordered %d, foreign %d, epoch changes %d; drained in %.3fs\n",
		r.Lost, r.ClientsWithLoss, r.Duplicates, r.ClientsWithDuplicates, r.Reordered, r.Foreign, r.EpochChanges, r.DrainSeconds)
	if r.Interrupted {
		b.WriteString("interrupted\n")
	}
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first error: %s\n", r.FirstError)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// countsSuffix writes " k=v k=v" in key order ("" for none).
func countsSuffix(m map[string]int64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%d", k, m[k])
	}
	return b.String()
}
