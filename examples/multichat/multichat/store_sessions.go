package multichat

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/sessions"
)

// Session store choices for Config.Sessions (the -sessions flag).
const (
	// SessionsCookie keeps the whole session in a cookie signed with the secret key (from
	// Config.SecretKey, $MULTICHAT_SECRET_KEY, or generated once and kept in the database,
	// so every process sharing the database signs alike).
	SessionsCookie = "cookie"
	// SessionsDB keeps sessions in the database, in sessions.SQLStore's table; the cookie
	// holds a random ID and no key signs anything.
	SessionsDB = "db"
)

// SessionsRedisPrefix is the prefix of the session keys in Redis with a redis:// session URL.
const SessionsRedisPrefix = "multichat:session:"

// SweepInterval is how often a process running the worker deletes expired sessions from the
// database (SessionsDB); Redis expires its keys itself.
const SweepInterval = time.Hour

// DefaultSessions returns the session store used when Config.Sessions is empty: SessionsDB
// when dsn is a PostgreSQL URL (several hosts share it, and nothing of a session stays on one
// host's disk), SessionsCookie for an SQLite file (one host).
func DefaultSessions(dsn string) string {
	if IsPostgresURL(dsn) {
		return SessionsDB
	}
	return SessionsCookie
}

// sessionStore is the session store an App opened, with what it must release.
type sessionStore struct {
	store sessions.Store
	close func() error // releases a Redis client; stops the sweeper
}

// openSessions opens the store that cfg.Sessions names ("cookie", "db", or a redis:// or
// rediss:// URL; "" is DefaultSessions(cfg.DBPath)). With cfg.Worker, a db store's expired
// rows are deleted every SweepInterval.
func openSessions(ctx context.Context, cfg Config, store *Store, logger *slog.Logger) (*sessionStore, error) {
	choice := cfg.Sessions
	if choice == "" {
		choice = DefaultSessions(cfg.DBPath)
	}
	switch {
	case choice == SessionsCookie:
		key := cfg.SecretKey
		if len(key) == 0 {
			key = []byte(os.Getenv(EnvSecretKey))
		}
		if len(key) == 0 {
			var err error
			if key, err = store.SecretKey(ctx); err != nil {
				return nil, err
			}
		}
		cs, err := sessions.NewCookieStore(key)
		if err != nil {
			return nil, fmt.Errorf("multichat: session store: %w", err)
		}
		return &sessionStore{store: cs, close: func() error { return nil }}, nil
	case choice == SessionsDB:
		st, err := sessions.NewSQLStore(store.DB(), store.Dialect(), sessions.SQLOptions{})
		if err != nil {
			return nil, fmt.Errorf("multichat: session store: %w", err)
		}
		if err := st.CreateTable(ctx); err != nil {
			return nil, fmt.Errorf("multichat: session store: %w", err)
		}
		stop := func() error { return nil }
		if cfg.Worker {
			stop = startSweeper(st, logger)
		}
		return &sessionStore{store: st, close: stop}, nil
	case strings.HasPrefix(choice, "redis://") || strings.HasPrefix(choice, "rediss://"):
		opts, err := redis.ParseURL(choice)
		if err != nil {
			return nil, fmt.Errorf("multichat: session store: redis URL: %w", err)
		}
		client := redis.NewClient(opts)
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("multichat: session store: redis at %s: %w", opts.Addr, err)
		}
		st := sessions.NewRedisStore(client, sessions.RedisOptions{Prefix: SessionsRedisPrefix})
		return &sessionStore{store: st, close: client.Close}, nil
	}
	shown := choice
	if u, err := url.Parse(choice); err == nil && u.User != nil {
		shown = u.Redacted() // a mistyped URL may hold a password
	}
	return nil, fmt.Errorf("multichat: unknown session store %q (want %s, %s or a redis:// URL)", shown, SessionsCookie, SessionsDB)
}

// startSweeper deletes expired sessions every SweepInterval until the returned stop is
// called.
func startSweeper(st *sessions.SQLStore, logger *slog.Logger) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(SweepInterval)
		defer t.Stop()
		for {
			n, err := st.DeleteExpired(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Warn("multichat: deleting expired sessions failed", "error", err)
			case n > 0:
				logger.Info("multichat: deleted expired sessions", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		cancel()
		wg.Wait()
		return nil
	}
}
