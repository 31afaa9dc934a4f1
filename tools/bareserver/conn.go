package bareserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// conn is one WebSocket: its reader runs in the goroutine that accepted it, its writer in
// a goroutine of its own; they share only the queue (under mu) and the wake signal.
type conn struct {
	s        *Server
	nc       net.Conn
	br       *bufio.Reader
	room     *room
	roomName string
	wake     chan struct{} // capacity 1: the writer has something to do

	mu      sync.Mutex
	queue   [][]byte // frames to write, shared with other connections: never modified
	queued  int      // bytes in queue
	closing bool     // no more frames: the writer sends the close frame (if code != 0) and stops
	code    ws.StatusCode
	reason  string
}

// enqueue appends a frame to c's queue, waking the writer when the queue was empty. A frame
// that would take the queue past QueueBytes drops the queue and closes c as a slow client.
func (c *conn) enqueue(frame []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return // being closed: the client learns it from the close, not from a hole
	}
	if c.queued+len(frame) > c.s.cfg.QueueBytes {
		queued := c.queued
		c.queue, c.queued = nil, 0
		c.closing, c.code, c.reason = true, ws.StatusPolicyViolation, ReasonSlowClient
		c.mu.Unlock()
		c.s.slowCloses.Add(1)
		c.s.log.Warn("bareserver: slow client closed (1008)", "remote", c.nc.RemoteAddr().String(),
			"room", c.roomName, "queued_bytes", queued, "bound", c.s.cfg.QueueBytes)
		c.signal()
		return
	}
	wasEmpty := len(c.queue) == 0
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.mu.Unlock()
	if wasEmpty {
		c.signal()
	}
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default: // already signalled
	}
}

// closeWith makes the writer send a close frame with code (none when code is 0) after what
// is queued, and stop. Only the first close counts.
func (c *conn) closeWith(code ws.StatusCode, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.code, c.reason = true, code, reason
	}
	c.mu.Unlock()
	c.signal()
}

// writeLoop writes everything queued at each wake-up with one writev (net.Buffers), until
// the connection closes; then it closes the socket, which ends the reader.
func (c *conn) writeLoop() {
	defer c.nc.Close()
	var spare [][]byte
	for range c.wake {
		c.mu.Lock()
		batch := c.queue
		c.queue, c.queued = spare[:0], 0
		closing, code, reason := c.closing, c.code, c.reason
		c.mu.Unlock()
		if len(batch) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
			bufs := net.Buffers(batch)
			_, err := bufs.WriteTo(c.nc)
			c.s.writes.Add(1)
			c.s.frames.Add(int64(len(batch)))
			clear(batch) // drop the references to shared frames
			spare = batch[:0]
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					c.s.slowCloses.Add(1)
					c.s.log.Warn("bareserver: slow client closed (write timeout)", "remote", c.nc.RemoteAddr().String(),
						"room", c.roomName, "timeout", c.s.cfg.WriteTimeout)
				}
				c.closeWith(0, "") // refuse further frames
				return
			}
		}
		if closing {
			if code != 0 {
				_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_ = ws.WriteFrame(c.nc, ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
			}
			return
		}
	}
}

// readLoop reads client frames until the connection ends: a whole message is broadcast to
// the room; a ping is answered; a close is echoed.
func (c *conn) readLoop() {
	var hdr [ws.MaxHeaderSize]byte
	var buf, msg []byte
	for {
		h, err := ws.ReadHeaderBuffer(c.br, hdr[:])
		if err != nil {
			c.closeWith(0, "")
			return
		}
		if !h.Masked {
			c.fail(ws.StatusProtocolError, "unmasked client frame")
			return
		}
		if h.OpCode.IsControl() && (h.Length > 125 || !h.Fin) {
			c.fail(ws.StatusProtocolError, "bad control frame")
			return
		}
		if h.Length > c.s.cfg.MaxMessageSize || int64(len(msg))+h.Length > c.s.cfg.MaxMessageSize {
			c.fail(ws.StatusMessageTooBig, "message too big")
			return
		}
		n := int(h.Length)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.closeWith(0, "")
			return
		}
		ws.Cipher(buf, h.Mask, 0)
		switch h.OpCode {
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(buf)
			if code == 0 {
				code = ws.StatusNormalClosure
			}
			c.closeWith(code, "")
			return
		case ws.OpPing:
			c.enqueue(ws.MustCompileFrame(ws.NewPongFrame(bytes.Clone(buf))))
			continue
		case ws.OpPong:
			continue
		}
		if h.Fin && len(msg) == 0 {
			if !c.message(buf) {
				return
			}
			continue
		}
		msg = append(msg, buf...)
		if h.Fin {
			if !c.message(msg) {
				return
			}
			msg = msg[:0]
		}
	}
}

// fail closes c for a bad frame or message, counted.
func (c *conn) fail(code ws.StatusCode, reason string) {
	c.s.badRequests.Add(1)
	c.s.log.Info("bareserver: closing connection", "remote", c.nc.RemoteAddr().String(), "code", int(code), "reason", reason)
	c.closeWith(code, reason)
}

// message broadcasts {"message": m} for a client message {"message": m}: decoded once,
// encoded once, one frame shared by every member. It reports false after closing c for a
// message that is not such an object.
func (c *conn) message(p []byte) bool {
	var in struct {
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(p, &in); err != nil || in.Message == nil {
		c.fail(ws.StatusInvalidFramePayloadData, `want {"message": ...}`)
		return false
	}
	payload := make([]byte, 0, len(in.Message)+len(`{"message":}`))
	payload = append(payload, `{"message":`...)
	var out bytes.Buffer
	if err := json.Compact(&out, in.Message); err != nil {
		c.fail(ws.StatusInvalidFramePayloadData, `want {"message": ...}`)
		return false
	}
	payload = append(payload, out.Bytes()...)
	payload = append(payload, '}')
	c.s.broadcast(c.room, ws.MustCompileFrame(ws.NewTextFrame(payload)))
	return true
}
