package redislayer

import "sync"

// groupSnap is this process's copy of a group's snapshot (see groupSendScript): the targets
// and their encoded __asgi_channel__ arrays, as of the snapshot id.
type groupSnap struct {
	id      string
	targets []string
	arrays  [][]byte
}

// maxSnaps and maxSnapBytes bound the snapshots a layer keeps (each costs about the size of
// its group's member names); past either the cache starts over.
const (
	maxSnaps     = 1024
	maxSnapBytes = 64 << 20
)

// snapCache holds the groupSnaps of the groups this process sends to.
type snapCache struct {
	mu    sync.Mutex
	m     map[string]*groupSnap
	bytes int
}

func (sn *groupSnap) size() int {
	n := len(sn.id)
	for i := range sn.targets {
		n += len(sn.targets[i]) + len(sn.arrays[i])
	}
	return n
}

func (c *snapCache) get(group string) *groupSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[group]
}

func (c *snapCache) put(group string, sn *groupSnap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[group]; old != nil {
		c.bytes -= old.size()
	}
	if c.m == nil || len(c.m) >= maxSnaps || c.bytes+sn.size() > maxSnapBytes {
		c.m, c.bytes = make(map[string]*groupSnap), 0
	}
	c.m[group] = sn
	c.bytes += sn.size()
}

func (c *snapCache) drop(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[group]; old != nil {
		c.bytes -= old.size()
		delete(c.m, group)
	}
}
