package main

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// testBench is redisbench at tiny counts (send+receive 200 messages; group sends 200, 40,
// 10 and 4 for 1, 10, 100 and 1000 members) against a private redis-server, both sides.
func testBench(t *testing.T, only string) *bench {
	srv := redistest.Start(t)
	python := redistest.RequirePython(t)
	return &bench{
		redisURL: srv.URL(), pythonPath: python,
		scale: 0.01, messages: 20000, warmup: 0.1, concurrency: 8, capacity: 1 << 20,
		// Only a run that loses waits out the drain time: a generous one costs nothing, and
		// keeps a slow machine's pause from passing for loss.
		drain: 30 * time.Second, pyTimeout: 2 * time.Minute,
		pySenders: []int{1, 2}, pyReceivers: []int{2},
		only:     regexp.MustCompile(only),
		log:      slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		progress: logWriter{t},
	}
}

func runBench(t *testing.T, b *bench) ([]*workload, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ws, err := b.run(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	b.print(&out, ws)
	t.Log("\n" + out.String())
	return ws, out.String()
}

// expected is the deliveries a workload should count, warm-up included.
func expected(b *bench, ops, members int) int64 {
	return int64(ops+b.warmups(ops)) * int64(max(members, 1))
}

// TestBothSidesReportRatesWithoutLoss runs send+receive and a group send over 4 processes on
// both sides, channels_redis in every layout tried, and checks that each reports a rate, its
// Redis commands and no loss.
func TestBothSidesReportRatesWithoutLoss(t *testing.T) {
	b := testBench(t, `send\+receive|group of 100 over 4`)
	ws, table := runBench(t, b)
	if len(ws) != 2 {
		t.Fatalf("%d workloads, want 2", len(ws))
	}
	for _, w := range ws {
		ops := b.count(b.messages)
		if w.members > 0 {
			ops = b.count(groupSends[w.members])
		}
		want := expected(b, ops, w.members)
		check := func(side string, r result) {
			t.Helper()
			if !r.ok() || r.opRate() <= 0 || r.deliveryRate() <= 0 {
				t.Errorf("%s, %s: no rate: %+v", w.name, side, r)
			}
			if r.ops != ops || r.expected != want || r.received != want || r.lost() != 0 || r.sendErrors != 0 {
				t.Errorf("%s, %s: ops %d, expected %d, received %d, %d full; want %d ops, %d delivered, no loss",
					w.name, side, r.ops, r.expected, r.received, r.sendErrors, ops, want)
			}
			if w.members > 0 && r.perOp() <= 0 {
				t.Errorf("%s, %s: no Redis commands counted", w.name, side)
			}
		}
		check("gochannels", w.gor)
		if len(w.py) != len(w.pyLayout) || len(w.py) != 2 {
			t.Fatalf("%s: %d channels_redis results for %d layouts", w.name, len(w.py), len(w.pyLayout))
		}
		for i, r := range w.py {
			if err := w.pyErrs[i]; err != nil {
				t.Errorf("%s, channels_redis %s: %v", w.name, w.pyLayout[i], err)
				continue
			}
			check("channels_redis "+w.pyLayout[i].String(), r)
		}
		if w.best < 0 {
			t.Errorf("%s: no best channels_redis layout picked", w.name)
		}
		zero := "0/" + strconv.FormatInt(want, 10)
		if n := strings.Count(lineOf(table, w.name), zero); n != 2 {
			t.Errorf("%s: table line shows %q %d times, want twice (both sides):\n%s", w.name, zero, n, table)
		}
	}
}

// TestLossIsReported makes every receiving process stop after 50 messages, on both sides,
// and checks that the rest is reported as lost, in the results and in the table.
func TestLossIsReported(t *testing.T) {
	b := testBench(t, `send\+receive|group of 10 over 1`)
	b.receiveLimit = 50
	b.drain = 500 * time.Millisecond
	b.pySenders, b.pyReceivers = []int{1}, []int{1}
	ws, table := runBench(t, b)
	if len(ws) != 2 {
		t.Fatalf("%d workloads, want 2", len(ws))
	}
	for _, w := range ws {
		ops := b.count(b.messages)
		if w.members > 0 {
			ops = b.count(groupSends[w.members])
		}
		want := expected(b, ops, w.members)
		if w.best < 0 || w.pyErrs[w.best] != nil {
			t.Fatalf("%s: no channels_redis result: %v", w.name, w.pyErrs)
		}
		for side, r := range map[string]result{"gochannels": w.gor, "channels_redis": w.bestPy()} {
			if r.expected != want || r.received != 50 || r.lost() != want-50 {
				t.Errorf("%s, %s: expected %d, received %d, lost %d; want %d, 50, %d", w.name, side, r.expected, r.received, r.lost(), want, want-50)
			}
		}
		lost := strconv.FormatInt(want-50, 10) + "/" + strconv.FormatInt(want, 10)
		if n := strings.Count(lineOf(table, w.name), lost); n != 2 {
			t.Errorf("%s: table line shows %q %d times, want twice (both sides):\n%s", w.name, lost, n, table)
		}
	}
}

// lineOf returns the table's first line starting with name.
func lineOf(table, name string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, name) {
			return l
		}
	}
	return ""
}
