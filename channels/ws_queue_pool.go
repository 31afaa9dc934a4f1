package channels

import "sync"

// The outbound queue's arrays are recycled: a busy connection queues tens or hundreds of
// frames between two writes, and growing a new array for each batch (doubling from one
// frame) cost more heap per delivered frame than the frame itself. A connection keeps a
// small array of its own between writes (spare); larger ones go back to a process-wide pool
// that the next busy connection takes from, so an idle connection holds none.

// maxSpare bounds the queue array a connection keeps between writes (frames).
const maxSpare = 4

// maxPooledFrames bounds the arrays put back in frameQueues (frames; 80 bytes each), so
// that the burst of one connection does not keep a large array alive in the pool.
const maxPooledFrames = 1024

// frameQueue boxes a queue array for frameQueues, so that putting it back allocates nothing:
// the connection keeps the box while it uses the array (wsConn.outBox).
type frameQueue struct{ frames []outFrame }

// frameQueues holds empty queue arrays (*frameQueue) between busy writes.
var frameQueues sync.Pool

// takeQueueLocked gives an empty queue (c.out is nil) an array: the connection's spare, or
// one from the pool. Without either, append grows one. c.mu is held.
func (c *wsConn) takeQueueLocked() {
	if c.spare != nil {
		c.out, c.spare = c.spare, nil
		return
	}
	if q, _ := frameQueues.Get().(*frameQueue); q != nil {
		c.out, c.outBox = q.frames, q
		q.frames = nil
	}
}

// recycleQueueLocked takes back the array of a written batch, which came in box (nil when
// append grew it): as the spare when it is small, else into the pool. The frames' payloads
// are cleared first, so that neither keeps them alive. c.mu is held.
func (c *wsConn) recycleQueueLocked(batch []outFrame, box *frameQueue) {
	if c.state == stateClosed {
		return
	}
	switch n := cap(batch); {
	case n <= maxSpare:
		if c.spare == nil {
			clear(batch)
			c.spare = batch[:0]
		}
	case n <= maxPooledFrames:
		clear(batch)
		if box == nil {
			box = new(frameQueue)
		}
		box.frames = batch[:0]
		frameQueues.Put(box)
	}
}
