package redislayer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

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

	mu    sync.Mutex
	runID string // of the server last connected to; "" until known
	since uint64 // written() when that server was first seen
	off   bool   // the server refuses INFO (renamed or not permitted): not asked again
}

// hook returns an OnConnect callback that runs prev (the caller's own, if any) and then
// checks the new connection's server. The check never fails the connection.
func (w *restartWatch) hook(prev func(context.Context, *redis.Conn) error) func(context.Context, *redis.Conn) error {
	return func(ctx context.Context, cn *redis.Conn) error {
		if prev != nil {
			if err := prev(ctx, cn); err != nil {
				return err
			}
		}
		w.check(ctx, cn)
		return nil
	}
}

func (w *restartWatch) check(ctx context.Context, cn *redis.Conn) {
	w.mu.Lock()
	off := w.off
	w.mu.Unlock()
	if off {
		return
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
		return // a network error fails the connection's first command anyway
	}
	id, sentinel := runID(info)
	if id == "" || sentinel {
		return // go-redis also runs the hook on its connections to the Sentinels
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
	if prev != "" && prev != id {
		// A restarted server without persistence (or a replica that had not caught up) lost
		// the messages it held: at most those this process handed to the old server that
		// their receivers had not taken yet. Which ones cannot be told from here; the count of
		// all it was handed bounds them.
		w.log.Warn("Redis server restarted or failed over (new run_id): messages waiting in it that were not received yet are lost; rejoining groups",
			"addr", w.addr, "messages_handed_to_previous_server", now-since)
		w.changed()
	}
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

// restartWatch returns a watch for one shard's server that makes the heartbeat loop rejoin
// this process's groups when the server is replaced.
func (l *Layer) restartWatch(addr string) *restartWatch {
	return &restartWatch{addr: addr, log: l.log, changed: func() {
		select {
		case l.recovered <- struct{}{}:
		default:
		}
	}, written: func() uint64 { return l.st.sent.Load() + l.st.groupWrites.Load() }}
}
