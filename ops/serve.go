package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

// Defaults of Options.
const (
	// DefaultDrainDelay is how long a process keeps serving with /readyz failing before it
	// closes its connections: long enough for a load balancer probing every second or so to
	// take it out of rotation.
	DefaultDrainDelay = 2 * time.Second
	// DefaultShutdownTimeout bounds the graceful part of a shutdown (closing the sockets
	// with 1001 and waiting for the consumers); past it the connections are dropped.
	DefaultShutdownTimeout = 10 * time.Second
)

// UnixPrefix marks a unix socket address for Listen and Options.Addr: "unix:/run/app.sock".
const UnixPrefix = "unix:"

// Options are the operational settings of a gochannels command; RegisterFlags makes them
// command-line flags, the same in every command.
type Options struct {
	// Addr is the listening address: "host:port" (TCP) or "unix:/path" (a unix socket).
	Addr string
	// ProxyHeaders lists the trusted reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (comma-separated CIDRs, addresses and "unix"; see
	// middleware.ProxyHeaders). Empty turns the headers off.
	ProxyHeaders string
	// AccessLog writes one slog line per HTTP request and WebSocket connection.
	AccessLog bool
	// DrainDelay is how long /readyz fails before the connections are closed.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the graceful close of the connections and consumers.
	ShutdownTimeout time.Duration
	// TLSCert and TLSKey are PEM files; when both are set the server speaks HTTPS and wss.
	TLSCert, TLSKey string
}

// DefaultOptions returns the options of a command listening on addr: access log on, proxy
// headers off, DefaultDrainDelay and DefaultShutdownTimeout.
func DefaultOptions(addr string) Options {
	return Options{Addr: addr, AccessLog: true, DrainDelay: DefaultDrainDelay, ShutdownTimeout: DefaultShutdownTimeout}
}

// RegisterFlags defines the flags -addr, -proxy-headers, -access-log, -drain-delay,
// -shutdown-timeout, -tls-cert and -tls-key on fs, with o's values as defaults.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Addr, "addr", o.Addr, "address to listen on: host:port, or unix:/path for a unix socket (behind a reverse proxy on this host)")
	fs.StringVar(&o.ProxyHeaders, "proxy-headers", o.ProxyHeaders, "trust X-Forwarded-For/X-Forwarded-Proto from these proxies: comma-separated CIDRs, IPs and \"unix\" (unix-socket peers); empty: off")
	fs.BoolVar(&o.AccessLog, "access-log", o.AccessLog, "log one line per HTTP request and WebSocket connection")
	fs.DurationVar(&o.DrainDelay, "drain-delay", o.DrainDelay, "on SIGTERM/SIGINT, keep serving with /readyz failing (503) this long before closing connections")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "bound on closing WebSockets (1001) and waiting for consumers at shutdown; then connections are dropped")
	fs.StringVar(&o.TLSCert, "tls-cert", o.TLSCert, "PEM certificate file: serve HTTPS and wss (with -tls-key)")
	fs.StringVar(&o.TLSKey, "tls-key", o.TLSKey, "PEM private key file for -tls-cert")
}

// SetUsage makes fs's usage message (-h) the command's summary, what every command serves
// beside its application and how it stops, then the flags.
func SetUsage(fs *flag.FlagSet, summary string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of %s:\n  %s\n\n"+
			"Beside the application it serves /metrics (Prometheus), /healthz and /readyz. On SIGTERM\n"+
			"or SIGINT /readyz turns 503 at once; after -drain-delay the WebSockets are closed with\n"+
			"1001 and the consumers awaited, at most -shutdown-timeout.\n\nFlags:\n", fs.Name(), summary)
		fs.PrintDefaults()
	}
}

// Wrap returns app with the middleware the options ask for, outermost first: proxy headers
// (so that everything inside sees the real client), metrics (when m is not nil; see
// Metrics.Instrument) and the access log. It fails on a malformed ProxyHeaders list or
// when only one of TLSCert and TLSKey is set.
func (o *Options) Wrap(app channels.Application, m *Metrics, logger *slog.Logger) (channels.Application, error) {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("ops: -tls-cert and -tls-key go together")
	}
	if o.AccessLog {
		app = middleware.AccessLog(app, logger)
	}
	if m != nil {
		app = m.Instrument(app)
	}
	if o.ProxyHeaders != "" {
		var trusted []string
		for _, p := range strings.Split(o.ProxyHeaders, ",") {
			if p = strings.TrimSpace(p); p != "" {
				trusted = append(trusted, p)
			}
		}
		var err error
		app, err = proxyHeaders(app, trusted)
		if err != nil {
			return nil, err
		}
	}
	return app, nil
}

// Service returns the Service that serves server with o's drain delay, shutdown timeout and
// TLS files, m's metrics (when not nil) and ready at /readyz.
func (o *Options) Service(server *channels.Server, m *Metrics, ready *Readiness, logger *slog.Logger) *Service {
	return &Service{
		Server: server, Metrics: m, Ready: ready, Logger: logger,
		DrainDelay: o.DrainDelay, ShutdownTimeout: o.ShutdownTimeout,
		TLSCert: o.TLSCert, TLSKey: o.TLSKey,
	}
}

// proxyHeaders is middleware.ProxyHeaders with its configuration panic turned into an error.
func proxyHeaders(app channels.Application, trusted []string) (out channels.Application, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("ops: -proxy-headers: %v", p)
		}
	}()
	return middleware.ProxyHeaders(app, trusted...), nil
}

// Listen opens the listener of addr: "unix:/path" is a unix socket (a stale socket file
// left by a process that died is replaced; any other file is an error), anything else a TCP
// address. On a unix socket the peers' address is empty (net/http would report "@"), so
// that scopes' Client is "" there.
func Listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, UnixPrefix)
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("ops: listen: %w", err)
		}
		return ln, nil
	}
	if path == "" {
		return nil, errors.New("ops: listen: empty unix socket path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("ops: listen: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("ops: listen: %s: another process is listening", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("ops: listen: removing the stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ops: listen: %w", err)
	}
	return unixListener{ln}, nil
}

// unixListener gives its connections an empty remote address.
type unixListener struct{ net.Listener }

// Accept returns the next connection, whose RemoteAddr is an unnamed unix address.
func (l unixListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return unixConn{c}, nil
}

type unixConn struct{ net.Conn }

var unnamedUnix = &net.UnixAddr{Net: "unix"}

// RemoteAddr is the unnamed unix address (String is "").
func (unixConn) RemoteAddr() net.Addr { return unnamedUnix }

// CloseWrite half-closes the connection.
func (c unixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Service runs a channels.Server with the operations endpoints beside it in one net/http
// server: /metrics (when Metrics is set), /healthz and /readyz, and the application on
// every other path. Serve stops on the context and drains: /readyz fails first, DrainDelay
// later the server's Shutdown closes the WebSockets with 1001 and waits for the
// applications, all within ShutdownTimeout.
type Service struct {
	// Server serves the application; its limits apply (HandshakeTimeout and MaxHeaderBytes
	// become the net/http server's). Required.
	Server *channels.Server
	// Metrics, when set, is served at /metrics, and its InstrumentHandler counts the
	// responses of http.Handlers behind channels.FromHTTPHandler.
	Metrics *Metrics
	// Ready is served at /readyz (Readyz(nil, …) when nil: ready until draining).
	Ready *Readiness
	// Logger receives the drain steps and net/http's errors (slog.Default() when nil).
	Logger *slog.Logger
	// DrainDelay is how long /readyz fails before connections are closed (0: none).
	DrainDelay time.Duration
	// ShutdownTimeout bounds the graceful close (DefaultShutdownTimeout when <= 0).
	ShutdownTimeout time.Duration
	// TLSCert and TLSKey, when set, make Serve speak TLS.
	TLSCert, TLSKey string
}

// InstrumentHandler wraps the http.Handler that serves a channels.Server (normally the
// server itself) with middleware.RecordResponses, so that Instrument counts the responses an
// http.Handler writes itself (channels.FromHTTPHandler on a real server) by status class
// and body bytes instead of as "unknown". Service.Handler uses it.
func (m *Metrics) InstrumentHandler(next http.Handler) http.Handler {
	return middleware.RecordResponses(next)
}

// Handler returns the mux Serve serves.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	var app http.Handler = s.Server
	if s.Metrics != nil {
		mux.Handle("/metrics", s.Metrics.Handler())
		app = s.Metrics.InstrumentHandler(app)
	}
	mux.Handle("/healthz", Healthz())
	mux.Handle("/readyz", s.ready())
	mux.Handle("/", app)
	return mux
}

func (s *Service) ready() *Readiness {
	if s.Ready == nil {
		s.Ready = Readyz(nil, ReadyOptions{})
	}
	return s.Ready
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Serve serves on ln until ctx is done or serving fails, then drains and shuts down as the
// Service documentation says. It returns nil after a graceful shutdown, and an error when
// serving failed or the shutdown passed ShutdownTimeout (connections were then dropped).
// It closes ln.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	if s.Server == nil {
		ln.Close()
		return errors.New("ops: Service.Server is nil")
	}
	ready := s.ready()
	log := s.logger()
	hto := s.Server.HandshakeTimeout
	if hto <= 0 {
		hto = channels.DefaultHandshakeTimeout
	}
	mh := s.Server.MaxHeaderBytes
	if mh <= 0 {
		mh = channels.DefaultMaxHeaderBytes
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: hto,
		MaxHeaderBytes:    mh,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if s.TLSCert != "" || s.TLSKey != "" {
			errc <- hs.ServeTLS(ln, s.TLSCert, s.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-errc:
		errc = nil
	case <-ctx.Done():
	}

	ready.SetDraining()
	if serveErr == nil && s.DrainDelay > 0 {
		log.Info("ops: draining: /readyz fails, connections stay open", "delay", s.DrainDelay)
		t := time.NewTimer(s.DrainDelay)
		select {
		case <-t.C:
		case serveErr = <-errc:
			errc = nil
			t.Stop()
		}
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	log.Info("ops: shutting down: closing WebSockets (1001) and waiting for consumers", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("ops: serve: %w", serveErr))
	}
	if err := s.Server.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("ops: shutdown: %w", err))
	}
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		errs = append(errs, fmt.Errorf("ops: shutting down the http server: %w", err))
	}
	if errc != nil {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("ops: serve: %w", err))
		}
	}
	return errors.Join(errs...)
}
