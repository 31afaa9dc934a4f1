package redislayer

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// historyKeys name a group's history stream and its meta hash (epoch, last offset). Their
// hash tag is the group key, so that they share its Redis Cluster slot (a prefix containing
// "{" or "}" would defeat this; see the package documentation).
func (l *Layer) historyKeys(group string) (stream, meta string) {
	tag := "{" + l.groupKey(group) + "}"
	return l.prefix + ":gochannels:hist:" + tag, l.prefix + ":gochannels:histmeta:" + tag
}

// historyArgv are the history arguments of a group send or read: the candidate epoch (16
// random hex digits, used when the group has none), size, TTL in ms, the stream's expiry and
// the meta hash's expiry (s). A stream lives for its TTL (or the group expiry when the rule
// has no TTL) after its last message; the epoch and last offset live at least as long as a
// group membership, so that a client back within the group expiry keeps its epoch.
type historyArgv struct {
	epoch            string
	size             int
	ttlMS            int64
	streamExp, metaE int64
}

func (l *Layer) historyArgv(r layers.HistoryRule) historyArgv {
	var rnd [8]byte
	_, _ = crand.Read(rnd[:])
	a := historyArgv{epoch: hex.EncodeToString(rnd[:]), size: r.Size, streamExp: l.gexpiry, metaE: l.gexpiry}
	if r.TTL > 0 {
		a.ttlMS = max(r.TTL.Milliseconds(), 1)
		a.streamExp = wholeSeconds(r.TTL)
		a.metaE = max(a.streamExp, l.gexpiry)
	}
	return a
}

// withoutPosition returns msg without the position keys a layer sets (a message received
// from a group with history and sent on keeps its old ones otherwise), copying only when it
// has some.
func withoutPosition(msg channels.Message) channels.Message {
	_, g := msg[layers.GroupKey]
	_, o := msg[layers.OffsetKey]
	_, e := msg[layers.EpochKey]
	if !g && !o && !e {
		return msg
	}
	c := make(channels.Message, len(msg))
	for k, v := range msg {
		if k != layers.GroupKey && k != layers.OffsetKey && k != layers.EpochKey {
			c[k] = v
		}
	}
	return c
}

// withPosition returns a copy of msg with its position.
func withPosition(msg channels.Message, group string, offset int64, epoch string) channels.Message {
	c := make(channels.Message, len(msg)+3)
	for k, v := range msg {
		c[k] = v
	}
	c[layers.GroupKey], c[layers.OffsetKey], c[layers.EpochKey] = group, offset, epoch
	return c
}

// History returns the kept messages of group after since.Offset (see layers.Historian): one
// script call on the group's shard, O(log n + limit) in the stream's length n. Each message
// has its position keys, with the offset as an int64 (as delivered messages decode it).
func (l *Layer) History(ctx context.Context, group string, since layers.Position, limit int) (layers.HistoryPage, error) {
	var page layers.HistoryPage
	if l.closed.Load() {
		return page, l.closedErr("history")
	}
	if err := layers.ValidateGroupName(group); err != nil {
		return page, fmt.Errorf("redislayer: history: %w", err)
	}
	r, ok := l.hist.Match(group)
	if !ok {
		return page, fmt.Errorf("redislayer: history of %q: no history rule matches the group: %w", group, layers.ErrNotSupported)
	}
	if limit <= 0 || limit > layers.MaxHistoryLimit {
		limit = layers.MaxHistoryLimit
	}
	if since.Offset >= math.MaxInt64 {
		since.Offset = math.MaxInt64 - 1
	}
	a := l.historyArgv(r)
	stream, meta := l.historyKeys(group)
	c := l.shards[shardIndex(group, len(l.shards))].client
	var res []any
	err := l.outage.do(ctx, func(ctx context.Context) (err error) {
		res, err = historyReadScript.Run(ctx, c, []string{stream, meta},
			since.Offset+1, limit, a.ttlMS, a.epoch, a.metaE).Slice()
		return err
	})
	if err != nil {
		return page, l.redisErr(fmt.Sprintf("history of %q", group), err)
	}
	if len(res) < 3 || len(res)%2 == 0 {
		return page, fmt.Errorf("redislayer: history of %q: unexpected reply of %d elements", group, len(res))
	}
	epoch, _ := res[0].(string)
	top, _ := res[1].(int64)
	oldest, _ := res[2].(int64)
	page.Top = layers.Position{Offset: uint64(top), Epoch: epoch}
	page.Oldest = uint64(oldest)
	for i := 3; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		m, _ := res[i+1].(string)
		off, err := strconv.ParseInt(strings.TrimSuffix(id, "-0"), 10, 64)
		if err != nil {
			return page, fmt.Errorf("redislayer: history of %q: bad entry id %q", group, id)
		}
		msg, err := l.decodeHistory(m)
		if err != nil {
			// A stored entry this process cannot read (another key set, a corrupt value):
			// counted and logged like an undecodable channel message, and skipped.
			l.st.undecodable.Add(1)
			l.log.Warn("history: dropped an undecodable stored message", "group", group, "offset", off, "error", err)
			continue
		}
		page.Messages = append(page.Messages, withPosition(msg, group, off, epoch))
	}
	return page, nil
}

// decodeHistory decodes a stored history entry (a stored member without channel names). An
// encrypted entry is decrypted without the message expiry's age limit: history outlives it.
func (l *Layer) decodeHistory(m string) (channels.Message, error) {
	if l.crypt == nil {
		return l.decodeMember(m)
	}
	if len(m) < randomPrefixLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the random prefix", errBadPayload, len(m))
	}
	c := *l.crypt
	c.ttl = math.MaxInt64
	payload, err := c.decrypt([]byte(m[randomPrefixLen:]))
	if err != nil {
		return nil, err
	}
	return decodeMessage(payload)
}

// historyEntry encodes msg as a history entry for the split group send (the fused script
// builds it itself).
func (l *Layer) historyEntry(msg channels.Message) (string, error) {
	return l.member(msg, nil)
}

var _ layers.Historian = (*Layer)(nil)
