package loadtest

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

// TestReconnect runs the reconnect mode for real, small: two examples/chat processes with
// -history on a private redis-server, 20 clients; once the last process is SIGKILLed and
// restarted, once every socket is dropped. It checks that the counters agree with each other
// (every cut-off client recovered, the replayed counts match the frames received, nothing lost
// or duplicated, the report's totals add up), not any timing.
func TestReconnect(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		redistest.SkipOrFail(t, "redis-server not found: install redis-server")
	}
	for _, by := range []string{ReconnectKill, ReconnectDrop} {
		t.Run(by, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep, err := RunReconnect(ctx, ReconnectConfig{
				Clients: 20, Rooms: 2, Rate: 100, History: 1000, By: by,
				Baseline: 200 * time.Millisecond, Gap: 200 * time.Millisecond, After: 200 * time.Millisecond,
				CatchUp: time.Minute, Drain: 20 * time.Second, Logger: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "mass reconnect ("+by+")") {
				t.Fatalf("text report: %v\n%s", err, text.String())
			}
			t.Logf("\n%s", text.String())
			want := 20
			if by == ReconnectKill {
				want = 10 // clients 10..19 are on the second process
			}
			switch {
			case rep.Procs != 2 || rep.Senders != 2 || rep.Affected != want || rep.Interrupted:
				t.Fatalf("shape: %+v", rep)
			case !rep.AllCaughtUp || rep.CaughtUp != want || rep.Recovered != int64(want) || rep.Unrecoverable != 0 || rep.Reconnects != int64(want):
				t.Fatalf("recovery: all %v, caught up %d, recovered %d, unrecoverable %d, reconnects %d; want %d each",
					rep.AllCaughtUp, rep.CaughtUp, rep.Recovered, rep.Unrecoverable, rep.Reconnects, want)
			case rep.Replayed != rep.ReplayedFrames || rep.MissingAtCatchUp != 0:
				t.Fatalf("replayed %d, but %d frames before the recovery frames; %d missing at catch-up", rep.Replayed, rep.ReplayedFrames, rep.MissingAtCatchUp)
			case rep.Lost != 0 || rep.Duplicates != 0 || rep.Reordered != 0 || rep.Foreign != 0 || rep.EpochChanges != 0:
				t.Fatalf("lost %d, duplicates %d, reordered %d, foreign %d, epoch changes %d", rep.Lost, rep.Duplicates, rep.Reordered, rep.Foreign, rep.EpochChanges)
			case rep.Received != rep.Expected || rep.Expected == 0:
				t.Fatalf("received %d of %d", rep.Received, rep.Expected)
			case rep.Stored != rep.MessagesSent-rep.SendErrors || rep.MessagesSent == 0:
				t.Fatalf("sent %d, errors %d, stored %d", rep.MessagesSent, rep.SendErrors, rep.Stored)
			case rep.RedisCommands <= 0 || rep.RedisByCommand == nil:
				t.Fatalf("redis commands %d %v", rep.RedisCommands, rep.RedisByCommand)
			case !(rep.FirstReconnectSeconds <= rep.LastReconnectSeconds && rep.LastReconnectSeconds <= rep.CatchUpMax):
				t.Fatalf("reconnected from %v to %v, caught up by %v", rep.FirstReconnectSeconds, rep.LastReconnectSeconds, rep.CatchUpMax)
			case !(rep.CatchUpP50 <= rep.CatchUpP99 && rep.CatchUpP99 <= rep.CatchUpMax && rep.CatchUpMax <= rep.RecoverySeconds):
				t.Fatalf("catch-up p50 %v, p99 %v, max %v, all %v out of order", rep.CatchUpP50, rep.CatchUpP99, rep.CatchUpMax, rep.RecoverySeconds)
			}
		})
	}
}

func TestReconnectConfig(t *testing.T) {
	for _, c := range []ReconnectConfig{
		{By: "nope"},
		{By: ReconnectKill, Procs: 1},
		{Clients: 2, Rooms: 3},
		{History: 20_000},
		{Rate: -1},
	} {
		if err := c.defaults(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	c := ReconnectConfig{}
	if err := c.defaults(); err != nil || c.Clients != 10_000 || c.Rooms != 100 || c.Procs != 2 || c.By != ReconnectKill {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

// TestReconnectBeyondHistory: with a history of 1 message and a killed process down for
// longer than a message takes, every cut-off client is told it cannot recover ("gap"), and
// what it missed is counted lost, consistently.
func TestReconnectBeyondHistory(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		redistest.SkipOrFail(t, "redis-server not found: install redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunReconnect(ctx, ReconnectConfig{
		Clients: 4, Rooms: 1, Rate: 100, History: 1, By: ReconnectKill,
		Baseline: 100 * time.Millisecond, Gap: 500 * time.Millisecond, After: 100 * time.Millisecond,
		CatchUp: time.Minute, Drain: 5 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case rep.Affected != 2 || !rep.AllCaughtUp || rep.Unrecoverable != 2 || rep.UnrecoverableReasons["gap"] != 2 || rep.Recovered != 0:
		t.Fatalf("affected %d, all %v, unrecoverable %d %v, recovered %d; want 2 unrecoverable by gap",
			rep.Affected, rep.AllCaughtUp, rep.Unrecoverable, rep.UnrecoverableReasons, rep.Recovered)
	case rep.Lost == 0 || rep.ClientsWithLoss != 2 || rep.Received+rep.Lost != rep.Expected:
		t.Fatalf("lost %d by %d clients, received %d, expected %d", rep.Lost, rep.ClientsWithLoss, rep.Received, rep.Expected)
	case rep.Duplicates != 0 || rep.Replayed != 0 || rep.ReplayedFrames != 0:
		t.Fatalf("duplicates %d, replayed %d, frames before the recovery frame %d", rep.Duplicates, rep.Replayed, rep.ReplayedFrames)
	}
}
