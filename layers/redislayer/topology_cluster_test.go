package redislayer

import (
	"context"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// TestTopologyCluster runs the layer contract through redis+cluster:// on a 3-master cluster.
func TestTopologyCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	ctx := topoCtx(t)
	exerciseLayers(t, ctx, openN(t, ctx, c.URL(), 3))
}

// TestTopologyClusterGroupAcrossSlots builds a group whose members' inboxes (and a normal
// channel) live on different cluster nodes, and group-sends to it, plain and with encryption
// and per-channel capacities (the other group-send path): every script the layer runs must
// keep its keys in one slot, or Redis would answer CROSSSLOT.
func TestTopologyClusterGroupAcrossSlots(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	ctx := topoCtx(t)
	cc := c.Client()
	nodeOf := slotOwners(t, ctx, cc)

	for _, tc := range []struct{ name, params string }{
		{"plain", ""},
		{"encrypted", "&symmetric_encryption_key=topology-secret&channel_capacity=" + url.QueryEscape("topo-*:50")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Open processes until their inboxes sit on at least two nodes (bounded; each new
			// process id lands on a random slot).
			var ls []layers.Layer
			var members []*inbox
			nodes := map[string]bool{}
			for i := 0; i < 12 && (len(ls) < 3 || len(nodes) < 2); i++ {
				l := openURL(t, ctx, c.URL()+tc.params)
				in := listen(t, ctx, l)
				inboxName, _, _ := layers.SplitProcessSpecific(in.name)
				slot, err := cc.ClusterKeySlot(ctx, DefaultPrefix+inboxName).Result()
				if err != nil {
					t.Fatalf("CLUSTER KEYSLOT: %v", err)
				}
				nodes[nodeOf(int(slot))] = true
				ls = append(ls, l)
				members = append(members, in)
			}
			if len(nodes) < 2 {
				t.Fatalf("12 processes' inboxes all landed on one node")
			}
			group := "topo-" + tc.name
			for i, l := range ls {
				if err := l.GroupAdd(ctx, group, members[i].name); err != nil {
					t.Fatalf("GroupAdd: %v", err)
				}
			}
			// A normal channel member whose key is on yet another slot.
			if err := ls[0].GroupAdd(ctx, group, "topo-worker-"+tc.name); err != nil {
				t.Fatalf("GroupAdd normal: %v", err)
			}
			for n := 0; n < 5; n++ {
				if err := ls[n%len(ls)].GroupSend(ctx, group, channels.Message{"type": "room.message", "n": n}); err != nil {
					t.Fatalf("GroupSend %d: %v", n, err)
				}
			}
			for n := 0; n < 5; n++ {
				for _, in := range members {
					in.next(t, ctx, "room.message", n)
				}
				mustReceive(t, ctx, ls[len(ls)-1], "topo-worker-"+tc.name, "room.message", n)
			}
			var writes uint64
			for _, l := range ls {
				writes += l.(*Layer).Stats().GroupWrites
			}
			// One write per process inbox and one for the normal channel, per group send.
			if want := uint64(5 * (len(ls) + 1)); writes != want {
				t.Fatalf("GroupWrites = %d, want %d (one per target key)", writes, want)
			}
		})
	}
}

// slotOwners returns a function naming the node that serves a slot.
func slotOwners(t *testing.T, ctx context.Context, cc *redis.ClusterClient) func(slot int) string {
	t.Helper()
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SHARDS: %v", err)
	}
	return func(slot int) string {
		for _, sh := range shards {
			for _, r := range sh.Slots {
				if slot >= int(r.Start) && slot <= int(r.End) && len(sh.Nodes) > 0 {
					return sh.Nodes[0].ID
				}
			}
		}
		t.Fatalf("no node serves slot %d", slot)
		return ""
	}
}
