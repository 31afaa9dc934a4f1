package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// OutageConfig describes a Redis outage run (RunOutage): chat server processes on one
// private redis-server, an open-loop load, and the redis-server killed and restarted on the
// same port in the middle of the measured window.
type OutageConfig struct {
	// Procs is the number of chat server processes (default 2).
	Procs int
	// ChatBinary is a built examples/chat (empty: go build it, see ClusterConfig).
	ChatBinary string
	// Clients, Rooms and Senders shape the load as in Config (Senders 0: every member sends).
	Clients, Rooms, Senders int
	// Rate is the open-loop target in deliveries per second over all rooms (default 2,000).
	Rate float64
	// Warmup runs the load unmeasured; Duration is the measured window, Drain the longest
	// wait for late deliveries after the last send.
	Warmup, Duration, Drain time.Duration
	// KillAfter is when, after the measured window starts, redis-server is killed (SIGKILL);
	// default a third of Duration.
	KillAfter time.Duration
	// Gap is how long redis-server stays down before it is restarted on the same port
	// (default 1.5s).
	Gap time.Duration
	// Reconnect is the pause between a client's reconnect attempts (default 100ms).
	Reconnect time.Duration
	// Size pads each message string to at least this many bytes.
	Size int
	// DialConcurrency bounds concurrent handshakes while connecting (default 64).
	DialConcurrency int
	// Dialer opens the sockets.
	Dialer Dialer
	// Logger receives progress (slog.Default() when nil).
	Logger *slog.Logger
	// KeepLogs keeps the servers' logs (see ClusterConfig).
	KeepLogs bool
}

func (c *OutageConfig) defaults() error {
	if c.Procs == 0 {
		c.Procs = 2
	}
	if c.Rooms == 0 {
		c.Rooms = 1
	}
	if c.Rate == 0 {
		c.Rate = 2000
	}
	if c.Gap == 0 {
		c.Gap = 1500 * time.Millisecond
	}
	if c.KillAfter == 0 {
		c.KillAfter = c.Duration / 3
	}
	if c.Reconnect <= 0 {
		c.Reconnect = 100 * time.Millisecond
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.Senders <= 0 {
		c.Senders = c.Clients
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Procs < 1:
		return fmt.Errorf("loadtest: outage: need at least one server process, got %d", c.Procs)
	case c.Clients < 1 || c.Rooms < 1 || c.Clients < c.Rooms:
		return fmt.Errorf("loadtest: outage: need at least one client per room (clients %d, rooms %d)", c.Clients, c.Rooms)
	case c.Rate < 0:
		return fmt.Errorf("loadtest: outage: negative rate %v", c.Rate)
	case c.Duration <= 0 || c.Warmup < 0 || c.Drain < 0:
		return errors.New("loadtest: outage: duration must be positive, warm-up and drain not negative")
	case c.Gap < 0 || c.KillAfter < 0 || c.KillAfter+c.Gap >= c.Duration:
		return fmt.Errorf("loadtest: outage: the kill (%v into the window) and the gap (%v) must end before the measured window does (%v)", c.KillAfter, c.Gap, c.Duration)
	}
	return nil
}

// RunOutage starts cfg.Procs chat servers on a private redis-server, connects the clients
// (client i in room i mod Rooms, on server (i / Rooms) mod Procs, so every room spans every
// process), sends at cfg.Rate from the intended send times (open loop), SIGKILLs
// redis-server KillAfter into the measured window, restarts it on the same port Gap later,
// keeps sending until the window ends, drains, stops everything and reports. Clients whose
// socket closes reconnect every Reconnect until the sending ends. The run stops by itself;
// it fails only when the servers cannot start, the clients cannot all connect at first, or
// redis-server cannot be restarted.
func RunOutage(ctx context.Context, cfg OutageConfig) (*OutageReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	cl, err := StartCluster(ctx, ClusterConfig{
		Procs: cfg.Procs, LayerURL: "redis", ChatBinary: cfg.ChatBinary, Logger: cfg.Logger, KeepLogs: cfg.KeepLogs,
	})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	o := newOutageRun(cfg, cl)
	return o.run(ctx)
}

// outageClient is one chat client of an outage run; it reconnects when its socket closes.
type outageClient struct {
	id, idx, proc int
	room          *outageRoom
	url           string
	dialIndex     int

	socketSlot

	// Owned by the sender goroutine; read after it ended.
	intended []time.Duration // intended send time of each written message, by sequence number
	unsent   []time.Duration // intended send times of messages not written (no socket, write failed)
	writeErr []time.Duration // when writes failed

	// Owned by the session goroutine; read after it ended.
	seen      []bitset // per sender index in the room
	top       []int64
	dups      []time.Duration // intended send times of duplicate copies
	reordered []time.Duration // of first copies behind a later one of the same sender
	errored   bitset          // own sequence numbers answered with an error frame
	errFrames []time.Duration // intended send times of those frames' messages
	foreign   int64
	lat       []latencySample // received deliveries
	events    []sessionEvent
	down      [][2]time.Duration // intervals without a socket
}

type outageRoom struct{ members []*outageClient }

type latencySample struct{ intended, latency time.Duration }

// sessionEvent is a socket closing, a reconnect, or a refused reconnect attempt.
type sessionEvent struct {
	at   time.Duration
	kind string // "close", "reconnect", "refused"
	code string // close code ("1011", "1006" for no close frame) or refusal ("503", "dial")
}

type outageRun struct {
	cfg     OutageConfig
	log     *slog.Logger
	cl      *Cluster
	clients []*outageClient
	rooms   []*outageRoom

	base      time.Time
	start     time.Duration // sending starts
	measure   time.Duration // measured window [measure, sendEnd)
	sendEnd   time.Duration
	killed    atomic.Int64 // offset of the kill, from base (0: not yet)
	restarted atomic.Int64 // offset of the restarted redis-server's first PONG

	// For the drain: deliveries expected of the messages written so far, and received.
	expectedTotal, receivedTotal atomic.Int64

	stop      context.CancelFunc // ends reconnect attempts
	ready     chan struct{}      // closed once start, measure and sendEnd are set (or the run ends)
	readyOnce sync.Once
	closing   atomic.Bool
	errOnce   sync.Once
	firstErr  atomic.Value // string
}

func newOutageRun(cfg OutageConfig, cl *Cluster) *outageRun {
	o := &outageRun{cfg: cfg, log: cfg.Logger, cl: cl, ready: make(chan struct{})}
	o.rooms = make([]*outageRoom, cfg.Rooms)
	for i := range o.rooms {
		o.rooms[i] = &outageRoom{}
	}
	prefix := RoomPrefix()
	for i := range cfg.Clients {
		rm := o.rooms[i%cfg.Rooms]
		proc := (i / cfg.Rooms) % len(cl.URLs)
		c := &outageClient{
			id: i, idx: len(rm.members), proc: proc, room: rm, dialIndex: i,
			url: strings.TrimRight(cl.URLs[proc], "/") + "/ws/chat/" + prefix + strconv.Itoa(i%cfg.Rooms) + "/",
		}
		rm.members = append(rm.members, c)
		o.clients = append(o.clients, c)
	}
	for _, rm := range o.rooms {
		for _, c := range rm.members {
			c.seen = make([]bitset, len(rm.members))
			c.top = make([]int64, len(rm.members))
			for i := range c.top {
				c.top[i] = -1
			}
		}
	}
	return o
}

func (o *outageRun) noteErr(err error) {
	o.errOnce.Do(func() {
		o.firstErr.Store(err.Error())
		o.log.Warn("chatload: outage: first error", "error", err)
	})
}

func (o *outageRun) now() time.Duration { return time.Since(o.base) }

func (o *outageRun) run(ctx context.Context) (*OutageReport, error) {
	cfg := o.cfg
	sessCtx, stop := context.WithCancel(ctx)
	o.stop = stop
	defer stop()
	var sessions sync.WaitGroup
	defer func() {
		o.shutdown()
		sessions.Wait()
	}()

	o.base = time.Now()
	t0 := time.Now()
	if err := dialSessions(ctx, cfg.DialConcurrency, len(o.clients), "outage", &sessions,
		func(ctx context.Context, i int) (*Conn, error) {
			return cfg.Dialer.Dial(ctx, o.clients[i].url, o.clients[i].dialIndex)
		},
		func(i int) *socketSlot { return &o.clients[i].socketSlot },
		func(i int, conn *Conn) { o.session(sessCtx, o.clients[i], conn) },
	); err != nil {
		return nil, err
	}
	connectTime := time.Since(t0)
	o.log.Info("chatload: outage: connected", "clients", len(o.clients), "in", connectTime.Round(time.Millisecond))
	limitsBefore := make([]map[string]float64, len(o.cl.URLs))
	for i, u := range o.cl.URLs {
		limitsBefore[i], _ = scrapeLimits(ctx, []string{u})
	}

	o.start = o.now()
	o.measure = o.start + cfg.Warmup
	o.sendEnd = o.measure + cfg.Duration
	o.readyOnce.Do(func() { close(o.ready) })
	chaos := make(chan error, 1)
	go func() { chaos <- o.chaos(ctx) }()
	var senders sync.WaitGroup
	o.openLoop(ctx, &senders)
	senders.Wait()
	sendStop := o.now()
	if err := <-chaos; err != nil {
		return nil, err
	}

	// Drain: until every expected delivery arrived (counted by the readers), at most Drain.
	drainUntil := time.Now().Add(cfg.Drain)
	for time.Now().Before(drainUntil) && ctx.Err() == nil && !o.drained() {
		time.Sleep(20 * time.Millisecond)
	}
	drained := o.now() - sendStop
	stop()
	o.shutdown()
	sessions.Wait()

	rep := &OutageReport{
		Servers: o.cl.URLs, Layer: redactLayer(o.cl.LayerURL), Procs: len(o.cl.URLs), Clients: cfg.Clients, Rooms: cfg.Rooms,
		SendersPerRoom: min(cfg.Senders, cfg.Clients/cfg.Rooms), TargetRate: cfg.Rate,
		WarmupSeconds: cfg.Warmup.Seconds(), DurationSeconds: cfg.Duration.Seconds(),
		ConnectSeconds: round3(connectTime.Seconds()), DrainSeconds: round3(drained.Seconds()),
		GapSeconds: cfg.Gap.Seconds(),
	}
	if k := time.Duration(o.killed.Load()); k > 0 { // 0: interrupted before the kill
		rep.KillSeconds = round3((k - o.measure).Seconds())
		if b := time.Duration(o.restarted.Load()); b > 0 {
			rep.RestartedSeconds = round3((b - o.measure).Seconds())
			rep.DownSeconds = round3((b - k).Seconds())
		}
	}
	for i, u := range o.cl.URLs {
		after, ok := scrapeLimits(ctx, []string{u})
		if ok {
			rep.LimitsHit = append(rep.LimitsHit, limitDeltas(limitsBefore[i], after))
		} else {
			rep.LimitsHit = append(rep.LimitsHit, nil)
		}
	}
	rep.Rows = o.tally()
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	if s, ok := o.firstErr.Load().(string); ok {
		rep.FirstError = s
	}
	return rep, nil
}

// redactLayer hides a password in a layer URL.
func redactLayer(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// drained reports whether every message written so far has reached every member of its
// room. It reads the readers' bitsets only through the counters they publish.
func (o *outageRun) drained() bool {
	return o.receivedTotal.Load() >= o.expectedTotal.Load()
}

// shutdown closes every socket (a normal close) and keeps new ones from being stored.
func (o *outageRun) shutdown() {
	o.closing.Store(true)
	o.readyOnce.Do(func() { close(o.ready) })
	if o.stop != nil {
		o.stop()
	}
	for _, c := range o.clients {
		c.close(2 * time.Second)
	}
}

// session reads c's socket, and after it closes reconnects every Reconnect until the
// sending ends, recording closes, reconnects and refusals.
func (o *outageRun) session(ctx context.Context, c *outageClient, conn *Conn) {
	for {
		o.readConn(c, conn)
		c.drop(conn)
		if o.closing.Load() {
			return
		}
		downAt := o.now()
		<-o.ready // the run's times are set (a socket may close while the others connect)
		for {
			if sleepCtx(ctx, o.cfg.Reconnect) != nil || o.now() >= o.sendEnd {
				c.down = append(c.down, [2]time.Duration{downAt, o.now()})
				return
			}
			var err error
			conn, err = o.cfg.Dialer.Dial(ctx, c.url, c.dialIndex)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				c.down = append(c.down, [2]time.Duration{downAt, o.now()})
				return
			}
			code := "dial"
			if se := ws.StatusError(0); errors.As(err, &se) {
				code = strconv.Itoa(int(se))
			}
			c.events = append(c.events, sessionEvent{at: o.now(), kind: "refused", code: code})
		}
		at := o.now()
		c.down = append(c.down, [2]time.Duration{downAt, at})
		if !c.store(conn) {
			return
		}
		c.events = append(c.events, sessionEvent{at: at, kind: "reconnect"})
	}
}

// readConn reads one socket of c until it fails, counting what arrives.
func (o *outageRun) readConn(c *outageClient, conn *Conn) {
	defer conn.Close()
	buf := make([]byte, 0, 256)
	for {
		var err error
		buf, err = conn.ReadText(buf)
		if err != nil {
			if o.closing.Load() {
				return
			}
			code := "1006"
			if errors.Is(err, errClosed) {
				cc, _ := ws.ParseCloseFrameData(buf)
				code = strconv.Itoa(int(cc))
			}
			c.events = append(c.events, sessionEvent{at: o.now(), kind: "close", code: code})
			o.noteErr(fmt.Errorf("client %d: %w", c.id, err))
			return
		}
		now := o.now()
		if isErrorFrame(buf) {
			o.errorFrame(c, buf)
			continue
		}
		id, seq, ts, ok := parseMessage(buf)
		if !ok || id < 0 || id >= len(o.clients) || o.clients[id].room != c.room {
			c.foreign++
			continue
		}
		from := o.clients[id]
		if c.seen[from.idx].add(seq) {
			c.dups = append(c.dups, ts)
			continue
		}
		if seq < c.top[from.idx] {
			c.reordered = append(c.reordered, ts)
		} else {
			c.top[from.idx] = seq
		}
		o.receivedTotal.Add(1)
		c.lat = append(c.lat, latencySample{intended: ts, latency: now - ts})
	}
}

// isErrorFrame reports whether frame is examples/chat's answer to a message it could not hand
// to the layer: {"error": ..., "message": m}.
func isErrorFrame(frame []byte) bool {
	return len(frame) > 9 && string(frame[:9]) == `{"error":`
}

// errorFrame records the error frame of one of c's own messages.
func (o *outageRun) errorFrame(c *outageClient, frame []byte) {
	var m struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(frame, &m) != nil || m.Error == "" {
		c.foreign++
		return
	}
	id, seq, ts, ok := parseMessage([]byte(`{"message":"` + m.Message + `"}`))
	if !ok || id != c.id {
		c.foreign++
		return
	}
	if !c.errored.add(seq) {
		c.errFrames = append(c.errFrames, ts)
	}
}

// chaos kills redis-server KillAfter into the measured window and restarts it Gap later on
// the same port.
func (o *outageRun) chaos(ctx context.Context) error {
	if err := sleepCtx(ctx, o.measure+o.cfg.KillAfter-o.now()); err != nil {
		return nil
	}
	p := o.cl.redis
	if p == nil {
		return errors.New("loadtest: outage: no private redis-server to kill")
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(o.cl.LayerURL, "redis://"), "/0")
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("loadtest: outage: kill redis-server: %w", err)
	}
	<-p.exited
	o.killed.Store(int64(o.now()))
	o.log.Info("chatload: outage: redis-server killed", "at", o.now().Round(time.Millisecond))
	if err := sleepCtx(ctx, o.cfg.Gap); err != nil {
		return nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("loadtest: outage: restart: %w", err)
	}
	if err := o.cl.startRedisOn(ctx, bin, "redis-restarted", addr); err != nil {
		return fmt.Errorf("loadtest: outage: restart redis-server on %s: %w", addr, err)
	}
	o.restarted.Store(int64(o.now()))
	o.log.Info("chatload: outage: redis-server accepting again", "at", o.now().Round(time.Millisecond))
	return nil
}

// openLoop schedules messages at Rate/m per second (m: members per room) round-robin over
// the senders, each carrying its intended send time, until the measured window ends. A
// message whose sender has no socket at its time is not sent (counted as unsent).
func (o *outageRun) openLoop(ctx context.Context, wg *sync.WaitGroup) {
	members := float64(o.cfg.Clients) / float64(o.cfg.Rooms)
	interval := max(time.Duration(float64(time.Second)*members/o.cfg.Rate), time.Nanosecond)
	var senders []*outageClient
	for _, rm := range o.rooms {
		senders = append(senders, rm.members[:min(o.cfg.Senders, len(rm.members))]...)
	}
	queues := make([]chan time.Duration, len(senders))
	for i, c := range senders {
		q := make(chan time.Duration, 1024)
		queues[i] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.sender(c, q)
		}()
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
	}()
	dispatch(ctx, queues, o.start, o.sendEnd, interval, o.now)
}

// sender writes c's messages at their intended times, on whatever socket c has then.
func (o *outageRun) sender(c *outageClient, q <-chan time.Duration) {
	var buf []byte
	members := int64(len(c.room.members))
	for intended := range q {
		conn := c.current()
		if conn == nil {
			c.unsent = append(c.unsent, intended)
			continue
		}
		seq := int64(len(c.intended))
		// Expected before written, so that the drain never sees a delivery it does not expect.
		o.expectedTotal.Add(members)
		buf = appendMessage(buf[:0], c.id, seq, intended, o.cfg.Size)
		if err := conn.WriteFrame(ws.OpText, buf); err != nil {
			o.expectedTotal.Add(-members)
			c.unsent = append(c.unsent, intended)
			c.writeErr = append(c.writeErr, o.now())
			// The socket is broken: its reader sees it too (and the close code the server sent,
			// which closing it here could discard), and the session reconnects.
			o.noteErr(fmt.Errorf("client %d: %w", c.id, err))
			continue
		}
		c.intended = append(c.intended, intended)
	}
}
