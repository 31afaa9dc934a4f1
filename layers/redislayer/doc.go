// Package redislayer is the Redis channel layer, wire-compatible with Django's channels_redis 4
// (RedisChannelLayer): a Django process and a Go process sharing one Redis can send and
// group-send to each other's consumers and workers. Importing it registers the "redis",
// "rediss", "redis+sentinel" and "redis+cluster" URL schemes with layers.Open (see ParseURL),
// and "redis+pubsub" and "rediss+pubsub" for the pub/sub variant (see PubSubLayer and
// ParsePubSubURL).
//
// # Wire format
//
// Keys, scores, TTLs and payloads are channels_redis's: a channel is the sorted set
// prefix+name, a process inbox prefix+"specific.<id>!", a group prefix+":group:"+name; each
// stored message is 12 random bytes followed by msgpack (or a Fernet token of it, with
// SymmetricEncryptionKeys); messages on an inbox carry "__asgi_channel__". Shards are chosen
// with channels_redis's CRC-32 hash, except that a process-specific channel is hashed by its
// inbox name, which is where every receiver reads (channels_redis#94).
//
// Decoded messages hold map[string]any, []any, string, []byte, bool, nil, float64 and int64
// (uint64 above math.MaxInt64). Values the wire cannot carry (time.Time, structs, maps with
// non-string keys) are refused with layers.ErrInvalidMessage naming the key.
//
// # Delivery
//
// Delivery is at most once. A normal channel (no "!") is popped atomically (BZPOPMIN): with
// any number of readers, Go or Python, each message goes to exactly one of them, and no
// "$inflight" copy is kept, so a reader that fails after the pop loses that message instead of
// duplicating it (channels_redis#163). Each process inbox is read by one loop per process
// (BZMPOP, a batch per round trip) that decodes each message once and fans it out to the local
// channels named in it: Listen callbacks, or bounded buffers for Receive. Local drops are
// counted in Stats.
//
// Send is one script call (trim, capacity check, add, TTL). GroupSend writes one message per
// target key however many members it serves: with one standalone server, no encryption and
// no per-channel capacities the whole group send is one script call; otherwise one call reads
// the members and one call per shard writes. The one-call form keeps, for groups of 32
// members or more, a snapshot of the group beside it (keys prefix+":gochannels:gsmembers:"+
// group and prefix+":gochannels:gstargets:"+group, which channels_redis never reads): while
// the group has exactly the snapshot's members — compared in Redis on every send, so changes
// made by any process, Go or Python, count at once — the send reuses the encoded member
// lists instead of reading and re-encoding every member, and a sender that holds a copy of
// the current lists (fetched once per change) passes the whole messages itself. For a group
// of 1,000 members over 4 processes this takes a send from about 2.3 ms to 0.5 ms of Redis
// time. The snapshot roughly doubles the Redis memory of such groups.
//
// # Capacity and loss
//
// Capacity is checked by the sender, as channels_redis does: a full channel makes Send fail
// with layers.ErrChannelFull, and GroupSend skips a full target (counted in
// Stats.GroupOverCapacity and logged). channels_redis applies its per-channel capacity (100)
// to a whole process inbox; a Go process inbox serves every consumer of the process, so this
// layer gives process inboxes their own default, InboxCapacity (1,000; URL parameter
// inbox_capacity), unless a ChannelCapacity rule matches. Capacity is sender policy, not
// wire format: Python senders keep applying theirs to Go inboxes (raise it there with a
// channel_capacity rule for "specific.*"). On the receiving side, a Listen callback that
// refuses a message (the consumer's queue is full) or a full Receive buffer drops it; drops
// are counted in Stats.Dropped and logged (the 1st, 2nd, 4th, 8th... time).
//
// # Stopped Go processes
//
// Each Go process records its inboxes in a registry (the sorted set prefix+":gochannels:alive",
// scored with the Redis server's clock) every HeartbeatTimeout/6. Group sends remove members
// whose inbox is registered but silent for longer than HeartbeatTimeout, long before the
// group expiry would. Close marks the process's inboxes silent at once. Members without a
// registry entry (Python processes, normal channels) are never pruned this way.
//
// # Failures
//
// Send, GroupSend, GroupAdd and GroupDiscard ride out a short outage (a restart, a
// failover): a call that cannot reach Redis waits and retries (backoff 20 ms doubling to
// 200 ms) for up to Options.SendTimeout (URL parameter send_timeout, default 5 s) and within
// its context, then returns an error wrapping layers.ErrUnavailable and the last failure. The
// bound counts from the start of the outage, not of each call: once Redis has been away for
// longer, calls fail after one attempt, so that a backlog of sends does not wait the bound
// once per message.
// Errors that a retry would repeat (layers.ErrChannelFull, a script error) return at once.
// A caller's calls are sequential, so one sender's messages stay in order: a later send
// starts only when the retried one has returned. A retry runs the same command again,
// including when Redis ran it and only its reply was lost: every write re-adds the very
// stored member of the first attempt (same random prefix, same bytes), which a sorted set
// holds once, so no key gets the message twice. The one case left is a message read by its
// receiver between the lost reply and the retry, which the retry stores again; it needs the
// server to survive the broken connection, with the reader faster than a 20 ms backoff.
//
// Other calls honour their context's deadline and return errors while Redis is away; the receive
// loops retry with capped exponential backoff (at most 200 ms apart), so traffic resumes by
// itself shortly after Redis returns. As soon as a receive loop or the heartbeat reaches Redis
// again after a failure, or a new connection finds a server with another run_id than before
// (a restart too quick for any call to fail, or a Sentinel failover), the process adds its
// channels back to the groups they joined, so a Redis restarted without persistence gets its
// groups back (messages stored before the outage are lost with it). The run_id is read with
// INFO once per new connection of the layer's own clients (not of caller-supplied Clients or
// a Cluster); a server that refuses INFO is not asked again.
//
// Until every process has rejoined, the restarted server's groups are empty or partial, and a
// group send would reach no one and still succeed. So a process that finds a replaced
// server opens a rejoin window on it, on that first connection before any of its commands
// runs there: the sorted set prefix+":gochannels:rejoin" (never read by channels_redis)
// gets an entry for RejoinGrace (URL parameter rejoin_grace, default 1 s; receive loops
// reconnect within 200 ms of the server's return) and, if the process has channels in
// groups, one that its heartbeat loop removes once it has added them back (one pipeline per
// shard), or that lapses after max(5 s, 2×RejoinGrace) if the process dies first. Every
// group send checks the window atomically with reading the group (inside the group-send
// script, or pipelined with the members script) and, while any entry is current, waits and
// retries like a send meeting an outage: in order per sender, within its context and
// SendTimeout (counted from the start of the outage), then layers.ErrUnavailable. Send,
// GroupAdd and Receive do not wait. A message whose write the old server made but whose reply
// the kill cut is written again by the retry: its receiver may get it twice (once from the
// old server, if it read it before the kill). Limits: the window needs the run_id watch
// (not Clients, not a Cluster, not a server refusing INFO), a process noticing the restart
// later than the grace after the first one is not waited for, and Python senders ignore it. Undecodable or undecryptable stored messages are logged,
// counted and dropped one at a time.
//
// # Pipelined group sends
//
// By default GroupSend returns nil only once Redis has written the message (to every member's
// key that had room): a consumer handling its messages one at a time waits a round trip per
// group send. With Options.PipelineDepth (URL parameter pipeline_depth=N) a GroupSend on the
// one-call path (one standalone server, no encryption, no per-channel capacities; elsewhere
// the option is ignored) returns once the message is encoded and accepted into the layer's
// send pipeline, and a nil then means exactly this:
//
//   - the message is valid and will be written after every group send this process's layer
//     accepted before it, and before every one accepted after it (one FIFO for the layer,
//     whatever the group), with delivery scores that grow in that order, so that each
//     member's inbox holds them in it (and a group with history gives offsets in it);
//   - it is written, or counted lost, within Options.SendTimeout of an outage's start (as a
//     direct call would retry), or by Close, which writes what was accepted (for up to 2 s)
//     before it closes the clients. The caller's context bounds only the wait for room in the
//     pipeline: once accepted, the send no longer depends on it;
//   - it has not necessarily reached Redis yet: a process that dies right after a nil loses
//     it, as a process dies with the messages it had not sent yet.
//
// The pipeline writes its sends in batches (up to 64, one script call each) as soon as the
// previous batch has been answered, so one process keeps one group-send round trip in flight
// however many consumers send. Each batch runs behind the rejoin gate as one unit (the window
// is checked once: all of it runs or none of it), and meets an outage or a rejoin window as a
// direct group send does: it waits and is retried whole, and no later send is written before
// it. At most PipelineDepth accepted sends are unwritten at a time; a GroupSend finding the
// pipeline full waits for room within its context (then fails with its context's error,
// wrapping layers.ErrUnavailable too while Redis is in an outage). Send, GroupAdd,
// GroupDiscard and PresenceAdd wait until the group sends accepted before them are written,
// so that none of a caller's later calls overtakes its earlier group send; and a Send's
// delivery score is above theirs.
//
// A send that fails after its nil (Redis away for longer than SendTimeout, a rejoin window
// that does not close, Close, a script error) is never dropped silently: it is counted in
// Stats.LostGroupSends, logged (slog, the 1st, 2nd, 4th... loss) and reported once, as a
// *LostGroupSendsError (group, number lost, last failure: errors.Is(err,
// layers.ErrUnavailable) for an outage), by the next GroupSend to the same group in this
// process, which then sends nothing, or by WaitGroupSends, whichever asks first (up to 1,024
// groups are remembered; losses beyond are counted and logged only). A caller that needs to
// know that its own messages were written calls WaitGroupSends, or leaves PipelineDepth at 0.
//
// This takes a consumer's group sends off the round trip: with examples/chat, one sender
// keeping 10 messages in flight to a room of 100 went from about a quarter to about three
// quarters of the in-memory layer's deliveries per server CPU-second.
//
// # Presence
//
// Layer implements layers.Presencer. A group's presence information is a hash beside its
// member set (prefix+":gochannels:presence:{"+group key+"}": member channel → a flag byte and
// the msgpack info, Fernet-encrypted with SymmetricEncryptionKeys); the member set itself is
// untouched channels_redis layout, so Python's group_send, group_add and group_discard keep
// working on the group (a member Python adds is listed with a nil Info). Costs, each on the
// group's shard:
//
//   - PresenceAdd: one script call (ZADD, EXPIRE, HSET, EXPIRE), plus a group send of the
//     join event when Events is set and the member is new.
//   - GroupDiscard: one script call (ZREM, HGET, HDEL), plus a group send of the leave event
//     for a member that joined with Events.
//   - Presence: one round trip (the pruning script, then ZRANGE and HGETALL pipelined), O(n)
//     in the group's size; one more call deletes the information left by members removed
//     otherwise (Python's group_discard, expiry), when there is some.
//   - PresenceCount: one script call, O(log n) (ZCARD after trimming expired members).
//
// Both reads drop the members of Go processes whose heartbeat is older than HeartbeatTimeout
// (see "Stopped Go processes"), with no group send needed. That check reads every member,
// so it runs only when the set of dead registered processes changed since the group was last
// checked (a signature kept in the hash): once per process death per group. In Redis Cluster
// the registry is in another slot: the reads make one more call to fetch its dead entries.
// A process gives its channels' presence information back to a Redis that lost it, with
// their memberships.
//
// # History
//
// Layer implements layers.Historian for the groups matching Options.History (URL parameter
// history=pattern:size:ttl,..., see layers.ParseHistoryRules). Each such group has a Redis
// stream, prefix+":gochannels:hist:{"+group key+"}", whose entry ids are the offsets
// (<offset>-0; the entry holds the stored message, encrypted like a channel message, and the
// server time), and a hash prefix+":gochannels:histmeta:{"+group key+"}" with the epoch and the
// last offset. The epoch is random, set when the hash is missing: a Redis restarted without
// persistence, or a group silent for longer than the keys' TTL, starts a new epoch at offset
// 1, and layers.Recover then reports the old positions as unrecoverable. The stream is
// trimmed to Size entries (MAXLEN) and to the TTL (entries older than it are deleted on the
// next send or read, and never returned); it expires after its TTL (or the group expiry when
// the rule has none) without messages, the hash after the longer of that and the group
// expiry.
//
// A GroupSend to such a group appends the message, takes the next offset and delivers the
// message with its position (layers.GroupKey, OffsetKey, EpochKey) in one atomic script call
// on one standalone server, snapshot path included. With several shards, Redis Cluster,
// encryption or per-channel capacities, the call that reads the members (on the group's
// shard) also appends and takes the offset; the deliveries follow as without history. The
// messages of a group are delivered with scores that grow with the offset (the group's
// shard's clock, made strictly increasing), so a member's inbox holds them in offset order.
// On the one-call path the order is exact. On the two-call path one process's sends to a
// group are serialised (offset to delivery) to keep that order; senders in different
// processes can still have a later offset reach a member before an earlier one, when the
// member reads between the two deliveries (with two processes sending back to back to one
// group on two shards, the consumer package's TestOrderTwoSendersTwoShards sees about one
// message in ten overtaken).
//
// Members that track the group's positions restore the order: a consumer joined with
// GroupAddSince, GroupAddTracked or JoinResumed (package consumer) reads a gap's missing
// messages from the history (one History call) before handling the later message, and
// skips the earlier one when it arrives, so its handlers and its client see every offset
// once, in order; a message the member's inbox refused for capacity is filled the same way
// while the history keeps it. What cannot be filled (no longer kept, too large a gap, a new
// epoch) is reported to the consumer and its client as unrecoverable, never skipped
// silently. Members that do not track positions (a plain GroupAdd, a Receive or Listen
// loop, a Python consumer) get the messages in the order their inbox holds them: offset
// order for the messages of one sending process, and for all of them on the one-call path;
// on the two-call path with several sending processes, each message once but possibly a
// later offset before an earlier one; and without the messages their inbox refused (counted
// in the sender's Stats.GroupOverCapacity and logged). History costs one script call,
// O(log n + limit). History needs Redis 6.2 or later (XTRIM MINID); presence works on any version the
// layer supports.
//
// Django interop: a group with history still accepts channels_redis's group_send, and its
// Python members receive Go's messages with the position as three more keys (__group__,
// __offset__ an integer, __epoch__). A message sent by Python carries no position: it is
// delivered to every member, Go and Python, as before, is not kept in the history and takes
// no offset, and layers.PositionOf reports none for it, so a reconnecting client cannot
// recover it.
//
// # Redis Cluster
//
// With redis+cluster:// the cluster is one logical shard. Send, Receive, the groups and Flush
// work (every script touches one key, or keys read by separate commands); group sends run one
// pipelined script per target key. A group's presence hash, stream and history hash are
// tagged with the group key ("{...}"), so they share its slot (a Prefix containing "{" or "}"
// would break that). The stopped-process registry cannot share a slot with every group: group
// sends do not use it, so dead Go members stay in a group until its expiry or the next
// Presence or PresenceCount, which prune them. Python's channels_redis does not support Redis
// Cluster, so cluster mode is for Go-only fleets.
//
// Sentinel (redis+sentinel://) shards are Sentinel-managed masters, one per master_name.
//
// # Pub/sub
//
// PubSubLayer is channels_redis's RedisPubSubChannelLayer: channels and groups are Redis
// pub/sub channels, one PUBLISH per send or group send, one subscriber connection per process
// and shard that reconnects and resubscribes by itself. Delivery is at most once and only to
// subscribers connected at the time: messages published during an outage are lost, and so
// are those published after a restart before the subscribers have resubscribed (a publish
// reaching no subscriber is not an error; there is no rejoin window on this layer). It does
// not interoperate with the sorted-set Layer (a Django process must use the same variant).
// PubSubLayer keeps neither presence nor history: it does not implement layers.Presencer or
// layers.Historian, so layers.Presence, layers.History and layers.Recover return an error
// wrapping layers.ErrNotSupported for it (pub/sub has no member list to read and nothing
// stored to replay).
package redislayer
