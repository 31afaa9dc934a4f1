package redislayer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// restartWatch notices that the server behind a shard was replaced: restarted (perhaps
// empty, without this process's group memberships), or failed over to another master. It
// reads the server's run_id, which Redis draws anew at every start, on each new connection
// of the shard's clients. A failing receive loop notices most outages by itself, but
// go-redis retries a failed command on a fresh connection, so a quick restart can pass
// without any call failing; the run_id still changes.
type restartWatch struct {
	addr    string // for logs, password redacted
	log     *slog.Logger
	changed func() // called, outside the lock, when the run_id changes
	// written returns how many messages the layer has stored so far (sends and group
	// writes), to tell how many went to a server that has since been replaced.
	written func() uint64

	// open, when set, is called on the first connection to a replaced server before the
	// watch takes the new run_id (see Layer.openRejoin); if it fails, the connection fails
	// and the next one tries again.
	open  func(ctx context.Context, cn *redis.Conn, w *restartWatch) error
	shard int // index of the watched shard in Layer.shards

	// gen numbers the rejoin windows this process opened here; pending is the gen of the one
	// still holding a "rejoin:" entry of this process (0: none).
	gen, pending atomic.Uint64

	mu    sync.Mutex
	runID string // of the server last connected to; "" until known
	since uint64 // written() when that server was first seen
	off   bool   // the server refuses INFO (renamed or not permitted): not asked again
}

// hook returns an OnConnect callback that runs prev (the caller's own, if any) and then
// checks the new connection's server. The check fails the connection only when it found a
// replaced server and could not open the rejoin window there: no command of this process
// may reach a replaced server before that window is open.
func (w *restartWatch) hook(prev func(context.Context, *redis.Conn) error) func(context.Context, *redis.Conn) error {
	return func(ctx context.Context, cn *redis.Conn) error {
		if prev != nil {
			if err := prev(ctx, cn); err != nil {
				return err
			}
		}
		return w.check(ctx, cn)
	}
}

func (w *restartWatch) check(ctx context.Context, cn *redis.Conn) error {
	w.mu.Lock()
	off := w.off
	w.mu.Unlock()
	if off {
		return nil
	}
	info, err := cn.Info(ctx, "server").Result()
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) {
			w.mu.Lock()
			w.off = true
			w.mu.Unlock()
			w.log.Info("the server refuses INFO; a restart is noticed only through failing calls", "addr", w.addr, "error", err)
		}
		return nil // a network error fails the connection's first command anyway
	}
	id, sentinel := runID(info)
	if id == "" || sentinel {
		return nil // go-redis also runs the hook on its connections to the Sentinels
	}
	w.mu.Lock()
	prev := w.runID
	w.mu.Unlock()
	if prev == id {
		return nil
	}
	if prev != "" && w.open != nil {
		// Before any command of this process runs there (this connection's own included).
		if err := w.open(ctx, cn, w); err != nil {
			w.log.Warn("Redis server replaced, and opening its rejoin window failed; failing the connection", "addr", w.addr, "error", err)
			return fmt.Errorf("redislayer: open the rejoin window on the replaced server %s: %w", w.addr, err)
		}
	}
	var now uint64
	if w.written != nil {
		now = w.written()
	}
	w.mu.Lock()
	prev, since := w.runID, w.since
	if prev != id {
		w.runID, w.since = id, now
	}
	w.mu.Unlock()
	if prev == id {
		return nil // another connection took the news first
	}
	if prev != "" && prev != id {
		// A restarted server without persistence (or a replica that had not caught up) lost
		// the messages it held: at most those this process handed to the old server that
		// their receivers had not taken yet. Which ones cannot be told from here; the count of
		// all it was handed bounds them.
		w.log.Warn("Redis server restarted or failed over (new run_id): messages waiting in it that were not received yet are lost; rejoining groups, group sends wait for the rejoin window",
			"addr", w.addr, "messages_handed_to_previous_server", now-since)
		w.changed()
	}
	return nil
}

// runID returns the run_id field of an INFO reply ("" if missing), and whether the server is
// a Sentinel.
func runID(info string) (id string, sentinel bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "run_id:"); ok {
			id = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(line, "redis_mode:"); ok {
			sentinel = strings.TrimSpace(v) == "sentinel"
		}
	}
	return id, sentinel
}

// restartWatch returns a watch for the next shard's server that opens a rejoin window there
// and makes the heartbeat loop rejoin this process's groups when the server is replaced.
func (l *Layer) restartWatch(addr string) *restartWatch {
	w := &restartWatch{addr: addr, log: l.log, changed: func() {
		select {
		case l.recovered <- struct{}{}:
		default:
		}
	}, written: func() uint64 { return l.st.sent.Load() + l.st.groupWrites.Load() },
		open: l.openRejoin, shard: len(l.watches)}
	// One watch per shard, made in shard order (standalone hosts, Sentinel masters).
	l.watches = append(l.watches, w)
	return w
}
