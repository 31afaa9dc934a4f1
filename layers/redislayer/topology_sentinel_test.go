package redislayer

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
)

// TestTopologySentinel runs the layer through redis+sentinel:// (the master found through
// the sentinel).
func TestTopologySentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	ctx := topoCtx(t)
	exerciseLayers(t, ctx, openN(t, ctx, s.URL(), 2))
}

// TestTopologySentinelFailover promotes the replica with SENTINEL FAILOVER while two layers
// hold group members and receive loops: after the switch, sends succeed again (callers may
// see errors meanwhile, never a hang) and reach the same members through the new master.
func TestTopologySentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	ctx := topoCtx(t)
	ls := openN(t, ctx, s.URL(), 2)
	var members []*inbox
	for _, l := range ls {
		in := listen(t, ctx, l)
		if err := l.GroupAdd(ctx, "topo-room", in.name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
		members = append(members, in)
	}
	if err := ls[0].GroupSend(ctx, "topo-room", channels.Message{"type": "room.message", "n": 0}); err != nil {
		t.Fatalf("GroupSend before failover: %v", err)
	}
	for _, in := range members {
		in.next(t, ctx, "room.message", 0)
	}

	oldMaster, err := s.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Make sure the replica has the group before it is promoted (replication is asynchronous).
	mc := redis.NewClient(&redis.Options{Addr: oldMaster, DisableIdentity: true})
	defer mc.Close()
	if n, err := mc.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}
	newMaster, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newMaster == oldMaster {
		t.Fatalf("failover kept the master at %s", oldMaster)
	}

	// Retry until the layer has followed the switch; each attempt carries its own number.
	n := 0
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			t.Fatalf("GroupSend never succeeded after the failover: %v", err)
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = ls[1].GroupSend(actx, "topo-room", channels.Message{"type": "room.message", "n": attempt})
		cancel()
		if err == nil {
			n = attempt
			break
		}
		t.Logf("GroupSend attempt %d after failover: %v", attempt, err)
		time.Sleep(100 * time.Millisecond)
	}
	for _, in := range members {
		drainUntil(t, ctx, in, n)
	}
	for i, l := range ls {
		if err := l.Send(ctx, members[1-i].name, channels.Message{"type": "direct.after", "n": 99}); err != nil {
			t.Fatalf("Send after failover: %v", err)
		}
	}
	for _, in := range members {
		in.next(t, ctx, "direct.after", 99)
	}
	nc := redis.NewClient(&redis.Options{Addr: newMaster, DisableIdentity: true})
	defer nc.Close()
	if got, err := nc.ZCard(ctx, DefaultPrefix+":group:topo-room").Result(); err != nil || got != 2 {
		t.Fatalf("group on the new master: %d members, %v; want 2", got, err)
	}
}

// drainUntil drains in until the group message numbered n (earlier attempts that failed on the
// caller's side may or may not have been stored: delivery is at most once per attempt).
func drainUntil(t *testing.T, ctx context.Context, in *inbox, n int) {
	t.Helper()
	for {
		select {
		case m := <-in.msgs:
			got, _ := m.Int("n")
			if m.Type() != "room.message" || got > n {
				t.Fatalf("%s: unexpected %v while waiting for n=%d", in.name, m, n)
			}
			if got == n {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s: group message %d after failover never arrived: %v", in.name, n, ctx.Err())
		}
	}
}
