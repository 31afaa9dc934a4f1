package redislayer

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers"
)

// Defaults, equal to channels_redis's.
const (
	// DefaultPrefix starts every key of the layer and every channel name of the pub/sub layer.
	DefaultPrefix = "asgi"
	// DefaultExpiry is layers.DefaultExpiry, kept here for the users of this package.
	DefaultExpiry = layers.DefaultExpiry
	// DefaultGroupExpiry is layers.DefaultGroupExpiry, kept here for the users of this
	// package.
	DefaultGroupExpiry = layers.DefaultGroupExpiry
	// DefaultCapacity is layers.DefaultCapacity, kept here for the users of this package.
	DefaultCapacity = layers.DefaultCapacity
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
	// SendTimeout bounds how long Send, GroupSend, GroupAdd and GroupDiscard wait and retry
	// while Redis cannot be reached (a restart, a failover), within the caller's context,
	// before they return an error wrapping layers.ErrUnavailable (default
	// DefaultSendTimeout; negative: no retry). It counts from the start of the outage: once
	// Redis has been away for longer, calls fail after one attempt. See the package
	// documentation, "Failures".
	SendTimeout time.Duration
	// History keeps the messages sent to the groups matching a rule in a Redis stream per
	// group, and gives each a position (see layers.HistoryRule and the package
	// documentation, "History"). Off by default.
	History []layers.HistoryRule

	// RejoinGrace is how long group sends to a Redis server found restarted or failed over
	// wait, from the moment a process notices it, for every process to add its channels back
	// to their groups (default DefaultRejoinGrace; negative: no wait). See the package
	// documentation, "Failures".
	RejoinGrace time.Duration
	// PipelineDepth, when positive, lets GroupSend return once its message is accepted into
	// the layer's send pipeline instead of once Redis has written it, with at most
	// PipelineDepth accepted sends unwritten (a further GroupSend waits for room, within its
	// context). The pipeline writes them in the order GroupSend accepted them, in batches,
	// behind the rejoin gate and with the same retries; a send that fails after its nil is
	// counted (Stats.LostGroupSends), logged and reported by the next GroupSend to its group
	// or by WaitGroupSends (LostGroupSendsError). Default 0: off, GroupSend returns nil only
	// once the message is written. It applies where a group send is one script call (one
	// standalone server, no encryption, no per-channel capacities) and is ignored otherwise.
	// URL parameter pipeline_depth. See the package documentation, "Pipelined group sends".
	PipelineDepth int
	// Logger receives errors of the background loops and dropped messages (default
	// slog.Default()).
	Logger *slog.Logger
}

func wholeSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
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
