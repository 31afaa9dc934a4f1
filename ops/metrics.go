package ops

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gochannels/gochannels/channels"
)

// DefaultNamespace is the metric name prefix NewMetrics uses for an empty namespace.
const DefaultNamespace = "gochannels"

// Close sides: who closed a WebSocket first.
const (
	SideApplication = "application"
	SideClient      = "client"
	SideServer      = "server"
	SideUnknown     = "unknown"
)

// ClosedByKey is the key Instrument adds to every websocket.disconnect event it passes to
// the application: SideServer when the server closed the connection (slow client, idle
// timeout, shutdown, protocol errors, timeouts), SideClient otherwise. An event that already
// carries the key (from a server that reports it) is passed unchanged, and its value is
// believed.
const ClosedByKey = "closed_by"

// Metrics holds the Prometheus metrics of one process: Instrument and InstrumentLayer feed
// them, Handler serves them. All counters a hot path touches are resolved when Metrics is
// built; the per-message counts of Instrument are kept per scope and summed at each scrape
// (exact at every scrape), so counting a message is one uncontended atomic add per number.
type Metrics struct {
	ns       string
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer

	scopes    map[string]*scopeCounters // by scope type; read-only after NewMetrics
	other     *scopeCounters            // any other scope type
	scopeList []*scopeCounters          // all of them, by scopeCounters.index
	live      liveScopes                // the scopes in progress, for the scrape

	closes      *prometheus.CounterVec
	closeCache  sync.Map // closeKey (code label, side) → prometheus.Counter
	slow        prometheus.Counter
	slowBy      map[string]prometheus.Counter // by channels.SlowCloseKind; read-only
	refused     prometheus.Counter
	httpClasses [6]prometheus.Counter // index status/100 (1…5); 0 is "unknown"

	layer *layerMetrics
}

// scopeCounters are the per-scope-type counters, resolved once.
type scopeCounters struct {
	typ                                  string // the type label
	index                                int    // in Metrics.scopeList
	open                                 prometheus.Gauge
	total                                prometheus.Counter
	failPanic, failError, failAppClose11 prometheus.Counter
	base                                 tallies // what the ended scopes counted (see tally.go)
}

type closeKey struct{ code, side string }

// NewMetrics creates the metrics and registers them with reg under namespace
// (DefaultNamespace when empty). A nil reg means a new prometheus.Registry of its own. It
// panics if reg already holds metrics of the same names (register one Metrics per
// registry and namespace), as prometheus.MustRegister does.
//
// Handler serves reg when it is also a prometheus.Gatherer (a *prometheus.Registry is both),
// and prometheus.DefaultGatherer otherwise.
func NewMetrics(reg prometheus.Registerer, namespace string) *Metrics {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{ns: namespace, reg: reg, gatherer: prometheus.DefaultGatherer}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	open := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "connections_open",
		Help: "Scopes in progress (HTTP requests, WebSocket connections, channel consumers), by scope type."}, []string{"type"})
	total := counterVec("connections_total", "Scopes started, by scope type.", "type")
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	tc := &tallyCollector{m: m,
		msgIn:     desc("messages_received_total", "WebSocket data messages received from clients (websocket.receive), by scope type.", "type"),
		msgOut:    desc("messages_sent_total", "WebSocket data messages the server took for sending (websocket.send), by scope type.", "type"),
		bytesIn:   desc("bytes_received_total", "Payload bytes received: websocket.receive text/bytes and http.request bodies, by scope type.", "type"),
		bytesOut:  desc("bytes_sent_total", "Payload bytes sent: websocket.send text/bytes and http.response.body bodies, by scope type.", "type"),
		layerMsgs: desc("layer_messages_total", "Channel-layer messages pushed into scopes' receivers, by scope type and result (delivered; mailbox_full: dropped by a full queue, the new message or, under drop-oldest, an older one; overflow: refused by a queue over its byte bound, which closed the connection; closed).", "type", "result"),
	}
	fails := counterVec("application_failures_total", "Application failures by scope type and kind: panic, error (a returned error the server turns into 1011 or 500), close_1011 (the application closed with 1011, the consumers' failure policy).", "type", "kind")
	m.closes = counterVec("websocket_closes_total", "WebSocket connections closed, by close code and by who closed first (application, client, server, unknown).", "code", "side")
	m.slow = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "websocket_slow_client_closes_total",
		Help: "WebSocket connections the server closed for not keeping up: 1008 \"slow client\" (outbound queue full or a write timed out) or 1008 \"event queue full\" (channel-layer events over the server's EventQueueBytes)."})
	slowBy := counterVec("websocket_slow_closes_total", "WebSocket connections the server closed for not keeping up, by reason: outbound (1008 \"slow client\": the outbound queue passed OutboundQueueBytes or a write timed out), events (1008 \"event queue full\": the channel-layer events waiting passed EventQueueBytes).", "reason")
	m.slowBy = map[string]prometheus.Counter{
		channels.SlowOutbound: slowBy.WithLabelValues(channels.SlowOutbound),
		channels.SlowEvents:   slowBy.WithLabelValues(channels.SlowEvents),
	}
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "websocket_handshake_refusals_total",
		Help: "WebSocket handshakes the application refused: it closed, returned or failed before accepting."})
	httpResp := counterVec("http_responses_total", "HTTP responses by status class (1xx…5xx; unknown when the response bypassed the application's Sender, as FromHTTPHandler does on a real server, and the server was not wrapped with InstrumentHandler).", "class")
	m.httpClasses[0] = httpResp.WithLabelValues("unknown")
	for i := 1; i <= 5; i++ {
		m.httpClasses[i] = httpResp.WithLabelValues(strconv.Itoa(i) + "xx")
	}

	mk := func(typ string) *scopeCounters {
		sc := &scopeCounters{typ: typ, index: len(m.scopeList),
			open: open.WithLabelValues(typ), total: total.WithLabelValues(typ),
			failPanic:      fails.WithLabelValues(typ, "panic"),
			failError:      fails.WithLabelValues(typ, "error"),
			failAppClose11: fails.WithLabelValues(typ, "close_1011"),
		}
		m.scopeList = append(m.scopeList, sc)
		return sc
	}
	m.scopes = map[string]*scopeCounters{
		channels.ScopeHTTP:      mk(channels.ScopeHTTP),
		channels.ScopeWebsocket: mk(channels.ScopeWebsocket),
		channels.ScopeChannel:   mk(channels.ScopeChannel),
	}
	m.other = mk("other")
	m.layer = newLayerMetrics(namespace)

	reg.MustRegister(open, total, tc, fails, m.closes, m.slow, slowBy, m.refused, httpResp)
	m.layer.register(reg)
	return m
}

// Namespace returns the metric name prefix.
func (m *Metrics) Namespace() string { return m.ns }

// Registerer returns the registry the metrics are registered with, for adding collectors
// (NewStatsCollector, NewKeyedStatsCollector) beside them.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Handler returns the /metrics handler (promhttp) for the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func (m *Metrics) counters(scopeType string) *scopeCounters {
	if c, ok := m.scopes[scopeType]; ok {
		return c
	}
	return m.other
}

// closeCounter returns the counter of a close (code, side), resolving it once.
func (m *Metrics) closeCounter(code int, side string) prometheus.Counter {
	k := closeKey{closeCodeLabel(code, side), side}
	if c, ok := m.closeCache.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c := m.closes.WithLabelValues(k.code, side)
	m.closeCache.Store(k, c)
	return c
}

// closeCodeLabel is the code label of a close. Codes a client picks outside the registered
// range are bucketed, so that a client cannot create unbounded series.
func closeCodeLabel(code int, side string) string {
	if side == SideClient || side == SideUnknown {
		switch {
		case code >= 1000 && code <= 1015:
		case code >= 3000 && code <= 3999:
			return "3xxx"
		case code >= 4000 && code <= 4999:
			return "4xxx"
		default:
			return "other"
		}
	}
	return strconv.Itoa(code)
}
