package layers

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

func init() { Register("memory", openMemory) }

// openMemory builds a Memory layer from a "memory://" URL. Query parameters:
//
//	capacity=100             messages per channel
//	expiry=60                message expiry, in seconds (decimals allowed) or a Go duration ("500ms")
//	group_expiry=86400       group membership expiry, the same forms
//	channel_capacity=p:n,... per-channel capacities (ParseCapacities); may be repeated
//	history=p:size:ttl,...   per-group history rules (ParseHistoryRules); may be repeated
//	prefix=asgi              accepted for URLs shared with the Redis layers; no effect
func openMemory(_ context.Context, u *url.URL) (Layer, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.User != nil {
		return nil, fmt.Errorf("a memory layer URL takes no host, user or path, only query parameters (memory://?capacity=100)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query: %w", err)
	}
	var opts MemoryOptions
	for key, vals := range q {
		last := vals[len(vals)-1]
		switch key {
		case "capacity":
			n, err := strconv.Atoi(last)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("capacity=%q: want a positive integer", last)
			}
			opts.Capacity = n
		case "expiry", "group_expiry":
			d, err := ParseSeconds(last)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", key, last, err)
			}
			if key == "expiry" {
				opts.Expiry = d
			} else {
				opts.GroupExpiry = d
			}
		case "channel_capacity":
			for _, v := range vals {
				rules, err := ParseCapacities(v)
				if err != nil {
					return nil, fmt.Errorf("channel_capacity: %w", err)
				}
				opts.ChannelCapacity = append(opts.ChannelCapacity, rules...)
			}
		case "history":
			for _, v := range vals {
				rules, err := ParseHistoryRules(v)
				if err != nil {
					return nil, fmt.Errorf("history: %w", err)
				}
				opts.History = append(opts.History, rules...)
			}
		case "prefix":
		default:
			return nil, fmt.Errorf("unknown memory layer parameter %q (known: capacity, expiry, group_expiry, channel_capacity, history, prefix)", key)
		}
	}
	caps, err := CompileCapacities(opts.Capacity, opts.ChannelCapacity)
	if err != nil {
		return nil, err
	}
	hist, err := CompileHistoryRules(opts.History)
	if err != nil {
		return nil, err
	}
	return newMemory(caps, hist, opts), nil
}
