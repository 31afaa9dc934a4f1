package redislayer

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/internal/local"
)

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
	outage   *outage // retries of the calls that meet a Redis outage
	rj       rejoinGate
	watches  []*restartWatch // one per shard when the shards have restart watches (see restart.go)
	log      *slog.Logger
	clientID string // 32 hex: this process's part of its channel names

	hist *layers.HistoryRules // nil: no group keeps history
	// histLocks serialise this process's split group sends to a group with history (by the
	// group name's hash), from the offset's assignment to the deliveries.
	histLocks [64]sync.Mutex

	sendRR, recvRR atomic.Uint32
	gsInflight     atomic.Int32 // group sends in progress (see groupSendFused)
	pipe           *sendPipe    // nil unless Options.PipelineDepth applies (see groupsendpipe.go)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	mu      sync.RWMutex
	local   local.Table           // process-specific channels of this process, by full name
	inboxes map[string]*inboxLoop // receive loops, by inbox name
	joined  map[string][]string   // channel → groups, for this process's channels (rejoined after a Redis failure or a heartbeat gap); a slice, as a channel is in few groups and an idle connection keeps its entry
	hbOnce  sync.Once
	// presence holds the stored presence information of this process's channels (channel →
	// group → value), written back with the memberships by rejoin.
	presence map[string]map[string]string
	// recovered is signalled by a receive loop whose Redis calls work again after failing:
	// the heartbeat then runs at once and restores the groups (a restarted Redis lost them).
	recovered chan struct{}

	st struct {
		sent, groupWrites, groupOver, received, undecodable, pruned, recvErrs atomic.Uint64
		snapshotHits, sendRetries, pipelined, lostGroupSends                  atomic.Uint64
	}
	delivery local.Counter // deliveries to local channels, and their drops
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

// New returns a Layer for opts. It checks the options and builds the clients but does not
// contact Redis; the first call that needs a server does.
func New(opts Options) (*Layer, error) {
	if opts.PipelineDepth < 0 {
		return nil, fmt.Errorf("redislayer: PipelineDepth %d: want 0 (off) or more", opts.PipelineDepth)
	}
	l := &Layer{
		prefix:   opts.Prefix,
		log:      opts.Logger,
		local:    make(local.Table),
		inboxes:  make(map[string]*inboxLoop),
		joined:   make(map[string][]string),
		hasRules: len(opts.ChannelCapacity) > 0,
		snapMin:  snapshotMin,

		recovered: make(chan struct{}, 1),
		rj:        rejoinGate{grace: opts.RejoinGrace},
	}
	if l.prefix == "" {
		l.prefix = DefaultPrefix
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("component", "redislayer")
	l.delivery.Log = l.log
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
	if l.hist, err = layers.CompileHistoryRules(opts.History); err != nil {
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
	// In cluster mode the registry cannot share a slot with every group: group sends do not
	// prune, and Presence reads the registry in a call of its own (see presenceCall).
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.outage = &outage{bound: opts.SendTimeout, stop: l.ctx, retries: &l.st.sendRetries}
	if opts.PipelineDepth > 0 && l.fused() {
		l.pipe = newSendPipe(l, opts.PipelineDepth)
		l.wg.Add(1)
		go l.pipe.run()
	}
	return l, nil
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

func (l *Layer) closedErr(op string) error {
	return fmt.Errorf("redislayer: %s: %w", op, layers.ErrLayerClosed)
}

// redisErr wraps a Redis failure, reporting ErrLayerClosed when the layer was closed under it.
func (l *Layer) redisErr(op string, err error) error {
	if l.closed.Load() {
		return fmt.Errorf("redislayer: %s: %w", op, layers.ErrLayerClosed)
	}
	return fmt.Errorf("redislayer: %s: %w", op, err)
}

// Close stops the receive loops and heartbeats, marks this process's inboxes dead in the
// registry (so that group members left behind are pruned at once), closes the clients and
// ends Receive calls in progress with ErrLayerClosed. It is idempotent.
func (l *Layer) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	if l.pipe != nil {
		// The sends GroupSend accepted go first (those that fail are counted and logged).
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if err := l.pipe.wait(ctx); err != nil {
			l.log.Warn("close: pipelined group sends still unwritten; failing them", "error", err)
		}
		cancel()
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
	l.local.CloseBuffers()
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
