package loadtest

import (
	"reflect"
	"strings"
	"testing"
)

func TestLossCounters(t *testing.T) {
	text := `# HELP gochannels_layer_dropped_total Stats.Dropped
# TYPE gochannels_layer_dropped_total counter
gochannels_layer_dropped_total 7
gochannels_layer_group_over_capacity_total 2
gochannels_layer_messages_total{result="mailbox_full",type="websocket"} 5
gochannels_layer_messages_total{result="delivered",type="websocket"} 900
gochannels_websocket_slow_client_closes_total 1
gochannels_connections_open 100
`
	before := map[string]float64{}
	if !parseLossCounters(strings.NewReader(text), before) {
		t.Fatal("no metrics seen")
	}
	want := map[string]float64{
		"gochannels_layer_dropped_total":                                          7,
		"gochannels_layer_group_over_capacity_total":                              2,
		`gochannels_layer_messages_total{result="mailbox_full",type="websocket"}`: 5,
		"gochannels_websocket_slow_client_closes_total":                           1,
	}
	if !reflect.DeepEqual(before, want) {
		t.Fatalf("counters %v, want %v", before, want)
	}
	after := map[string]float64{}
	parseLossCounters(strings.NewReader(strings.Replace(text, "dropped_total 7", "dropped_total 10", 1)), after)
	if d := limitDeltas(before, after); !reflect.DeepEqual(d, map[string]float64{"gochannels_layer_dropped_total": 3}) {
		t.Fatalf("deltas %v", d)
	}
	if got := limitsText(map[string]float64{"b": 1, "a": 2}); got != "a +2, b +1" {
		t.Fatalf("limitsText = %q", got)
	}
	if parseLossCounters(strings.NewReader("<html>not metrics</html>\n"), map[string]float64{}) {
		t.Fatal("an HTML page counted as metrics")
	}
	for in, want := range map[string]string{"ws://127.0.0.1:8000": "http://127.0.0.1:8000/metrics", "wss://h:1/x?y": "https://h:1/metrics"} {
		if got, err := metricsURL(in); err != nil || got != want {
			t.Fatalf("metricsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
