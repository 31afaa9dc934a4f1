package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRepeatRuns repeats a short open-loop run against the chat application three times and
// checks the spreads: every figure has one value per run, min <= median <= max, and the
// text and JSON reports carry them.
func TestRepeatRuns(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs := 0
	rep, err := Repeat(ctx, 3, 10*time.Millisecond, func(ctx context.Context, i int) (Figured, error) {
		runs++
		return Run(ctx, Config{
			URLs: []string{url}, Clients: 5, Rooms: 1, Mode: OpenLoop, Rate: 500,
			Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Drain: 2 * time.Second, Logger: quiet,
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 3 || rep.Runs != 3 || len(rep.Reports) != 3 || len(rep.Spreads) == 0 {
		t.Fatalf("%d runs: %+v", runs, rep)
	}
	names := map[string]bool{}
	for _, s := range rep.Spreads {
		names[s.Name] = true
		if len(s.Values) != 3 || s.Min > s.Median || s.Median > s.Max {
			t.Errorf("spread %+v", s)
		}
	}
	for _, want := range []string{"deliveries/s", "p99 ms", "lost", "duplicates", "expected"} {
		if !names[want] {
			t.Errorf("no figure %q", want)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "3 runs") || !strings.Contains(text.String(), "\nlost ") ||
		!strings.Contains(text.String(), "shape: chat load, open loop") {
		t.Fatalf("text %q: %v", text.String(), err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back RepeatReport
	if err := json.Unmarshal(b, &back); err != nil || back.Runs != 3 || len(back.Spreads) != len(rep.Spreads) {
		t.Fatalf("JSON %s: %v", b, err)
	}
}

func TestSpreadOf(t *testing.T) {
	got, err := spreadOf([][]Figure{
		{{"a", 3}, {"b", 10}},
		{{"a", 1}, {"b", 30}},
		{{"a", 2}, {"b", 20}},
		{{"a", 8}, {"b", 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := got[0]; a.Name != "a" || a.Median != 2.5 || a.Min != 1 || a.Max != 8 || len(a.Values) != 4 || a.Values[0] != 3 {
		t.Errorf("a: %+v", a)
	}
	if b := got[1]; b.Median != 20 || b.Min != 10 || b.Max != 30 {
		t.Errorf("b: %+v", b)
	}
	if _, err := spreadOf([][]Figure{{{"a", 1}}, {{"b", 1}}}); err == nil {
		t.Error("different figures accepted")
	}
	if _, err := spreadOf([][]Figure{{{"a", 1}}, {{"a", 1}, {"b", 1}}}); err == nil {
		t.Error("different numbers of figures accepted")
	}
	if _, err := Repeat(context.Background(), 0, 0, nil); err == nil {
		t.Error("0 runs accepted")
	}
}
