package multichat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/sessions"
	"github.com/gochannels/gochannels/worker"
)

// SocketPath is the route of the chat WebSocket.
const SocketPath = "/chat/stream/"

// EnvSecretKey names the environment variable that may hold the session signing key (at least
// 32 bytes) of cookie sessions; without it (and without Config.SecretKey) the key is generated
// once and kept in the database, so that every process sharing the database has it.
const EnvSecretKey = "MULTICHAT_SECRET_KEY"

// Config configures an App.
type Config struct {
	// DBPath is the database: an SQLite file ("multichat.db" when empty), which the
	// processes of one host may share, or a postgres:// URL, which processes on several hosts
	// may share (see OpenStore).
	DBPath string
	// Sessions chooses the session store: SessionsCookie (signed cookies), SessionsDB (the
	// database's sessions table) or a redis:// URL (sessions.RedisStore). Empty means
	// DefaultSessions(DBPath): db with PostgreSQL, cookie with SQLite.
	Sessions string
	// Layer is the channel layer; it must be shared by every process that serves the same
	// rooms (a Redis layer for more than one process). The App does not close it.
	Layer layers.Layer
	// Worker runs the background consumer (message history) in this process. With a Redis
	// layer several processes may all run it: each message is handled by one of them.
	Worker bool
	// AllowedHosts are the host patterns WebSocket handshakes may come from (Origin), Django
	// style; empty means middleware.DefaultAllowedHosts (this machine).
	AllowedHosts []string
	// SecretKey signs session cookies (at least 32 bytes) when Sessions is SessionsCookie.
	// Empty: $MULTICHAT_SECRET_KEY, else a key generated once and stored in the database.
	SecretKey []byte
	// Staff names a user made staff at start-up (and at sign-up, if the name is not taken
	// yet). The first account ever created is staff too.
	Staff string
	// SecureCookies marks the session and CSRF cookies Secure (serve over HTTPS then).
	SecureCookies bool
	// BcryptCost is the password hashing cost (bcrypt.DefaultCost when 0; tests use 4).
	BcryptCost int
	// Logger receives the App's logs (slog.Default() when nil).
	Logger *slog.Logger
}

// App is a multichat site: pages, accounts and rooms over HTTP, the chat socket, and
// (optionally) the background consumer that keeps history.
type App struct {
	cfg      Config
	store    *Store
	sess     *sessionStore
	layer    layers.Layer
	sessions *sessions.Manager
	groups   *auth.UserGroups // every socket in its user's and session's groups
	logger   *slog.Logger
	app      channels.Application

	srvOnce sync.Once
	srv     *channels.Server

	stopWorker func()
	closeOnce  sync.Once
}

// New opens the database (creating and seeding it on first use), sets up sessions and starts
// the background consumer when cfg.Worker is set.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Layer == nil {
		return nil, errors.New("multichat: Config.Layer is required (use layers.OpenEnv)")
	}
	if cfg.DBPath == "" {
		cfg.DBPath = "multichat.db"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	store, err := OpenStore(ctx, cfg.DBPath, cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	sess, err := openSessions(ctx, cfg, store, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	closeAll := func() { // a failed New: its error is the one to report
		_ = sess.close()
		_ = store.Close()
	}
	if cfg.Staff != "" {
		if _, err := store.SetStaff(ctx, cfg.Staff, true); err != nil {
			closeAll()
			return nil, err
		}
	}
	a := &App{
		cfg:        cfg,
		store:      store,
		sess:       sess,
		layer:      cfg.Layer,
		sessions:   sessions.NewManager(sess.store, sessions.Options{Secure: cfg.SecureCookies, SameSite: http.SameSiteLaxMode}),
		groups:     auth.NewUserGroups(cfg.Layer, logger),
		logger:     logger,
		stopWorker: func() {},
	}
	a.app = a.buildApplication()
	if cfg.Worker {
		w := &worker.Worker{Layer: cfg.Layer, Application: BackgroundApp(store, logger), Channels: []string{HistoryChannel}, Logger: logger}
		if err := w.Start(context.WithoutCancel(ctx)); err != nil {
			closeAll()
			return nil, fmt.Errorf("multichat: start the history worker: %w", err)
		}
		a.stopWorker = func() {
			sctx, cancel := context.WithTimeout(context.Background(), worker.DefaultStopTimeout)
			defer cancel()
			if err := w.Stop(sctx); err != nil {
				logger.Warn("multichat: history worker stopped late", "error", err)
			}
		}
	}
	return a, nil
}

// Store returns the App's database.
func (a *App) Store() *Store { return a.store }

// Sessions returns the session manager shared by the pages and the socket.
func (a *App) Sessions() *sessions.Manager { return a.sessions }

// Application returns the whole site as a channels.Application, for a channels.Server.
func (a *App) Application() channels.Application { return a.app }

// Handler returns the site as an http.Handler (a channels.Server, whose Shutdown runs in
// App.Shutdown), to mount in any net/http server.
func (a *App) Handler() http.Handler { return a.server() }

// Serve serves the site on ln until Shutdown.
func (a *App) Serve(ln net.Listener) error { return a.server().Serve(ln) }

func (a *App) server() *channels.Server {
	a.srvOnce.Do(func() {
		a.srv = &channels.Server{Application: a.app, Logger: a.logger}
	})
	return a.srv
}

// Shutdown stops serving gracefully (open sockets are closed with 1001), then closes the App.
func (a *App) Shutdown(ctx context.Context) error {
	var err error
	if a.srv != nil {
		if serr := a.srv.Shutdown(ctx); serr != nil {
			err = fmt.Errorf("multichat: shutdown: %w", serr)
		}
	}
	return errors.Join(err, a.Close())
}

// Close stops the background consumer, closes the session store (a Redis client) and the
// database. It does not close the layer.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		a.stopWorker()
		err = errors.Join(a.sess.close(), a.store.Close())
	})
	return err
}

type appKey struct{}

// withApp puts the App in each scope for the consumers.
func (a *App) withApp(next channels.Application) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		scope.Set(appKey{}, a)
		return next.Serve(ctx, scope, receive, send)
	})
}

func appFrom(scope *channels.Scope) *App {
	a, _ := scope.Value(appKey{}).(*App)
	return a
}

// LoadUser implements auth.UserLoader.
func (a *App) LoadUser(ctx context.Context, id string) (auth.User, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: bad id %q", auth.ErrUserNotFound, id)
	}
	u, err := a.store.UserByID(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrUserNotFound, err)
	}
	return u, nil
}

// socketApp is the chat consumer with the App in its scope, its socket in the user's (and
// session's) groups (auth.UserGroups), without the session and origin middleware (tests set
// the user in the scope themselves).
func (a *App) socketApp() channels.Application {
	return a.groups.Middleware(a.withApp(consumer.JSONWebsocket[ChatConsumer](consumer.WithLayer(a.layer), consumer.WithLogger(a.logger))))
}

func (a *App) buildApplication() channels.Application {
	ws := router.URL(router.Path(SocketPath, a.socketApp()))
	ws.Logger = a.logger
	csrfOpts := middleware.CSRFOptions{Secure: a.cfg.SecureCookies, Failure: a.csrfFailure()}
	return router.ProtocolType{
		// groups.Handler: logging out closes the session's sockets on every server (4001).
		channels.ScopeHTTP: channels.FromHTTPHandler(a.groups.Handler(auth.Handler(middleware.CSRF(a.pages(), csrfOpts), a.sessions, a))),
		// Origin first, then cookies → session → user, then anonymous sockets refused (403)
		// before the consumer ever sees them.
		channels.ScopeWebsocket: middleware.AllowedHostsOriginValidator(
			auth.Stack(auth.RequireUser(ws), a.sessions, a), a.cfg.AllowedHosts...),
	}
}
