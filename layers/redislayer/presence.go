package redislayer

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// presenceKey names a group's presence hash (see presence_scripts.go); its hash tag is the
// group key, so it shares the group's Redis Cluster slot.
func (l *Layer) presenceKey(group string) string {
	return l.prefix + ":gochannels:presence:{" + l.groupKey(group) + "}"
}

// Stored presence flags: the first byte of a presence hash value.
const (
	presenceEvents   = 'e'
	presenceNoEvents = '-'
)

// encodePresence builds the stored value of info: the flag, then the msgpack map (a Fernet
// token of it when the layer encrypts). Info above layers.MaxPresenceInfoBytes encoded is
// refused.
func (l *Layer) encodePresence(info map[string]any, events bool) (string, error) {
	var buf bytes.Buffer
	if err := encodeMap(newEncoder(&buf), "info", info, 1); err != nil {
		return "", err
	}
	if buf.Len() > layers.MaxPresenceInfoBytes {
		return "", fmt.Errorf("%w: presence info of %d bytes encoded, above %d", layers.ErrInvalidMessage, buf.Len(), layers.MaxPresenceInfoBytes)
	}
	flag := byte(presenceNoEvents)
	if events {
		flag = presenceEvents
	}
	if l.crypt != nil {
		return string(flag) + string(l.crypt.encrypt(buf.Bytes())), nil
	}
	return string(flag) + buf.String(), nil
}

// decodePresence reverses encodePresence. Presence info outlives the message expiry, so an
// encrypted value is decrypted without its age limit.
func (l *Layer) decodePresence(v string) (info map[string]any, events bool, err error) {
	if v == "" {
		return nil, false, fmt.Errorf("%w: empty presence value", errBadPayload)
	}
	events = v[0] == presenceEvents
	payload := []byte(v[1:])
	if l.crypt != nil {
		c := *l.crypt
		c.ttl = 1<<63 - 1
		if payload, err = c.decrypt(payload); err != nil {
			return nil, events, err
		}
	}
	m, err := decodeMessage(payload)
	if err != nil {
		return nil, events, err
	}
	return map[string]any(m), events, nil
}

// PresenceAdd adds channel to group as GroupAdd does and stores info beside the membership
// (see layers.Presencer): one script call on the group's shard (ZADD, EXPIRE, HSET, EXPIRE),
// plus a group send of the layers.PresenceJoinType event when opts.Events is set and the
// channel had no presence information in the group before.
func (l *Layer) PresenceAdd(ctx context.Context, group, channel string, info map[string]any, opts layers.PresenceOptions) error {
	if l.closed.Load() {
		return l.closedErr("presence add")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: presence add: %w", err)
	}
	value, err := l.encodePresence(info, opts.Events)
	if err != nil {
		return fmt.Errorf("redislayer: presence add %q to %q: %w", channel, group, err)
	}
	c := l.shards[shardIndex(group, len(l.shards))].client
	keys := []string{l.groupKey(group), l.presenceKey(group)}
	if err := l.pipeBarrier(ctx, fmt.Sprintf("presence add %q to %q", channel, group)); err != nil {
		return err
	}
	var added int64
	err = l.outage.do(ctx, func(ctx context.Context) (err error) {
		added, err = presenceAddScript.Run(ctx, c, keys, float64(time.Now().UnixNano())/1e9, l.gexpiry, channel, value).Int64()
		return err
	})
	if err != nil {
		return l.redisErr(fmt.Sprintf("presence add %q to %q", channel, group), err)
	}
	if inbox, _, ok := layers.SplitProcessSpecific(channel); ok && l.ownInbox(inbox) {
		l.mu.Lock()
		if gs := l.joined[channel]; !slices.Contains(gs, group) {
			l.joined[channel] = append(gs, group)
		}
		if l.presence == nil {
			l.presence = make(map[string]map[string]string)
		}
		if l.presence[channel] == nil {
			l.presence[channel] = make(map[string]string)
		}
		l.presence[channel][group] = value
		l.mu.Unlock()
	}
	if added == 1 && opts.Events {
		return l.presenceEvent(ctx, group, layers.PresenceJoinType, channel, info)
	}
	return nil
}

// presenceEvent sends a join or leave event to group.
func (l *Layer) presenceEvent(ctx context.Context, group, typ, channel string, info map[string]any) error {
	msg := channels.Message{"type": typ, "channel": channel, "info": info}
	if info == nil {
		msg["info"] = map[string]any{}
	}
	if err := l.GroupSend(ctx, group, msg); err != nil {
		return fmt.Errorf("redislayer: %s event of %q in %q: %w", typ, channel, group, err)
	}
	return nil
}

// Presence returns the live members of group with their information (see
// layers.Presencer): one round trip to the group's shard (the pruning script, ZRANGE and
// HGETALL pipelined; one more call in Redis Cluster, and one to delete information left by
// members that left otherwise, when there is some), O(n) in the group's size n. Members
// added with GroupAdd, or by Python, have a nil Info.
func (l *Layer) Presence(ctx context.Context, group string) ([]layers.Member, error) {
	var zr *redis.StringSliceCmd
	var hg *redis.MapStringStringCmd
	_, err := l.presenceCall(ctx, group, func(ctx context.Context, p redis.Pipeliner) {
		zr = p.ZRange(ctx, l.groupKey(group), 0, -1)
		hg = p.HGetAll(ctx, l.presenceKey(group))
	})
	if err != nil {
		return nil, err
	}
	names, infos := zr.Val(), hg.Val()
	members := make([]layers.Member, 0, len(names))
	for _, ch := range names {
		m := layers.Member{Channel: ch}
		if v, ok := infos[ch]; ok {
			delete(infos, ch)
			info, _, err := l.decodePresence(v)
			if err != nil {
				l.log.Warn("presence: undecodable member information", "group", group, "channel", ch, "error", err)
			} else {
				m.Info = info
			}
		}
		members = append(members, m)
	}
	// What is left is the information of channels that left the group without this layer
	// (Python's group_discard, pruning by a group send, expiry).
	delete(infos, "")
	if len(infos) > 0 {
		stale := make([]string, 0, len(infos))
		for ch := range infos {
			stale = append(stale, ch)
		}
		c := l.shards[shardIndex(group, len(l.shards))].client
		keys := []string{l.groupKey(group), l.presenceKey(group)}
		args := make([]any, len(stale))
		for i, ch := range stale {
			args[i] = ch
		}
		if err := staleScript.Run(ctx, c, keys, args...).Err(); err != nil && ctx.Err() == nil {
			l.log.Debug("presence: deleting stale information failed", "group", group, "error", err)
		}
	}
	return members, nil
}

// PresenceCount returns the number of live members of group (see layers.Presencer): one
// script call on the group's shard (two in Redis Cluster), O(log n) unless a Go process died
// since the group was last checked (then O(n) once).
func (l *Layer) PresenceCount(ctx context.Context, group string) (int, error) {
	res, err := l.presenceCall(ctx, group, nil)
	if err != nil {
		return 0, err
	}
	n, _ := res[0].(int64)
	return int(n), nil
}

// presenceCall runs presenceScript on group, with read pipelined after it, and returns the
// script's reply.
func (l *Layer) presenceCall(ctx context.Context, group string, read func(context.Context, redis.Pipeliner)) ([]any, error) {
	if l.closed.Load() {
		return nil, l.closedErr("presence")
	}
	if err := layers.ValidateGroupName(group); err != nil {
		return nil, fmt.Errorf("redislayer: presence: %w", err)
	}
	keys := []string{l.groupKey(group), l.presenceKey(group)}
	c := l.shards[shardIndex(group, len(l.shards))].client
	args := []any{time.Now().Unix() - l.gexpiry, 0.0, "", l.gexpiry}
	if l.hbTTL > 0 {
		args[1] = l.hbTTL.Seconds()
		if !l.cluster {
			keys = append(keys, l.registryKey())
		} else {
			// The registry is in another slot: read its dead entries first (one more call).
			var dead []string
			if err := l.outage.do(ctx, func(ctx context.Context) (err error) {
				dead, err = deadScript.Run(ctx, c, []string{l.registryKey()}, args[1]).StringSlice()
				return err
			}); err != nil {
				return nil, l.redisErr(fmt.Sprintf("presence of %q: read the registry", group), err)
			}
			for _, d := range dead {
				args = append(args, d)
			}
		}
	}
	var res []any
	err := l.outage.do(ctx, func(ctx context.Context) (err error) {
		if read == nil {
			res, err = presenceScript.Run(ctx, c, keys, args...).Slice()
			return err
		}
		for attempt := 0; ; attempt++ {
			var ev *redis.Cmd
			_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
				ev = presenceScript.EvalSha(ctx, p, keys, args...)
				read(ctx, p)
				return nil
			})
			if attempt == 0 && redis.HasErrorPrefix(ev.Err(), "NOSCRIPT") {
				if err = presenceScript.Load(ctx, c).Err(); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			res, err = ev.Slice()
			return err
		}
	})
	if err != nil {
		return nil, l.redisErr(fmt.Sprintf("presence of %q", group), err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("redislayer: presence of %q: unexpected reply of %d elements", group, len(res))
	}
	if p, _ := res[1].(int64); p > 0 {
		l.st.pruned.Add(uint64(p))
		l.log.Info("presence: pruned members of stopped Go processes", "group", group, "pruned", p)
	}
	return res, nil
}

// discard removes channel from group with its presence information, and sends the leave
// event when the member joined with events: GroupDiscard's work.
func (l *Layer) discard(ctx context.Context, group, channel string) error {
	c := l.shards[shardIndex(group, len(l.shards))].client
	keys := []string{l.groupKey(group), l.presenceKey(group)}
	var v string
	if err := l.outage.do(ctx, func(ctx context.Context) (err error) {
		v, err = discardScript.Run(ctx, c, keys, channel).Text()
		return err
	}); err != nil {
		return l.redisErr(fmt.Sprintf("group discard %q from %q", channel, group), err)
	}
	l.forget(group, channel)
	if v == "" || v[0] != presenceEvents {
		return nil
	}
	info, _, err := l.decodePresence(v)
	if err != nil {
		l.log.Warn("presence: undecodable member information; leave event sent without it", "group", group, "channel", channel, "error", err)
	}
	return l.presenceEvent(ctx, group, layers.PresenceLeaveType, channel, info)
}

var _ layers.Presencer = (*Layer)(nil)
