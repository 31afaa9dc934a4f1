package redislayer

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers"
)

func init() {
	layers.Register("redis", open)
	layers.Register("rediss", open)
	layers.Register("redis+sentinel", open)
	layers.Register("redis+cluster", open)
}

func open(_ context.Context, u *url.URL) (layers.Layer, error) {
	opts, err := ParseURL(u.String())
	if err != nil {
		return nil, err
	}
	return New(opts)
}

// ParseURL turns a layer URL into Options. The forms are:
//
//	redis://[:password@]host:port[/db][?params]           one server
//	rediss://...                                          the same over TLS
//	redis://h1:6379/0?host=h2:6379&host=h3:6379           three shards (channels_redis "hosts");
//	                                                      a host value may be a full redis:// URL,
//	                                                      else it shares the first one's db,
//	                                                      password and TLS
//	redis+sentinel://[:password@]s1:26379[/db]?master_name=mymaster&sentinel=s2:26379
//	                                                      masters found through Sentinel; repeat
//	                                                      master_name for several shards
//	redis+cluster://[:password@]n1:7000?host=n2:7001      Redis Cluster (seed nodes)
//
// Parameters (defaults are channels_redis's): prefix=asgi, expiry=60, group_expiry=86400
// (seconds, or a Go duration such as 500ms), capacity=100, inbox_capacity=1000 (gochannels' own:
// the capacity of a process inbox, see Options.InboxCapacity), channel_capacity=pattern:n,...
// (layers.ParseCapacities; may repeat), symmetric_encryption_key=K (repeat for rotation; the
// first encrypts; symmetric_encryption_keys is a synonym), heartbeat_timeout=60 (seconds or a
// duration; "off" disables pruning of stopped Go processes), local_capacity=N,
// send_timeout=5 (seconds or a duration: how long calls retry through a Redis outage before
// failing with layers.ErrUnavailable; "off" or 0 fails at once, see Options.SendTimeout),
// history=pattern:size:ttl,... (groups that keep history: layers.ParseHistoryRules, see
// Options.History; may repeat),
// rejoin_grace=1 (seconds or a duration: how long group sends to a restarted server wait for
// every process to rejoin its groups; "off" or 0 does not wait, see Options.RejoinGrace),
// pipeline_depth=N (group sends return once accepted, at most N unwritten; 0, the default,
// is off: see Options.PipelineDepth), sentinel_password=P, tls_ca=/path/ca.pem (PEM certificates to trust instead of the system
// roots, for a private CA; with redis+sentinel:// and redis+cluster:// it also turns TLS on).
func ParseURL(raw string) (Options, error) {
	var opts Options
	u, err := url.Parse(raw)
	if err != nil {
		return opts, fmt.Errorf("redislayer: malformed URL: %w", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return opts, fmt.Errorf("redislayer: malformed query: %w", err)
	}
	var hosts, masters, sentinels []string
	sentinelPassword := ""
	for key, vals := range q {
		last := vals[len(vals)-1]
		switch key {
		case "prefix":
			opts.Prefix = last
		case "expiry", "group_expiry", "heartbeat_timeout":
			var d time.Duration
			if key == "heartbeat_timeout" && (last == "off" || last == "-1") {
				d = -1
			} else if d, err = layers.ParseSeconds(last); err != nil {
				return opts, fmt.Errorf("redislayer: %s=%q: %w", key, last, err)
			}
			switch key {
			case "expiry":
				opts.Expiry = d
			case "group_expiry":
				opts.GroupExpiry = d
			default:
				opts.HeartbeatTimeout = d
			}
		case "send_timeout":
			if last == "off" || last == "0" {
				opts.SendTimeout = -1
			} else if opts.SendTimeout, err = layers.ParseSeconds(last); err != nil {
				return opts, fmt.Errorf("redislayer: %s=%q: %w", key, last, err)
			}
		case "rejoin_grace":
			if last == "off" || last == "0" {
				opts.RejoinGrace = -1
			} else if opts.RejoinGrace, err = layers.ParseSeconds(last); err != nil {
				return opts, fmt.Errorf("redislayer: %s=%q: %w", key, last, err)
			}
		case "pipeline_depth":
			n, err := strconv.Atoi(last)
			if err != nil || n < 0 {
				return opts, fmt.Errorf("redislayer: %s=%q: want 0 (off) or a positive integer", key, last)
			}
			opts.PipelineDepth = n
		case "capacity", "local_capacity", "inbox_capacity":
			n, err := strconv.Atoi(last)
			if err != nil || n <= 0 {
				return opts, fmt.Errorf("redislayer: %s=%q: want a positive integer", key, last)
			}
			switch key {
			case "capacity":
				opts.Capacity = n
			case "inbox_capacity":
				opts.InboxCapacity = n
			default:
				opts.LocalCapacity = n
			}
		case "channel_capacity":
			for _, v := range vals {
				rules, err := layers.ParseCapacities(v)
				if err != nil {
					return opts, fmt.Errorf("redislayer: channel_capacity: %w", err)
				}
				opts.ChannelCapacity = append(opts.ChannelCapacity, rules...)
			}
		case "history":
			for _, v := range vals {
				rules, err := layers.ParseHistoryRules(v)
				if err != nil {
					return opts, fmt.Errorf("redislayer: history: %w", err)
				}
				opts.History = append(opts.History, rules...)
			}
		case "symmetric_encryption_key", "symmetric_encryption_keys":
			opts.SymmetricEncryptionKeys = append(opts.SymmetricEncryptionKeys, vals...)
		case "host":
			hosts = append(hosts, vals...)
		case "master_name":
			masters = append(masters, vals...)
		case "sentinel":
			sentinels = append(sentinels, vals...)
		case "sentinel_password":
			sentinelPassword = last
		case "tls_ca":
			if opts.TLSConfig, err = loadCAFile(last); err != nil {
				return opts, err
			}
		default:
			return opts, fmt.Errorf("redislayer: unknown parameter %q (known: prefix, expiry, group_expiry, capacity, inbox_capacity, channel_capacity, symmetric_encryption_key, host, master_name, sentinel, sentinel_password, heartbeat_timeout, local_capacity, send_timeout, rejoin_grace, tls_ca, history, pipeline_depth)", key)
		}
	}
	if u.Host == "" {
		return opts, fmt.Errorf("redislayer: URL %q names no host", layers.Redact(raw))
	}
	db, err := urlDB(u)
	if err != nil {
		return opts, err
	}
	user, pass := "", ""
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	switch u.Scheme {
	case "redis", "rediss":
		if len(masters) > 0 || len(sentinels) > 0 {
			return opts, fmt.Errorf("redislayer: master_name and sentinel need a redis+sentinel:// URL")
		}
		if opts.TLSConfig != nil && u.Scheme == "redis" {
			return opts, fmt.Errorf("redislayer: tls_ca needs a rediss:// URL (redis:// does not use TLS)")
		}
		if opts.Hosts, err = shardURLs(u.Scheme, u, db, hosts); err != nil {
			return opts, err
		}
	case "redis+sentinel":
		if len(masters) == 0 {
			return opts, fmt.Errorf("redislayer: a redis+sentinel URL needs master_name=")
		}
		addrs := append([]string{u.Host}, sentinels...)
		opts.Sentinel = &redis.FailoverOptions{
			SentinelAddrs: addrs, SentinelPassword: sentinelPassword,
			Username: user, Password: pass, DB: db,
		}
		opts.SentinelMasters = masters
	case "redis+cluster":
		if db != 0 {
			return opts, fmt.Errorf("redislayer: Redis Cluster has only database 0")
		}
		opts.Cluster = &redis.ClusterOptions{
			Addrs: append([]string{u.Host}, hosts...), Username: user, Password: pass,
		}
	default:
		return opts, fmt.Errorf("redislayer: unsupported scheme %q", u.Scheme)
	}
	return opts, nil
}

// urlDB returns the database number in u's path (0 when there is none).
func urlDB(u *url.URL) (int, error) {
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(p)
	if err != nil || db < 0 {
		return 0, fmt.Errorf("redislayer: database %q in the URL path is not a number", p)
	}
	return db, nil
}

// shardURLs returns the redis:// (or rediss://, by scheme) URLs of the shards a layer URL
// names: u's host, then every host= value. A host value that is a full URL stands as it is;
// a bare host:port shares u's credentials, database and scheme.
func shardURLs(scheme string, u *url.URL, db int, hosts []string) ([]string, error) {
	base := &url.URL{Scheme: scheme, User: u.User, Host: u.Host, Path: "/" + strconv.Itoa(db)}
	urls := []string{base.String()}
	for _, h := range hosts {
		if strings.Contains(h, "://") {
			if _, err := redis.ParseURL(h); err != nil {
				return nil, fmt.Errorf("redislayer: host=%q: %w", layers.Redact(h), err)
			}
			urls = append(urls, h)
			continue
		}
		hu := *base
		hu.Host = h
		urls = append(urls, hu.String())
	}
	return urls, nil
}
