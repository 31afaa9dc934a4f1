package channels

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/wsproto"
)

// readerPool holds the read buffers of connections in a read burst; an idle connection
// holds none.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// startReading serves the upgraded connection's input. br is the hijacked reader, which may
// already hold bytes the client sent right after its handshake.
func (c *wsConn) startReading(br *bufio.Reader) {
	tcp, isTCP := c.conn.(*net.TCPConn)
	p := c.srv.poller()
	if !isTCP || p == nil {
		go c.readLoop(br)
		return
	}
	_ = tcp
	if br.Buffered() > 0 {
		// Consume what net/http already read, then hand the socket to the poller.
		go func() {
			if c.burst(br) {
				c.arm()
			}
		}()
		return
	}
	c.arm()
}

// arm registers the socket with the poller, or re-arms it.
func (c *wsConn) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return
	}
	if c.desc != nil {
		if err := c.desc.Resume(); err != nil {
			c.mu.Unlock()
			c.closeTCP(CloseAbnormal, "", closedByClient)
			c.mu.Lock()
		}
		return
	}
	d, err := c.srv.poller().Add(c.conn.(*net.TCPConn), c.onReadable)
	if err != nil {
		// Fall back to a reader goroutine.
		c.srv.logger().Warn("channels: poller registration failed; using a reader goroutine", "err", err)
		go c.readLoop(bufio.NewReaderSize(c.conn, 4096))
		return
	}
	c.desc = d
}

// onReadable is called by the poller when bytes (or EOF) arrived.
func (c *wsConn) onReadable() { go c.pollRead() }

func (c *wsConn) pollRead() {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c.conn)
	_ = c.conn.SetReadDeadline(time.Now().Add(c.srv.readTimeout()))
	// A wake-up with nothing to read is harmless: wait for the next one.
	if _, err := br.Peek(1); err != nil {
		br.Reset(nil)
		readerPool.Put(br)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.arm()
			return
		}
		c.readFailed(err)
		return
	}
	more := c.burst(br)
	br.Reset(nil)
	readerPool.Put(br)
	if more {
		c.arm()
	}
}

// readLoop is the reader goroutine used where the poller cannot be.
func (c *wsConn) readLoop(br *bufio.Reader) {
	for c.readFrame(br) {
	}
}

// burst reads frames while br has buffered bytes. It reports whether the connection wants
// more input.
func (c *wsConn) burst(br *bufio.Reader) bool {
	for {
		if !c.readFrame(br) {
			return false
		}
		if br.Buffered() == 0 {
			return true
		}
	}
}

// readFrame reads and handles one frame (or, while discarding, a chunk of input). It reports
// whether reading should go on.
func (c *wsConn) readFrame(br *bufio.Reader) bool {
	c.mu.Lock()
	discard := c.discard
	c.mu.Unlock()
	if discard {
		if _, err := br.Discard(max(br.Buffered(), 1)); err != nil {
			c.closeTCP(CloseAbnormal, "", closedByClient)
			return false
		}
		return true
	}
	f, err := c.rd.Next(br)
	if err != nil {
		c.readFailed(err)
		return false
	}
	now := time.Now().UnixNano()
	c.lastRecv.Store(now)
	switch f.OpCode {
	case ws.OpText, ws.OpBinary:
		c.lastData.Store(now)
		c.mu.Lock()
		open := c.state == stateOpen
		c.mu.Unlock()
		if !open {
			return true // after our close frame, data is ignored (RFC 6455 §5.5.1)
		}
		var msg Message
		if f.OpCode == ws.OpText {
			// The payload is ours alone and never changes: share it with the string.
			msg = Message{"type": TypeWebsocketReceive, "text": unsafe.String(unsafe.SliceData(f.Payload), len(f.Payload))}
		} else {
			msg = Message{"type": TypeWebsocketReceive, "bytes": f.Payload}
		}
		return c.deliver(msg)
	case ws.OpPing:
		c.mu.Lock()
		open := c.state == stateOpen
		c.mu.Unlock()
		if open {
			_ = c.sendControl(ws.OpPong, f.Payload)
		}
		return true
	case ws.OpPong:
		return true
	case ws.OpClose:
		return c.peerClosed(f.Code, f.Reason)
	}
	return true
}

// deliver puts msg in the mailbox, waiting for room (back-pressure).
func (c *wsConn) deliver(msg Message) bool {
	err := c.mbox.offer(msg)
	if errors.Is(err, ErrMailboxFull) {
		c.readBlocked.Store(true)
		err = c.mbox.Put(context.Background(), msg)
		c.readBlocked.Store(false)
		c.lastRecv.Store(time.Now().UnixNano())
		_ = c.conn.SetReadDeadline(time.Now().Add(c.srv.readTimeout()))
	}
	// An error means the scope ended (the application closed or returned): keep reading
	// until the close handshake finishes.
	_ = err
	return true
}

// peerClosed handles the peer's close frame. It reports whether reading should go on.
func (c *wsConn) peerClosed(code int, reason string) bool {
	c.mu.Lock()
	switch c.state {
	case stateOpen:
		c.peerClose = &CloseError{Code: code, Reason: reason}
		c.mbox.Close(disconnectMsg(code, reason, closedByClient))
		c.state = stateClosing
		// Echo the close (RFC 6455 §5.5.1) after what is queued, then close the socket.
		c.closeAfter = true
		echo := code
		if code == CloseNoStatus {
			echo = 0
		}
		write := c.queueLocked(outFrame{head: wsproto.AppendClose(nil, echo, reason), close: true})
		c.resetTimerLocked(c.srv.closeTimeout())
		c.mu.Unlock()
		if write {
			// This reader stops here: it writes the echo itself rather than starting a
			// writer goroutine.
			c.writeLoop()
		}
		return false
	case stateClosing:
		if c.closeSent {
			c.mu.Unlock()
			c.closeTCP(code, reason, closedByServer)
			return false
		}
		c.closeAfter = true // our close frame is still queued: close once it is written
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	return false
}

// readFailed handles a read error: a protocol violation fails the connection with its
// code; anything else means the socket is gone.
func (c *wsConn) readFailed(err error) {
	var pe *wsproto.Error
	if errors.As(err, &pe) {
		c.failWith(pe.Code, pe.Reason)
		c.mu.Lock()
		discard := c.discard
		c.mu.Unlock()
		if discard {
			// Keep reading to drain the input until the peer closes, so that our close
			// frame is not lost to a reset.
			c.continueDiscard()
		}
		return
	}
	reason := ""
	if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = reasonReadTimeout
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		reason = err.Error()
	}
	by := closedByClient
	if reason == reasonReadTimeout {
		by = closedByServer
	}
	c.closeTCP(CloseAbnormal, reason, by)
}

// continueDiscard keeps draining input after a protocol error.
func (c *wsConn) continueDiscard() {
	c.mu.Lock()
	polled := c.desc != nil
	c.mu.Unlock()
	if polled {
		c.arm()
		return
	}
	go c.readLoop(bufio.NewReaderSize(c.conn, 512))
}
