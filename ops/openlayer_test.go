package ops_test

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/ops"
)

func TestOpenLayer(t *testing.T) {
	t.Setenv(layers.EnvURL, "")
	ctx := testCtx(t)
	flagOf := func(args ...string) *layers.URLFlag {
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := layers.Flag(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var out logbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&out, nil))

	// With metrics: instrumented, its own counters exported, the URL logged.
	m, reg := newMetrics()
	l, err := ops.OpenLayer(ctx, flagOf("-layer", "memory://?capacity=1"), m, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, ok := l.(*layers.Memory); ok {
		t.Error("the layer is not instrumented")
	}
	if _, ok := layers.Unwrap(l).(*layers.Memory); !ok {
		t.Errorf("under the instrumentation: %T, want the memory layer", layers.Unwrap(l))
	}
	for range 2 {
		_ = l.Send(ctx, "full", channels.Message{"type": "x"})
	}
	expect(t, reg, map[string]float64{
		"gochannels_layer_sent_total":                  1,
		"gochannels_layer_rejected_full_total":         1,
		"gochannels_layer_channel_full_total{op=send}": 1,
		"gochannels_layer_operations_total{op=send}":   2,
	})
	if !strings.Contains(out.String(), `msg="channel layer" url="memory://?capacity=1"`) {
		t.Errorf("log:\n%s", out.String())
	}

	// Without metrics: the layer itself.
	plain, err := ops.OpenLayer(ctx, flagOf(), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, ok := plain.(*layers.Memory); !ok {
		t.Errorf("OpenLayer without metrics = %T, want the memory layer", plain)
	}

	if _, err := ops.OpenLayer(ctx, flagOf("-layer", "nosuch://:s3cret@h"), m, logger); err == nil ||
		!strings.Contains(err.Error(), "open the channel layer") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("OpenLayer of an unknown scheme: %v", err)
	}
}
