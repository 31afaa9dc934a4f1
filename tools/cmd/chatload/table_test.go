package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// TestTableMode: -server with a list runs each server in turn on the same load and prints
// one table; -shapes makes it a (tiny) scaling table.
func TestTableMode(t *testing.T) {
	var rep loadtest.TableReport
	runJSON(t, &rep, "-server", "bare,gochannels:memory", "-chat-bin", chatBin, "-shapes", "1x3,2x2",
		"-senders", "1", "-inflight", "2", "-duration", "300ms", "-warmup", "100ms")
	if len(rep.Rows) != 4 || len(rep.Summary) != 4 {
		t.Fatalf("%d rows, %d summaries, want 4 and 4: %+v", len(rep.Rows), len(rep.Summary), rep)
	}
	for _, r := range rep.Rows {
		if r.Report.Lost != 0 || r.Report.MessagesSent == 0 {
			t.Errorf("%s %s: %+v", r.Server, r.Shape, r.Report)
		}
	}
	if rep.Rows[0].Layer != loadtest.LayerNone || rep.Rows[2].Layer != "memory://" {
		t.Errorf("layers %q, %q", rep.Rows[0].Layer, rep.Rows[2].Layer)
	}
}

func TestTableFlagsRefuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"-server", "bare,gochannels", "-url", "ws://127.0.0.1:1"},
		{"-server", "bare,gochannels", "-mode", "search"},
		{"-shapes", "1x20000"},
		{"-server", "bare,nginx"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(ctx, args, &stdout, &stderr); err == nil {
			t.Errorf("chatload %s: no error", strings.Join(args, " "))
		}
	}
}
