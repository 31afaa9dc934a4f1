package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix is the prefix of a RedisStore's keys when RedisOptions.Prefix is empty.
const DefaultRedisPrefix = "gochannels:session:"

// RedisOptions configure a RedisStore.
type RedisOptions struct {
	// Prefix is put before each session ID to make its key (DefaultRedisPrefix).
	Prefix string
}

// RedisStore keeps sessions in Redis, shared by every server that uses the same Redis; the
// cookie holds only the random session ID. Each session is one string key (Prefix + ID)
// holding its data and expiry as JSON, with the expiry as the key's TTL, so Redis drops
// expired sessions itself. It works with a single server, Sentinel and Cluster clients:
// it never touches two keys in one command.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisStore returns a RedisStore on client (which the caller keeps and closes).
func NewRedisStore(client redis.UniversalClient, opts RedisOptions) *RedisStore {
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	return &RedisStore{client: client, prefix: opts.Prefix}
}

// Load returns the session stored under value, or a New session when value is not a
// well-formed ID, names no session, or names one that is expired or unreadable. The error
// is for Redis failing.
func (rs *RedisStore) Load(ctx context.Context, value string) (*Session, error) {
	if !validID(value) {
		return New(), nil
	}
	raw, err := rs.client.Get(ctx, rs.prefix+value).Bytes()
	if errors.Is(err, redis.Nil) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("sessions: redis get: %w", err)
	}
	return decodeStored(value, raw, time.Now()), nil
}

// Save stores s under its ID until its expiry (SET with a TTL), then deletes its PreviousID.
// A session whose expiry is past is deleted instead.
func (rs *RedisStore) Save(ctx context.Context, s *Session) (string, error) {
	id, prev, values, expires := s.snapshot()
	now := time.Now()
	expires = expiryOf(expires, now)
	ttl := expires.Sub(now)
	raw, err := encodeStored(values, expires)
	if err != nil {
		return "", err
	}
	_, err = rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if ttl > 0 {
			p.Set(ctx, rs.prefix+id, raw, ttl)
		} else {
			p.Del(ctx, rs.prefix+id)
		}
		if prev != "" && prev != id {
			p.Del(ctx, rs.prefix+prev)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sessions: redis save: %w", err)
	}
	return id, nil
}

// Delete removes s's ID and PreviousID.
func (rs *RedisStore) Delete(ctx context.Context, s *Session) error {
	id, prev, _, _ := s.snapshot()
	_, err := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, rs.prefix+id)
		if prev != "" && prev != id {
			p.Del(ctx, rs.prefix+prev)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sessions: redis delete: %w", err)
	}
	return nil
}
