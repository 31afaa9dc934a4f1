package redislayer

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// GroupSend sends msg to every member of group, writing once per target key: one message per
// process inbox (its __asgi_channel__ lists that process's members) and one per normal
// channel. A full target is counted in Stats, not returned as an error.
//
// With one standalone server, no encryption and no per-channel capacities this is a single
// script call, which for groups of 32 members or more reuses a snapshot of the encoded member
// lists while the group's member set is unchanged (see the package documentation).
// Otherwise it is one call on the group's shard to read (and prune) the members, then one
// call per shard holding targets, run in parallel. A process inbox target is full at
// InboxCapacity, a normal channel at Capacity (unless a ChannelCapacity rule matches).
//
// For a group with history (Options.History) the same calls also append the message to the
// group's stream and give it its position, which every delivered message carries (see the
// package documentation, "History"); position keys already in msg are replaced.
//
// With Options.PipelineDepth a nil means accepted, not yet written: the message is written
// in order with this process's other group sends, and a failure after the nil is reported by
// the next GroupSend to group or by WaitGroupSends (see the package documentation,
// "Pipelined group sends").
func (l *Layer) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	if l.closed.Load() {
		return l.closedErr("group send")
	}
	if err := layers.ValidateGroupName(group); err != nil {
		return fmt.Errorf("redislayer: group send: %w", err)
	}
	if err := layers.CheckMessage(msg); err != nil {
		return fmt.Errorf("redislayer: group send to %q: %w", group, err)
	}
	rule, hist := l.hist.Match(group)
	if hist {
		msg = withoutPosition(msg)
	}
	if l.fused() {
		return l.groupSendFused(ctx, group, msg, rule, hist)
	}
	return l.groupSendSplit(ctx, group, msg, rule, hist)
}

// fused reports whether the layer's group sends are one script call each: one standalone
// server, no encryption, no per-channel capacities.
func (l *Layer) fused() bool {
	return len(l.shards) == 1 && l.crypt == nil && !l.hasRules && !l.cluster
}

// groupSendFused is the one-call group send. With history (hist) it runs
// groupSendHistoryScript, which also appends the message to the group's stream and adds the
// position to every delivered message (three more entries: extra). With
// Options.PipelineDepth it hands the call to the layer's send pipeline instead of awaiting
// its reply (see pipelineSend).
func (l *Layer) groupSendFused(ctx context.Context, group string, msg channels.Message, rule layers.HistoryRule, hist bool) error {
	fs, err := l.fusedCall(group, msg, rule, hist)
	if err != nil {
		return err
	}
	if l.pipe != nil {
		return l.pipe.send(ctx, fs)
	}
	// A group send while others are in flight joins the shared pipeline; a lone one goes
	// straight to Redis (the pipeline would add a hand-off to its latency).
	sc := redis.Scripter(l.shards[0].client)
	if l.gsInflight.Add(1) > 1 && l.shards[0].pipe != nil {
		sc = l.shards[0].pipe
	}
	defer l.gsInflight.Add(-1)
	script := groupSendScript
	if hist {
		script = groupSendHistoryScript
	}
	var res []any
	err = l.outage.do(ctx, func(ctx context.Context) (err error) {
		res, err = l.runGated(ctx, sc, script, fs.keys, fs.args...)
		// A retry goes straight to Redis: a call that failed in the shared pipeline has left
		// it, and this caller's next send waits for this one to return, so nothing of this
		// caller's can overtake it there.
		sc = l.shards[0].client
		return err
	})
	if err != nil {
		return l.redisErr(fmt.Sprintf("group send to %q", group), err)
	}
	return l.fusedReply(fs, res)
}

// fusedSend is one one-call group send, ready to run: groupSendScript's (or, with hist,
// groupSendHistoryScript's) keys and arguments.
type fusedSend struct {
	group string
	hist  bool
	keys  []string
	args  []any
}

// fusedCall encodes msg and builds the keys and arguments of its one-call group send.
func (l *Layer) fusedCall(group string, msg channels.Message, rule layers.HistoryRule, hist bool) (*fusedSend, error) {
	extra := 0
	if hist {
		extra = 3
	}
	var body bytes.Buffer
	if err := encodeBody(&body, msg); err != nil {
		return nil, fmt.Errorf("redislayer: group send to %q: %w", group, err)
	}
	var rnd [randomPrefixLen]byte
	_, _ = crand.Read(rnd[:])
	hb := ""
	if l.hbTTL > 0 {
		hb = strconv.FormatFloat(l.hbTTL.Seconds(), 'f', 3, 64)
	}
	now := time.Now()
	args := []any{l.prefix, score(now), now.Unix() - l.gexpiry, now.Unix() - l.expiry, l.expiry, l.caps.Default(),
		hb, string(rnd[:]), len(msg) + extra, body.String(), l.snapMin, l.gexpiry, l.icaps.Default()}
	if sn := l.snaps.get(group); sn != nil {
		// Whole members from this process's copy of the snapshot; the script uses them if the
		// snapshot is still current.
		head := make([]byte, 0, randomPrefixLen+5+17)
		head = append(head, rnd[:]...)
		head = appendMapHeader(head, len(msg)+1+extra)
		head = append(head, 0xb0) // fixstr of 16 bytes
		head = append(head, channelKey...)
		args = append(args, sn.id, len(sn.targets))
		for _, t := range sn.targets {
			args = append(args, t)
		}
		for _, a := range sn.arrays {
			m := make([]byte, 0, len(head)+len(a)+body.Len())
			m = append(append(append(m, head...), a...), body.Bytes()...)
			args = append(args, m)
		}
	} else {
		args = append(args, "", 0)
	}
	keys := []string{l.groupKey(group), l.registryKey(), l.snapshotKey("members", group), l.snapshotKey("targets", group)}
	if hist {
		a := l.historyArgv(rule)
		stream, meta := l.historyKeys(group)
		keys = append(keys, stream, meta)
		args = append(args, group, a.epoch, a.size, a.ttlMS, a.streamExp, a.metaE)
	}
	return &fusedSend{group: group, hist: hist, keys: keys, args: args}, nil
}

// fusedReply takes in the reply of a one-call group send: the counters, the snapshot.
func (l *Layer) fusedReply(fs *fusedSend, res []any) error {
	group := fs.group
	if fs.hist && len(res) >= 2 {
		res = res[2:] // the position, which the script put in the delivered messages
	}
	if len(res) < 5 {
		return fmt.Errorf("redislayer: group send to %q: unexpected reply of %d elements", group, len(res))
	}
	n := make([]int64, 4)
	for i := range n {
		n[i], _ = res[i].(int64)
	}
	l.noteGroupSend(group, n[0], n[1], n[2])
	if n[3] == 1 {
		l.st.snapshotHits.Add(1)
	}
	switch id, _ := res[4].(string); {
	case id == "":
		l.snaps.drop(group)
	case len(res) > 5:
		sn := &groupSnap{id: id}
		for i := 5; i+1 < len(res); i += 2 {
			t, _ := res[i].(string)
			a, _ := res[i+1].(string)
			sn.targets = append(sn.targets, t)
			sn.arrays = append(sn.arrays, []byte(a))
		}
		l.snaps.put(group, sn)
	}
	return nil
}

// appendMapHeader appends a msgpack map header for n entries.
func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x80|byte(n))
	case n <= 0xffff:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return append(b, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func encodeBody(buf *bytes.Buffer, msg channels.Message) error {
	return encodeEntries(newEncoder(buf), msg)
}

func (l *Layer) noteGroupSend(group string, keys, over, pruned int64) {
	l.st.groupWrites.Add(uint64(keys - over))
	l.st.groupOver.Add(uint64(over))
	l.st.pruned.Add(uint64(pruned))
	if over > 0 {
		l.log.Info("group send: channels over capacity", "group", group, "over", over, "targets", keys)
	}
	if pruned > 0 {
		l.log.Info("group send: pruned members of stopped Go processes", "group", group, "pruned", pruned)
	}
}

type groupTarget struct {
	key     string
	members []string
	cap     int
}

// groupSendSplit reads the members on the group's shard, then writes on the targets' shards.
// With history (hist), the first call (historyMembersScript) also appends the message to
// the group's stream and returns its position, which the delivered messages then carry.
func (l *Layer) groupSendSplit(ctx context.Context, group string, msg channels.Message, rule layers.HistoryRule, hist bool) error {
	gidx := shardIndex(group, len(l.shards))
	keys := []string{l.groupKey(group)}
	hb := 0.0
	now := time.Now()
	script := membersScript
	args := []any{now.Unix() - l.gexpiry, 0.0}
	if hist {
		// One process's sends to a group with history are delivered one at a time, so that
		// its concurrent senders cannot deliver offsets out of order (see the package
		// documentation, "History", for senders in several processes).
		mu := &l.histLocks[shardIndex(group, len(l.histLocks))]
		mu.Lock()
		defer mu.Unlock()
		entry, err := l.historyEntry(msg)
		if err != nil {
			return fmt.Errorf("redislayer: group send to %q: %w", group, err)
		}
		a := l.historyArgv(rule)
		stream, meta := l.historyKeys(group)
		keys = append(keys, stream, meta)
		args = append(args, group, a.epoch, a.size, a.ttlMS, a.streamExp, a.metaE, entry)
		script = historyMembersScript
	}
	if l.hbTTL > 0 && !l.cluster {
		keys = append(keys, l.registryKey())
		hb = l.hbTTL.Seconds()
		args[1] = hb
	}
	var res []any
	err := l.outage.do(ctx, func(ctx context.Context) (err error) {
		res, err = l.runGated(ctx, l.shards[gidx].client, script, keys, args...)
		return err
	})
	if err != nil {
		return l.redisErr(fmt.Sprintf("group send to %q: read members", group), err)
	}
	if len(res) != 2 && (!hist || len(res) != 5) {
		return fmt.Errorf("redislayer: group send to %q: unexpected members reply", group)
	}
	raw, _ := res[0].([]any)
	pruned, _ := res[1].(int64)
	score := score(now)
	if hist {
		off, _ := res[2].(int64)
		epoch, _ := res[3].(string)
		msg = withPosition(msg, group, off, epoch)
		score, _ = res[4].(string) // above the group's previous message's: members get them in order
	}

	// Coalesce members by target key, per shard.
	byShard := make([][]*groupTarget, len(l.shards))
	index := make(map[string]*groupTarget)
	for _, r := range raw {
		m, _ := r.(string)
		if m == "" {
			continue
		}
		key, idx, specific := l.target(m, false)
		if t := index[key]; t != nil {
			t.members = append(t.members, m)
			continue
		}
		if !specific {
			// Normal channels: the same shard choice as Send would make, by the member name's hash
			// when sharded (round-robin writers are read by round-robin readers).
			idx = shardIndex(m, len(l.shards))
		}
		t := &groupTarget{key: key, members: []string{m}, cap: l.capacity(m, specific)}
		index[key] = t
		byShard[idx] = append(byShard[idx], t)
	}

	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	var over, written atomic.Int64
	for idx, targets := range byShard {
		if len(targets) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, w, err := l.deliver(ctx, l.shards[idx].client, targets, msg, score, now.Unix()-l.expiry)
			over.Add(o)
			written.Add(w)
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	l.noteGroupSend(group, written.Load()+over.Load(), over.Load(), pruned)
	if firstErr != nil {
		return l.redisErr(fmt.Sprintf("group send to %q", group), firstErr)
	}
	return nil
}

// deliver writes each target's message on one shard: one script call, or in cluster mode one
// pipelined send script per key.
func (l *Layer) deliver(ctx context.Context, c redis.UniversalClient, targets []*groupTarget, msg channels.Message, score string, trim int64) (over, written int64, err error) {
	members := make([]string, len(targets))
	for i, t := range targets {
		if members[i], err = l.member(msg, t.members); err != nil {
			return 0, 0, fmt.Errorf("encode: %w", err)
		}
	}
	// The members are encoded once: a retry writes the same bytes, which a key that already
	// took them before the connection broke holds only once.
	if l.cluster {
		var cmds []redis.Cmder
		err := l.outage.do(ctx, func(ctx context.Context) (err error) {
			cmds, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, t := range targets {
					sendScript.Eval(ctx, p, []string{t.key}, members[i], score, l.expiry, t.cap, trim)
				}
				return nil
			})
			return err
		})
		for _, cmd := range cmds {
			if n, e := cmd.(*redis.Cmd).Int(); e == nil {
				if n == 1 {
					written++
				} else {
					over++
				}
			}
		}
		return over, written, err
	}
	keys := make([]string, len(targets))
	args := make([]any, 0, 2*len(targets)+3)
	for i, t := range targets {
		keys[i] = t.key
		args = append(args, members[i])
	}
	for _, t := range targets {
		args = append(args, t.cap)
	}
	args = append(args, score, l.expiry, trim)
	var n int64
	err = l.outage.do(ctx, func(ctx context.Context) (err error) {
		n, err = deliverScript.Run(ctx, c, keys, args...).Int64()
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return n, int64(len(targets)) - n, nil
}
