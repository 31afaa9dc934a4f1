package ops

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Layer operation names, the op label of the layer metrics.
const (
	OpSend         = "send"
	OpReceive      = "receive"
	OpGroupSend    = "group_send"
	OpGroupAdd     = "group_add"
	OpGroupDiscard = "group_discard"
	OpNewChannel   = "new_channel"
	OpFlush        = "flush"
	OpListen       = "listen"
	OpPing         = "ping"
)

var layerOps = []string{OpSend, OpReceive, OpGroupSend, OpGroupAdd, OpGroupDiscard, OpNewChannel, OpFlush, OpListen, OpPing}

// layerMetrics are the layer wrapper's metrics.
type layerMetrics struct {
	ops, errs, full *prometheus.CounterVec
	dur             *prometheus.HistogramVec
	listen          *listenCollector
	listened        listenTallies // the Listen deliveries, per Listen channel (listentally.go)

	send, receive, groupSend, groupAdd, groupDiscard, newChannel, flush, listenOp, ping *opMetrics
}

// opMetrics are one operation's resolved metrics.
type opMetrics struct {
	total, errs, full prometheus.Counter
	dur               prometheus.Observer
}

func newLayerMetrics(ns string) *layerMetrics {
	lm := &layerMetrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "layer_operations_total",
			Help: "Channel-layer calls, by operation."}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "layer_operation_errors_total",
			Help: "Failed channel-layer calls, by operation (ErrChannelFull, the caller's own cancellation and a receive's own deadline excluded)."}, []string{"op"}),
		full: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "layer_channel_full_total",
			Help: "Channel-layer calls refused with ErrChannelFull, by operation."}, []string{"op"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "layer_operation_duration_seconds",
			Help:    "Channel-layer call latency, by operation (receive includes the wait for a message).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"op"}),
	}
	lm.listen = &listenCollector{s: &lm.listened, desc: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "layer_listen_messages_total"),
		"Messages the layer pushed to Listen callbacks, by result (delivered, dropped: the callback's queue was full).", []string{"result"}, nil)}
	res := map[string]*opMetrics{}
	for _, op := range layerOps {
		res[op] = &opMetrics{
			total: lm.ops.WithLabelValues(op), errs: lm.errs.WithLabelValues(op),
			full: lm.full.WithLabelValues(op), dur: lm.dur.WithLabelValues(op),
		}
	}
	lm.send, lm.receive, lm.groupSend = res[OpSend], res[OpReceive], res[OpGroupSend]
	lm.groupAdd, lm.groupDiscard, lm.newChannel = res[OpGroupAdd], res[OpGroupDiscard], res[OpNewChannel]
	lm.flush, lm.listenOp, lm.ping = res[OpFlush], res[OpListen], res[OpPing]
	return lm
}

func (lm *layerMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(lm.ops, lm.errs, lm.full, lm.dur, lm.listen)
}

// done counts one finished call of op that started at start.
func (o *opMetrics) done(ctx context.Context, start time.Time, err error) {
	o.total.Inc()
	o.dur.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
	case errors.Is(err, layers.ErrChannelFull):
		o.full.Inc()
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The caller gave up (a consumer ending, a shutdown): not the layer's failure.
	default:
		o.errs.Inc()
	}
}

// receiveDone counts a finished Receive: one that ends because the caller's context is done
// (a poll interval, a consumer ending) is a normal end of the wait, not an error.
func (o *opMetrics) receiveDone(ctx context.Context, start time.Time, err error) {
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = nil
	}
	o.done(ctx, start, err)
}

// Pinger is layers.Pinger.
type Pinger = layers.Pinger

// InstrumentLayer returns l wrapped so that every call is counted by operation, with its
// errors (ErrChannelFull apart) and its latency. The wrapper implements layers.Listener when
// l does, delegating Listen and counting the messages the callback took or dropped, and
// Pinger when l does. Unwrap returns l (use it for type assertions on the layer itself,
// such as its Stats method).
func (m *Metrics) InstrumentLayer(l layers.Layer) layers.Layer {
	base := instLayer{l: l, m: m.layer}
	_, isListener := l.(layers.Listener)
	_, isPinger := l.(Pinger)
	switch {
	case isListener && isPinger:
		return &instListenerPinger{base}
	case isListener:
		return &instListener{base}
	case isPinger:
		return &instPinger{base}
	}
	return &base
}

// instLayer counts a layer's calls.
type instLayer struct {
	l layers.Layer
	m *layerMetrics
}

// Unwrap returns the instrumented layer.
func (w *instLayer) Unwrap() layers.Layer { return w.l }

// Send counts l.Send.
func (w *instLayer) Send(ctx context.Context, channel string, msg channels.Message) error {
	start := time.Now()
	err := w.l.Send(ctx, channel, msg)
	w.m.send.done(ctx, start, err)
	return err
}

// Receive counts l.Receive.
func (w *instLayer) Receive(ctx context.Context, channel string) (channels.Message, error) {
	start := time.Now()
	msg, err := w.l.Receive(ctx, channel)
	w.m.receive.receiveDone(ctx, start, err)
	return msg, err
}

// NewChannel counts l.NewChannel.
func (w *instLayer) NewChannel(ctx context.Context, prefix string) (string, error) {
	start := time.Now()
	ch, err := w.l.NewChannel(ctx, prefix)
	w.m.newChannel.done(ctx, start, err)
	return ch, err
}

// GroupAdd counts l.GroupAdd.
func (w *instLayer) GroupAdd(ctx context.Context, group, channel string) error {
	start := time.Now()
	err := w.l.GroupAdd(ctx, group, channel)
	w.m.groupAdd.done(ctx, start, err)
	return err
}

// GroupDiscard counts l.GroupDiscard.
func (w *instLayer) GroupDiscard(ctx context.Context, group, channel string) error {
	start := time.Now()
	err := w.l.GroupDiscard(ctx, group, channel)
	w.m.groupDiscard.done(ctx, start, err)
	return err
}

// GroupSend counts l.GroupSend.
func (w *instLayer) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	start := time.Now()
	err := w.l.GroupSend(ctx, group, msg)
	w.m.groupSend.done(ctx, start, err)
	return err
}

// Flush counts l.Flush.
func (w *instLayer) Flush(ctx context.Context) error {
	start := time.Now()
	err := w.l.Flush(ctx)
	w.m.flush.done(ctx, start, err)
	return err
}

// Close closes l.
func (w *instLayer) Close() error { return w.l.Close() }

func (w *instLayer) listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	start := time.Now()
	set := &w.m.listened
	t := set.track()
	ch, stop, err := w.l.(layers.Listener).Listen(ctx, prefix, func(msg channels.Message) bool {
		ok := deliver(msg)
		if ok {
			t.add(lDelivered)
		} else {
			t.add(lDropped)
		}
		return ok
	})
	w.m.listenOp.done(ctx, start, err)
	if err != nil {
		set.untrack(t)
		return ch, stop, err
	}
	return ch, func() { stop(); set.untrack(t) }, nil
}

func (w *instLayer) ping(ctx context.Context) error {
	start := time.Now()
	err := w.l.(Pinger).Ping(ctx)
	w.m.ping.done(ctx, start, err)
	return err
}

type instListener struct{ instLayer }

// Listen delegates to the layer's Listen, counting each message the callback took or
// dropped.
func (w *instListener) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	return w.listen(ctx, prefix, deliver)
}

type instPinger struct{ instLayer }

// Ping delegates to the layer's Ping.
func (w *instPinger) Ping(ctx context.Context) error { return w.ping(ctx) }

type instListenerPinger struct{ instLayer }

// Listen delegates to the layer's Listen, counting each message the callback took or
// dropped.
func (w *instListenerPinger) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	return w.listen(ctx, prefix, deliver)
}

// Ping delegates to the layer's Ping.
func (w *instListenerPinger) Ping(ctx context.Context) error { return w.ping(ctx) }
