package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Loop modes of Run.
const (
	// ClosedLoop: each sender waits for its own message to come back before sending the next.
	ClosedLoop = "closed"
	// OpenLoop: messages are sent at a fixed total rate, whatever the replies do; latency is
	// measured from each message's intended send time (no coordinated omission).
	OpenLoop = "open"
)

// Config describes a chat load run against examples/chat servers.
type Config struct {
	// URLs are the servers' base WebSocket URLs ("ws://127.0.0.1:8000"); clients are spread
	// over them round-robin.
	URLs []string
	// Clients is the total number of WebSocket clients, Rooms the number of rooms they are
	// spread over (client i is in room i mod Rooms, on server (i / Rooms) mod len(URLs), so
	// every room spans every server).
	Clients, Rooms int
	// Senders is the number of sending clients per room (0: every member sends).
	Senders int
	// Mode is ClosedLoop or OpenLoop.
	Mode string
	// Rate is the open-loop target in deliveries per second over all rooms (one message in a
	// room of m members is m deliveries); messages per second = Rate / m.
	Rate float64
	// Warmup runs the load without measuring; Duration is the measured time after it; Drain
	// is the longest wait after the last send for late deliveries (the run stops draining as
	// soon as everything expected has arrived).
	Warmup, Duration, Drain time.Duration
	// Size pads each "message" string to at least this many bytes.
	Size int
	// Inflight is how many of its own messages a closed-loop sender keeps in flight (default
	// 1): it sends until that many are unanswered, then one more for each of its own that
	// comes back, so -inflight 50 -senders 10 in a room of 100 is ten bursts of 50.
	Inflight int
	// EchoTimeout is how long a closed-loop sender waits for one of its own messages to come
	// back before giving up on its oldest unanswered one and sending the next anyway (default
	// 5s); a message counts as answered when it or a later one of the sender's comes back. In
	// the open loop it is the bound over which an own message counts as an echo timeout
	// (never back, or back later than this).
	EchoTimeout time.Duration
	// DialConcurrency bounds concurrent handshakes while connecting (default 64).
	DialConcurrency int
	// Dialer opens the sockets.
	Dialer Dialer
	// Logger receives progress (slog.Default() when nil).
	Logger *slog.Logger
	// ServerPIDs and RedisPID, when set, are the local processes whose CPU time during the
	// measured window the report shows.
	ServerPIDs []int
	RedisPID   int
	// OnWindow, when not nil, is called (in a goroutine of its own) when the measured window
	// starts, which lasts Duration: Profiler.Start, say.
	OnWindow func()
}

// Report is the outcome of Run.
type Report struct {
	Mode            string   `json:"mode"`
	Servers         []string `json:"servers"`
	Layer           string   `json:"layer,omitempty"`
	Clients         int      `json:"clients"`
	Rooms           int      `json:"rooms"`
	SendersPerRoom  int      `json:"senders_per_room"`
	Inflight        int      `json:"inflight,omitempty"`
	TargetRate      float64  `json:"target_deliveries_per_sec,omitempty"`
	WarmupSeconds   float64  `json:"warmup_s"`
	DurationSeconds float64  `json:"duration_s"`
	ConnectSeconds  float64  `json:"connect_s"`
	DrainSeconds    float64  `json:"drain_s"`
	MessagesSent    int64    `json:"messages_sent"`
	Expected        int64    `json:"expected_deliveries"`
	Delivered       int64    `json:"delivered"`
	Lost            int64    `json:"lost"`
	Duplicates      int64    `json:"duplicates"`
	Reordered       int64    `json:"reordered"`
	Late            int64    `json:"late_deliveries"`
	Foreign         int64    `json:"foreign_or_malformed"`
	// ErrorFrames counts the server's answers that a sender's message was not delivered
	// (examples/chat's {"error": ..., "message": m}); they are not deliveries.
	ErrorFrames      int64   `json:"error_frames"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	MessagesPerSec   float64 `json:"messages_per_sec"`
	Latency          Latency `json:"latency"`
	EchoTimeouts     int64   `json:"echo_timeouts"`
	WriteErrors      int64   `json:"write_errors"`
	ReadErrors       int64   `json:"read_errors"`
	CPU              *CPU    `json:"cpu,omitempty"`
	FirstError       string  `json:"first_error,omitempty"`
	Interrupted      bool    `json:"interrupted,omitempty"`
	// LimitsHit holds the servers' loss counters (from their /metrics) that grew during the
	// run: which limit dropped messages or closed clients (layer drops, group targets over
	// capacity, full mailboxes, slow-client closes). Nil when no server serves /metrics.
	LimitsHit map[string]float64 `json:"limits_hit,omitempty"`
}

type room struct {
	name    string
	members []*client
}

type client struct {
	id   int
	idx  int // index among its room's members
	room *room
	url  string
	conn *Conn
	echo chan struct{} // closed loop: signalled by the reader on each own message back

	sent    atomic.Int64 // messages written
	topEcho atomic.Int64 // highest own sequence number back (-1: none); written by the reader

	// Owned by the reader goroutine; read after it ended.
	seen       []bitset // per sender index in the room
	top        []int64  // per sender index: highest sequence number seen (-1: none)
	dups       int64
	reordered  int64 // first copies with a lower sequence number than one seen before
	foreign    int64
	errFrames  int64
	inWindow   int64
	late       int64
	readFailed bool
}

// bitset is a growable set of sequence numbers.
type bitset []uint64

// add sets seq and reports whether it was already set.
func (b *bitset) add(seq int64) bool {
	w := int(seq >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	m := uint64(1) << (seq & 63)
	old := (*b)[w]&m != 0
	(*b)[w] |= m
	return old
}

func (b bitset) count() int64 {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return int64(n)
}

type run struct {
	cfg        Config
	log        *slog.Logger
	base       time.Time // message timestamps are monotonic offsets from base
	start      time.Duration
	measure    time.Duration // measured window is [measure, sendEnd)
	sendEnd    time.Duration
	hist       Histogram
	unique     atomic.Int64
	writeErrs  atomic.Int64
	readErrs   atomic.Int64
	timeouts   atomic.Int64
	sentWindow atomic.Int64
	closing    atomic.Bool
	ready      chan struct{} // closed once start, measure and sendEnd are set
	readyOnce  sync.Once
	errOnce    sync.Once
	firstErr   atomic.Value // string
}

func (r *run) noteErr(err error) {
	r.errOnce.Do(func() {
		r.firstErr.Store(err.Error())
		r.log.Warn("chatload: first error", "error", err)
	})
}

func (c *Config) check() error {
	switch {
	case len(c.URLs) == 0:
		return errors.New("loadtest: no server URLs")
	case c.Clients < 1 || c.Rooms < 1 || c.Clients < c.Rooms:
		return fmt.Errorf("loadtest: need at least one client per room (clients %d, rooms %d)", c.Clients, c.Rooms)
	case c.Mode != ClosedLoop && c.Mode != OpenLoop:
		return fmt.Errorf("loadtest: mode %q: want %q or %q", c.Mode, ClosedLoop, OpenLoop)
	case c.Mode == OpenLoop && c.Rate <= 0:
		return fmt.Errorf("loadtest: open loop needs a positive rate, got %v", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("loadtest: duration must be positive, got %v", c.Duration)
	case c.Warmup < 0 || c.Drain < 0:
		return errors.New("loadtest: warm-up and drain must not be negative")
	}
	return nil
}

// RoomPrefix returns a fresh room-name prefix ("load" + 8 hex digits + "_"), so that runs
// sharing one Redis do not hear each other.
func RoomPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "load" + hex.EncodeToString(b[:]) + "_"
}

// Run connects the clients, runs the load for Warmup+Duration, drains, disconnects, and
// reports. It fails only when the clients cannot all connect or the config is wrong; errors
// during the run are counted in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.EchoTimeout <= 0 {
		cfg.EchoTimeout = 5 * time.Second
	}
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 64
	}
	if cfg.Senders <= 0 {
		cfg.Senders = cfg.Clients // capped per room below
	}
	if cfg.Inflight <= 0 || cfg.Mode != ClosedLoop {
		cfg.Inflight = 1
	}
	r := &run{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}
	if r.log == nil {
		r.log = slog.Default()
	}
	prefix := RoomPrefix()
	rooms := make([]*room, cfg.Rooms)
	for i := range rooms {
		rooms[i] = &room{name: prefix + strconv.Itoa(i)}
	}
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		rm := rooms[i%cfg.Rooms]
		base := strings.TrimRight(cfg.URLs[(i/cfg.Rooms)%len(cfg.URLs)], "/")
		c := &client{id: i, idx: len(rm.members), room: rm, url: base + "/ws/chat/" + rm.name + "/", echo: make(chan struct{}, 1)}
		c.topEcho.Store(-1)
		rm.members = append(rm.members, c)
		clients[i] = c
	}
	for _, rm := range rooms {
		for _, c := range rm.members {
			c.seen = make([]bitset, len(rm.members))
			c.top = make([]int64, len(rm.members))
			for i := range c.top {
				c.top[i] = -1
			}
		}
	}

	// Connect everyone, each reader starting as soon as its socket is up.
	t0 := time.Now()
	var readers sync.WaitGroup
	defer func() {
		r.readyOnce.Do(func() { close(r.ready) })
		r.closing.Store(true)
		for _, c := range clients {
			if c.conn != nil {
				_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				_ = c.conn.CloseGracefully()
			}
		}
		readers.Wait()
	}()
	r.base = time.Now()
	if err := dialAll(ctx, cfg.DialConcurrency, len(clients), func(ctx context.Context, i int) error {
		c := clients[i]
		conn, err := cfg.Dialer.Dial(ctx, c.url, i)
		if err != nil {
			return err
		}
		c.conn = conn
		readers.Add(1)
		go func() {
			defer readers.Done()
			r.read(c, clients)
		}()
		return nil
	}); err != nil {
		return nil, err
	}
	connectTime := time.Since(t0)
	r.log.Info("chatload: connected", "clients", len(clients), "in", connectTime.Round(time.Millisecond))
	limitsBefore, haveMetrics := scrapeLimits(ctx, cfg.URLs)

	r.start = time.Since(r.base)
	r.measure = r.start + cfg.Warmup
	r.sendEnd = r.measure + cfg.Duration
	r.readyOnce.Do(func() { close(r.ready) })
	var senders []*client
	for _, rm := range rooms {
		senders = append(senders, rm.members[:min(cfg.Senders, len(rm.members))]...)
	}
	var wg sync.WaitGroup
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpuc := make(chan [2]cpuSample, 1)
	go func() { cpuc <- r.sampleWindow(sendCtx) }()
	if cfg.OnWindow != nil {
		go func() {
			if sleepCtx(sendCtx, r.measure-time.Since(r.base)) == nil {
				cfg.OnWindow()
			}
		}()
	}
	if cfg.Mode == ClosedLoop {
		for _, c := range senders {
			wg.Add(1)
			go func() { defer wg.Done(); r.closedLoop(sendCtx, c) }()
		}
	} else {
		r.openLoop(sendCtx, senders, rooms, &wg)
	}
	wg.Wait()
	sendStop := time.Since(r.base)
	cpu := <-cpuc

	// Drain: wait for what is still in flight, at most cfg.Drain.
	var expected, sent int64
	for _, c := range clients {
		n := c.sent.Load()
		sent += n
		expected += n * int64(len(c.room.members))
	}
	drainUntil := time.Now().Add(cfg.Drain)
	for r.unique.Load() < expected && time.Now().Before(drainUntil) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	drained := time.Since(r.base) - sendStop
	var limitsHit map[string]float64
	if haveMetrics {
		after, _ := scrapeLimits(ctx, cfg.URLs)
		limitsHit = limitDeltas(limitsBefore, after)
	}
	r.closing.Store(true)
	for _, c := range clients {
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_ = c.conn.CloseGracefully()
	}
	readers.Wait()

	rep := &Report{
		Mode: cfg.Mode, Servers: cfg.URLs, Clients: cfg.Clients, Rooms: cfg.Rooms,
		SendersPerRoom:  min(cfg.Senders, cfg.Clients/cfg.Rooms),
		Inflight:        cfg.Inflight,
		WarmupSeconds:   cfg.Warmup.Seconds(),
		DurationSeconds: cfg.Duration.Seconds(),
		ConnectSeconds:  round3(connectTime.Seconds()),
		DrainSeconds:    round3(drained.Seconds()),
		MessagesSent:    sent,
		Expected:        expected,
		Latency:         r.hist.Summary(),
		EchoTimeouts:    r.timeouts.Load(),
		WriteErrors:     r.writeErrs.Load(),
		ReadErrors:      r.readErrs.Load(),
		LimitsHit:       limitsHit,
	}
	if cfg.Mode == OpenLoop {
		rep.TargetRate = cfg.Rate
	}
	var window int64
	for _, c := range clients {
		for _, b := range c.seen {
			rep.Delivered += b.count()
		}
		rep.Duplicates += c.dups
		rep.Reordered += c.reordered
		if cfg.Mode == OpenLoop { // own messages that never came back
			rep.EchoTimeouts += c.sent.Load() - c.seen[c.idx].count()
		}
		rep.Foreign += c.foreign
		rep.ErrorFrames += c.errFrames
		rep.Late += c.late
		window += c.inWindow
	}
	rep.Lost = expected - rep.Delivered
	// An interrupted run measured only until it stopped sending.
	measured := min(sendStop, r.sendEnd) - r.measure
	if ctx.Err() != nil {
		rep.Interrupted = true
		rep.DurationSeconds = round3(max(measured, 0).Seconds())
	}
	if measured > 0 {
		rep.DeliveriesPerSec = round3(float64(window) / measured.Seconds())
		rep.MessagesPerSec = round3(float64(r.sentWindow.Load()) / measured.Seconds())
	}
	if s, ok := r.firstErr.Load().(string); ok {
		rep.FirstError = s
	}
	if cpu[0].ok && cpu[1].ok {
		c := &CPU{
			Servers: round3((cpu[1].servers - cpu[0].servers).Seconds()),
			Redis:   round3((cpu[1].redis - cpu[0].redis).Seconds()),
			Client:  round3((cpu[1].client - cpu[0].client).Seconds()),
		}
		if sv := c.Servers + c.Redis; sv > 0 && len(cfg.ServerPIDs) > 0 {
			c.DeliveriesPerServerCPUSec = round3(float64(window) / sv)
		}
		rep.CPU = c
	}
	return rep, nil
}

// sampleWindow samples the CPU times at the start and at the end of the measured window.
func (r *run) sampleWindow(ctx context.Context) (s [2]cpuSample) {
	if sleepCtx(ctx, r.measure-time.Since(r.base)) != nil {
		return s
	}
	s[0] = sampleCPU(r.cfg.ServerPIDs, r.cfg.RedisPID)
	if sleepCtx(ctx, r.sendEnd-time.Since(r.base)) != nil {
		return s
	}
	s[1] = sampleCPU(r.cfg.ServerPIDs, r.cfg.RedisPID)
	return s
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// dialAll calls dial(i) for i in [0, n) with at most conc at once, and returns the first
// error (after the calls in progress end).
func dialAll(ctx context.Context, conc, n int, dial func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := dial(ctx, i); err != nil {
					once.Do(func() { first = fmt.Errorf("client %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return fmt.Errorf("loadtest: connecting: %w", context.Cause(ctx))
	}
	return first
}

// appendMessage appends the JSON frame {"message": "id:seq:ns[padding]"}.
func appendMessage(b []byte, id int, seq int64, ns time.Duration, size int) []byte {
	b = append(b, `{"message":"`...)
	n := len(b)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(ns), 10)
	for len(b)-n < size {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// Frame prefixes of examples/chat and of Python's json.dumps (the Django reference).
var (
	msgPrefix       = []byte(`{"message":"`)
	msgPrefixSpaced = []byte(`{"message": "`)
)

// parseMessage reads id, seq and timestamp back from a frame the server sent.
func parseMessage(frame []byte) (id int, seq int64, ns time.Duration, ok bool) {
	var s []byte
	switch {
	case bytes.HasPrefix(frame, msgPrefix) && bytes.HasSuffix(frame, []byte(`"}`)):
		s = frame[len(msgPrefix) : len(frame)-2]
	case bytes.HasPrefix(frame, msgPrefixSpaced) && bytes.HasSuffix(frame, []byte(`"}`)):
		s = frame[len(msgPrefixSpaced) : len(frame)-2]
	default:
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(frame, &m) != nil {
			return 0, 0, 0, false
		}
		s = []byte(m.Message)
	}
	var f [3]int64
	for k := range f {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			f[k] = f[k]*10 + int64(s[i]-'0')
			i++
		}
		if i == 0 || (k < 2 && (i == len(s) || s[i] != ':')) {
			return 0, 0, 0, false
		}
		s = s[min(i+1, len(s)):]
	}
	return int(f[0]), f[1], time.Duration(f[2]), true
}

func (r *run) read(c *client, clients []*client) {
	defer c.conn.Close()
	buf := make([]byte, 0, 256)
	ready := false
	for {
		var err error
		buf, err = c.conn.ReadText(buf)
		if err != nil {
			if !r.closing.Load() {
				c.readFailed = true
				r.readErrs.Add(1)
				r.noteErr(fmt.Errorf("client %d: %w", c.id, err))
			}
			return
		}
		if !ready { // the run's times are set before any message is sent
			<-r.ready
			ready = true
		}
		now := time.Since(r.base)
		if isErrorFrame(buf) {
			c.errFrames++ // the echo never comes: the closed loop waits its timeout
			continue
		}
		id, seq, ts, ok := parseMessage(buf)
		if !ok || id < 0 || id >= len(clients) || clients[id].room != c.room {
			c.foreign++
			continue
		}
		from := clients[id]
		if c.seen[from.idx].add(seq) {
			c.dups++
			continue
		}
		if seq < c.top[from.idx] {
			c.reordered++
		} else {
			c.top[from.idx] = seq
		}
		r.unique.Add(1)
		if from == c {
			if seq > c.topEcho.Load() {
				c.topEcho.Store(seq)
			}
			select {
			case c.echo <- struct{}{}:
			default: // a signal is already pending
			}
			if r.cfg.Mode == OpenLoop && now-ts > r.cfg.EchoTimeout {
				r.timeouts.Add(1)
			}
		}
		if now >= r.sendEnd {
			c.late++
		} else if now >= r.measure {
			c.inWindow++
		}
		if ts >= r.measure && ts < r.sendEnd {
			r.hist.Record(now - ts)
		}
	}
}

func (r *run) send(c *client, buf []byte, seq int64, intended time.Duration) ([]byte, error) {
	buf = appendMessage(buf[:0], c.id, seq, intended, r.cfg.Size)
	if err := c.conn.WriteFrame(ws.OpText, buf); err != nil {
		r.writeErrs.Add(1)
		r.noteErr(fmt.Errorf("client %d: %w", c.id, err))
		return buf, err
	}
	c.sent.Add(1)
	if intended >= r.measure && intended < r.sendEnd {
		r.sentWindow.Add(1)
	}
	return buf, nil
}

// closedLoop keeps up to Inflight of c's messages unanswered: it sends while fewer are
// out, and otherwise waits for one of its own to come back. A message counts as answered
// when it or a later one of c's came back (a room delivers each sender's messages in order),
// or when it was given up: after EchoTimeout without an answer the sender counts an echo
// timeout and gives up on its oldest unanswered message, so a lost message stalls it only
// that long, and its late return does not let more than Inflight out.
func (r *run) closedLoop(ctx context.Context, c *client) {
	inflight := int64(r.cfg.Inflight)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []byte
	var givenUpTo int64 // messages below this one were given up or answered
	for seq := int64(0); ctx.Err() == nil; {
		now := time.Since(r.base)
		if now >= r.sendEnd {
			return
		}
		answered := max(c.topEcho.Load()+1, givenUpTo)
		if seq-answered < inflight {
			var err error
			if buf, err = r.send(c, buf, seq, now); err != nil {
				return
			}
			seq++
			continue
		}
		timer.Reset(min(r.cfg.EchoTimeout, r.sendEnd-now+time.Millisecond))
		select {
		case <-c.echo:
		case <-timer.C:
			if time.Since(r.base) < r.sendEnd {
				r.timeouts.Add(1)
				givenUpTo = max(c.topEcho.Load()+1, givenUpTo) + 1
			}
		case <-ctx.Done():
			return
		}
	}
}

// openLoop schedules messages at Rate/m per second (m: members per room) round-robin over
// the senders, from a timer set to each next intended send time; each message carries its
// intended send time, so a late dispatch or a blocked sender shows in the latency.
func (r *run) openLoop(ctx context.Context, senders []*client, rooms []*room, wg *sync.WaitGroup) {
	members := float64(r.cfg.Clients) / float64(len(rooms))
	interval := time.Duration(float64(time.Second) * members / r.cfg.Rate)
	interval = max(interval, time.Nanosecond)
	queues := make([]chan time.Duration, len(senders))
	for i, c := range senders {
		q := make(chan time.Duration, 1024)
		queues[i] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			failed := false
			for seq := int64(0); ; seq++ {
				intended, ok := <-q
				if !ok {
					return
				}
				if failed {
					continue
				}
				var err error
				if buf, err = r.send(c, buf, seq, intended); err != nil {
					failed = true
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		dispatch(ctx, queues, r.start, r.sendEnd, interval, func() time.Duration { return time.Since(r.base) })
	}()
}
