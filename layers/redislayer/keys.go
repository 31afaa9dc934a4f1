package redislayer

import "github.com/gochannels/gochannels/layers"

// groupKey and registryKey name Redis keys. The key layout is channels_redis's: a group is a
// sorted set of its member channel names, scored by the time of their last GroupAdd, under
// prefix + ":group:" + group; a channel's messages are a sorted set under prefix + the channel
// name (see target). The registry of live Go processes is gochannels' own: channel names
// cannot contain ':' and group keys continue with ":group:", so it collides with neither.
func (l *Layer) groupKey(group string) string { return l.prefix + ":group:" + group }
func (l *Layer) registryKey() string          { return l.prefix + ":gochannels:alive" }

// snapshotKey names the group-send snapshot keys of a group (see groupSendScript): kind
// "members" is the copy of the member set, "targets" the encoded member lists per target.
func (l *Layer) snapshotKey(kind, group string) string {
	return l.prefix + ":gochannels:gs" + kind + ":" + group
}

// target returns the key a channel's messages are stored under and its shard.
func (l *Layer) target(channel string, send bool) (key string, idx int, specific bool) {
	if inbox, _, ok := layers.SplitProcessSpecific(channel); ok {
		// The inbox name, not the full channel name, picks the shard: that is where the
		// receiver reads (channels_redis#94 hashes the full name when sending).
		return l.prefix + inbox, shardIndex(inbox, len(l.shards)), true
	}
	rr := &l.recvRR
	if send {
		rr = &l.sendRR
	}
	return l.prefix + channel, int(rr.Add(1)-1) % len(l.shards), false
}

// capacity returns the capacity of a channel's key: a matching ChannelCapacity rule, else
// InboxCapacity for a process-specific channel (its key is the process inbox) and Capacity
// for a normal channel.
func (l *Layer) capacity(channel string, specific bool) int {
	if specific {
		return l.icaps.Capacity(channel)
	}
	return l.caps.Capacity(channel)
}
