package bareserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Defaults of Config.
const (
	DefaultQueueBytes       = 1 << 20
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxMessageSize   = 1 << 20
	DefaultHandshakeTimeout = 10 * time.Second
)

// Close reason of a connection that did not keep up (code 1008), as in examples/chat.
const ReasonSlowClient = "slow client"

// Config configures a Server. The zero value uses the defaults.
type Config struct {
	// QueueBytes bounds the frames queued for one connection; past it the connection is
	// closed with 1008 "slow client" (default DefaultQueueBytes).
	QueueBytes int
	// WriteTimeout bounds one batched write; a write that takes longer closes the connection
	// as a slow client (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// MaxMessageSize bounds one client message (default DefaultMaxMessageSize); a bigger one
	// closes the connection with 1009.
	MaxMessageSize int64
	// HandshakeTimeout bounds reading the upgrade request (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// Logger receives one line per slow close and per failed connection (slog.Default()
	// when nil).
	Logger *slog.Logger
}

// Stats are the server's counters.
type Stats struct {
	// Connections is the number of open WebSockets; Accepted counts every one upgraded.
	Connections, Accepted int64
	// Messages counts client messages broadcast; Deliveries counts frames queued to members.
	Messages, Deliveries int64
	// Writes counts batched writes (one writev each) and Frames the frames they carried.
	Writes, Frames int64
	// SlowCloses counts connections closed with 1008 "slow client"; BadRequests counts
	// refused handshakes and connections closed for a protocol error or bad JSON.
	SlowCloses, BadRequests int64
}

// Server is the bare broadcast server. Create it with New; Serve runs it.
type Server struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	rooms map[string]*room
	conns map[*conn]struct{}
	down  bool // Serve is shutting down: new connections are refused

	wg sync.WaitGroup // connection goroutines

	connections, accepted, messages, deliveries atomic.Int64
	writes, frames, slowCloses, badRequests     atomic.Int64
}

// room is a set of members as a copy-on-write slice: a broadcast loads it without a lock;
// joins and leaves replace it under Server.mu.
type room struct {
	members atomic.Pointer[[]*conn]
}

// New returns a server with cfg's settings.
func New(cfg Config) *Server {
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rooms: map[string]*room{}, conns: map[*conn]struct{}{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.connections.Load(), Accepted: s.accepted.Load(),
		Messages: s.messages.Load(), Deliveries: s.deliveries.Load(),
		Writes: s.writes.Load(), Frames: s.frames.Load(),
		SlowCloses: s.slowCloses.Load(), BadRequests: s.badRequests.Load(),
	}
}

// Serve accepts connections on ln until ctx is done, then closes ln, closes every WebSocket
// with 1001 "going away" and waits for the connections' goroutines. It returns nil after a
// shutdown by ctx, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("bareserver: accept: %w", aerr)
			}
			break
		}
		s.wg.Add(1)
		go s.handle(nc)
	}
	_ = ln.Close()
	s.mu.Lock()
	s.down = true
	for c := range s.conns {
		c.closeWith(ws.StatusGoingAway, "going away")
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

const wsPrefix = "/ws/chat/"

// handle reads the request: GET /metrics is answered as plain HTTP, /ws/chat/{room}/ is
// upgraded, anything else refused.
func (s *Server) handle(nc net.Conn) {
	defer s.wg.Done()
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	br := bufio.NewReaderSize(nc, 4096)
	if head, _ := br.Peek(len("GET /metrics ")); string(head) == "GET /metrics " {
		s.serveMetrics(nc, br)
		return
	}
	var roomName string
	c := &conn{s: s, nc: nc, br: br, wake: make(chan struct{}, 1)}
	joined := false
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			path, _, _ := strings.Cut(string(uri), "?")
			name, ok := strings.CutPrefix(path, wsPrefix)
			name, ok2 := strings.CutSuffix(name, "/")
			if !ok || !ok2 || name == "" || strings.Contains(name, "/") {
				return ws.RejectConnectionError(ws.RejectionStatus(404), ws.RejectionReason("not found"))
			}
			roomName = name
			return nil
		},
		// A client that has its 101 is a member: it joins before the response is written.
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if !s.join(c, roomName) {
				return nil, ws.RejectConnectionError(ws.RejectionStatus(503), ws.RejectionReason("shutting down"))
			}
			joined = true
			return nil, nil
		},
	}
	if _, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{br, nc}); err != nil {
		if joined {
			s.leave(c)
		}
		s.badRequests.Add(1)
		s.log.Info("bareserver: handshake refused", "remote", nc.RemoteAddr().String(), "error", err)
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.accepted.Add(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.writeLoop()
	}()
	c.readLoop()
	s.leave(c)
}

// join adds c to its room; it reports false when the server is shutting down.
func (s *Server) join(c *conn, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return false
	}
	r := s.rooms[name]
	if r == nil {
		r = &room{}
		r.members.Store(&[]*conn{})
		s.rooms[name] = r
	}
	old := *r.members.Load()
	members := make([]*conn, len(old), len(old)+1)
	copy(members, old)
	members = append(members, c)
	r.members.Store(&members)
	c.room, c.roomName = r, name
	s.conns[c] = struct{}{}
	s.connections.Add(1)
	return true
}

// leave removes c from its room (and the room when it is empty).
func (s *Server) leave(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	old := *c.room.members.Load()
	members := make([]*conn, 0, len(old))
	for _, m := range old {
		if m != c {
			members = append(members, m)
		}
	}
	if len(members) == 0 && s.rooms[c.roomName] == c.room {
		delete(s.rooms, c.roomName)
	}
	c.room.members.Store(&members)
	s.connections.Add(-1)
}

// broadcast queues one frame to every member of r.
func (s *Server) broadcast(r *room, frame []byte) {
	members := *r.members.Load()
	// Counted first, so that a client that has a frame sees it counted.
	s.messages.Add(1)
	s.deliveries.Add(int64(len(members)))
	for _, m := range members {
		m.enqueue(frame)
	}
}

// serveMetrics answers one GET /metrics with the counters in Prometheus text format.
func (s *Server) serveMetrics(nc net.Conn, br *bufio.Reader) {
	defer nc.Close()
	// The request's header ends at an empty line; the body is empty.
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
	}
	st := s.Stats()
	var b bytes.Buffer
	for _, m := range []struct {
		name, kind string
		v          int64
	}{
		{"bare_connections", "gauge", st.Connections},
		{"bare_connections_accepted_total", "counter", st.Accepted},
		{"bare_messages_total", "counter", st.Messages},
		{"bare_deliveries_total", "counter", st.Deliveries},
		{"bare_writes_total", "counter", st.Writes},
		{"bare_frames_written_total", "counter", st.Frames},
		{"bare_slow_client_closes_total", "counter", st.SlowCloses},
		{"bare_bad_requests_total", "counter", st.BadRequests},
	} {
		fmt.Fprintf(&b, "# TYPE %s %s\n%s %d\n", m.name, m.kind, m.name, m.v)
	}
	fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", b.Len())
	_, _ = nc.Write(b.Bytes())
}
