package channels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/internal/netpoll"
	"github.com/gochannels/gochannels/internal/wsproto"
)

// Server defaults, used for zero fields.
const (
	DefaultAddr               = ":8000"
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultMaxHeaderBytes     = 16 << 10
	DefaultMaxFrameSize       = 1 << 20
	DefaultMaxMessageSize     = 1 << 20
	DefaultPingInterval       = 25 * time.Second
	DefaultPongTimeout        = 20 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultOutboundQueueBytes = 1 << 20
	DefaultEventQueueBytes    = 1 << 20
	DefaultReadTimeout        = 10 * time.Second
	DefaultCloseTimeout       = 5 * time.Second
	DefaultHTTPBodyChunk      = 64 << 10
)

// Server serves HTTP/1.1 and WebSocket connections to an Application: each HTTP request and
// each WebSocket connection becomes a Scope and one call of Application.Serve. Use
// ListenAndServe or Serve to run it with its own net/http server, or mount it (it is an
// http.Handler) in any mux; Shutdown stops it gracefully either way.
//
// # HTTP scopes
//
// The application is called in the net/http handler goroutine. It receives "http.request"
// events carrying the body in chunks of at most HTTPBodyChunk bytes ("more_body" true while
// more follow), then "http.disconnect" once the response is complete, the client went away,
// or Shutdown began. It answers with "http.response.start" ("status", "headers") and one or
// more "http.response.body" ("body", "more_body"); a body part with more_body true is flushed
// to the client at once, so streaming responses and server-sent events work. An application
// that returns without starting a response gets a 500. FromHTTPHandler runs any http.Handler
// as an application.
//
// # WebSocket scopes
//
// The application receives "websocket.connect" and must answer "websocket.accept" (with an
// optional "subprotocol", which must be one the client offered, and optional "headers" for
// the 101 response) or "websocket.close" (before accept this refuses the handshake with HTTP
// 403; with code 1013, CloseTryAgainLater, it refuses with 503 Service Unavailable and
// Retry-After instead, for a refusal that is the server's trouble, not the client's: a
// channel layer that is down), or with its own status, headers and body: the events
// "websocket.http.response.start" and "websocket.http.response.body", or a returned *Denial
// (see Denial). The 101 response is written only on accept. Then every data message arrives as
// "websocket.receive" with "text" (string) or "bytes" ([]byte), fragmented messages
// reassembled; "websocket.send" with "text" or "bytes" writes one frame; "websocket.close"
// with "code" (default 1000) and "reason" closes the connection. The last event is always
// exactly one "websocket.disconnect", with the code of the close that ended the connection:
// the peer's when it closed first (1005 when its close frame had no code), the server's when
// the server closed first, 1006 when the TCP connection dropped without a close frame.
//
// The Receiver an application gets is the connection's *Mailbox, so the channel layer can
// Inject messages into the same queue (it implements Injector). Socket reads stop while
// MailboxCapacity received messages wait (back-pressure); they never drop events.
//
// # Delivery from the channel layer
//
// A connection whose application keeps up loses nothing: the channel-layer events waiting
// for it are bounded by memory, EventQueueBytes (1 MiB by default, as estimated by
// MessageSize), not by a small count, so a burst of thousands of small group messages is
// absorbed. When one connection's events would pass the bound, EventOverflow decides:
// OverflowClose (the default) closes that connection with 1008 "event queue full" after the
// events already queued, so its stream is never left open with a hole in it; the
// application's websocket.disconnect carries that code, and the close is logged once.
// OverflowDropNewest and OverflowDropOldest keep the connection and drop events instead
// (counted, logged for the 1st, 2nd, 4th, 8th... drop), for streams such as tickers. A
// consumer can choose its own bound and policy (consumer.WithEventQueueBytes,
// consumer.WithOverflowPolicy). Other connections are unaffected. Together with
// OutboundQueueBytes this bounds the memory one connection holds.
//
// # Close codes sent by the server
//
//   - 1000 normal closure: the application returned nil while the socket was open, or sent
//     websocket.close without a code.
//   - 1001 going away: Shutdown ("going away"), or IdleTimeout passed ("idle timeout").
//   - 1002 protocol error: bad framing or length, reserved bits set, unknown opcode,
//     unmasked client frame, fragmented or oversized (>125 bytes) control frame, RSV1 on a
//     control or continuation frame or without permessage-deflate,
//     continuation without a message in progress, a new message inside a fragmented one,
//     an invalid close frame payload or code.
//   - 1007 invalid payload: a text message or close reason that is not valid UTF-8 (detected
//     at the first impossible byte, before the message or even the frame ends), or a
//     compressed message that does not inflate.
//   - 1008 policy violation "slow client": the outbound queue passed OutboundQueueBytes, or
//     one write took longer than WriteTimeout. The queue is dropped, Send returns a
//     *CloseError with this code, and the connection is closed.
//   - 1008 policy violation "event queue full": the channel-layer events waiting for the
//     application passed EventQueueBytes under OverflowClose. The frames already queued are
//     written first, then the close.
//   - 1009 message too big: a frame over MaxFrameSize, a message over MaxMessageSize, or a
//     compressed message that inflates past Compression.MaxInflatedSize (a deflate bomb).
//   - 1011 internal error: the application returned a non-*CloseError error or panicked
//     (logged; other connections are unaffected).
//   - the application's code: the application sent websocket.close, or returned a
//     *CloseError.
//   - the message's code: a TypeClose ("gochannels.close") channel-layer message reached
//     the connection, from any process (see TypeClose).
//
// After a protocol error (1002, 1007, 1009) the server sends its close frame, half-closes
// the TCP connection at once (so the client sees the end without waiting for a closing
// handshake) and discards further input until the client closes, at most CloseTimeout.
//
// A connection that does not answer a ping within PongTimeout, or whose next frame stalls
// for ReadTimeout once started, is dropped without a close frame (disconnect code 1006).
//
// # Concurrency and memory
//
// Every connection has one writer by construction: data, pongs, pings and close frames all
// go through one outbound queue, bounded in bytes, drained by a writer goroutine that exists
// only while the queue is not empty. Send never blocks on the socket. On Linux, an idle plain
// TCP WebSocket holds no reader goroutine and no buffer: an epoll poller (one goroutine per
// process) schedules a read when bytes arrive. TLS connections, other platforms, or
// DisablePoller use one reader goroutine per connection. The only goroutine an idle WebSocket
// keeps is the application's own, and not even that when the application detaches from it
// (see Detacher): its events are then handled on a goroutine that runs only while there are
// some. The connection keeps no reference to the scope (and so to the request headers)
// beyond what the application keeps.
//
// The zero Server is ready to use once Application is set. Fields must not change after the
// server starts.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on (DefaultAddr ":8000" when empty).
	Addr string
	// Application is called once per HTTP request and once per WebSocket connection.
	Application Application
	// Logger receives application errors and panics, and net/http's own errors
	// (slog.Default() when nil).
	Logger *slog.Logger

	// HandshakeTimeout bounds reading the request headers (http.Server.ReadHeaderTimeout,
	// with ListenAndServe and Serve) and, for a WebSocket, the application's decision to
	// accept or refuse plus writing the 101 response; past it the handshake fails with HTTP
	// 503. Default 10s.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (http.Server.MaxHeaderBytes, with
	// ListenAndServe and Serve; larger requests get HTTP 431). Default 16 KiB.
	MaxHeaderBytes int
	// MaxFrameSize bounds one WebSocket frame's payload; a larger frame closes the
	// connection with 1009. Default 1 MiB.
	MaxFrameSize int64
	// MaxMessageSize bounds one reassembled WebSocket message; past it the connection is
	// closed with 1009. Default 1 MiB.
	MaxMessageSize int64
	// PingInterval is how often the server pings each WebSocket. Default 25s; negative
	// disables pings (and so the pong timeout).
	PingInterval time.Duration
	// PongTimeout: a WebSocket from which no frame at all (pong or other) arrives within this
	// time after a ping is dropped (disconnect code 1006). Default 20s.
	PongTimeout time.Duration
	// WriteTimeout bounds one write to a WebSocket; a write that takes longer marks the
	// client slow (close 1008 "slow client"). Default 10s.
	WriteTimeout time.Duration
	// OutboundQueueBytes bounds the bytes queued for one WebSocket and not yet written;
	// enqueueing past it marks the client slow: the queue is dropped, the connection closed
	// with 1008 "slow client", and Send returns a *CloseError. Default 1 MiB.
	OutboundQueueBytes int
	// IdleTimeout closes (1001 "idle timeout") a WebSocket whose client has sent no data
	// message for this long; pings and pongs do not count. Zero disables it.
	IdleTimeout time.Duration
	// MaxConnections bounds the open WebSocket connections plus the HTTP requests in
	// progress; beyond it requests and handshakes get HTTP 503. Zero means unlimited.
	MaxConnections int

	// ReadTimeout bounds reading one WebSocket frame once its first byte has arrived, so a
	// client that sends part of a frame and stops cannot hold a reader; past it the
	// connection is dropped (disconnect code 1006). Default 10s.
	ReadTimeout time.Duration
	// CloseTimeout is how long the server waits for the client's close frame after sending
	// its own before dropping the TCP connection, and how long an application may take to
	// return after its disconnect event before its context is canceled. Default 5s.
	CloseTimeout time.Duration
	// HTTPBodyChunk is the largest body part of one "http.request" event. Default 64 KiB.
	HTTPBodyChunk int
	// MailboxCapacity is the number of received messages (websocket.receive) waiting for
	// the application before the server stops reading the socket (DefaultMailboxCapacity
	// when zero). Channel-layer events are bounded by EventQueueBytes instead.
	MailboxCapacity int
	// EventQueueBytes bounds the channel-layer events waiting for one WebSocket's
	// application, by their estimated size (MessageSize); the queue may hold one event past
	// it, and never more than MaxInjectedEvents. Default 1 MiB. Past it, EventOverflow
	// applies.
	EventQueueBytes int
	// EventOverflow is what happens to a WebSocket whose events would pass EventQueueBytes:
	// OverflowClose (the zero value) closes it with 1008 "event queue full";
	// OverflowDropNewest and OverflowDropOldest drop events and keep it open. A consumer
	// may choose otherwise for its own connections (consumer.WithOverflowPolicy).
	EventOverflow OverflowPolicy
	// DisablePoller makes every WebSocket use a reader goroutine instead of the epoll
	// readiness poller.
	DisablePoller bool
	// Compression configures the permessage-deflate extension (RFC 7692). It is off by
	// default.
	Compression Compression

	initOnce sync.Once
	mu       sync.Mutex
	hs       *http.Server
	conns    map[*wsConn]struct{}
	busy     int           // application calls in progress plus WebSocket sockets open
	idle     chan struct{} // closed when busy drops to 0 during Shutdown
	shutting bool
	quit     chan struct{} // closed when Shutdown begins
	base     context.Context
	kill     context.CancelFunc // cancels base: forced shutdown
	nconn    atomic.Int64       // for MaxConnections
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.conns = make(map[*wsConn]struct{})
		s.quit = make(chan struct{})
		s.base, s.kill = context.WithCancel(context.Background())
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) handshakeTimeout() time.Duration {
	return durOr(s.HandshakeTimeout, DefaultHandshakeTimeout)
}
func (s *Server) writeTimeout() time.Duration { return durOr(s.WriteTimeout, DefaultWriteTimeout) }
func (s *Server) readTimeout() time.Duration  { return durOr(s.ReadTimeout, DefaultReadTimeout) }
func (s *Server) closeTimeout() time.Duration { return durOr(s.CloseTimeout, DefaultCloseTimeout) }
func (s *Server) pongTimeout() time.Duration  { return durOr(s.PongTimeout, DefaultPongTimeout) }
func (s *Server) pingInterval() time.Duration {
	switch {
	case s.PingInterval < 0:
		return 0
	case s.PingInterval == 0:
		return DefaultPingInterval
	}
	return s.PingInterval
}
func (s *Server) maxFrame() int64 {
	if s.MaxFrameSize <= 0 {
		return DefaultMaxFrameSize
	}
	return s.MaxFrameSize
}
func (s *Server) maxMessage() int64 {
	if s.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return s.MaxMessageSize
}
func (s *Server) outboundLimit() int {
	if s.OutboundQueueBytes <= 0 {
		return DefaultOutboundQueueBytes
	}
	return s.OutboundQueueBytes
}
func (s *Server) eventQueueBytes() int {
	if s.EventQueueBytes <= 0 {
		return DefaultEventQueueBytes
	}
	return s.EventQueueBytes
}
func (s *Server) bodyChunk() int {
	if s.HTTPBodyChunk <= 0 {
		return DefaultHTTPBodyChunk
	}
	return s.HTTPBodyChunk
}

// poller returns the readiness poller, or nil when it cannot be used.
func (s *Server) poller() *netpoll.Poller {
	if s.DisablePoller {
		return nil
	}
	p, err := netpoll.Default()
	if err != nil {
		return nil
	}
	return p
}

// httpServer returns the internal http.Server, creating it on first use.
func (s *Server) httpServer() *http.Server {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		mh := s.MaxHeaderBytes
		if mh <= 0 {
			mh = DefaultMaxHeaderBytes
		}
		s.hs = &http.Server{
			Addr:              s.Addr,
			Handler:           s,
			ReadHeaderTimeout: s.handshakeTimeout(),
			MaxHeaderBytes:    mh,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
		}
	}
	return s.hs
}

// ListenAndServe listens on s.Addr (":8000" when empty) and calls Serve. It returns
// http.ErrServerClosed after Shutdown.
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("channels: listening on %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves them with an internal net/http server whose
// handler is s. It closes l when it returns, and returns http.ErrServerClosed after
// Shutdown.
func (s *Server) Serve(l net.Listener) error {
	hs := s.httpServer()
	s.mu.Lock()
	shutting := s.shutting
	s.mu.Unlock()
	if shutting {
		l.Close()
		return http.ErrServerClosed
	}
	return hs.Serve(l)
}

// ServeHTTP serves one request: a WebSocket handshake (a request with "Upgrade: websocket")
// becomes a WebSocket scope, any other request an HTTP scope. Mount s in any net/http mux;
// Shutdown covers connections served this way too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	if wsproto.IsUpgrade(r) {
		s.serveWebsocket(w, r)
		return
	}
	s.serveHTTPScope(w, r)
}

// acquire reserves a connection slot (MaxConnections) and counts an application call for
// Shutdown. It returns a reason when the request must be refused with 503.
func (s *Server) acquire() (ok bool, reason string) {
	if max := s.MaxConnections; max > 0 {
		if s.nconn.Add(1) > int64(max) {
			s.nconn.Add(-1)
			return false, "too many connections"
		}
	}
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		if s.MaxConnections > 0 {
			s.nconn.Add(-1)
		}
		return false, "server shutting down"
	}
	s.busy++
	s.mu.Unlock()
	return true, ""
}

// releaseSlot gives back a MaxConnections slot.
func (s *Server) releaseSlot() {
	if s.MaxConnections > 0 {
		s.nconn.Add(-1)
	}
}

// done ends one unit of work counted in busy (an application call or an open socket).
func (s *Server) done() {
	s.mu.Lock()
	s.busy--
	if s.busy == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
}

// addBusy counts one more unit of work (an upgraded socket).
func (s *Server) addBusy() {
	s.mu.Lock()
	s.busy++
	s.mu.Unlock()
}

func (s *Server) track(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *wsConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops the server gracefully: it stops accepting connections, closes every
// WebSocket with 1001 "going away" (their applications get websocket.disconnect), gives
// HTTP applications http.disconnect on their next Receive, waits for every application
// call to return and every socket to close, and shuts down the internal http.Server. If ctx
// ends first, it cancels the applications' contexts, drops every connection and returns
// ctx.Err(). After Shutdown, Serve and ListenAndServe return http.ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	if !s.shutting {
		s.shutting = true
		close(s.quit)
	}
	hs := s.hs
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	httpDone := make(chan error, 1)
	if hs != nil {
		go func() { httpDone <- hs.Shutdown(ctx) }()
	} else {
		httpDone <- nil
	}
	for _, c := range conns {
		c.closeWith(CloseGoingAway, reasonGoingAway)
	}

	s.mu.Lock()
	var idle chan struct{}
	if s.busy > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		s.forceClose()
	}
	herr := <-httpDone
	if err == nil && herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = fmt.Errorf("channels: shutting down the http server: %w", herr)
	}
	return err
}

// forceClose cancels every application's context and drops every connection.
func (s *Server) forceClose() {
	s.kill()
	s.mu.Lock()
	hs := s.hs
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeTCP(CloseAbnormal, reasonShutDown, closedByServer)
		c.mbox.kick() // a detached handler hears that its context is done
	}
	if hs != nil {
		hs.Close()
	}
}
