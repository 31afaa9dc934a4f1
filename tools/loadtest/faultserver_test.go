package loadtest

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Fault modes of faultServer.
const (
	faultNone    = ""
	faultDrop    = "drop"    // every Nth message reaches nobody
	faultDup     = "dup"     // every Nth message reaches everyone twice
	faultReorder = "reorder" // every Nth message is held and sent after the next of its room
	faultForeign = "foreign" // after every Nth message, a frame from a sender that does not exist and a malformed one
	faultBatch   = "batch"   // a sender's messages are held until it has Batch unanswered (or it is idle)
	faultRate    = "rate"    // messages over Rate per second (a token bucket) reach nobody
	faultError   = "error"   // every Nth message reaches nobody; its sender gets examples/chat's error frame
)

// faultServer speaks the chat protocol of examples/chat over real loopback WebSockets
// (/ws/chat/<room>/, every text frame sent to every member of the room, sender included) and
// breaks it on purpose, counting every fault it makes, so that the tests can check that
// chatload reports exactly those.
type faultServer struct {
	mode  string
	every int     // faultDrop, faultDup, faultReorder, faultForeign: fault every Nth message
	batch int     // faultBatch
	rate  float64 // faultRate: messages per second

	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	conns    map[*faultConn]bool
	rooms    map[string][]*faultConn
	n        int // messages received
	faults   int // faults made
	held     map[string][]byte
	maxBatch int
	tokens   float64
	refilled time.Time
	closed   bool
}

type faultConn struct {
	net.Conn
	room    string
	wmu     sync.Mutex
	pending [][]byte    // faultBatch: held messages of this sender
	flush   *time.Timer // faultBatch: releases pending when the sender goes idle
}

// startFaultServer serves on a loopback port until the test ends and returns its base URL.
func startFaultServer(t *testing.T, s *faultServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.conns, s.rooms, s.held = ln, map[*faultConn]bool{}, map[string][]*faultConn{}, map[string][]byte{}
	s.tokens, s.refilled = s.burst(), time.Now()
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return "ws://" + ln.Addr().String()
}

// burst is the token bucket's size: 50 ms worth of the rate, at least 2.
func (s *faultServer) burst() float64 { return max(2, s.rate/20) }

func (s *faultServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
		if c.flush != nil {
			c.flush.Stop()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// counts returns the messages received and the faults made.
func (s *faultServer) counts() (n, faults, maxBatch int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.faults, s.maxBatch
}

func (s *faultServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serve(nc)
	}
}

func (s *faultServer) serve(nc net.Conn) {
	defer s.wg.Done()
	defer nc.Close()
	c := &faultConn{Conn: nc}
	up := ws.Upgrader{OnRequest: func(uri []byte) error {
		room, ok := strings.CutPrefix(string(uri), "/ws/chat/")
		if !ok {
			return ws.RejectConnectionError(ws.RejectionStatus(404))
		}
		c.room = strings.TrimSuffix(room, "/")
		return nil
	}, OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
		// A member joins before its handshake completes, as in examples/chat (group add,
		// then accept): the client may send as soon as every handshake is done.
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return nil, ws.RejectConnectionError(ws.RejectionStatus(503))
		}
		s.conns[c] = true
		s.rooms[c.room] = append(s.rooms[c.room], c)
		return nil, nil
	}}
	defer s.leave(c)
	if _, err := up.Upgrade(nc); err != nil {
		return
	}
	for {
		msg, op, err := wsutil.ReadClientData(nc)
		if err != nil {
			return
		}
		if op == ws.OpText {
			s.message(c, msg)
		}
	}
}

func (s *faultServer) leave(c *faultConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	m := s.rooms[c.room]
	for i, o := range m {
		if o == c {
			s.rooms[c.room] = append(m[:i], m[i+1:]...)
			break
		}
	}
	if c.flush != nil {
		c.flush.Stop()
	}
}

// message handles one client frame (examples/chat echoes {"message": ...} to the room).
func (s *faultServer) message(c *faultConn, msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	nth := s.every > 0 && s.n%s.every == 0
	switch s.mode {
	case faultDrop:
		if nth {
			s.faults++
			return
		}
	case faultDup:
		if nth {
			s.faults++
			s.broadcast(c.room, msg)
		}
	case faultReorder:
		if h := s.held[c.room]; h != nil {
			delete(s.held, c.room)
			s.faults++
			s.broadcast(c.room, msg)
			s.broadcast(c.room, h)
			return
		}
		if nth {
			s.held[c.room] = msg
			room := c.room
			// Released unswapped if nothing follows soon (the room's last message).
			time.AfterFunc(100*time.Millisecond, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if h := s.held[room]; bytes.Equal(h, msg) {
					delete(s.held, room)
					s.broadcast(room, h)
				}
			})
			return
		}
	case faultError:
		if nth {
			s.faults++
			var m struct{ Message string }
			_ = json.Unmarshal(msg, &m)
			frame, _ := json.Marshal(map[string]string{"error": "MESSAGE_NOT_DELIVERED", "message": m.Message})
			c.wmu.Lock()
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_ = wsutil.WriteServerText(c, frame)
			c.wmu.Unlock()
			return
		}
	case faultForeign:
		if nth {
			s.faults++
			s.broadcast(c.room, msg)
			s.broadcast(c.room, []byte(`{"message":"999999:0:0"}`))
			s.broadcast(c.room, []byte(`{"message": not json`))
			return
		}
	case faultBatch:
		c.pending = append(c.pending, msg)
		if c.flush != nil {
			c.flush.Stop()
		}
		if len(c.pending) >= s.batch {
			s.release(c)
			return
		}
		c.flush = time.AfterFunc(100*time.Millisecond, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.release(c)
		})
		return
	case faultRate:
		now := time.Now()
		s.tokens = min(s.burst(), s.tokens+now.Sub(s.refilled).Seconds()*s.rate)
		s.refilled = now
		if s.tokens < 1 {
			s.faults++
			return
		}
		s.tokens--
	}
	s.broadcast(c.room, msg)
}

// release sends a sender's held messages (faultBatch); s.mu is held.
func (s *faultServer) release(c *faultConn) {
	s.maxBatch = max(s.maxBatch, len(c.pending))
	for _, m := range c.pending {
		s.broadcast(c.room, m)
	}
	c.pending = nil
}

// broadcast writes msg to every member of room; s.mu is held.
func (s *faultServer) broadcast(room string, msg []byte) {
	for _, m := range s.rooms[room] {
		m.wmu.Lock()
		_ = m.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = wsutil.WriteServerText(m, msg)
		m.wmu.Unlock()
	}
}
