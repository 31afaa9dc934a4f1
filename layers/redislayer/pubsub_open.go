package redislayer

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/gochannels/gochannels/layers"
)

func init() {
	layers.Register("redis+pubsub", openPubSub)
	layers.Register("rediss+pubsub", openPubSub)
}

func openPubSub(_ context.Context, u *url.URL) (layers.Layer, error) {
	opts, err := ParsePubSubURL(u.String())
	if err != nil {
		return nil, err
	}
	return NewPubSub(opts)
}

// ParsePubSubURL turns a pub/sub layer URL into PubSubOptions. The forms are:
//
//	redis+pubsub://[:password@]host:port[/db][?params]    one server
//	rediss+pubsub://...                                   the same over TLS
//	redis+pubsub://h1:6379?host=h2:6379                   two shards (channels_redis "hosts");
//	                                                      a host value may be a full redis://
//	                                                      URL, else it shares the first one's
//	                                                      password and TLS
//
// Parameters: prefix=asgi, local_capacity=100, send_timeout=5 (seconds or a duration: how
// long Send and GroupSend retry through a Redis outage; "off" or 0 fails at once). The sorted-set layer's expiry, group_expiry,
// capacity and encryption parameters have no meaning for pub/sub and are refused.
func ParsePubSubURL(raw string) (PubSubOptions, error) {
	var opts PubSubOptions
	u, err := url.Parse(raw)
	if err != nil {
		return opts, fmt.Errorf("redislayer: malformed URL: %w", err)
	}
	var scheme string
	switch u.Scheme {
	case "redis+pubsub":
		scheme = "redis"
	case "rediss+pubsub":
		scheme = "rediss"
	default:
		return opts, fmt.Errorf("redislayer: scheme %q is not a pub/sub scheme (want redis+pubsub or rediss+pubsub)", u.Scheme)
	}
	if u.Host == "" {
		return opts, fmt.Errorf("redislayer: URL %q names no host", layers.Redact(raw))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return opts, fmt.Errorf("redislayer: malformed query: %w", err)
	}
	var hosts []string
	for key, vals := range q {
		last := vals[len(vals)-1]
		switch key {
		case "prefix":
			opts.Prefix = last
		case "local_capacity":
			n, err := strconv.Atoi(last)
			if err != nil || n <= 0 {
				return opts, fmt.Errorf("redislayer: local_capacity=%q: want a positive integer", last)
			}
			opts.LocalCapacity = n
		case "host":
			hosts = append(hosts, vals...)
		case "send_timeout":
			if last == "off" || last == "0" {
				opts.SendTimeout = -1
			} else if opts.SendTimeout, err = layers.ParseSeconds(last); err != nil {
				return opts, fmt.Errorf("redislayer: %s=%q: %w", key, last, err)
			}
		case "expiry", "group_expiry", "capacity", "channel_capacity", "symmetric_encryption_key",
			"symmetric_encryption_keys", "heartbeat_timeout":
			return opts, fmt.Errorf("redislayer: parameter %q does not apply to the pub/sub layer (it keeps no messages in Redis)", key)
		default:
			return opts, fmt.Errorf("redislayer: unknown parameter %q (the pub/sub layer knows prefix, local_capacity, host, send_timeout)", key)
		}
	}
	db, err := urlDB(u)
	if err != nil {
		return opts, err
	}
	if opts.Hosts, err = shardURLs(scheme, u, db, hosts); err != nil {
		return opts, err
	}
	return opts, nil
}
