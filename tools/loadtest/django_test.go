package loadtest

import (
	"context"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

// TestDjangoReference starts the Django Channels reference chat (daphne, channels_redis on a
// real Redis) and drives it with the same closed loop as examples/chat: every message reaches
// every member, once, in the tutorial's frame format.
func TestDjangoReference(t *testing.T) {
	if err := checkDjango(); err != nil {
		redistest.SkipOrFail(t, err.Error())
	}
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := StartCluster(ctx, ClusterConfig{Procs: 2, LayerURL: rs.URL(), Server: ServerDjango, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rep, err := Run(ctx, Config{
		URLs: cl.URLs, Clients: 6, Rooms: 2, Senders: 1, Mode: ClosedLoop, ServerPIDs: cl.PIDs(),
		Warmup: 200 * time.Millisecond, Duration: time.Second, Drain: 5 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.MessagesSent == 0 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Foreign != 0 || rep.ReadErrors != 0 || rep.WriteErrors != 0 {
		t.Fatalf("Django reference run: %+v (first error %q)", rep, rep.FirstError)
	}
	if rep.LimitsHit != nil {
		t.Fatalf("the Django reference has no /metrics, yet limits were read: %v", rep.LimitsHit)
	}
}

// TestDjangoLayer: the reference takes the in-memory layer or a redis:// URL, nothing else.
func TestDjangoLayer(t *testing.T) {
	for in, want := range map[string]string{"memory://": "memory", "redis://127.0.0.1:6379/0": "redis://127.0.0.1:6379/0"} {
		if got, err := djangoLayer(in); err != nil || got != want {
			t.Errorf("djangoLayer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"rediss://h:1", "redis+pubsub://h:1", "sentinel://h"} {
		if _, err := djangoLayer(in); err == nil {
			t.Errorf("djangoLayer(%q): no error", in)
		}
	}
}
