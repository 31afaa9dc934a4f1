package consumer_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/redislayer"
)

// namedFeed is a feed that tells its client its channel name first, so that the test can
// send to it directly.
type namedFeed struct {
	feed
}

func (f *namedFeed) Connect(ctx context.Context) error {
	if err := f.feed.Connect(ctx); err != nil {
		return err
	}
	return f.SendJSON(ctx, map[string]any{"gochannels": "channel", "stream": f.ChannelName()})
}

func redisHistoryLayer(t *testing.T, servers []*redistest.Server) *redislayer.Layer {
	t.Helper()
	opts := redislayer.Options{Prefix: servers[0].Prefix(), History: []layers.HistoryRule{{Pattern: "feed.*", Size: 100}}}
	for _, s := range servers {
		opts.Hosts = append(opts.Hosts, s.URL())
	}
	l, err := redislayer.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// historyLayers are the layers with history the ordering tests run on: memory, and real
// Redis on two shards (the split group-send path).
func historyLayers(t *testing.T) map[string]func(t *testing.T) layers.Layer {
	return map[string]func(t *testing.T) layers.Layer{
		"memory": func(t *testing.T) layers.Layer { return historyLayer(t, 100) },
		"redis":  func(t *testing.T) layers.Layer { return redisHistoryLayer(t, redistest.StartN(t, 2)) },
	}
}

func groupSend(t *testing.T, ctx context.Context, l layers.Layer, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
}

// historySince returns the kept messages of the feed after offset since, with their
// positions (as members receive them).
func historySince(t *testing.T, ctx context.Context, l layers.Layer, since uint64) []channels.Message {
	t.Helper()
	page, err := layers.History(ctx, l, feedGroup, layers.Position{Offset: since}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return page.Messages
}

// detachedFeed connects a namedFeed client that tracks the feed from its top, then takes its
// channel out of the group at the layer (the consumer still tracks the group), so that the
// test decides what reaches it and in which order.
func detachedFeed(t *testing.T, ctx context.Context, l layers.Layer) (*channelstestComm, string) {
	t.Helper()
	c := connect(t, ctx, consumer.JSONWebsocket[namedFeed](consumer.WithLayer(l)), "/feed/")
	f := nextFrame(t, ctx, c)
	if f.Gochannels != "channel" || f.Stream == "" {
		t.Fatalf("first frame %+v, want the channel name", f)
	}
	if err := l.GroupDiscard(ctx, feedGroup, f.Stream); err != nil {
		t.Fatal(err)
	}
	return c, f.Stream
}

func expectItem(t *testing.T, ctx context.Context, c *channelstestComm, n int) {
	t.Helper()
	f := nextFrame(t, ctx, c)
	if f.N == nil || *f.N != n || f.Pos.Offset != uint64(n) || f.Pos.Stream != feedGroup {
		t.Fatalf("frame %+v, want item %d at offset %d", f, n, n)
	}
}

// TestOrderFillsGap: offset 6 reaches a tracking consumer before 5 (as when two processes'
// deliveries race). The client gets 5 (read from history) then 6, and the late 5 is skipped:
// each once, in order.
func TestOrderFillsGap(t *testing.T) {
	for name, open := range historyLayers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			l := open(t)
			groupSend(t, ctx, l, 1, 4)
			c, ch := detachedFeed(t, ctx, l)
			groupSend(t, ctx, l, 5, 6) // kept in history, delivered to no one
			msgs := historySince(t, ctx, l, 4)
			if len(msgs) != 2 {
				t.Fatalf("history after 4: %d messages, want 2", len(msgs))
			}
			before := consumer.GapStats()
			for _, m := range []channels.Message{msgs[1], msgs[0]} { // 6, then 5
				if err := l.Send(ctx, ch, m); err != nil {
					t.Fatal(err)
				}
			}
			expectItem(t, ctx, c, 5)
			expectItem(t, ctx, c, 6)
			if err := l.GroupAdd(ctx, feedGroup, ch); err != nil {
				t.Fatal(err)
			}
			groupSend(t, ctx, l, 7, 7)
			expectItem(t, ctx, c, 7) // the late 5 was skipped before 7
			after := consumer.GapStats()
			if after.Filled-before.Filled != 1 || after.Duplicates-before.Duplicates != 1 || after.Unrecoverable != before.Unrecoverable {
				t.Fatalf("gap stats went from %+v to %+v, want 1 filled and 1 duplicate", before, after)
			}
			if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOrderUnfillableGap: a gap larger than MaxGapFill, a gap whose messages the history no
// longer keeps, and a message of another epoch each give the client an "unrecoverable" frame
// positioned right before the arriving message, which follows; messages without a position
// pass through.
func TestOrderUnfillableGap(t *testing.T) {
	ctx := testCtx(t)
	before := consumer.GapStats()
	lost := func(t *testing.T, c *channelstestComm, reason string, pos layers.Position) {
		t.Helper()
		f := nextFrame(t, ctx, c)
		if f.Gochannels != "unrecoverable" || f.Reason != reason || f.Stream != feedGroup || f.Pos.Offset != pos.Offset || f.Pos.Epoch != pos.Epoch {
			t.Fatalf("frame %+v, want unrecoverable %s at %+v", f, reason, pos)
		}
	}
	// sendLast sends the client, directly, the group's last message (the ones before it
	// went to no one) and returns its position.
	sendLast := func(t *testing.T, l layers.Layer, ch string, top int) layers.Position {
		t.Helper()
		m := historySince(t, ctx, l, uint64(top-1))[0]
		_, pos, _ := layers.PositionOf(m)
		if err := l.Send(ctx, ch, m); err != nil {
			t.Fatal(err)
		}
		return pos
	}
	t.Run("beyond MaxGapFill", func(t *testing.T) {
		l := historyLayer(t, consumer.MaxGapFill+10)
		groupSend(t, ctx, l, 1, 1)
		c, ch := detachedFeed(t, ctx, l)
		top := 3 + consumer.MaxGapFill // 2 to top-1: MaxGapFill+1 missing, all kept
		groupSend(t, ctx, l, 2, top)
		pos := sendLast(t, l, ch, top)
		lost(t, c, layers.ReasonGap, layers.Position{Offset: pos.Offset - 1, Epoch: pos.Epoch})
		expectItem(t, ctx, c, top)
		if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no longer kept", func(t *testing.T) {
		l := historyLayer(t, 5)
		groupSend(t, ctx, l, 1, 1)
		c, ch := detachedFeed(t, ctx, l)
		groupSend(t, ctx, l, 2, 10) // 2 to 5 trimmed
		pos := sendLast(t, l, ch, 10)
		lost(t, c, layers.ReasonGap, layers.Position{Offset: 9, Epoch: pos.Epoch})
		expectItem(t, ctx, c, 10)

		// Another epoch (the stream was lost): reported with the new epoch.
		other := channels.Message{"type": "feed.item", "n": 3, layers.GroupKey: feedGroup, layers.OffsetKey: 3, layers.EpochKey: "new-epoch"}
		if err := l.Send(ctx, ch, other); err != nil {
			t.Fatal(err)
		}
		lost(t, c, layers.ReasonEpoch, layers.Position{Offset: 2, Epoch: "new-epoch"})
		expectItem(t, ctx, c, 3)

		// A message without a position (as Python's channels_redis sends) passes through.
		if err := l.Send(ctx, ch, channels.Message{"type": "feed.item", "n": 99}); err != nil {
			t.Fatal(err)
		}
		if f := nextFrame(t, ctx, c); f.N == nil || *f.N != 99 || f.Pos.Offset != 0 {
			t.Fatalf("frame %+v, want item 99 without a position", f)
		}
		if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
			t.Fatal(err)
		}
	})
	if d := consumer.GapStats().Unrecoverable - before.Unrecoverable; d != 3 {
		t.Fatalf("%d unrecoverable gaps counted, want 3", d)
	}
}

// TestOrderTwoSendersTwoShards: two layers ("processes") send concurrently to one history
// group on two Redis shards (the split group-send path, where their deliveries can cross); a
// resumed client receives every message once, in offset order, each sender's in its order.
func TestOrderTwoSendersTwoShards(t *testing.T) {
	ctx := testCtx(t)
	servers := redistest.StartN(t, 2)
	recv, a, b := redisHistoryLayer(t, servers), redisHistoryLayer(t, servers), redisHistoryLayer(t, servers)
	groupSend(t, ctx, a, 1, 3)
	page, err := layers.History(ctx, a, feedGroup, layers.Position{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, ctx, consumer.JSONWebsocket[feed](consumer.WithLayer(recv)), "/feed/",
		withResume(map[string]layers.Position{feedGroup: {Offset: 3, Epoch: page.Top.Epoch}}))
	if f := nextFrame(t, ctx, c); f.Gochannels != "recovered" || f.Replayed != 0 || f.Pos.Offset != 3 {
		t.Fatalf("frame %+v, want recovered at 3", f)
	}
	const perSender = 150
	before := consumer.GapStats()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for s, l := range []layers.Layer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				if err := l.GroupSend(ctx, feedGroup, channels.Message{"type": "feed.item", "n": s*perSender + i}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := [2]int{0, perSender}
	for off := uint64(4); off < 4+2*perSender; off++ {
		f := nextFrame(t, ctx, c)
		if f.N == nil || f.Pos.Offset != off {
			t.Fatalf("frame %+v, want an item at offset %d", f, off)
		}
		s := *f.N / perSender
		if *f.N != next[s] {
			t.Fatalf("item %d from sender %d at offset %d, want %d", *f.N, s, off, next[s])
		}
		next[s]++
	}
	if !c.ReceiveNothing(ctx, 0) {
		t.Fatal("a frame after the last item")
	}
	// Whether the two senders' deliveries crossed depends on timing; say how often they did.
	after := consumer.GapStats()
	t.Logf("gaps filled: %d messages; duplicates skipped: %d", after.Filled-before.Filled, after.Duplicates-before.Duplicates)
	if after.Unrecoverable != before.Unrecoverable {
		t.Fatalf("%d gaps reported unrecoverable", after.Unrecoverable-before.Unrecoverable)
	}
	if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

// TestOrderFirstMessageOfNewStream: a consumer that began tracking a group before its stream
// existed (no epoch yet) takes the first epoch it sees.
func TestOrderFirstMessageOfNewStream(t *testing.T) {
	ctx := testCtx(t)
	l := historyLayer(t, 10)
	c := connect(t, ctx, consumer.JSONWebsocket[namedFeed](consumer.WithLayer(l)), "/feed/")
	if f := nextFrame(t, ctx, c); f.Gochannels != "channel" { // sent once the group is joined
		t.Fatalf("first frame %+v, want the channel name", f)
	}
	// The stream did not exist when the consumer joined: its first messages are 1, 2.
	groupSend(t, ctx, l, 1, 2)
	expectItem(t, ctx, c, 1)
	expectItem(t, ctx, c, 2)
	if err := c.Disconnect(ctx, channels.CloseNormal); err != nil {
		t.Fatal(err)
	}
}

func withResume(pos map[string]layers.Position) channelstest.Option {
	return channelstest.WithQueryString(resumeQuery(pos))
}

type channelstestComm = channelstest.WebsocketCommunicator
