package redislayer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// psShard is one Redis server of a PubSubLayer: a go-redis client for PUBLISH and one
// subscriber connection, spoken in RESP2 directly so that the loop controls reconnects and
// decodes each message without intermediate copies.
type psShard struct {
	l    *PubSubLayer
	opt  *redis.Options
	addr string // for logs, password redacted
	pub  *redis.Client

	mu      sync.Mutex
	subs    map[string]*psSub // wanted subscriptions, by pub/sub channel
	conn    net.Conn          // nil while disconnected
	bw      *bufio.Writer
	lastErr error // why the connection is down
	stopped bool
	// settled is closed when the first connection attempt has ended, in success or failure:
	// until then a subscription waits for the connection instead of failing.
	settled chan struct{}
}

// psSub is one wanted subscription: the number of local users of the name, whether Redis
// confirmed it on the current connection, and callers waiting for that.
type psSub struct {
	refs      int
	confirmed bool
	waiters   []chan error
}

// subscribe takes a reference on name, subscribing on the first one, and waits (bounded by
// ctx and subscribeTimeout) until Redis has confirmed the subscription. When the connection is
// down it fails at once with ErrNotConnected and gives the reference back; right after
// NewPubSub, while the first connection is still being made, it waits for that attempt.
func (s *psShard) subscribe(ctx context.Context, name string) error {
	t := time.NewTimer(subscribeTimeout)
	defer t.Stop()
	if err := s.awaitFirstAttempt(ctx, t.C); err != nil {
		return err
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return s.l.closedErr("subscribe")
	}
	if s.conn == nil {
		err := s.lastErr
		s.mu.Unlock()
		if err == nil {
			return ErrNotConnected
		}
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	sub := s.subs[name]
	if sub == nil {
		sub = &psSub{}
		s.subs[name] = sub
	}
	sub.refs++
	if sub.confirmed {
		s.mu.Unlock()
		return nil
	}
	if sub.refs == 1 || len(sub.waiters) == 0 {
		if err := s.writeLocked("SUBSCRIBE", name); err != nil {
			s.releaseLocked(name, sub)
			s.mu.Unlock()
			return err
		}
	}
	done := make(chan error, 1)
	sub.waiters = append(sub.waiters, done)
	s.mu.Unlock()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = fmt.Errorf("no confirmation within %v", subscribeTimeout)
	}
	if err != nil {
		s.mu.Lock()
		if cur := s.subs[name]; cur == sub {
			s.releaseLocked(name, sub)
		}
		s.mu.Unlock()
	}
	return err
}

// unsubscribe gives back a reference on name, unsubscribing with the last one.
func (s *psShard) unsubscribe(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[name]; sub != nil {
		s.releaseLocked(name, sub)
	}
}

func (s *psShard) releaseLocked(name string, sub *psSub) {
	sub.refs--
	if sub.refs > 0 {
		return
	}
	delete(s.subs, name)
	for _, w := range sub.waiters {
		w <- errors.New("unsubscribed")
	}
	if s.conn != nil {
		// A failed write breaks the connection; the reader notices and reconnects.
		_ = s.writeLocked("UNSUBSCRIBE", name)
	}
}

// writeLocked sends one command (an array of bulk strings) on the subscriber connection.
func (s *psShard) writeLocked(args ...string) error {
	if s.conn == nil {
		return ErrNotConnected
	}
	writeCommand(s.bw, args)
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := s.bw.Flush(); err != nil {
		_ = s.conn.Close() // the reader sees the failure and reconnects
		return fmt.Errorf("%w: write: %w", ErrNotConnected, err)
	}
	return nil
}

func writeCommand(w *bufio.Writer, args []string) {
	w.WriteByte('*')
	w.WriteString(strconv.Itoa(len(args)))
	w.WriteString("\r\n")
	for _, a := range args {
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(a)))
		w.WriteString("\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
}

// shutdown closes the current connection and stops reconnecting.
func (s *psShard) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.settleLocked()
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// run connects, resubscribes and reads until ctx ends, reconnecting with capped exponential
// backoff after every failure.
func (s *psShard) run(ctx context.Context) {
	defer s.l.wg.Done()
	backoff := minBackoff
	everUp := false
	for ctx.Err() == nil {
		conn, err := s.dial(ctx)
		if err == nil {
			var br *bufio.Reader
			if br, err = s.attach(conn); err == nil {
				if everUp {
					s.l.st.reconnects.Add(1)
					s.l.log.Info("pub/sub subscriber reconnected", "addr", s.addr)
				}
				everUp = true
				backoff = minBackoff
				err = s.serve(ctx, conn, br)
			}
			s.detach(err)
		} else {
			s.mu.Lock()
			s.lastErr = err
			s.settleLocked()
			s.mu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		s.l.log.Warn("pub/sub subscriber connection down; retrying", "addr", s.addr, "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// dial opens a connection and authenticates it (pub/sub ignores the database number).
func (s *psShard) dial(ctx context.Context) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, s.opt.Network, s.opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if s.opt.TLSConfig != nil {
		tc := tls.Client(conn, s.opt.TLSConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	if s.opt.Password != "" {
		args := []string{"AUTH", s.opt.Password}
		if s.opt.Username != "" {
			args = []string{"AUTH", s.opt.Username, s.opt.Password}
		}
		bw := bufio.NewWriter(conn)
		writeCommand(bw, args)
		_ = conn.SetDeadline(time.Now().Add(dialTimeout))
		if err := bw.Flush(); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || len(line) == 0 || line[0] != '+' {
			_ = conn.Close()
			if err == nil {
				err = fmt.Errorf("server answered %q", trimCRLF(line))
			}
			return nil, fmt.Errorf("auth: %w", err)
		}
		_ = conn.SetDeadline(time.Time{})
	}
	return conn, nil
}

// attach makes conn the shard's subscriber connection and subscribes to every wanted name
// in one command.
func (s *psShard) attach(conn net.Conn) (*bufio.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		_ = conn.Close()
		return nil, errors.New("layer closed")
	}
	s.conn, s.bw, s.lastErr = conn, bufio.NewWriterSize(conn, 4096), nil
	s.settleLocked()
	if len(s.subs) > 0 {
		args := make([]string, 0, len(s.subs)+1)
		args = append(args, "SUBSCRIBE")
		for name := range s.subs {
			args = append(args, name)
		}
		if err := s.writeLocked(args...); err != nil {
			return nil, err
		}
	}
	return bufio.NewReaderSize(conn, 64<<10), nil
}

// awaitFirstAttempt returns at once once the first connection attempt has ended (or the
// layer is shut down); before that it waits for it, up to ctx and timeout.
func (s *psShard) awaitFirstAttempt(ctx context.Context, timeout <-chan time.Time) error {
	select {
	case <-s.settled:
		return nil
	default:
	}
	select {
	case <-s.settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return fmt.Errorf("%w: not connected within %v", ErrNotConnected, subscribeTimeout)
	}
}

// settleLocked marks the first connection attempt as ended; s.mu is held, which makes the
// check and the close one step.
func (s *psShard) settleLocked() {
	select {
	case <-s.settled:
	default:
		close(s.settled)
	}
}

// detach forgets the broken connection: every subscription needs confirming again, and
// callers waiting for a confirmation get the error.
func (s *psShard) detach(cause error) {
	if cause == nil {
		cause = io.EOF
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn, s.bw, s.lastErr = nil, nil, cause
	for _, sub := range s.subs {
		sub.confirmed = false
		for _, w := range sub.waiters {
			w <- fmt.Errorf("%w: %w", ErrNotConnected, cause)
		}
		sub.waiters = nil
	}
}

// serve reads pushes until the connection fails, pinging it when idle so that a dead server
// is noticed within readTimeout.
func (s *psShard) serve(ctx context.Context, conn net.Conn, br *bufio.Reader) error {
	stop := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Add(1)
	go func() {
		defer pinger.Done()
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				_ = conn.Close()
				return
			case <-t.C:
				s.mu.Lock()
				if s.conn == conn {
					_ = s.writeLocked("PING")
				}
				s.mu.Unlock()
			}
		}
	}()
	defer func() {
		close(stop)
		pinger.Wait()
	}()
	r := respReader{br: br}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		n, err := r.readArray()
		if err != nil {
			return err
		}
		kind := r.items[0]
		switch {
		case n == 3 && string(kind) == "message":
			s.l.dispatch(r.items[1], r.items[2])
		case n == 3 && string(kind) == "subscribe":
			s.confirm(string(r.items[1]))
		case n >= 1 && (string(kind) == "unsubscribe" || string(kind) == "pong"):
		default:
			return fmt.Errorf("unexpected push %q with %d elements", kind, n)
		}
	}
}

func (s *psShard) confirm(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[name]
	if sub == nil {
		return // released meanwhile; its UNSUBSCRIBE follows
	}
	sub.confirmed = true
	for _, w := range sub.waiters {
		w <- nil
	}
	sub.waiters = nil
}

// respReader reads the RESP2 replies of a subscriber connection: arrays of bulk strings and
// integers. items alias an internal buffer valid until the next read.
type respReader struct {
	br    *bufio.Reader
	items [4][]byte
	bufs  [4][]byte
}

// pongKind is the kind readArray reports for a plain +PONG, as for the subscriber-mode
// ["pong", ""] reply. Callers only read items.
var pongKind = []byte("pong")

// maxBulk bounds one bulk string (Redis's own limit is 512 MB).
const maxBulk = 512 << 20

func (r *respReader) readArray() (int, error) {
	line, err := r.line()
	if err != nil {
		return 0, err
	}
	if len(line) == 0 {
		return 0, errors.New("empty reply line")
	}
	switch line[0] {
	case '-':
		return 0, fmt.Errorf("redis error: %s", line[1:])
	case '+':
		// A connection subscribed to nothing has left subscriber mode (for example after
		// its last UNSUBSCRIBE), and Redis answers the idle PING as on a normal connection.
		if string(line) == "+PONG" {
			r.items[0] = pongKind
			return 1, nil
		}
		return 0, fmt.Errorf("unexpected reply %q on a subscriber connection", line)
	case '*':
	default:
		return 0, fmt.Errorf("unexpected reply %q on a subscriber connection", line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 1 || n > len(r.items) {
		return 0, fmt.Errorf("unexpected array header %q", line)
	}
	for i := 0; i < n; i++ {
		line, err := r.line()
		if err != nil {
			return 0, err
		}
		if len(line) == 0 {
			return 0, errors.New("empty reply line")
		}
		switch line[0] {
		case ':', '+':
			r.bufs[i] = append(r.bufs[i][:0], line[1:]...)
			r.items[i] = r.bufs[i]
		case '$':
			size, err := strconv.Atoi(string(line[1:]))
			if err != nil || size < -1 || size > maxBulk {
				return 0, fmt.Errorf("bad bulk header %q", line)
			}
			if size < 0 {
				r.items[i] = nil
				continue
			}
			if cap(r.bufs[i]) < size+2 {
				r.bufs[i] = make([]byte, size+2)
			}
			b := r.bufs[i][:size+2]
			if _, err := io.ReadFull(r.br, b); err != nil {
				return 0, err
			}
			r.items[i] = b[:size]
		default:
			return 0, fmt.Errorf("unexpected element %q", line)
		}
	}
	return n, nil
}

// line returns the next line without its CRLF; it aliases the reader's buffer.
func (r *respReader) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("reply line too long")
		}
		return nil, err
	}
	return trimCRLFBytes(line), nil
}

func trimCRLFBytes(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func trimCRLF(s string) string { return string(trimCRLFBytes([]byte(s))) }
