package ops_test

import (
	"context"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/ops"
	"github.com/gochannels/gochannels/worker"
)

func TestWatchLayerAndWorker(t *testing.T) {
	ctx := testCtx(t)
	m, reg := newMetrics()
	mem := layers.NewMemory(layers.MemoryOptions{Capacity: 1})
	defer mem.Close()
	l := m.InstrumentLayer(mem)
	if err := m.WatchLayer(l); err != nil {
		t.Fatal(err)
	}
	_ = l.Send(ctx, "full", channels.Message{"type": "x"})
	_ = l.Send(ctx, "full", channels.Message{"type": "x"})

	var handled = make(chan struct{}, 10)
	app := m.Instrument(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			if _, err := receive.Receive(ctx); err != nil {
				return err
			}
			handled <- struct{}{}
		}
	}))
	w, err := worker.Start(ctx, l, app, "tasks")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchWorker(w); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Send(ctx, "tasks", channels.Message{"type": "task.run"}); err != nil {
			t.Fatal(err)
		}
		<-handled
	}
	expect(t, reg, map[string]float64{
		"gochannels_layer_sent_total":                         4,
		"gochannels_layer_rejected_full_total":                1,
		"gochannels_worker_handled_total{channel=tasks}":      3,
		"gochannels_worker_in_flight{channel=tasks}":          0,
		"gochannels_layer_operation_errors_total{op=receive}": 0, // the worker's poll timeouts are no errors
		"gochannels_connections_open{type=channel}":           1,
	})
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, reg, map[string]float64{"gochannels_connections_open{type=channel}": 0})

	if err := m.WatchLayer(fakeLayer{l}); err == nil {
		t.Fatal("WatchLayer accepted a layer without Stats")
	}
}

// fakeLayer hides the Stats and Unwrap methods of a layer.
type fakeLayer struct{ layers.Layer }

func TestStatsCollectorNames(t *testing.T) {
	type S struct {
		RejectedFull uint64
		InFlight     int64
		HTTPErrors   uint32
		name         string
		Label        string
	}
	_, reg := newMetrics()
	reg.MustRegister(ops.NewStatsCollector("x", "y", func() S { return S{RejectedFull: 3, InFlight: -1, HTTPErrors: 2, name: "n", Label: "l"} }))
	expect(t, reg, map[string]float64{
		"x_y_rejected_full_total": 3,
		"x_y_in_flight":           -1,
		"x_y_http_errors_total":   2,
	})
}
