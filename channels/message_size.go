package channels

import (
	"math"
	"sync/atomic"
	"unsafe"
)

// Size estimate constants: what a Message costs in memory beyond its strings and byte
// slices, roughly (a map's header and its share of buckets, an interface value per entry).
const (
	sizeMapOverhead   = 48 // a map header and its first bucket's share
	sizeEntryOverhead = 16 // per key/value pair: the interface word pair and bucket slot
	sizeScalar        = 8  // a number, bool or nil
	sizeOther         = 16 // a value of a type the estimate does not look into
	sizeMaxDepth      = 32 // nesting beyond this counts as sizeOther (a cyclic map ends here)
)

// MessageSize estimates the memory msg holds, in bytes: the lengths of its keys, strings and
// byte slices, plus a small overhead per map, entry and value, recursively through nested
// maps and slices. It is the measure the server's per-connection event queue is bounded by
// (see Server.EventQueueBytes). It allocates nothing and costs a few nanoseconds per value.
func MessageSize(msg Message) int { return mapSize(msg, 0) }

func mapSize(m map[string]any, depth int) int {
	n := sizeMapOverhead
	for k, v := range m {
		n += sizeEntryOverhead + len(k) + valueSize(v, depth+1)
	}
	return n
}

func valueSize(v any, depth int) int {
	if depth > sizeMaxDepth {
		return sizeOther
	}
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return len(x)
	case nil, bool, int, int64, int32, uint64, uint32, uint, float64, float32:
		return sizeScalar
	case Message:
		return mapSize(x, depth)
	case map[string]any:
		return mapSize(x, depth)
	case []any:
		n := sizeEntryOverhead
		for _, e := range x {
			n += sizeEntryOverhead + valueSize(e, depth+1)
		}
		return n
	case []string:
		n := sizeEntryOverhead
		for _, e := range x {
			n += sizeEntryOverhead + len(e)
		}
		return n
	case [][]byte:
		n := sizeEntryOverhead
		for _, e := range x {
			n += sizeEntryOverhead + len(e)
		}
		return n
	case map[string]string:
		n := sizeMapOverhead
		for k, e := range x {
			n += sizeEntryOverhead + len(k) + len(e)
		}
		return n
	}
	return sizeOther
}

// sizeMemo is the size of the last message measured by cachedSize, and whether it is a
// TypeClose message.
type sizeMemo struct {
	msg     Message
	size    int
	isClose bool
}

// lastSize remembers the last message measured: a layer hands the very same Message to
// every local member of a group, one after the other, so it is measured (and its type read)
// once per group send rather than once per member. The memo holds the message, so its map
// cannot be freed and its address reused while it is remembered.
var lastSize atomic.Pointer[sizeMemo]

// cachedSize returns MessageSize(msg), at most math.MaxInt32 (a mailbox keeps it in 32
// bits), and whether msg is a TypeClose message, found once for consecutive deliveries of
// the same map. Messages are read-only once sent, so what was found of a map seen before
// still holds.
func cachedSize(msg Message) (size int, isClose bool) {
	if m := lastSize.Load(); m != nil && sameMap(m.msg, msg) {
		return m.size, m.isClose
	}
	size, isClose = min(MessageSize(msg), math.MaxInt32), msg.Type() == TypeClose
	if len(msg) > 1 {
		lastSize.Store(&sizeMemo{msg: msg, size: size, isClose: isClose})
	}
	return size, isClose
}

// sameMap reports whether a and b are the same map.
func sameMap(a, b Message) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}
