package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// TestRepeat: -repeat 2 runs the open loop twice on the same server and reports each
// figure's median, min–max and both values.
func TestRepeat(t *testing.T) {
	var rep loadtest.RepeatReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-clients", "5", "-mode", "open", "-rate", "500",
		"-duration", "300ms", "-warmup", "50ms", "-pause", "10ms", "-repeat", "2")
	if rep.Runs != 2 || len(rep.Reports) != 2 || len(rep.Spreads) == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range rep.Spreads {
		if len(s.Values) != 2 || s.Min > s.Median || s.Median > s.Max {
			t.Fatalf("spread %+v", s)
		}
	}
	var stderr bytes.Buffer
	for _, args := range [][]string{
		{"-repeat", "0", "-url", "ws://127.0.0.1:1"},
		{"-repeat", "2", "-mode", "idle"},
		{"-repeat", "2", "-mode", "connect", "-url", "ws://127.0.0.1:1"},
	} {
		if err := run(context.Background(), args, &stderr, &stderr); err == nil || !strings.Contains(err.Error(), "-repeat") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestRepeatSearch: a repeated rate search reports the spread of its headline figure.
func TestRepeatSearch(t *testing.T) {
	var rep loadtest.RepeatReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-mode", "search", "-clients", "5", "-rate", "500", "-max-rate", "1000",
		"-search-steps", "2", "-duration", "300ms", "-warmup", "100ms", "-pause", "10ms", "-p99", "10s", "-repeat", "2")
	if rep.Runs != 2 || len(rep.Spreads) == 0 || rep.Spreads[0].Name != "max sustained deliveries/s" || len(rep.Spreads[0].Values) != 2 {
		t.Fatalf("report %+v", rep)
	}
}
