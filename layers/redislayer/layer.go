package redislayer

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Defaults, equal to channels_redis's.
const (
	DefaultPrefix      = "asgi"
	DefaultExpiry      = 60 * time.Second
	DefaultGroupExpiry = 86400 * time.Second
	DefaultCapacity    = 100
	// DefaultInboxCapacity is the capacity of a process inbox (the one key that holds the
	// messages of all of a process's channels) when no ChannelCapacity rule matches. It is
	// gochannels' own default: channels_redis applies its per-channel capacity (100) to the
	// whole inbox, which a process serving thousands of consumers fills in a burst.
	DefaultInboxCapacity = 1000
	// DefaultHeartbeatTimeout is how long a Go process may go without refreshing its
	// heartbeat before the group members of its channels are pruned.
	DefaultHeartbeatTimeout = 60 * time.Second
)

const (
	randomPrefixLen = 12                     // random bytes before each stored payload
	inboxBlock      = 2 * time.Second        // BZMPOP timeout of the receive loop (Close interrupts it)
	receiveBlock    = time.Second            // BZPOPMIN timeout of Receive on a normal channel
	inboxBatch      = 128                    // messages the receive loop takes per round trip
	maxBackoff      = 200 * time.Millisecond // cap of the reconnect backoffs (failed calls fail fast, so retrying is cheap)
	minBackoff      = 20 * time.Millisecond  // first reconnect wait
	closeTimeout    = 2 * time.Second        // bound on the goodbye heartbeat in Close
	blockMargin     = 100 * time.Millisecond // kept between a blocking timeout and ctx's deadline
	snapshotMin     = 32                     // smallest group whose member lists a group send keeps (groupSendScript)
)

// Options configures a Layer. The zero value of every field means channels_redis's default.
type Options struct {
	// Hosts are the Redis servers, one per shard, as redis:// or rediss:// URLs (database in
	// the path, password in the user info). Default: "redis://localhost:6379/0".
	Hosts []string
	// Clients, when set, are used as the shards instead of Hosts: the layer closes them on
	// Close. A single *redis.ClusterClient selects Redis Cluster mode (see the package
	// documentation for what it supports).
	Clients []redis.UniversalClient
	// Sentinel, when set, finds the shards through Redis Sentinel: one shard per name in
	// SentinelMasters (default: Sentinel.MasterName). Its other fields are a template.
	Sentinel *redis.FailoverOptions
	// SentinelMasters names the Sentinel-managed masters, one shard each.
	SentinelMasters []string
	// Cluster, when set, selects Redis Cluster (one logical shard: the cluster distributes
	// the keys). See the package documentation for what cluster mode supports.
	Cluster *redis.ClusterOptions
	// TLSConfig, when set, is the TLS configuration of the rediss:// Hosts (a copy, whose
	// empty ServerName is the URL's host) and of Sentinel and Cluster, which then connect over
	// TLS; use it to trust a private CA (the URL parameter tls_ca does). Default: rediss://
	// hosts verify against the system roots.
	TLSConfig *tls.Config
	// Prefix starts every key (default "asgi").
	Prefix string
	// Expiry is how long an unread message lives (default 60 s; whole seconds on the wire).
	Expiry time.Duration
	// GroupExpiry is how long a group membership lives after its last GroupAdd (default 1 day).
	GroupExpiry time.Duration
	// Capacity is the number of messages a channel holds (default 100).
	Capacity int
	// InboxCapacity is the number of messages a process inbox holds when this layer sends to
	// a process-specific channel ("name!id") no ChannelCapacity rule matches (default
	// DefaultInboxCapacity). channels_redis applies Capacity to the whole inbox; capacity is
	// the sender's policy and not part of the wire format, so a larger one is compatible
	// (Python senders keep applying their own). Each waiting message costs Redis its size
	// until it is read or expires; a group message lists all of that process's members.
	InboxCapacity int
	// ChannelCapacity gives channels matching a pattern their own capacity (Django's
	// channel_capacity).
	ChannelCapacity []layers.CapacityRule
	// SymmetricEncryptionKeys, when set, encrypt every payload Fernet-style, as
	// channels_redis's symmetric_encryption_keys: the first key encrypts, all decrypt.
	SymmetricEncryptionKeys []string
	// LocalCapacity bounds the messages buffered for each process-specific channel read with
	// Receive (default Capacity). Messages beyond it are dropped and counted in Stats.
	LocalCapacity int
	// HeartbeatTimeout is how long this process's inboxes stay registered as alive without a
	// heartbeat; the group members of a Go process silent for longer are pruned by group
	// operations. Default DefaultHeartbeatTimeout; negative disables heartbeats and pruning.
	HeartbeatTimeout time.Duration
	// Logger receives errors of the background loops and dropped messages (default
	// slog.Default()).
	Logger *slog.Logger
}

// Stats counts what a Layer did since it was created.
type Stats struct {
	// Sent counts messages added by Send.
	Sent uint64
	// GroupWrites counts keys written by GroupSend (one per process inbox or normal channel,
	// however many members it serves).
	GroupWrites uint64
	// GroupOverCapacity counts GroupSend targets skipped because their key was full.
	GroupOverCapacity uint64
	// Received counts messages taken from Redis (by the receive loops and Receive).
	Received uint64
	// Delivered counts messages handed to a local channel (a Listen callback or a Receive
	// buffer); one message for n local members counts n.
	Delivered uint64
	// Dropped counts local deliveries lost: a Listen callback refused the message, a Receive
	// buffer was full, no local channel had that name, or a buffer nobody read expired.
	Dropped uint64
	// Undecodable counts stored messages that could not be decrypted or decoded; each is
	// logged and dropped.
	Undecodable uint64
	// Pruned counts group members removed because their Go process stopped heartbeating.
	Pruned uint64
	// ReceiveErrors counts failed Redis calls of the receive loops (each followed by a retry
	// after a capped exponential backoff).
	ReceiveErrors uint64
	// GroupSnapshotHits counts group sends that reused the stored snapshot of their group's
	// members instead of reading and re-encoding every member (see GroupSend).
	GroupSnapshotHits uint64
}

// Layer is the Redis channel layer, wire-compatible with channels_redis 4
// (RedisChannelLayer). It implements layers.Layer and layers.Listener.
type Layer struct {
	shards   []*shard
	cluster  bool
	prefix   string
	caps     *layers.Capacities // normal channels
	icaps    *layers.Capacities // process-specific channels: the same rules, InboxCapacity by default
	hasRules bool
	crypt    *crypter
	expiry   int64 // seconds
	gexpiry  int64 // seconds
	hbTTL    time.Duration
	localCap int
	snapMin  int // snapshotMin; tests lower it
	snaps    snapCache
	log      *slog.Logger
	clientID string // 32 hex: this process's part of its channel names

	sendRR, recvRR atomic.Uint32
	gsInflight     atomic.Int32 // group sends in progress (see groupSendFused)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	mu      sync.RWMutex
	local   map[string]*localChan // process-specific channels of this process, by full name
	inboxes map[string]*inboxLoop // receive loops, by inbox name
	joined  map[string][]string   // channel → groups, for this process's channels (rejoined after a Redis failure or a heartbeat gap); a slice, as a channel is in few groups and an idle connection keeps its entry
	hbOnce  sync.Once
	// recovered is signalled by a receive loop whose Redis calls work again after failing:
	// the heartbeat then runs at once and restores the groups (a restarted Redis lost them).
	recovered chan struct{}

	st struct {
		sent, groupWrites, groupOver, received, delivered, dropped, undecodable, pruned, recvErrs atomic.Uint64
		snapshotHits                                                                              atomic.Uint64
	}
}

// shard is one Redis server (or sentinel-managed master, or the whole cluster).
type shard struct {
	client redis.UniversalClient
	// dedicated returns a new client with a pool of its own, for a blocking receive loop; it
	// is nil for caller-supplied Clients, which then share their pool.
	dedicated func() redis.UniversalClient
	// pipe batches the group-send script calls of concurrent senders into pipelines (go-redis's
	// AutoPipeliner on client: one round trip for many sends under load). Nil for
	// caller-supplied clients, which are used as they are. A call queued in it is bounded by
	// the client's read and write timeouts rather than by its context.
	pipe *redis.AutoPipeliner
}

// localChan is one process-specific channel of this process: a Listen callback, or a
// bounded buffer for Receive.
type localChan struct {
	deliver  func(channels.Message) bool
	box      *channels.Mailbox
	tomb     bool         // a stopped Listen channel: late messages are dropped, not buffered
	waiting  atomic.Int32 // Receive calls in progress
	lastUsed atomic.Int64 // unix nanoseconds of the last Receive (or creation)
}

// inboxLoop is the one receive loop of a process inbox.
type inboxLoop struct {
	inbox  string
	key    string
	client redis.UniversalClient
	owned  bool // client is dedicated and closed with the loop
}

// New returns a Layer for opts. It checks the options and builds the clients but does not
// contact Redis; the first call that needs a server does.
func New(opts Options) (*Layer, error) {
	l := &Layer{
		prefix:   opts.Prefix,
		log:      opts.Logger,
		local:    make(map[string]*localChan),
		inboxes:  make(map[string]*inboxLoop),
		joined:   make(map[string][]string),
		hasRules: len(opts.ChannelCapacity) > 0,
		snapMin:  snapshotMin,

		recovered: make(chan struct{}, 1),
	}
	if l.prefix == "" {
		l.prefix = DefaultPrefix
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("component", "redislayer")
	expiry, gexpiry := opts.Expiry, opts.GroupExpiry
	if expiry <= 0 {
		expiry = DefaultExpiry
	}
	if gexpiry <= 0 {
		gexpiry = DefaultGroupExpiry
	}
	l.expiry, l.gexpiry = wholeSeconds(expiry), wholeSeconds(gexpiry)
	capacity := opts.Capacity
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	caps, err := layers.CompileCapacities(capacity, opts.ChannelCapacity)
	if err != nil {
		return nil, fmt.Errorf("redislayer: %w", err)
	}
	l.caps = caps
	icap := opts.InboxCapacity
	if icap <= 0 {
		icap = DefaultInboxCapacity
	}
	if l.icaps, err = layers.CompileCapacities(icap, opts.ChannelCapacity); err != nil {
		return nil, fmt.Errorf("redislayer: %w", err)
	}
	l.localCap = opts.LocalCapacity
	if l.localCap <= 0 {
		l.localCap = capacity
	}
	l.hbTTL = opts.HeartbeatTimeout
	if l.hbTTL == 0 {
		l.hbTTL = DefaultHeartbeatTimeout
	}
	if l.crypt, err = newCrypter(opts.SymmetricEncryptionKeys, time.Duration(l.expiry+10)*time.Second); err != nil {
		return nil, fmt.Errorf("redislayer: %w", err)
	}
	id := make([]byte, 16)
	if _, err := crand.Read(id); err != nil {
		return nil, fmt.Errorf("redislayer: random process id: %w", err)
	}
	l.clientID = hex.EncodeToString(id)

	switch {
	case opts.Cluster != nil:
		co := *opts.Cluster
		co.DisableIdentity, co.ContextTimeoutEnabled, co.Protocol = true, true, 2
		co.TLSConfig = withTLS(co.TLSConfig, opts.TLSConfig)
		l.cluster = true
		l.shards = append(l.shards, &shard{
			client: redis.NewClusterClient(&co),
			// A receive loop gets its own client, so that Close interrupts its blocked
			// BZMPOP instead of waiting up to inboxBlock for it.
			dedicated: func() redis.UniversalClient {
				d := co
				d.PoolSize, d.MinIdleConns, d.MaxIdleConns = 1, 0, 1
				return redis.NewClusterClient(&d)
			},
		})
	case opts.Sentinel != nil:
		masters := opts.SentinelMasters
		if len(masters) == 0 && opts.Sentinel.MasterName != "" {
			masters = []string{opts.Sentinel.MasterName}
		}
		if len(masters) == 0 {
			return nil, errors.New("redislayer: Sentinel needs a master name")
		}
		for _, m := range masters {
			fo := *opts.Sentinel
			fo.MasterName = m
			fo.DisableIdentity, fo.ContextTimeoutEnabled, fo.Protocol = true, true, 2
			fo.TLSConfig = withTLS(fo.TLSConfig, opts.TLSConfig)
			fo.OnConnect = l.restartWatch("sentinel master " + m).hook(fo.OnConnect)
			l.shards = append(l.shards, &shard{
				client: redis.NewFailoverClient(&fo),
				dedicated: func() redis.UniversalClient {
					d := fo
					d.PoolSize, d.MinIdleConns, d.MaxIdleConns = 1, 0, 1
					return redis.NewFailoverClient(&d)
				},
			})
		}
	case len(opts.Clients) > 0:
		for i, c := range opts.Clients {
			if c == nil {
				return nil, fmt.Errorf("redislayer: Clients[%d] is nil", i)
			}
			if _, ok := c.(*redis.ClusterClient); ok {
				if len(opts.Clients) > 1 {
					return nil, errors.New("redislayer: a Redis Cluster client must be the only shard")
				}
				l.cluster = true
			}
			l.shards = append(l.shards, &shard{client: c})
		}
	default:
		parsed, hosts, err := parseHosts("host", opts.Hosts)
		if err != nil {
			return nil, err
		}
		for i, o := range parsed {
			if o.TLSConfig != nil {
				o.TLSConfig = withTLS(o.TLSConfig, opts.TLSConfig)
			}
			o.OnConnect = l.restartWatch(layers.Redact(hosts[i])).hook(o.OnConnect)
			l.shards = append(l.shards, singleShard(o))
		}
	}
	if l.cluster {
		l.hbTTL = -1 // the registry cannot share a slot with every group: no pruning in cluster mode
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// restartWatch returns a watch for one shard's server that makes the heartbeat loop rejoin
// this process's groups when the server is replaced.
func (l *Layer) restartWatch(addr string) *restartWatch {
	return &restartWatch{addr: addr, log: l.log, changed: func() {
		select {
		case l.recovered <- struct{}{}:
		default:
		}
	}}
}

// singleShard builds the shard of one standalone server.
func singleShard(o *redis.Options) *shard {
	tune(o)
	c := redis.NewClient(o)
	pipe, err := c.AutoPipeline()
	if err != nil {
		pipe = nil // only an invalid configuration fails; the plain client does the same work
	}
	return &shard{
		client: c,
		pipe:   pipe,
		dedicated: func() redis.UniversalClient {
			d := *o
			d.PoolSize, d.MinIdleConns, d.MaxIdleConns = 1, 0, 1
			return redis.NewClient(&d)
		},
	}
}

// tune applies the settings every client of the layer uses.
func tune(o *redis.Options) {
	o.DisableIdentity = true
	o.ContextTimeoutEnabled = true
	o.Protocol = 2
	// One dial per attempt: go-redis's default (5 dials, 100 ms apart, per command retry)
	// makes every call during an outage take seconds before it fails; the command retries
	// (MaxRetries) still cover a transient failure.
	o.DialerRetries = 1
}

func wholeSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// Stats returns the layer's counters.
func (l *Layer) Stats() Stats {
	return Stats{
		Sent:              l.st.sent.Load(),
		GroupWrites:       l.st.groupWrites.Load(),
		GroupOverCapacity: l.st.groupOver.Load(),
		Received:          l.st.received.Load(),
		Delivered:         l.st.delivered.Load(),
		Dropped:           l.st.dropped.Load(),
		Undecodable:       l.st.undecodable.Load(),
		Pruned:            l.st.pruned.Load(),
		ReceiveErrors:     l.st.recvErrs.Load(),
		GroupSnapshotHits: l.st.snapshotHits.Load(),
	}
}

func (l *Layer) closedErr(op string) error {
	return fmt.Errorf("redislayer: %s: %w", op, layers.ErrLayerClosed)
}

// groupKey, channelKey and registryKey are the Redis keys (see REDIS-WIRE.md §2). The
// registry is gochannels' own: channel names cannot contain ':' and group keys continue with
// ":group:", so it collides with neither.
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

func checkMessage(msg channels.Message) error {
	if msg == nil {
		return fmt.Errorf("%w: nil message", layers.ErrInvalidMessage)
	}
	if t, ok := msg["type"].(string); !ok || t == "" {
		return fmt.Errorf("%w: message needs a non-empty string \"type\" (got %T)", layers.ErrInvalidMessage, msg["type"])
	}
	if _, ok := msg[channelKey]; ok {
		return fmt.Errorf("%w: message key %q is reserved for the layer", layers.ErrInvalidMessage, channelKey)
	}
	return nil
}

// member builds a stored member: 12 random bytes, then the msgpack payload (encrypted when
// keys are configured).
func (l *Layer) member(msg channels.Message, channel any) (string, error) {
	var buf bytes.Buffer
	buf.Grow(256)
	var rnd [randomPrefixLen]byte
	_, _ = crand.Read(rnd[:])
	buf.Write(rnd[:])
	if err := encodeMessage(&buf, msg, channel); err != nil {
		return "", err
	}
	if l.crypt == nil {
		return buf.String(), nil
	}
	tok := l.crypt.encrypt(buf.Bytes()[randomPrefixLen:])
	return string(rnd[:]) + string(tok), nil
}

// decodeMember reverses member; errors mean a bad stored message.
func (l *Layer) decodeMember(m string) (channels.Message, error) {
	payload, err := l.payloadOf(m)
	if err != nil {
		return nil, err
	}
	return decodeMessageString(payload)
}

// decodeInboxMember reverses member for a process inbox message: the message and the local
// channels its __asgi_channel__ names (see decodeInbox).
func (l *Layer) decodeInboxMember(m string) (channels.Message, []string, error) {
	payload, err := l.payloadOf(m)
	if err != nil {
		return nil, nil, err
	}
	return decodeInbox(payload)
}

// payloadOf returns the msgpack payload of a stored member: what follows the random prefix,
// decrypted when the layer encrypts.
func (l *Layer) payloadOf(m string) (string, error) {
	if len(m) < randomPrefixLen {
		return "", fmt.Errorf("%w: %d bytes, shorter than the random prefix", errBadPayload, len(m))
	}
	if l.crypt == nil {
		return m[randomPrefixLen:], nil
	}
	payload, err := l.crypt.decrypt([]byte(m[randomPrefixLen:]))
	if err != nil {
		return "", err
	}
	return blobString(payload), nil // the decrypted buffer is ours alone
}

func score(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}

// Send puts msg on channel. For a process-specific channel the message goes to the process
// inbox with __asgi_channel__ naming the channel. The trim, capacity check, add and TTL refresh
// are one atomic script call; a full channel is an error wrapping layers.ErrChannelFull.
func (l *Layer) Send(ctx context.Context, channel string, msg channels.Message) error {
	if l.closed.Load() {
		return l.closedErr("send")
	}
	if err := layers.ValidateChannelName(channel); err != nil {
		return fmt.Errorf("redislayer: send: %w", err)
	}
	if err := checkMessage(msg); err != nil {
		return fmt.Errorf("redislayer: send to %q: %w", channel, err)
	}
	key, idx, specific := l.target(channel, true)
	var ch any
	if specific {
		ch = channel
	}
	m, err := l.member(msg, ch)
	if err != nil {
		return fmt.Errorf("redislayer: send to %q: %w", channel, err)
	}
	now := time.Now()
	capacity := l.capacity(channel, specific)
	added, err := sendScript.Run(ctx, l.shards[idx].client, []string{key}, m, score(now), l.expiry, capacity, now.Unix()-l.expiry).Int()
	if err != nil {
		return l.redisErr("send to "+strconv.Quote(channel), err)
	}
	if added == 0 {
		return fmt.Errorf("redislayer: send to %q: %w (capacity %d)", channel, layers.ErrChannelFull, capacity)
	}
	l.st.sent.Add(1)
	return nil
}

// redisErr wraps a Redis failure, reporting ErrLayerClosed when the layer was closed under it.
func (l *Layer) redisErr(op string, err error) error {
	if l.closed.Load() {
		return fmt.Errorf("redislayer: %s: %w", op, layers.ErrLayerClosed)
	}
	return fmt.Errorf("redislayer: %s: %w", op, err)
}

// NewChannel returns a new process-specific channel "<prefix>.<process id>!<random>", as
// channels_redis names them, and starts (once per inbox) the receive loop that will deliver
// its messages. It makes no Redis call.
func (l *Layer) NewChannel(ctx context.Context, prefix string) (string, error) {
	if l.closed.Load() {
		return "", l.closedErr("new channel")
	}
	if prefix == "" {
		prefix = "specific"
	}
	var r [16]byte
	_, _ = crand.Read(r[:])
	inbox := prefix + "." + l.clientID + "!"
	name := inbox + hex.EncodeToString(r[:])
	if err := layers.ValidateChannelName(name); err != nil {
		return "", fmt.Errorf("redislayer: new channel with prefix %q: %w", prefix, err)
	}
	if err := l.ensureInbox(inbox); err != nil {
		return "", err
	}
	return name, nil
}

// ensureInbox starts the receive loop of inbox (and the heartbeat) if it is not running.
func (l *Layer) ensureInbox(inbox string) error {
	l.mu.RLock()
	_, ok := l.inboxes[inbox]
	l.mu.RUnlock()
	if ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return l.closedErr("receive loop")
	}
	if _, ok := l.inboxes[inbox]; ok {
		return nil
	}
	sh := l.shards[shardIndex(inbox, len(l.shards))]
	ib := &inboxLoop{inbox: inbox, key: l.prefix + inbox, client: sh.client}
	if sh.dedicated != nil {
		ib.client, ib.owned = sh.dedicated(), true
	}
	l.inboxes[inbox] = ib
	l.wg.Add(1)
	go l.runInbox(ib)
	l.hbOnce.Do(func() {
		l.wg.Add(1)
		go l.runHeartbeat()
	})
	return nil
}

// ownInbox reports whether a process-specific channel belongs to this layer.
func (l *Layer) ownInbox(inbox string) bool {
	return strings.HasSuffix(inbox, "."+l.clientID+"!")
}

// Listen creates a new process-specific channel and calls deliver with each message sent to
// it, from the inbox's one receive loop, until stop is called. deliver must not block and
// must not call stop; when it returns false the message is dropped and counted in Stats.
func (l *Layer) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	if deliver == nil {
		return "", nil, errors.New("redislayer: listen: nil deliver function")
	}
	name, err := l.NewChannel(ctx, prefix)
	if err != nil {
		return "", nil, err
	}
	lc := &localChan{deliver: deliver}
	l.mu.Lock()
	l.local[name] = lc
	l.mu.Unlock()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			// A tombstone (swept after the message expiry) keeps late messages from
			// creating a Receive buffer under the stopped channel's name.
			tomb := &localChan{tomb: true}
			tomb.lastUsed.Store(time.Now().UnixNano())
			l.mu.Lock()
			if l.local[name] == lc {
				l.local[name] = tomb
			}
			delete(l.joined, name)
			l.mu.Unlock()
		})
	}
	return name, stop, nil
}

// Receive takes the next message from channel.
//
// A normal channel is popped from Redis (BZPOPMIN; with several shards, each in turn): each
// message goes to exactly one of its readers, in any process, Go or Python. Delivery is at
// most once: a message popped by a reader that then fails is not redelivered, and no
// "$inflight" copy is kept.
//
// A process-specific channel must belong to this layer (made by NewChannel); its messages
// arrive through the inbox's receive loop and wait in a bounded local buffer.
func (l *Layer) Receive(ctx context.Context, channel string) (channels.Message, error) {
	if l.closed.Load() {
		return nil, l.closedErr("receive")
	}
	if err := layers.ValidateChannelName(channel); err != nil {
		return nil, fmt.Errorf("redislayer: receive: %w", err)
	}
	if inbox, _, ok := layers.SplitProcessSpecific(channel); ok {
		return l.receiveLocal(ctx, inbox, channel)
	}
	return l.receiveNormal(ctx, channel)
}

func (l *Layer) receiveLocal(ctx context.Context, inbox, channel string) (channels.Message, error) {
	if !l.ownInbox(inbox) {
		return nil, fmt.Errorf("redislayer: receive on %q: %w: the channel belongs to another process (its messages go to that process's inbox)", channel, layers.ErrInvalidName)
	}
	if err := l.ensureInbox(inbox); err != nil {
		return nil, err
	}
	lc, err := l.buffer(channel)
	if err != nil {
		return nil, err
	}
	lc.waiting.Add(1)
	defer func() {
		lc.lastUsed.Store(time.Now().UnixNano())
		lc.waiting.Add(-1)
	}()
	msg, err := lc.box.Receive(ctx)
	if err != nil {
		if errors.Is(err, channels.ErrClosed) {
			return nil, l.closedErr("receive")
		}
		return nil, err
	}
	return msg, nil
}

// buffer returns the Receive buffer of a local channel, creating it.
func (l *Layer) buffer(channel string) (*localChan, error) {
	l.mu.RLock()
	lc := l.local[channel]
	l.mu.RUnlock()
	if lc == nil {
		l.mu.Lock()
		if lc = l.local[channel]; lc == nil {
			lc = l.newBufferLocked(channel)
		}
		l.mu.Unlock()
	}
	if lc.box == nil {
		return nil, fmt.Errorf("redislayer: receive on %q: the channel is (or was) served by Listen", channel)
	}
	return lc, nil
}

func (l *Layer) newBufferLocked(channel string) *localChan {
	lc := &localChan{box: channels.NewMailbox(l.localCap)}
	lc.lastUsed.Store(time.Now().UnixNano())
	if l.closed.Load() {
		lc.box.Close(nil)
	}
	l.local[strings.Clone(channel)] = lc // channel may be a substring of a whole message
	return lc
}

func (l *Layer) receiveNormal(ctx context.Context, channel string) (channels.Message, error) {
	key := l.prefix + channel
	n := len(l.shards)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if l.closed.Load() {
			return nil, l.closedErr("receive")
		}
		start := int(l.recvRR.Add(1)-1) % n
		var member string
		var found bool
		var err error
		if n > 1 {
			// Several shards: take what is waiting anywhere, else block briefly on one.
			for i := 0; i < n && !found && err == nil; i++ {
				member, found, err = popNow(ctx, l.shards[(start+i)%n].client, key)
			}
		}
		if !found && err == nil {
			block := receiveBlock
			if n > 1 {
				block = receiveBlock / time.Duration(n)
			}
			member, found, err = popBlocking(ctx, l.shards[start].client, key, block)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, l.redisErr("receive on "+strconv.Quote(channel), err)
		}
		if !found {
			continue
		}
		l.st.received.Add(1)
		msg, err := l.decodeMember(member)
		if err != nil {
			l.st.undecodable.Add(1)
			l.log.Error("dropping undecodable message", "channel", channel, "error", err)
			continue
		}
		delete(msg, channelKey)
		return msg, nil
	}
}

// popNow pops the oldest member of key without blocking.
func popNow(ctx context.Context, c redis.UniversalClient, key string) (string, bool, error) {
	zs, err := c.ZPopMin(ctx, key, 1).Result()
	if err != nil || len(zs) == 0 {
		return "", false, err
	}
	s, _ := zs[0].Member.(string)
	return s, true, nil
}

// popBlocking runs BZPOPMIN for at most block, shortened so that Redis answers before ctx's
// deadline (a reply lost to a deadline would be a lost message).
func popBlocking(ctx context.Context, c redis.UniversalClient, key string, block time.Duration) (string, bool, error) {
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl) - blockMargin
		if left < 10*time.Millisecond {
			return popNow(ctx, c, key)
		}
		block = min(block, left)
	}
	res, err := c.Do(ctx, "bzpopmin", key, strconv.FormatFloat(block.Seconds(), 'f', 3, 64)).Slice()
	if err == redis.Nil {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if len(res) != 3 {
		return "", false, fmt.Errorf("unexpected BZPOPMIN reply of %d elements", len(res))
	}
	s, ok := res[1].(string)
	if !ok {
		return "", false, fmt.Errorf("unexpected BZPOPMIN member of type %T", res[1])
	}
	return s, true, nil
}

// popBatch blocks up to block for the inbox and returns up to inboxBatch members in score
// order (BZMPOP; one BZPOPMIN on servers older than Redis 7).
func (ib *inboxLoop) popBatch(ctx context.Context, block time.Duration, noBZMPOP *bool) ([]string, error) {
	secs := strconv.FormatFloat(block.Seconds(), 'f', 3, 64)
	if !*noBZMPOP {
		res, err := ib.client.Do(ctx, "bzmpop", secs, 1, ib.key, "MIN", "COUNT", inboxBatch).Slice()
		if err == redis.Nil {
			return nil, nil
		}
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown command") {
			*noBZMPOP = true
		} else if err != nil {
			return nil, err
		} else {
			if len(res) != 2 {
				return nil, fmt.Errorf("unexpected BZMPOP reply of %d elements", len(res))
			}
			pairs, _ := res[1].([]any)
			out := make([]string, 0, len(pairs))
			for _, p := range pairs {
				if pair, ok := p.([]any); ok && len(pair) == 2 {
					if s, ok := pair[0].(string); ok {
						out = append(out, s)
					}
				}
			}
			return out, nil
		}
	}
	s, ok, err := popBlocking(ctx, ib.client, ib.key, block)
	if err != nil || !ok {
		return nil, err
	}
	return []string{s}, nil
}

// runInbox is the one receive loop of a process inbox: it pops batches of messages, decodes
// each once and hands it to the local channel(s) named in __asgi_channel__. On Redis errors it
// retries with capped exponential backoff until Close.
func (l *Layer) runInbox(ib *inboxLoop) {
	defer l.wg.Done()
	if ib.owned {
		defer ib.client.Close()
	}
	backoff := time.Duration(0)
	noBZMPOP := false
	failing := false
	for l.ctx.Err() == nil {
		block := inboxBlock
		if failing {
			block = 50 * time.Millisecond // notice Redis's return quickly
		}
		members, err := ib.popBatch(l.ctx, block, &noBZMPOP)
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.st.recvErrs.Add(1)
			if !failing {
				l.log.Warn("receive loop: Redis call failed; retrying with backoff", "inbox", ib.inbox, "error", err)
				failing = true
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		if failing {
			l.log.Info("receive loop: Redis reachable again", "inbox", ib.inbox)
			failing = false
			select {
			case l.recovered <- struct{}{}:
			default:
			}
		}
		backoff = 0
		for _, m := range members {
			l.dispatch(ib.inbox, m)
		}
	}
}

// dispatch decodes one inbox message and delivers it to its local channel(s).
func (l *Layer) dispatch(inbox, member string) {
	l.st.received.Add(1)
	msg, names, err := l.decodeInboxMember(member)
	if err != nil {
		l.st.undecodable.Add(1)
		l.log.Error("dropping undecodable message", "inbox", inbox, "error", err)
		return
	}
	if len(names) == 0 {
		l.st.undecodable.Add(1)
		l.log.Error("dropping inbox message without a valid "+channelKey, "inbox", inbox, "type", msg.Type())
		return
	}
	for _, name := range names {
		l.deliverLocal(name, msg)
	}
}

func (l *Layer) deliverLocal(name string, msg channels.Message) {
	l.mu.RLock()
	lc := l.local[name]
	if lc != nil && lc.deliver != nil {
		ok := lc.deliver(msg)
		l.mu.RUnlock()
		l.count(ok, name)
		return
	}
	l.mu.RUnlock()
	if lc != nil && lc.tomb {
		l.st.dropped.Add(1)
		return
	}
	if lc == nil {
		// Not yet received on (a NewChannel whose first Receive is still to come): buffer it.
		l.mu.Lock()
		if lc = l.local[name]; lc == nil {
			lc = l.newBufferLocked(name)
		}
		l.mu.Unlock()
		if lc.deliver != nil {
			l.deliverLocal(name, msg)
			return
		}
	}
	l.count(lc.box.Inject(msg) == nil, name)
}

func (l *Layer) count(ok bool, name string) {
	countDelivery(ok, &l.st.delivered, &l.st.dropped, l.log, name)
}

// countDelivery counts a message handed to a local channel (ok) or dropped because the
// channel was full, logging the 1st, 2nd, 4th, 8th... drop. Both Redis layers use it.
func countDelivery(ok bool, delivered, dropped *atomic.Uint64, log *slog.Logger, channel string) {
	if ok {
		delivered.Add(1)
		return
	}
	if n := dropped.Add(1); n&(n-1) == 0 {
		log.Warn("local channel full; message dropped", "channel", channel, "dropped_total", n)
	}
}

// defaultHost is the server a layer uses when given no hosts.
const defaultHost = "redis://localhost:6379/0"

// parseHosts parses redis:// URLs (default: defaultHost) into client options; what names the
// setting in errors.
func parseHosts(what string, hosts []string) ([]*redis.Options, []string, error) {
	if len(hosts) == 0 {
		hosts = []string{defaultHost}
	}
	opts := make([]*redis.Options, len(hosts))
	for i, h := range hosts {
		o, err := redis.ParseURL(h)
		if err != nil {
			return nil, nil, fmt.Errorf("redislayer: %s %q: %w", what, layers.Redact(h), err)
		}
		opts[i] = o
	}
	return opts, hosts, nil
}

// runHeartbeat keeps this process's inboxes registered as alive on every shard, and drops
// Receive buffers nobody has read for longer than the message expiry.
func (l *Layer) runHeartbeat() {
	defer l.wg.Done()
	interval := time.Second
	if l.hbTTL > 0 {
		interval = min(max(l.hbTTL/6, 50*time.Millisecond), 10*time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := time.Now()
	// rejoin is set by a failure (a heartbeat that failed, or a receive loop that saw Redis
	// fail and come back): Redis may have restarted empty, so this process's channels must
	// be added back to their groups. Until that works, retry soon, not at the next tick.
	rejoin := false
	retry := time.Duration(0)
	tick := true // the sweep runs on the ticker only, not on every retry
	for {
		ok := true
		if l.hbTTL > 0 {
			ok = l.beat(l.ctx, 0)
		}
		// After a long silence, group sends elsewhere may have pruned this process's members.
		if ok && (rejoin || (l.hbTTL > 0 && time.Since(lastOK) > l.hbTTL/2)) {
			ok = l.rejoin(l.ctx)
		}
		var retryC <-chan time.Time
		if ok {
			lastOK, rejoin, retry = time.Now(), false, 0
		} else {
			rejoin = true
			retry = min(max(2*retry, minBackoff), maxBackoff)
			retryC = time.After(retry)
		}
		if tick {
			l.sweep()
		}
		tick = false
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			tick = true
		case <-retryC:
		case <-l.recovered:
			rejoin = true // Redis is back after a receive loop failed: rejoin now
		}
	}
}

// beat writes the registry entries of this process's inboxes, aged by offset seconds, and
// reports whether every shard took them.
func (l *Layer) beat(ctx context.Context, offset float64) bool {
	l.mu.RLock()
	args := []any{l.gexpiry, strconv.FormatFloat(offset, 'f', 3, 64)}
	for inbox := range l.inboxes {
		args = append(args, inbox)
	}
	l.mu.RUnlock()
	if len(args) == 2 {
		return true
	}
	ok := true
	for _, sh := range l.shards {
		cctx, cancel := context.WithTimeout(ctx, max(l.hbTTL/3, 100*time.Millisecond))
		err := heartbeatScript.Run(cctx, sh.client, []string{l.registryKey()}, args...).Err()
		cancel()
		if err != nil {
			ok = false
			if ctx.Err() == nil {
				l.log.Debug("heartbeat failed", "error", err)
			}
		}
	}
	return ok
}

// rejoin adds this process's channels back to the groups they joined, and reports whether
// every group took them.
func (l *Layer) rejoin(ctx context.Context) bool {
	byGroup := map[string][]string{}
	l.mu.RLock()
	for ch, gs := range l.joined {
		for _, g := range gs {
			byGroup[g] = append(byGroup[g], ch)
		}
	}
	l.mu.RUnlock()
	if len(byGroup) == 0 {
		return true
	}
	score := float64(time.Now().UnixNano()) / 1e9
	for g, chans := range byGroup {
		zs := make([]redis.Z, len(chans))
		for i, ch := range chans {
			zs[i] = redis.Z{Score: score, Member: ch}
		}
		c := l.shards[shardIndex(g, len(l.shards))].client
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Pipelined(cctx, func(p redis.Pipeliner) error {
			p.ZAdd(cctx, l.groupKey(g), zs...)
			p.Expire(cctx, l.groupKey(g), time.Duration(l.gexpiry)*time.Second)
			return nil
		})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("rejoining groups after a Redis failure failed; retrying", "group", g, "error", err)
			}
			return false
		}
	}
	l.log.Info("rejoined groups after a Redis failure or heartbeat gap", "groups", len(byGroup))
	return true
}

// sweep forgets Receive buffers that nobody is reading and nobody has read for longer than
// the message expiry (their messages would have expired in Redis too).
func (l *Layer) sweep() {
	limit := time.Now().Add(-time.Duration(l.expiry) * time.Second).UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, lc := range l.local {
		if lc.tomb && lc.lastUsed.Load() < limit {
			delete(l.local, name)
			continue
		}
		if lc.box != nil && lc.waiting.Load() == 0 && lc.lastUsed.Load() < limit {
			if n := lc.box.Len(); n > 0 {
				l.st.dropped.Add(uint64(n))
				l.log.Warn("dropping unread messages of a channel nobody receives on", "channel", name, "messages", n)
			}
			lc.box.Close(nil)
			delete(l.local, name)
			delete(l.joined, name)
		}
	}
}

// GroupAdd adds channel to group (score: now; the group's TTL becomes the group expiry).
func (l *Layer) GroupAdd(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return l.closedErr("group add")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: group add: %w", err)
	}
	key := l.groupKey(group)
	c := l.shards[shardIndex(group, len(l.shards))].client
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(time.Now().UnixNano()) / 1e9, Member: channel})
		p.Expire(ctx, key, time.Duration(l.gexpiry)*time.Second)
		return nil
	})
	if err != nil {
		return l.redisErr(fmt.Sprintf("group add %q to %q", channel, group), err)
	}
	if inbox, _, ok := layers.SplitProcessSpecific(channel); ok && l.ownInbox(inbox) {
		l.mu.Lock()
		if gs := l.joined[channel]; !slices.Contains(gs, group) {
			l.joined[channel] = append(gs, group)
		}
		l.mu.Unlock()
	}
	return nil
}

// GroupDiscard removes channel from group.
func (l *Layer) GroupDiscard(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return l.closedErr("group discard")
	}
	if err := layers.ValidateMembership(group, channel); err != nil {
		return fmt.Errorf("redislayer: group discard: %w", err)
	}
	c := l.shards[shardIndex(group, len(l.shards))].client
	if err := c.ZRem(ctx, l.groupKey(group), channel).Err(); err != nil {
		return l.redisErr(fmt.Sprintf("group discard %q from %q", channel, group), err)
	}
	l.mu.Lock()
	if gs := l.joined[channel]; gs != nil {
		if i := slices.Index(gs, group); i >= 0 {
			gs = slices.Delete(gs, i, i+1)
		}
		if len(gs) == 0 {
			delete(l.joined, channel)
		} else {
			l.joined[channel] = gs
		}
	}
	l.mu.Unlock()
	return nil
}

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
func (l *Layer) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	if l.closed.Load() {
		return l.closedErr("group send")
	}
	if err := layers.ValidateGroupName(group); err != nil {
		return fmt.Errorf("redislayer: group send: %w", err)
	}
	if err := checkMessage(msg); err != nil {
		return fmt.Errorf("redislayer: group send to %q: %w", group, err)
	}
	if len(l.shards) == 1 && l.crypt == nil && !l.hasRules && !l.cluster {
		return l.groupSendFused(ctx, group, msg)
	}
	return l.groupSendSplit(ctx, group, msg)
}

func (l *Layer) groupSendFused(ctx context.Context, group string, msg channels.Message) error {
	var body bytes.Buffer
	if err := encodeBody(&body, msg); err != nil {
		return fmt.Errorf("redislayer: group send to %q: %w", group, err)
	}
	var rnd [randomPrefixLen]byte
	_, _ = crand.Read(rnd[:])
	hb := ""
	if l.hbTTL > 0 {
		hb = strconv.FormatFloat(l.hbTTL.Seconds(), 'f', 3, 64)
	}
	now := time.Now()
	args := []any{l.prefix, score(now), now.Unix() - l.gexpiry, now.Unix() - l.expiry, l.expiry, l.caps.Default(),
		hb, string(rnd[:]), len(msg), body.String(), l.snapMin, l.gexpiry, l.icaps.Default()}
	if sn := l.snaps.get(group); sn != nil {
		// Whole members from this process's copy of the snapshot; the script uses them if the
		// snapshot is still current.
		head := make([]byte, 0, randomPrefixLen+5+17)
		head = append(head, rnd[:]...)
		head = appendMapHeader(head, len(msg)+1)
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
	// A group send while others are in flight joins the shared pipeline; a lone one goes
	// straight to Redis (the pipeline would add a hand-off to its latency).
	sc := redis.Scripter(l.shards[0].client)
	if l.gsInflight.Add(1) > 1 && l.shards[0].pipe != nil {
		sc = l.shards[0].pipe
	}
	defer l.gsInflight.Add(-1)
	res, err := groupSendScript.Run(ctx, sc,
		[]string{l.groupKey(group), l.registryKey(), l.snapshotKey("members", group), l.snapshotKey("targets", group)},
		args...).Slice()
	if err != nil {
		return l.redisErr(fmt.Sprintf("group send to %q", group), err)
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

// groupSnap is this process's copy of a group's snapshot (see groupSendScript): the targets
// and their encoded __asgi_channel__ arrays, as of the snapshot id.
type groupSnap struct {
	id      string
	targets []string
	arrays  [][]byte
}

// maxSnaps and maxSnapBytes bound the snapshots a layer keeps (each costs about the size of
// its group's member names); past either the cache starts over.
const (
	maxSnaps     = 1024
	maxSnapBytes = 64 << 20
)

// snapCache holds the groupSnaps of the groups this process sends to.
type snapCache struct {
	mu    sync.Mutex
	m     map[string]*groupSnap
	bytes int
}

func (sn *groupSnap) size() int {
	n := len(sn.id)
	for i := range sn.targets {
		n += len(sn.targets[i]) + len(sn.arrays[i])
	}
	return n
}

func (c *snapCache) get(group string) *groupSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[group]
}

func (c *snapCache) put(group string, sn *groupSnap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[group]; old != nil {
		c.bytes -= old.size()
	}
	if c.m == nil || len(c.m) >= maxSnaps || c.bytes+sn.size() > maxSnapBytes {
		c.m, c.bytes = make(map[string]*groupSnap), 0
	}
	c.m[group] = sn
	c.bytes += sn.size()
}

func (c *snapCache) drop(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[group]; old != nil {
		c.bytes -= old.size()
		delete(c.m, group)
	}
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

func (l *Layer) groupSendSplit(ctx context.Context, group string, msg channels.Message) error {
	gidx := shardIndex(group, len(l.shards))
	keys := []string{l.groupKey(group)}
	hb := 0.0
	if l.hbTTL > 0 {
		keys = append(keys, l.registryKey())
		hb = l.hbTTL.Seconds()
	}
	now := time.Now()
	res, err := membersScript.Run(ctx, l.shards[gidx].client, keys, now.Unix()-l.gexpiry, hb).Slice()
	if err != nil {
		return l.redisErr(fmt.Sprintf("group send to %q: read members", group), err)
	}
	if len(res) != 2 {
		return fmt.Errorf("redislayer: group send to %q: unexpected members reply", group)
	}
	raw, _ := res[0].([]any)
	pruned, _ := res[1].(int64)

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

	score := score(now)
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
	if l.cluster {
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, t := range targets {
				sendScript.Eval(ctx, p, []string{t.key}, members[i], score, l.expiry, t.cap, trim)
			}
			return nil
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
	n, err := deliverScript.Run(ctx, c, keys, args...).Int64()
	if err != nil {
		return 0, 0, err
	}
	return n, int64(len(targets)) - n, nil
}

// Flush deletes every key with the layer's prefix on every shard (SCAN and UNLINK in
// batches, never KEYS), including channels_redis's "$inflight" leftovers, and drops the
// messages buffered locally.
func (l *Layer) Flush(ctx context.Context) error {
	if l.closed.Load() {
		return l.closedErr("flush")
	}
	pattern := globEscape(l.prefix) + "*"
	for i, sh := range l.shards {
		var err error
		if cc, ok := sh.client.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return flushPrefix(ctx, c, pattern)
			})
		} else {
			err = flushPrefix(ctx, sh.client, pattern)
		}
		if err != nil {
			return l.redisErr(fmt.Sprintf("flush shard %d", i), err)
		}
	}
	l.mu.Lock()
	for name, lc := range l.local {
		if lc.box != nil && lc.waiting.Load() == 0 {
			lc.box.Close(nil)
			delete(l.local, name)
		}
	}
	clear(l.joined) // the groups are gone; do not bring them back after a heartbeat gap
	l.mu.Unlock()
	return nil
}

func flushPrefix(ctx context.Context, c redis.Cmdable, pattern string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			// One key per command keeps cluster slots apart; pipelined, it is one round trip.
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape quotes the glob characters of a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Close stops the receive loops and heartbeats, marks this process's inboxes dead in the
// registry (so that group members left behind are pruned at once), closes the clients and
// ends Receive calls in progress with ErrLayerClosed. It is idempotent.
func (l *Layer) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	if l.hbTTL > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		l.beat(ctx, l.hbTTL.Seconds()+1)
		cancel()
	}
	l.cancel()
	l.mu.Lock()
	for _, ib := range l.inboxes {
		if ib.owned {
			_ = ib.client.Close() // interrupts a blocked BZMPOP
		}
	}
	for _, lc := range l.local {
		if lc.box != nil {
			lc.box.Close(nil)
		}
	}
	l.mu.Unlock()
	l.wg.Wait()
	var errs []error
	for _, sh := range l.shards {
		if err := sh.client.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redislayer: close: %w", err)
	}
	return nil
}

var (
	_ layers.Layer    = (*Layer)(nil)
	_ layers.Listener = (*Layer)(nil)
)
