package ops

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/worker"
)

// NewStatsCollector returns a prometheus.Collector that calls snapshot at each scrape and
// exports every numeric field of the struct it returns, named
// <namespace>_<subsystem>_<field in snake case>: unsigned integers as counters (with a
// "_total" suffix), signed integers and floats as gauges. It fits the Stats methods of the
// layers and workers, for example
//
//	reg.MustRegister(ops.NewStatsCollector("gochannels", "layer", memoryLayer.Stats))
//
// It panics when S is not a struct type, a programming error caught at start-up.
func NewStatsCollector[S any](namespace, subsystem string, snapshot func() S) prometheus.Collector {
	c := newStatsCollector(reflect.TypeFor[S](), namespace, subsystem, "")
	c.collect = func(emit func(v reflect.Value, labelValues []string)) {
		emit(reflect.ValueOf(snapshot()), nil)
	}
	return c
}

// NewKeyedStatsCollector is NewStatsCollector for snapshots keyed by a name, such as
// worker.Worker.Stats (by channel): every metric gets the key as the label named label.
//
// It panics when S is not a struct type.
func NewKeyedStatsCollector[S any](namespace, subsystem, label string, snapshot func() map[string]S) prometheus.Collector {
	c := newStatsCollector(reflect.TypeFor[S](), namespace, subsystem, label)
	c.collect = func(emit func(v reflect.Value, labelValues []string)) {
		for k, s := range snapshot() {
			emit(reflect.ValueOf(s), []string{k})
		}
	}
	return c
}

// WatchLayer registers, with the Metrics' registry, a collector of l's own counters
// (subsystem "layer": gochannels_layer_sent_total, …_dropped_total, …_undecodable_total and
// so on). l is a layer with a Stats method returning a struct, as layers.Memory,
// redislayer.Layer and redislayer.PubSubLayer have, or an InstrumentLayer wrapper of one.
// It returns an error when l has no such method or registration fails.
func (m *Metrics) WatchLayer(l layers.Layer) error {
	l = layers.Unwrap(l)
	meth := reflect.ValueOf(l).MethodByName("Stats")
	if !meth.IsValid() || meth.Type().NumIn() != 0 || meth.Type().NumOut() != 1 || meth.Type().Out(0).Kind() != reflect.Struct {
		return fmt.Errorf("ops: layer %T has no Stats method returning a struct", l)
	}
	c := newStatsCollector(meth.Type().Out(0), m.ns, "layer", "")
	c.collect = func(emit func(v reflect.Value, labelValues []string)) {
		emit(meth.Call(nil)[0], nil)
	}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("ops: registering the stats of layer %T: %w", l, err)
	}
	return nil
}

// WatchWorker registers, with the Metrics' registry, a collector of w's counters by channel
// (gochannels_worker_handled_total{channel}, …_failed_total, …_in_flight, …_restarts_total,
// …_receive_errors_total). It returns an error when registration fails.
func (m *Metrics) WatchWorker(w interface {
	Stats() map[string]worker.ChannelStats
}) error {
	if err := m.reg.Register(NewKeyedStatsCollector(m.ns, "worker", "channel", w.Stats)); err != nil {
		return fmt.Errorf("ops: registering the worker stats: %w", err)
	}
	return nil
}

// statsCollector exports the numeric fields of snapshot structs.
type statsCollector struct {
	fields  []statsField
	collect func(emit func(v reflect.Value, labelValues []string))
}

type statsField struct {
	index int
	desc  *prometheus.Desc
	vt    prometheus.ValueType
	kind  reflect.Kind
}

func newStatsCollector(t reflect.Type, namespace, subsystem, label string) *statsCollector {
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("ops: stats collector needs a struct snapshot, not %v", t))
	}
	var labels []string
	if label != "" {
		labels = []string{label}
	}
	c := &statsCollector{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		var vt prometheus.ValueType
		switch f.Type.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			vt = prometheus.CounterValue
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
			vt = prometheus.GaugeValue
		default:
			continue
		}
		name := snake(f.Name)
		if vt == prometheus.CounterValue {
			name += "_total"
		}
		help := fmt.Sprintf("%s.%s, read from the snapshot at scrape time.", t.Name(), f.Name)
		c.fields = append(c.fields, statsField{
			index: i,
			desc:  prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil),
			vt:    vt,
			kind:  f.Type.Kind(),
		})
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.fields {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.collect(func(v reflect.Value, lv []string) {
		for _, f := range c.fields {
			fv := v.Field(f.index)
			var x float64
			switch f.kind {
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				x = float64(fv.Uint())
			case reflect.Float32, reflect.Float64:
				x = fv.Float()
			default:
				x = float64(fv.Int())
			}
			m, err := prometheus.NewConstMetric(f.desc, f.vt, x, lv...)
			if err != nil {
				m = prometheus.NewInvalidMetric(f.desc, err)
			}
			ch <- m
		}
	})
}

// snake turns a Go field name into snake case: "RejectedFull" → "rejected_full",
// "HTTPErrors" → "http_errors".
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) {
			if i > 0 && (unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
