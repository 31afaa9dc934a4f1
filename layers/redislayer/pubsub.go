package redislayer

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/internal/local"
)

// ErrNotConnected is returned (wrapped) by PubSubLayer calls that need the subscriber
// connection of a shard while it is down (Redis away, reconnecting). It wraps
// layers.ErrUnavailable: a handshake that cannot subscribe is refused with HTTP 503.
var ErrNotConnected = fmt.Errorf("redislayer: pub/sub subscriber not connected: %w", layers.ErrUnavailable)

const (
	subscribeTimeout = 5 * time.Second // bound on waiting for a SUBSCRIBE confirmation
	pingInterval     = time.Second     // PING on an idle subscriber connection
	readTimeout      = 3 * time.Second // a subscriber connection silent this long is dead
	writeTimeout     = 5 * time.Second
	dialTimeout      = 5 * time.Second
)

// PubSubOptions configures a PubSubLayer. Zero fields take channels_redis's defaults.
type PubSubOptions struct {
	// Hosts are the Redis servers, one per shard, as redis:// or rediss:// URLs (password in
	// the user info). Pub/sub ignores the database number. Default "redis://localhost:6379/0".
	Hosts []string
	// Prefix starts every channel name NewChannel makes and every group's pub/sub channel
	// (default "asgi").
	Prefix string
	// LocalCapacity bounds the messages buffered for each channel read with Receive (default
	// 100). Messages beyond it are dropped and counted in PubSubStats.
	LocalCapacity int
	// SendTimeout bounds how long Send and GroupSend wait and retry while Redis cannot be
	// reached, within the caller's context, before they return an error wrapping
	// layers.ErrUnavailable (default DefaultSendTimeout; negative: no retry). Only a PUBLISH
	// that certainly did not reach Redis is retried (see PubSubLayer).
	SendTimeout time.Duration
	// Logger receives reconnects, errors of the subscriber loops and dropped messages
	// (default slog.Default()).
	Logger *slog.Logger
}

// PubSubStats counts what a PubSubLayer did since it was created.
type PubSubStats struct {
	// Published counts PUBLISH commands (Send and GroupSend).
	Published uint64
	// Received counts messages that arrived on the subscriber connections.
	Received uint64
	// Delivered counts messages handed to a local channel; one group message for n local
	// members counts n.
	Delivered uint64
	// Dropped counts local deliveries lost: a Listen callback refused the message or a
	// Receive buffer was full.
	Dropped uint64
	// Undecodable counts messages that were not valid msgpack maps; each is logged and dropped.
	Undecodable uint64
	// Reconnects counts subscriber connections re-established after a failure.
	Reconnects uint64
	// SendRetries counts PUBLISH commands repeated because Redis could not be reached (see
	// PubSubOptions.SendTimeout).
	SendRetries uint64
}

// PubSubLayer is the Redis pub/sub channel layer, wire-compatible with channels_redis's
// RedisPubSubChannelLayer: a consumer channel is the Redis pub/sub channel
// "<prefix>specific.<32 hex>" (subscribed when it is created), a group is the pub/sub channel
// "<prefix>__group__<group>", subscribed by every process with a local member and fanned out
// to the members locally, and a payload is plain msgpack. Send and GroupSend are one PUBLISH
// each, whatever the number of members.
//
// Delivery is at most once and only to subscribers connected at the time: there is no
// capacity, no expiry and no persistence, and messages published while a subscriber
// connection is down are lost. Each process holds one subscriber connection per shard; when it
// breaks, the layer reconnects with capped exponential backoff (20 ms to 200 ms) and
// subscribes again to every channel and group it had, so traffic resumes by itself. While
// the connection is down, calls that need a new subscription fail at once with
// ErrNotConnected (which wraps layers.ErrUnavailable); only right after NewPubSub, before the first attempt to connect has
// ended, do they wait for it (at most 5 s, and their context).
//
// Receive on a name this process did not create with NewChannel (a "normal" channel such as
// "background-tasks") does what channels_redis does: it subscribes to that pub/sub channel
// and waits. Every process subscribed to a name gets every message published to it
// (broadcast, not one reader per message), and messages published before the first Receive
// subscribed are not seen. The subscription ends when a Receive on it is cancelled and no
// other Receive waits on it.
//
// Send and GroupSend ride out a short outage: a PUBLISH that met an unreachable Redis is
// retried (backoff 20 ms to 200 ms) for up to SendTimeout and within the caller's context,
// then fails with an error wrapping layers.ErrUnavailable. Only failures that show the
// command never reached a server (a refused or failed dial, no free connection, a server still
// loading) are retried: a PUBLISH whose connection broke after it was written may have been
// delivered, and publishing it again would deliver it twice, so it fails at once with
// layers.ErrUnavailable instead. (go-redis's own command retries, MaxRetries, still apply
// beneath this.) Messages published while subscribers are disconnected are lost either way.
//
// GroupAdd only takes channels of this process (as channels_redis, which raises otherwise):
// membership is this process's subscription, not a record in Redis. It does not interoperate
// with the sorted-set Layer.
type PubSubLayer struct {
	prefix   string
	localCap int
	log      *slog.Logger
	shards   []*psShard
	outage   *outage

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	mu     sync.RWMutex
	local  local.Table                    // subscribed channel name → local channel
	groups map[string]map[string]struct{} // group pub/sub channel → local member channels

	st struct {
		published, received, undecodable, reconnects, sendRetries atomic.Uint64
	}
	delivery local.Counter // deliveries to local channels, and their drops
}

// NewPubSub returns a PubSubLayer for opts and starts its subscriber loops (one per shard),
// which connect in the background.
func NewPubSub(opts PubSubOptions) (*PubSubLayer, error) {
	l := &PubSubLayer{
		prefix:   opts.Prefix,
		localCap: opts.LocalCapacity,
		log:      opts.Logger,
		local:    make(local.Table),
		groups:   make(map[string]map[string]struct{}),
	}
	if l.prefix == "" {
		l.prefix = DefaultPrefix
	}
	if l.localCap <= 0 {
		l.localCap = DefaultCapacity
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("component", "redislayer.pubsub")
	l.delivery.Log = l.log
	parsed, hosts, err := parseHosts("pub/sub host", opts.Hosts)
	if err != nil {
		return nil, err
	}
	for i, o := range parsed {
		tune(o)
		l.shards = append(l.shards, &psShard{
			l: l, opt: o, addr: layers.Redact(hosts[i]),
			pub:     redis.NewClient(o),
			subs:    make(map[string]*psSub),
			settled: make(chan struct{}),
		})
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.outage = &outage{bound: opts.SendTimeout, stop: l.ctx, unsent: true, retries: &l.st.sendRetries}
	for _, sh := range l.shards {
		l.wg.Add(1)
		go sh.run(l.ctx)
	}
	return l, nil
}

// Stats returns the layer's counters.
func (l *PubSubLayer) Stats() PubSubStats {
	return PubSubStats{
		Published:   l.st.published.Load(),
		Received:    l.st.received.Load(),
		Delivered:   l.delivery.Delivered.Load(),
		Dropped:     l.delivery.Dropped.Load(),
		Undecodable: l.st.undecodable.Load(),
		Reconnects:  l.st.reconnects.Load(),
		SendRetries: l.st.sendRetries.Load(),
	}
}

// GroupChannel returns the pub/sub channel of group: prefix + "__group__" + group.
func (l *PubSubLayer) GroupChannel(group string) string { return l.prefix + "__group__" + group }

func (l *PubSubLayer) shardOf(name string) *psShard {
	return l.shards[shardIndex(name, len(l.shards))]
}

func (l *PubSubLayer) closedErr(op string) error {
	return fmt.Errorf("redislayer: pub/sub %s: %w", op, layers.ErrLayerClosed)
}

func (l *PubSubLayer) publish(ctx context.Context, op, name string, msg channels.Message) error {
	var buf bytes.Buffer
	buf.Grow(128)
	if err := encodeMessage(&buf, msg, nil); err != nil {
		return fmt.Errorf("redislayer: pub/sub %s: %w", op, err)
	}
	pub := l.shardOf(name).pub
	if err := l.outage.do(ctx, func(ctx context.Context) error {
		return pub.Publish(ctx, name, buf.Bytes()).Err()
	}); err != nil {
		if l.closed.Load() {
			return l.closedErr(op)
		}
		return fmt.Errorf("redislayer: pub/sub %s: %w", op, err)
	}
	l.st.published.Add(1)
	return nil
}

// Send publishes msg on the pub/sub channel named channel (one PUBLISH). It reaches the
// processes subscribed to it at that moment; with none, the message is lost (not an error).
func (l *PubSubLayer) Send(ctx context.Context, channel string, msg channels.Message) error {
	if l.closed.Load() {
		return l.closedErr("send")
	}
	if err := layers.ValidateChannelName(channel); err != nil {
		return fmt.Errorf("redislayer: pub/sub send: %w", err)
	}
	if err := layers.CheckMessage(msg); err != nil {
		return fmt.Errorf("redislayer: pub/sub send to %q: %w", channel, err)
	}
	return l.publish(ctx, "send to "+channel, channel, msg)
}

// GroupSend publishes msg on the group's pub/sub channel (one PUBLISH, whatever the number of
// members); each subscribed process fans it out to its local members.
func (l *PubSubLayer) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	if l.closed.Load() {
		return l.closedErr("group send")
	}
	if err := layers.ValidateGroupName(group); err != nil {
		return fmt.Errorf("redislayer: pub/sub group send: %w", err)
	}
	if err := layers.CheckMessage(msg); err != nil {
		return fmt.Errorf("redislayer: pub/sub group send to %q: %w", group, err)
	}
	return l.publish(ctx, "group send to "+group, l.GroupChannel(group), msg)
}

// newName makes "<layer prefix><prefix>.<32 hex>" as channels_redis's new_channel does
// (Django passes "specific."; a prefix without the final dot gets one).
func (l *PubSubLayer) newName(prefix string) (string, error) {
	if prefix == "" {
		prefix = "specific."
	}
	if !strings.HasSuffix(prefix, ".") {
		prefix += "."
	}
	var r [16]byte
	_, _ = crand.Read(r[:])
	name := l.prefix + prefix + hex.EncodeToString(r[:])
	if err := layers.ValidateChannelName(name); err != nil {
		return "", fmt.Errorf("redislayer: pub/sub new channel with prefix %q: %w", prefix, err)
	}
	return name, nil
}

// NewChannel returns a new channel "<layer prefix>specific.<32 hex>" and subscribes to it,
// waiting for Redis to confirm the subscription (so that a Send that follows is delivered).
// It fails when the subscriber connection is down. Read it with Receive.
func (l *PubSubLayer) NewChannel(ctx context.Context, prefix string) (string, error) {
	if l.closed.Load() {
		return "", l.closedErr("new channel")
	}
	name, err := l.newName(prefix)
	if err != nil {
		return "", err
	}
	lc := local.NewBuffer(name, l.localCap)
	lc.Created = true
	if err := l.addLocal(ctx, name, lc); err != nil {
		return "", err
	}
	return name, nil
}

// addLocal registers lc under name and subscribes to name, undoing both on failure.
func (l *PubSubLayer) addLocal(ctx context.Context, name string, lc *local.Chan) error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return l.closedErr("new channel")
	}
	l.local[name] = lc
	l.mu.Unlock()
	if err := l.shardOf(name).subscribe(ctx, name); err != nil {
		l.mu.Lock()
		if l.local[name] == lc {
			delete(l.local, name)
		}
		l.mu.Unlock()
		return fmt.Errorf("redislayer: pub/sub subscribe to %q: %w", name, err)
	}
	return nil
}

// Listen creates a new channel (as NewChannel) and calls deliver with each message published
// to it or to a group it belongs to, from the shard's subscriber loop, until stop is called.
// deliver must not block and must not call stop; when it returns false the message is dropped
// and counted. stop leaves the channel's groups and unsubscribes.
func (l *PubSubLayer) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	if deliver == nil {
		return "", nil, errors.New("redislayer: pub/sub listen: nil deliver function")
	}
	if l.closed.Load() {
		return "", nil, l.closedErr("listen")
	}
	name, err := l.newName(prefix)
	if err != nil {
		return "", nil, err
	}
	lc := local.NewListener(name, deliver)
	if err := l.addLocal(ctx, name, lc); err != nil {
		return "", nil, err
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			var left []string
			l.mu.Lock()
			if l.local[name] == lc {
				delete(l.local, name)
				l.shardOf(name).unsubscribe(name)
			}
			for gch, members := range l.groups {
				if _, ok := members[name]; ok {
					delete(members, name)
					if len(members) == 0 {
						delete(l.groups, gch)
					}
					left = append(left, gch)
				}
			}
			l.mu.Unlock()
			lc.Stop()
			for _, gch := range left {
				l.shardOf(gch).unsubscribe(gch)
			}
		})
	}
	return name, stop, nil
}

// Receive returns the next message published to channel. For a channel made by NewChannel
// it reads that channel's local buffer. For any other name it subscribes to the pub/sub
// channel of that name first, as channels_redis does (see PubSubLayer); the subscription ends
// when a Receive on it is cancelled and no other Receive waits on it.
func (l *PubSubLayer) Receive(ctx context.Context, channel string) (channels.Message, error) {
	if l.closed.Load() {
		return nil, l.closedErr("receive")
	}
	if err := layers.ValidateChannelName(channel); err != nil {
		return nil, fmt.Errorf("redislayer: pub/sub receive: %w", err)
	}
	l.mu.Lock()
	lc, fresh := l.local.Buffer(channel, l.localCap)
	if lc.Box() == nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("redislayer: pub/sub receive on %q: the channel is served by Listen", channel)
	}
	lc.BeginReceive()
	l.mu.Unlock()
	if fresh {
		if err := l.shardOf(channel).subscribe(ctx, channel); err != nil {
			l.mu.Lock()
			if left := lc.EndReceive(); l.local[channel] == lc && left == 0 {
				delete(l.local, channel)
				lc.Box().Close(nil)
			}
			l.mu.Unlock()
			return nil, fmt.Errorf("redislayer: pub/sub receive on %q: subscribe: %w", channel, err)
		}
	}
	msg, err := lc.Box().Receive(ctx)
	l.mu.Lock()
	if left := lc.EndReceive(); err != nil && !lc.Created && left == 0 && l.local[channel] == lc && !l.inGroupLocked(channel) {
		// Cancelled: forget the subscription, as channels_redis does.
		delete(l.local, channel)
		lc.Box().Close(nil)
		l.shardOf(channel).unsubscribe(channel)
	}
	l.mu.Unlock()
	if err != nil {
		if errors.Is(err, channels.ErrClosed) {
			return nil, l.closedErr("receive")
		}
		return nil, err
	}
	return msg, nil
}

func (l *PubSubLayer) inGroupLocked(channel string) bool {
	for _, members := range l.groups {
		if _, ok := members[channel]; ok {
			return true
		}
	}
	return false
}

// GroupAdd makes channel, a channel of this process, a member of group: the process
// subscribes to the group's pub/sub channel (waiting for the confirmation) if it is its first
// local member. A channel of another process is an error (membership is a subscription).
func (l *PubSubLayer) GroupAdd(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return l.closedErr("group add")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: pub/sub group add: %w", err)
	}
	gch := l.GroupChannel(group)
	l.mu.Lock()
	if l.local[channel] == nil {
		l.mu.Unlock()
		return fmt.Errorf("redislayer: pub/sub group add %q to %q: %w: only channels of this process (made by NewChannel or Listen) can join a group", channel, group, layers.ErrInvalidName)
	}
	members := l.groups[gch]
	if members == nil {
		members = make(map[string]struct{})
		l.groups[gch] = members
	}
	if _, ok := members[channel]; ok {
		l.mu.Unlock()
		return nil
	}
	members[channel] = struct{}{}
	l.mu.Unlock()
	if err := l.shardOf(gch).subscribe(ctx, gch); err != nil {
		l.mu.Lock()
		if m := l.groups[gch]; m != nil {
			delete(m, channel)
			if len(m) == 0 {
				delete(l.groups, gch)
			}
		}
		l.mu.Unlock()
		return fmt.Errorf("redislayer: pub/sub group add %q to %q: %w", channel, group, err)
	}
	return nil
}

// GroupDiscard removes channel from group; the process unsubscribes from the group's
// pub/sub channel when its last local member leaves. Removing a non-member is not an error.
func (l *PubSubLayer) GroupDiscard(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return l.closedErr("group discard")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: pub/sub group discard: %w", err)
	}
	gch := l.GroupChannel(group)
	l.mu.Lock()
	defer l.mu.Unlock()
	members := l.groups[gch]
	if _, ok := members[channel]; !ok {
		return nil
	}
	delete(members, channel)
	if len(members) == 0 {
		delete(l.groups, gch)
	}
	l.shardOf(gch).unsubscribe(gch)
	return nil
}

// Flush forgets this process's groups and Receive buffers and unsubscribes from them, as
// channels_redis's flush does; pub/sub keeps nothing in Redis to delete. Channels served by
// Listen stay subscribed (their consumers still run) but leave their groups.
func (l *PubSubLayer) Flush(ctx context.Context) error {
	if l.closed.Load() {
		return l.closedErr("flush")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for gch, members := range l.groups {
		for range members {
			l.shardOf(gch).unsubscribe(gch)
		}
	}
	clear(l.groups)
	l.local.DropIdle(func(name string) { l.shardOf(name).unsubscribe(name) })
	return ctx.Err()
}

// Close stops the subscriber loops, closes the connections and ends Receive calls in
// progress with ErrLayerClosed. It is idempotent.
func (l *PubSubLayer) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.cancel()
	for _, sh := range l.shards {
		sh.shutdown()
	}
	l.wg.Wait()
	l.mu.Lock()
	l.local.CloseBuffers()
	l.mu.Unlock()
	var errs []error
	for _, sh := range l.shards {
		if err := sh.pub.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redislayer: pub/sub close: %w", err)
	}
	return nil
}

// dispatch hands one published message to the local channel or group members it is for.
func (l *PubSubLayer) dispatch(name, data []byte) {
	l.st.received.Add(1)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if lc := l.local[string(name)]; lc != nil {
		msg, ok := l.decode(name, data)
		if ok {
			lc.Deliver(&l.delivery, msg)
		}
		return
	}
	members := l.groups[string(name)]
	if len(members) == 0 {
		return // unsubscribed meanwhile
	}
	msg, ok := l.decode(name, data)
	if !ok {
		return
	}
	for m := range members {
		if lc := l.local[m]; lc != nil {
			lc.Deliver(&l.delivery, msg)
		}
	}
}

func (l *PubSubLayer) decode(name, data []byte) (channels.Message, bool) {
	msg, err := decodeMessage(data)
	if err != nil {
		l.st.undecodable.Add(1)
		l.log.Error("dropping undecodable message", "channel", string(name), "error", err)
		return nil, false
	}
	return msg, true
}

var (
	_ layers.Layer    = (*PubSubLayer)(nil)
	_ layers.Listener = (*PubSubLayer)(nil)
)
