// Command djangocompanion is a Go WebSocket service next to an existing Django site: it
// authenticates the site's users from their Django session cookie (auth/django, reading
// the site's django_session and auth_user tables) and serves each of them a live
// notification feed at /ws/notifications/, fed by Django code through the channel layer
// the two share (channels_redis on the same Redis):
//
//	export DJANGO_SECRET_KEY=...   # the site's SECRET_KEY; never logged
//	go run ./examples/djangocompanion -addr 127.0.0.1:8001 \
//	    -db /srv/site/db.sqlite3 -layer redis://localhost:6379/0
//
// and from Django, with the same CHANNEL_LAYERS:
//
//	async_to_sync(get_channel_layer().group_send)(f"user.{user.id}", {"type": "notify", "event": {...}})
//
// -db is the site's database: a SQLite file, or a postgres:// URL. -session-engine is the
// site's SESSION_ENGINE (db or signed_cookies). -allowed-hosts lists the hosts whose pages
// may open the socket (the Origin check that a cookie-authenticated WebSocket needs).
// Beside the feed it serves /metrics, /healthz and /readyz; -h lists every flag.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for a PostgreSQL site
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for a SQLite site

	"github.com/gochannels/gochannels/auth/django"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/djangocompanion/feed"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/ops"
	"github.com/gochannels/gochannels/sessions"
)

// EnvSecretKey names the environment variable that holds the Django site's SECRET_KEY.
const EnvSecretKey = "DJANGO_SECRET_KEY"

func main() {
	ops.Main("djangocompanion", func(ctx context.Context, args []string, logger *slog.Logger) error {
		return run(ctx, args, os.Getenv, logger, nil)
	})
}

// run serves until ctx is done, then drains and shuts down gracefully. getenv reads the
// environment; ready, when not nil, receives the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, logger *slog.Logger, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("djangocompanion", flag.ContinueOnError)
	opts := ops.DefaultOptions("127.0.0.1:8001")
	opts.RegisterFlags(fs)
	ops.SetUsage(fs, "a live notification feed for the users of a Django site (socket "+feed.Path+"); the site's SECRET_KEY in $"+EnvSecretKey)
	layerFlag := layers.Flag(fs)
	dbFlag := fs.String("db", "", "the Django site's database: a SQLite file path, or a postgres:// URL (required)")
	engine := fs.String("session-engine", "db", "the site's SESSION_ENGINE: db or signed_cookies")
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin, Django style (default: this machine)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv(EnvSecretKey)
	if secret == "" {
		return fmt.Errorf("$%s is empty: set it to the Django site's SECRET_KEY", EnvSecretKey)
	}
	cfg := django.Config{SecretKey: secret}
	switch *engine {
	case "db":
		cfg.SessionEngine = django.EngineDB
	case "signed_cookies":
		cfg.SessionEngine = django.EngineSignedCookies
	default:
		return fmt.Errorf("-session-engine %q: want db or signed_cookies", *engine)
	}
	db, dialect, err := openDB(*dbFlag)
	if err != nil {
		return err
	}
	defer db.Close()
	cfg.DB, cfg.Dialect = db, dialect
	site, err := django.New(cfg)
	if err != nil {
		return err
	}

	metrics := ops.NewMetrics(nil, "")
	layer, err := ops.OpenLayer(ctx, layerFlag, metrics, logger)
	if err != nil {
		return err
	}
	defer layer.Close()

	var allowed []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	// The Origin check first: the socket is authenticated by a cookie, which a page of any
	// other site would carry too.
	app := middleware.AllowedHostsOriginValidator(site.Middleware(feed.NewApplication(layer, logger)), allowed...)
	app, err = opts.Wrap(app, metrics, logger)
	if err != nil {
		return err
	}
	svc := opts.Service(&channels.Server{Application: app, Logger: logger}, metrics, ops.Readyz(layer, ops.ReadyOptions{}), logger)
	ln, err := ops.Listen(opts.Addr)
	if err != nil {
		return err
	}
	logger.Info("djangocompanion: serving", "addr", ln.Addr().String(), "session_engine", cfg.SessionEngine)
	if ready != nil {
		ready <- ln.Addr()
	}
	err = svc.Serve(ctx, ln)
	logger.Info("djangocompanion: stopped")
	return err
}

// openDB opens the Django site's database: PostgreSQL for a postgres:// or postgresql://
// URL, else the SQLite file at that path.
func openDB(dsn string) (*sql.DB, sessions.Dialect, error) {
	if dsn == "" {
		return nil, 0, errors.New("-db is required: the Django site's SQLite file or postgres:// URL")
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, 0, fmt.Errorf("open the site's PostgreSQL database: %w", err)
		}
		return db, sessions.PostgreSQL, nil
	}
	if _, err := os.Stat(dsn); err != nil {
		return nil, 0, fmt.Errorf("the site's SQLite database: %w", err)
	}
	// Read-only: the companion never writes Django's tables; busy_timeout rides out
	// Django's writes.
	db, err := sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, 0, fmt.Errorf("open the site's SQLite database: %w", err)
	}
	return db, sessions.SQLite, nil
}
