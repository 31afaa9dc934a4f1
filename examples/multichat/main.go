// Command multichat serves a multi-room chat with accounts, history and staff-only rooms, the
// Go counterpart of the Django Channels multichat example: open http://localhost:8000/, sign
// up (the first account is staff), and join rooms.
//
//	go run ./examples/multichat                                   # one process, in-memory layer
//	go run ./examples/multichat -addr :8001 -layer redis://localhost:6379/0
//	go run ./examples/multichat -worker-only -layer redis://localhost:6379/0
//	go run ./examples/multichat -db postgres://chat@db.internal/multichat -layer redis://redis.internal:6379/0
//
// Without -layer it uses $CHANNEL_LAYER_URL, and without that the in-memory layer (one
// process). -db takes an SQLite file (one host) or a postgres:// URL (several hosts); with
// PostgreSQL the sessions live in its table too (-sessions), so nothing stays on one host's
// disk. See README.md for the protocol and for running on several machines.
//
// Beside the site it serves Prometheus metrics at /metrics, /healthz and /readyz, and logs
// one line per request and connection. On SIGTERM or SIGINT /readyz fails at once; after
// -drain-delay the WebSockets are closed with 1001 and the consumers awaited (at most
// -shutdown-timeout). -addr unix:/path listens on a unix socket, -proxy-headers trusts a
// reverse proxy's X-Forwarded-For; -h lists every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/ops"
)

func main() {
	ops.Main("multichat", func(ctx context.Context, args []string, logger *slog.Logger) error {
		return run(ctx, args, logger, nil)
	})
}

// run serves until ctx is done, then drains and shuts down gracefully. ready, when not nil,
// receives the listening address (nil with -worker-only).
func run(ctx context.Context, args []string, logger *slog.Logger, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("multichat", flag.ContinueOnError)
	opts := ops.DefaultOptions(":8000")
	opts.RegisterFlags(fs)
	ops.SetUsage(fs, "the multi-room chat with accounts and history (socket /chat/stream/)")
	layerFlag := layers.Flag(fs)
	dbPath := fs.String("db", "multichat.db", "SQLite database file, shared by the processes of one host, or a postgres:// URL, shared by several hosts")
	sessionStore := fs.String("sessions", "", "session store: cookie (signed, key in the database), db (the database's table) or a redis:// URL (default: db with a postgres:// -db, else cookie)")
	worker := fs.Bool("worker", true, "run the background consumer (message history) in this process")
	workerOnly := fs.Bool("worker-only", false, "run only the background consumer, no HTTP server")
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin, Django style (default: localhost, 127.0.0.1, [::1])")
	staff := fs.String("staff", "", "make this user staff (at start-up, or when they sign up)")
	secure := fs.Bool("secure-cookies", false, "mark cookies Secure (when served over HTTPS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The rooms keep their recent messages in the layer, for pages that reconnect.
	if err := fs.Set(layers.FlagName, multichat.WithRoomHistory(layerFlag.URL())); err != nil {
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
	app, err := multichat.New(ctx, multichat.Config{
		DBPath: *dbPath, Sessions: *sessionStore, Layer: layer, Worker: *worker || *workerOnly, AllowedHosts: allowed,
		Staff: *staff, SecureCookies: *secure || opts.TLSCert != "", Logger: logger,
	})
	if err != nil {
		return err
	}
	defer app.Close() // stops the history worker after the server, closes the database
	if *workerOnly {
		logger.Info("multichat: background worker running", "channel", multichat.HistoryChannel)
		if ready != nil {
			ready <- nil
		}
		<-ctx.Done()
		logger.Info("multichat: worker shutting down")
		return app.Close()
	}
	wrapped, err := opts.Wrap(app.Application(), metrics, logger)
	if err != nil {
		return err
	}
	svc := opts.Service(&channels.Server{Application: wrapped, Logger: logger}, metrics, ops.Readyz(layer, ops.ReadyOptions{}), logger)
	ln, err := ops.Listen(opts.Addr)
	if err != nil {
		return err
	}
	logger.Info("multichat: serving", "addr", ln.Addr().String(), "url", displayURL(ln.Addr(), opts.TLSCert != ""),
		"db", multichat.RedactDSN(*dbPath), "sessions", sessionsName(*sessionStore, *dbPath), "worker", *worker)
	if ready != nil {
		ready <- ln.Addr()
	}
	err = svc.Serve(ctx, ln)
	logger.Info("multichat: stopped")
	return errors.Join(err, app.Close())
}

// sessionsName is the session store for the log line (a Redis URL without its password).
func sessionsName(choice, db string) string {
	if choice == "" {
		return multichat.DefaultSessions(db)
	}
	if u, err := url.Parse(choice); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return choice
}

// displayURL turns ":8000" listeners into "http://localhost:8000" for the log line.
func displayURL(a net.Addr, tls bool) string {
	if a.Network() == "unix" {
		return "unix:" + a.String()
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + displayAddr(a)
}

// displayAddr turns ":8000" listeners into "localhost:8000" for the log line.
func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") || strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + s[strings.LastIndex(s, ":")+1:]
	}
	return s
}
