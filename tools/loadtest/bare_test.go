package loadtest

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestParseServerSpecs(t *testing.T) {
	got, err := ParseServerSpecs("bare, gochannels:memory,gochannels:redis:2,django:redis,gochannels:redis://127.0.0.1:6379/0,gochannels,gochannels:redis?pipeline_depth=256:2")
	if err != nil {
		t.Fatal(err)
	}
	want := []ServerSpec{
		{Server: ServerBare}, {Server: ServerGo, Layer: "memory"}, {Server: ServerGo, Layer: "redis", Procs: 2},
		{Server: ServerDjango, Layer: "redis"}, {Server: ServerGo, Layer: "redis://127.0.0.1:6379/0"}, {Server: ServerGo},
		{Server: ServerGo, Layer: "redis?pipeline_depth=256", Procs: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if s := (ServerSpec{Server: ServerGo, Procs: 2}).String(); s != "gochannels::2" {
		t.Errorf("String() = %q", s)
	}
	for _, tc := range []struct{ layer, redis, want string }{
		{"redis", "", ""},
		{"redis?pipeline_depth=256", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0?pipeline_depth=256"},
		{"redis?pipeline_depth=256", "redis://h:1/0?rejoin_grace=2", "redis://h:1/0?rejoin_grace=2&pipeline_depth=256"},
		{"redis?pipeline_depth=256", "", "redis?pipeline_depth=256"}, // StartCluster starts the server
	} {
		if got := resolveLayer(tc.layer, "", tc.redis, 1); got != tc.want {
			t.Errorf("resolveLayer(%q, redis %q) = %q, want %q", tc.layer, tc.redis, got, tc.want)
		}
	}
	for _, bad := range []string{"", "nginx", "bare:redis", "bare::2", "gochannels:redis:0", "gochannels:redis:x"} {
		if _, err := ParseServerSpecs(bad); err == nil {
			t.Errorf("ParseServerSpecs(%q): no error", bad)
		}
	}
}

// TestBareServer builds and starts the bare reference server and drives it like
// examples/chat: every message reaches every member of its room, once, in order, and its
// /metrics shows no slow-client close.
func TestBareServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := StartCluster(ctx, ClusterConfig{Procs: 2, Server: ServerBare, Logger: quiet}); err == nil {
		t.Fatal("two bare processes started")
	}
	cl, err := StartCluster(ctx, ClusterConfig{Procs: 1, Server: ServerBare, Logger: quiet, LayerURL: "redis"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if cl.LayerURL != LayerNone || cl.RedisPID() != 0 {
		t.Fatalf("the bare server got layer %q and redis pid %d", cl.LayerURL, cl.RedisPID())
	}
	rep, err := Run(ctx, Config{
		URLs: cl.URLs, Clients: 20, Rooms: 2, Senders: 3, Inflight: 5, Mode: ClosedLoop, ServerPIDs: cl.PIDs(),
		Warmup: 200 * time.Millisecond, Duration: time.Second, Drain: 5 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.MessagesSent == 0 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Reordered != 0 || rep.Foreign != 0 || rep.ReadErrors != 0 || rep.WriteErrors != 0 {
		t.Fatalf("bare run: %+v (first error %q)", rep, rep.FirstError)
	}
	if rep.LimitsHit == nil || len(rep.LimitsHit) != 0 {
		t.Fatalf("the bare server's /metrics: limits hit %v, want read and none", rep.LimitsHit)
	}
}
