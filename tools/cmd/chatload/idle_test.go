package main

import (
	"testing"

	"github.com/gochannels/gochannels/tools/loadtest"
)

// TestIdlePerServer: -per-server sets the connections per server process, and the report
// shows each server's clients, the sockets it held open around the RSS reading and its own
// /metrics count of open WebSockets (the clients plus the warm-up connection).
func TestIdlePerServer(t *testing.T) {
	var rep loadtest.IdleReport
	runJSON(t, &rep, "-chat-bin", chatBin, "-mode", "idle", "-per-server", "20", "-clients", "999", "-rooms", "4", "-settle", "200ms")
	if rep.Connections != 20 || len(rep.Servers) != 1 || rep.Probes != 10 {
		t.Fatalf("report %+v", rep)
	}
	s := rep.Servers[0]
	if s.Clients != 20 || s.Open != 21 || s.OpenAfter != 21 || s.MetricsOpen == nil || *s.MetricsOpen != 21 {
		t.Fatalf("server %+v", s)
	}
}
