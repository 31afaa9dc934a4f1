package channels

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/wsproto"
)

// errSlowClient is the close a slow client gets.
var errSlowClient = &CloseError{Code: ClosePolicyViolation, Reason: reasonSlowClient}

// enqueue adds f to the outbound queue, starting the writer if the queue was idle. A data
// or control frame that would take the queue past OutboundQueueBytes marks the client slow.
func (c *wsConn) enqueue(f outFrame, control bool) error {
	n := f.size()
	c.mu.Lock()
	switch c.state {
	case stateHandshake:
		c.mu.Unlock()
		return errors.New("channels: websocket.send before websocket.accept")
	case stateOpen:
	default:
		c.mu.Unlock()
		return c.closedErr()
	}
	if c.outBytes+n > c.srv.outboundLimit() && (!control || c.outBytes > 0) {
		c.slowLocked()
		c.mu.Unlock()
		return errSlowClient
	}
	c.pushLocked(f)
	c.mu.Unlock()
	return nil
}

// pushLocked queues f and starts the writer if needed. c.mu is held.
func (c *wsConn) pushLocked(f outFrame) {
	if c.queueLocked(f) {
		go c.writeLoop()
	}
}

// queueLocked queues f and reports whether the caller must run the writer (writeLoop), in
// its own goroutine or in a new one. c.mu is held.
func (c *wsConn) queueLocked(f outFrame) bool {
	if c.out == nil {
		c.takeQueueLocked()
	}
	c.out = append(c.out, f)
	c.outBytes += f.size()
	if c.writing {
		return false
	}
	c.writing = true
	return true
}

// slowLocked drops the queue and closes with 1008 "slow client". c.mu is held.
func (c *wsConn) slowLocked() {
	for i := range c.out {
		c.outBytes -= c.out[i].size()
	}
	c.out, c.outBox = nil, nil
	c.startCloseLocked(errSlowClient.Code, errSlowClient.Reason, true)
}

// startCloseLocked queues a close frame and moves to stateClosing. With closeAfter the
// socket is closed as soon as the frame is written; otherwise the server waits for the
// peer's close frame (at most CloseTimeout). c.mu is held; the state is stateOpen.
func (c *wsConn) startCloseLocked(code int, reason string, closeAfter bool) {
	// Deliver the disconnect first, so that no other path (a fast echo) can deliver another.
	c.mbox.Close(disconnectMsg(code, reason, closedByServer))
	c.state = stateClosing
	c.closeAfter = closeAfter
	f := outFrame{head: wsproto.AppendClose(nil, code, reason), close: true}
	c.pushLocked(f)
	c.resetTimerLocked(c.srv.closeTimeout())
}

// Values of a websocket.disconnect event's "closed_by": which side ended the connection.
const (
	closedByServer = "server" // the server closed first (application, limit, timeout, shutdown)
	closedByClient = "client" // the peer closed first, or its connection dropped
)

func disconnectMsg(code int, reason, by string) Message {
	return Message{"type": TypeWebsocketDisconnect, "code": code, "reason": reason, "closed_by": by}
}

// closeWith starts a server-side close with code and reason if the connection is open, and
// delivers the disconnect event with that code.
func (c *wsConn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.startCloseLocked(code, reason, false)
	c.mu.Unlock()
}

// failWith closes after a protocol error: the close frame goes out, the input is discarded
// until the peer closes (or CloseTimeout).
func (c *wsConn) failWith(code int, reason string) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.discard = true
	c.startCloseLocked(code, reason, false)
	c.mu.Unlock()
}

// closeTCP closes the socket (once) and delivers a disconnect with code if none was
// delivered yet; by says which side ended the connection (closedByServer or closedByClient).
func (c *wsConn) closeTCP(code int, reason, by string) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	for i := range c.out {
		c.outBytes -= c.out[i].size()
	}
	c.out, c.outBox, c.spare = nil, nil, nil
	desc := c.desc
	c.desc = nil
	conn := c.conn
	slot, busy := c.slotHeld, c.busyHeld
	c.slotHeld, c.busyHeld = false, false
	if c.appDone {
		if c.timer != nil {
			c.timer.Stop()
		}
	} else {
		// Give the application CloseTimeout to return before canceling its context.
		c.resetTimerLocked(c.srv.closeTimeout())
	}
	c.mu.Unlock()
	if desc != nil {
		desc.Remove()
	}
	if conn != nil {
		conn.Close()
	}
	if !c.mbox.isClosed() { // usually it is: the disconnect went with the close frames
		c.mbox.Close(disconnectMsg(code, reason, by))
	}
	c.srv.untrack(c)
	if slot {
		c.srv.releaseSlot()
	}
	if busy {
		c.srv.done()
	}
}

// buffersPool holds the writers' iovec lists, so that a writer's run allocates none.
var buffersPool = sync.Pool{New: func() any { return new(net.Buffers) }}

// writeLoop writes queued frames until the queue is empty, then exits.
func (c *wsConn) writeLoop() {
	bp := buffersPool.Get().(*net.Buffers)
	defer buffersPool.Put(bp)
	var cb *[]byte // the coalescing buffer, taken at the first batch that uses it
	defer func() {
		if cb != nil {
			coalescePool.Put(cb)
		}
	}()
	for {
		c.mu.Lock()
		if len(c.out) == 0 || c.state == stateClosed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch, box := c.out, c.outBox
		c.out, c.outBox = nil, nil
		c.mu.Unlock()

		total, hasClose := 0, false
		for i := range batch {
			total += batch[i].size() // as counted when queued
			if batch[i].deflate {
				c.deflateFrame(&batch[i])
			}
			hasClose = hasClose || batch[i].close
		}
		if cb == nil && len(batch) > 1 {
			cb = coalescePool.Get().(*[]byte)
		}
		bufs := appendIovecs((*bp)[:0], batch, cb)
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout()))
		var err error
		if len(bufs) == 1 {
			_, err = c.conn.Write(bufs[0])
		} else {
			*bp = bufs // WriteTo consumes its receiver; bufs keeps the whole list
			_, err = bp.WriteTo(c.conn)
		}
		clear(bufs)
		*bp = bufs[:0]
		c.mu.Lock()
		c.outBytes -= total
		c.recycleQueueLocked(batch, box)
		closeNow, halfClose := false, false
		if hasClose && err == nil {
			c.closeSent = true
			closeNow = c.closeAfter
			halfClose = c.discard
		}
		c.mu.Unlock()
		if halfClose && !closeNow {
			// After a protocol error the input is only drained: tell the peer at once that
			// nothing more comes (FIN after the close frame), so it closes its side without
			// waiting for a close handshake the server will not complete.
			if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.closeTCP(errSlowClient.Code, errSlowClient.Reason, closedByServer)
			} else {
				c.closeTCP(CloseAbnormal, "", closedByClient)
			}
			continue // the state is closed now: the loop exits
		}
		if closeNow {
			c.closeTCP(CloseAbnormal, "", closedByClient)
		}
	}
}

// sendControl queues a ping or pong.
func (c *wsConn) sendControl(op ws.OpCode, payload []byte) error {
	f := outFrame{head: wsproto.AppendFrame(make([]byte, 0, 2+len(payload)), op, payload)}
	return c.enqueue(f, true)
}

// resetTimerLocked makes the timer fire after d, creating it if needed. c.mu is held.
func (c *wsConn) resetTimerLocked(d time.Duration) {
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
	} else {
		c.timer.Reset(d)
	}
}

// armTimer starts the keepalive / idle timer after the upgrade.
func (c *wsConn) armTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen && c.state != stateClosing {
		return
	}
	d, ok := c.nextDeadlineLocked(time.Now().UnixNano())
	if !ok {
		return
	}
	c.resetTimerLocked(d)
}

// nextDeadlineLocked returns the time until the next keepalive or idle check.
func (c *wsConn) nextDeadlineLocked(now int64) (time.Duration, bool) {
	next := int64(0)
	consider := func(t int64) {
		if next == 0 || t < next {
			next = t
		}
	}
	s := c.srv
	if c.nextPing != 0 {
		consider(c.nextPing)
	}
	if c.pingSent != 0 {
		consider(c.pingSent + int64(s.pongTimeout()))
	}
	if s.IdleTimeout > 0 {
		consider(c.lastData.Load() + int64(s.IdleTimeout))
	}
	if next == 0 {
		return 0, false
	}
	return max(time.Duration(next-now), time.Millisecond), true
}

// onTimer runs keepalive pings, the pong and idle timeouts, the close timeout, and the
// application's grace period after the socket closed.
func (c *wsConn) onTimer() {
	now := time.Now().UnixNano()
	s := c.srv
	c.mu.Lock()
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		c.stop()      // the application had CloseTimeout to return after its disconnect
		c.mbox.kick() // a detached handler hears of it (see Mailbox.hostCtx)
		return
	case stateClosing:
		c.mu.Unlock()
		c.closeTCP(CloseAbnormal, "", closedByClient)
		return
	case stateOpen:
	default:
		c.mu.Unlock()
		return
	}
	if c.pingSent != 0 && c.lastRecv.Load() >= c.pingSent {
		c.pingSent = 0 // answered
	}
	if c.pingSent != 0 && now-c.pingSent >= int64(s.pongTimeout()) && !c.readBlocked.Load() {
		c.mu.Unlock()
		c.closeTCP(CloseAbnormal, reasonPongTimeout, closedByServer)
		return
	}
	if s.IdleTimeout > 0 && now-c.lastData.Load() >= int64(s.IdleTimeout) {
		c.mu.Unlock()
		c.closeWith(CloseGoingAway, reasonIdleTimeout)
		return
	}
	ping := false
	if c.nextPing != 0 && now >= c.nextPing {
		ping = true
		if c.pingSent == 0 {
			c.pingSent = now
		}
		c.nextPing = now + int64(s.pingInterval())
	}
	if d, ok := c.nextDeadlineLocked(now); ok {
		c.timer.Reset(d)
	}
	c.mu.Unlock()
	if ping {
		_ = c.sendControl(ws.OpPing, nil)
	}
}
