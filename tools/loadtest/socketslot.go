package loadtest

import (
	"context"
	"errors"
	"sync"
	"time"
)

// socketSlot holds the current socket of a client that reconnects (outage and reconnect
// modes): the session goroutine replaces it, the sender and the run's end read it.
type socketSlot struct {
	mu     sync.Mutex
	conn   *Conn
	closed bool // the run ended: no socket may be stored any more
}

// store makes conn the client's socket, unless the run ended (then it closes conn).
func (s *socketSlot) store(conn *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = conn.Close()
		return false
	}
	s.conn = conn
	return true
}

// current returns the client's socket (nil while it has none).
func (s *socketSlot) current() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// drop forgets conn if it is still the client's socket.
func (s *socketSlot) drop(conn *Conn) {
	s.mu.Lock()
	if s.conn == conn {
		s.conn = nil
	}
	s.mu.Unlock()
}

// close ends the slot: its socket is closed normally (its reader given readFor to see the
// server's answer; no deadline when 0) and no socket may be stored after.
func (s *socketSlot) close(readFor time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		if readFor > 0 {
			_ = s.conn.SetReadDeadline(time.Now().Add(readFor))
		}
		_ = s.conn.CloseGracefully()
	}
}

// dialSessions connects n clients, conc at a time: dial opens client i's socket, slot(i)
// holds it, and session(i, conn) runs in a goroutine counted in sessions until the client
// is done with reconnecting. It fails with the first dial error, or when the run ended
// (what names the mode in that error).
func dialSessions(ctx context.Context, conc, n int, what string, sessions *sync.WaitGroup,
	dial func(ctx context.Context, i int) (*Conn, error), slot func(i int) *socketSlot, session func(i int, conn *Conn)) error {
	return dialAll(ctx, conc, n, func(ctx context.Context, i int) error {
		conn, err := dial(ctx, i)
		if err != nil {
			return err
		}
		if !slot(i).store(conn) {
			return errors.New("loadtest: " + what + ": the run ended while connecting")
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			session(i, conn)
		}()
		return nil
	})
}
