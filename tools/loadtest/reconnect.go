package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Ways a reconnect run takes the clients' sockets away (ReconnectConfig.By).
const (
	// ReconnectKill SIGKILLs the last chat process and restarts it on the same port; its
	// clients reconnect to it as soon as it accepts.
	ReconnectKill = "kill"
	// ReconnectDrop closes every client's socket at once (no close frame); they all reconnect
	// at once to the process they were on.
	ReconnectDrop = "drop"
)

// ReconnectConfig describes a mass reconnect run (RunReconnect): Clients chat clients over
// Procs examples/chat processes with -history on one private redis-server, senders that keep
// sending, and every affected client reconnecting at once with ?resume= its last position.
type ReconnectConfig struct {
	// Procs is the number of chat server processes (default 2; kill needs 2 or more: the
	// senders are on the first, which is never killed).
	Procs int
	// ChatBinary is a built examples/chat (empty: go build it, see ClusterConfig).
	ChatBinary string
	// Clients is the number of receiving clients (default 10,000), client i in room
	// i mod Rooms on process (i / Rooms) mod Procs.
	Clients int
	// Rooms is the number of rooms (default Clients/100, at least 1).
	Rooms int
	// SendersPerRoom is the number of sending clients per room (default 1), on the first
	// process, besides the Clients; they are never cut off.
	SendersPerRoom int
	// Rate is messages per second over all rooms (default 100).
	Rate float64
	// History is the chat servers' -history: messages kept per room (default 1,000). A
	// client that missed more cannot recover (it is counted unrecoverable).
	History int
	// By is ReconnectKill (default) or ReconnectDrop.
	By string
	// Warmup bounds the wait, after connecting, until every client has received a message
	// (and so has a position to resume from); default 30s.
	Warmup time.Duration
	// Baseline is the steady window measured before the sockets are taken away: the Redis
	// commands the senders cost in it, scaled to the recovery window, are subtracted from
	// the commands counted during the recovery (default 2s).
	Baseline time.Duration
	// Gap is how long a killed process stays down before it is restarted (default 0: at
	// once; the restart itself takes a while).
	Gap time.Duration
	// CatchUp bounds the wait for every affected client's recovery frame (default 2m).
	CatchUp time.Duration
	// After is how long the senders keep sending once every client has caught up (default 1s).
	After time.Duration
	// Drain bounds the wait, after the last send, until every client has every message
	// (default 10s).
	Drain time.Duration
	// Reconnect is the pause between a client's refused reconnect attempts (default 50ms).
	Reconnect time.Duration
	// DialConcurrency bounds concurrent handshakes while first connecting (default 64); the
	// reconnects all run at once.
	DialConcurrency int
	// Dialer opens the sockets.
	Dialer Dialer
	// Logger receives progress (slog.Default() when nil).
	Logger *slog.Logger
	// KeepLogs keeps the servers' logs (see ClusterConfig).
	KeepLogs bool
}

func (c *ReconnectConfig) defaults() error {
	if c.Procs == 0 {
		c.Procs = 2
	}
	if c.Clients == 0 {
		c.Clients = 10_000
	}
	if c.Rooms == 0 {
		c.Rooms = max(c.Clients/100, 1)
	}
	if c.SendersPerRoom == 0 {
		c.SendersPerRoom = 1
	}
	if c.Rate == 0 {
		c.Rate = 100
	}
	if c.History == 0 {
		c.History = 1000
	}
	if c.By == "" {
		c.By = ReconnectKill
	}
	if c.Warmup == 0 {
		c.Warmup = 30 * time.Second
	}
	if c.Baseline == 0 {
		c.Baseline = 2 * time.Second
	}
	if c.CatchUp == 0 {
		c.CatchUp = 2 * time.Minute
	}
	if c.After == 0 {
		c.After = time.Second
	}
	if c.Drain == 0 {
		c.Drain = 10 * time.Second
	}
	if c.Reconnect <= 0 {
		c.Reconnect = 50 * time.Millisecond
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.By != ReconnectKill && c.By != ReconnectDrop:
		return fmt.Errorf("loadtest: reconnect: by %q: want %q or %q", c.By, ReconnectKill, ReconnectDrop)
	case c.Procs < 1 || (c.By == ReconnectKill && c.Procs < 2):
		return fmt.Errorf("loadtest: reconnect: %d process(es): want at least 1, and 2 to kill one (the senders stay on the first)", c.Procs)
	case c.Clients < 1 || c.Rooms < 1 || c.Clients < c.Rooms:
		return fmt.Errorf("loadtest: reconnect: need at least one client per room (clients %d, rooms %d)", c.Clients, c.Rooms)
	case c.SendersPerRoom < 1 || c.Rate <= 0:
		return fmt.Errorf("loadtest: reconnect: want at least one sender per room and a positive rate (got %d, %v)", c.SendersPerRoom, c.Rate)
	case c.History < 1 || c.History > 10_000:
		return fmt.Errorf("loadtest: reconnect: history %d: want 1 to 10000", c.History)
	case c.Warmup < 0 || c.Baseline < 0 || c.Gap < 0 || c.CatchUp < 0 || c.After < 0 || c.Drain < 0:
		return errors.New("loadtest: reconnect: negative duration")
	}
	return nil
}

// RunReconnect starts cfg.Procs chat servers with history on a private redis-server,
// connects the senders (on the first process) and the clients, sends at cfg.Rate, waits until
// every client has a position, measures a steady Baseline, then takes the affected clients'
// sockets away (By) and lets each reconnect at once with ?resume= its last position. It
// waits until every affected client has its recovery frame, keeps sending for After, drains,
// stops everything and reports. It stops by itself (each wait is bounded); it fails when the
// servers cannot start, the clients cannot all connect or get a first message, or a killed
// process cannot be restarted.
func RunReconnect(ctx context.Context, cfg ReconnectConfig) (*ReconnectReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	cl, restart, err := startHistoryCluster(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	r := newReconnectRun(cfg, cl, restart)
	return r.run(ctx)
}

// rcClient is one receiving client of a reconnect run.
type rcClient struct {
	id, room, proc int
	url            string
	affected       bool

	socketSlot

	// Read by the run while it goes on.
	first  atomic.Uint64 // offset of the first message received (0: none yet)
	unique atomic.Int64  // distinct offsets received
	caught atomic.Int64  // when (from base) the recovery frame after the cut-off arrived; 0: not yet
	back   atomic.Int64  // when (from base) the first reconnect after the cut-off succeeded; 0: not yet

	// Owned by the session goroutine; read after it ended.
	got                  bitset // offsets received
	epoch                string
	last                 uint64 // highest offset received
	resuming             bool   // the socket was opened with ?resume=, its recovery frame not yet in
	sessionFrames        int64  // message frames on this socket before its recovery frame
	dups, reordered      int64
	foreign, epochChange int64
	recovered            int64
	unrecoverable        map[string]int64
	replayed             int64 // sum of the recovery frames' "replayed"
	replayedFrames       int64 // message frames received before the recovery frames
	missingAtCatchUp     int64 // offsets up to a recovered top not received by its frame
	reconnects, refused  int64
	closes               map[string]int64
}

// rcSender sends one room's messages from the first process.
type rcSender struct {
	id, room int
	conn     *Conn
	sent     int64 // owned by the sending goroutine
	errors   atomic.Int64
}

type reconnectRun struct {
	cfg     ReconnectConfig
	log     *slog.Logger
	cl      *Cluster
	restart [][]string
	clients []*rcClient
	senders []*rcSender
	prefix  string

	roomTop []atomic.Uint64 // highest offset the room's senders received
	sent    atomic.Int64

	base     time.Time
	cutAt    atomic.Int64 // when (from base) the sockets were taken away; 0: not yet
	closing  atomic.Bool
	stop     context.CancelFunc
	errOnce  sync.Once
	firstErr atomic.Value // string
}

func newReconnectRun(cfg ReconnectConfig, cl *Cluster, restart [][]string) *reconnectRun {
	r := &reconnectRun{cfg: cfg, log: cfg.Logger, cl: cl, restart: restart, prefix: RoomPrefix()}
	r.roomTop = make([]atomic.Uint64, cfg.Rooms)
	killed := len(cl.URLs) - 1
	for i := range cfg.Clients {
		room, proc := i%cfg.Rooms, (i/cfg.Rooms)%len(cl.URLs)
		r.clients = append(r.clients, &rcClient{
			id: i, room: room, proc: proc, url: r.roomURL(proc, room),
			affected: cfg.By == ReconnectDrop || proc == killed,
		})
	}
	for room := range cfg.Rooms {
		for range cfg.SendersPerRoom {
			r.senders = append(r.senders, &rcSender{id: len(r.senders), room: room})
		}
	}
	return r
}

func (r *reconnectRun) roomURL(proc, room int) string {
	return strings.TrimRight(r.cl.URLs[proc], "/") + "/ws/chat/" + r.prefix + strconv.Itoa(room) + "/"
}

func (r *reconnectRun) group(room int) string { return "chat_" + r.prefix + strconv.Itoa(room) }

func (r *reconnectRun) now() time.Duration { return time.Since(r.base) }

func (r *reconnectRun) noteErr(err error) {
	r.errOnce.Do(func() {
		r.firstErr.Store(err.Error())
		r.log.Warn("chatload: reconnect: first error", "error", err)
	})
}

// waitFor polls cond every 20ms until it holds, ctx ends or limit passes; it reports
// whether cond held.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (r *reconnectRun) run(ctx context.Context) (*ReconnectReport, error) {
	cfg := r.cfg
	sessCtx, stop := context.WithCancel(ctx)
	r.stop = stop
	var sessions sync.WaitGroup
	defer func() {
		r.shutdown()
		sessions.Wait()
	}()
	r.base = time.Now()

	// The senders first: their sockets never go away, and they see every room's top.
	for _, s := range r.senders {
		conn, err := cfg.Dialer.Dial(ctx, r.roomURL(0, s.room), cfg.Clients+s.id)
		if err != nil {
			return nil, fmt.Errorf("loadtest: reconnect: sender %d: %w", s.id, err)
		}
		s.conn = conn
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			r.readSender(s)
		}()
	}
	t0 := time.Now()
	if err := dialSessions(ctx, cfg.DialConcurrency, len(r.clients), "reconnect", &sessions,
		func(ctx context.Context, i int) (*Conn, error) {
			return cfg.Dialer.Dial(ctx, r.clients[i].url, r.clients[i].id)
		},
		func(i int) *socketSlot { return &r.clients[i].socketSlot },
		func(i int, conn *Conn) { r.session(sessCtx, r.clients[i], conn) },
	); err != nil {
		return nil, err
	}
	rep := &ReconnectReport{
		Servers: r.cl.URLs, Layer: redactLayer(r.cl.LayerURL), Procs: len(r.cl.URLs), Clients: cfg.Clients,
		Rooms: cfg.Rooms, Senders: len(r.senders), Rate: cfg.Rate, History: cfg.History, By: cfg.By,
		ConnectSeconds: round3(time.Since(t0).Seconds()),
	}
	r.log.Info("chatload: reconnect: connected", "clients", len(r.clients), "senders", len(r.senders), "in", time.Since(t0).Round(time.Millisecond))

	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	var sending sync.WaitGroup
	for _, s := range r.senders {
		sending.Add(1)
		go func() {
			defer sending.Done()
			r.send(sendCtx, s)
		}()
	}
	if !waitFor(ctx, cfg.Warmup, func() bool {
		for _, c := range r.clients {
			if c.first.Load() == 0 {
				return false
			}
		}
		return true
	}) {
		return nil, fmt.Errorf("loadtest: reconnect: not every client received a message within %v (raise -rate, or lower -rooms)", cfg.Warmup)
	}

	stats0, err := redisCommandStats(ctx, r.cl.LayerURL)
	if err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, cfg.Baseline); err != nil {
		return nil, err
	}
	stats1, err := redisCommandStats(ctx, r.cl.LayerURL)
	if err != nil {
		return nil, err
	}
	_, baseline := commandDelta(stats0, stats1)

	// Take the sockets away.
	for _, c := range r.clients {
		if c.affected {
			rep.Affected++
		}
	}
	r.cutAt.Store(int64(r.now()))
	cut := time.Now()
	switch cfg.By {
	case ReconnectDrop:
		for _, c := range r.clients {
			if conn := c.current(); conn != nil {
				_ = conn.Close()
			}
		}
	case ReconnectKill:
		k := len(r.cl.chat) - 1
		if err := r.cl.killChat(k); err != nil {
			return nil, err
		}
		r.log.Info("chatload: reconnect: chat process killed", "url", r.cl.URLs[k])
		if err := sleepCtx(ctx, cfg.Gap); err != nil {
			return nil, err
		}
		if err := r.cl.restartChat(ctx, k, r.restart[k], max(30*time.Second, cfg.CatchUp)); err != nil {
			return nil, fmt.Errorf("loadtest: reconnect: restart: %w", err)
		}
		rep.DownSeconds = round3(time.Since(cut).Seconds())
		r.log.Info("chatload: reconnect: chat process accepting again", "after", time.Since(cut).Round(time.Millisecond))
	}
	allCaught := waitFor(ctx, cfg.CatchUp, func() bool {
		for _, c := range r.clients {
			if c.affected && c.caught.Load() == 0 {
				return false
			}
		}
		return true
	})
	recovery := time.Since(cut)
	stats2, err := redisCommandStats(ctx, r.cl.LayerURL)
	if err != nil {
		return nil, err
	}
	rep.AllCaughtUp = allCaught
	rep.RecoverySeconds = round3(recovery.Seconds())
	rep.RedisByCommand, rep.RedisCommands = commandDelta(stats1, stats2)
	rep.RedisBaselinePerSecond = round3(float64(baseline) / cfg.Baseline.Seconds())
	if rep.Affected > 0 {
		extra := float64(rep.RedisCommands) - rep.RedisBaselinePerSecond*recovery.Seconds()
		rep.RedisCommandsPerClient = round3(extra / float64(rep.Affected))
	}
	r.log.Info("chatload: reconnect: caught up", "all", allCaught, "after", recovery.Round(time.Millisecond))

	_ = sleepCtx(ctx, cfg.After)
	stopSending()
	sending.Wait()
	sendStop := time.Now()
	waitFor(ctx, cfg.Drain, r.drained)
	rep.DrainSeconds = round3(time.Since(sendStop).Seconds())
	stop()
	r.shutdown()
	sessions.Wait()
	r.tally(rep)
	rep.Interrupted = ctx.Err() != nil
	if s, ok := r.firstErr.Load().(string); ok {
		rep.FirstError = s
	}
	return rep, nil
}

// drained reports whether every message sent is stored (the senders saw its position) and
// every client has every message of its room from its first one on.
func (r *reconnectRun) drained() bool {
	var stored int64
	for i := range r.roomTop {
		stored += int64(r.roomTop[i].Load())
	}
	var errs int64
	for _, s := range r.senders {
		errs += s.errors.Load()
	}
	if stored < r.sent.Load()-errs {
		return false
	}
	for _, c := range r.clients {
		if f := c.first.Load(); f == 0 || c.unique.Load() < int64(r.roomTop[c.room].Load()-f+1) {
			return false
		}
	}
	return true
}

// send writes s's messages, {"message": "id:seq:ns"}, at Rate / senders per second until
// ctx ends.
func (r *reconnectRun) send(ctx context.Context, s *rcSender) {
	interval := time.Duration(float64(time.Second) * float64(len(r.senders)) / r.cfg.Rate)
	t := time.NewTicker(max(interval, time.Millisecond))
	defer t.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		buf = appendMessage(buf[:0], s.id, s.sent, r.now(), 0)
		if err := s.conn.WriteFrame(ws.OpText, buf); err != nil {
			r.noteErr(fmt.Errorf("sender %d: %w", s.id, err))
			return
		}
		s.sent++
		r.sent.Add(1)
	}
}

// rcFrame is what a client of a chat server with -history receives: a message with its
// position, an error frame, or a recovery frame.
type rcFrame struct {
	Message    *string `json:"message"`
	Error      string  `json:"error"`
	Gochannels string  `json:"gochannels"`
	Reason     string  `json:"reason"`
	Replayed   int64   `json:"replayed"`
	Pos        *struct {
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	} `json:"pos"`
}

// readSender reads a sender's socket: the room's messages tell the room's top, error
// frames the messages the server could not send.
func (r *reconnectRun) readSender(s *rcSender) {
	defer s.conn.Close()
	buf := make([]byte, 0, 256)
	for {
		var err error
		if buf, err = s.conn.ReadText(buf); err != nil {
			if !r.closing.Load() {
				r.noteErr(fmt.Errorf("sender %d: %w", s.id, err))
			}
			return
		}
		var f rcFrame
		if json.Unmarshal(buf, &f) != nil {
			continue
		}
		switch {
		case f.Error != "":
			s.errors.Add(1)
		case f.Pos != nil:
			top := &r.roomTop[s.room]
			for old := top.Load(); f.Pos.Offset > old && !top.CompareAndSwap(old, f.Pos.Offset); old = top.Load() {
			}
		}
	}
}

// resumeURL is the client's URL with ?resume= its last position.
func (c *rcClient) resumeURL(group string) string {
	b, _ := json.Marshal(map[string]any{group: map[string]any{"offset": c.last, "epoch": c.epoch}})
	return c.url + "?resume=" + url.QueryEscape(string(b))
}

// shutdown closes every socket and keeps new ones from being stored.
func (r *reconnectRun) shutdown() {
	r.closing.Store(true)
	if r.stop != nil {
		r.stop()
	}
	for _, c := range r.clients {
		c.close(0)
	}
	for _, s := range r.senders {
		if s.conn != nil {
			_ = s.conn.CloseGracefully()
		}
	}
}

// session reads c's socket; when it closes, c reconnects at once with ?resume= its last
// position, again every Reconnect while refused, until the run ends.
func (r *reconnectRun) session(ctx context.Context, c *rcClient, conn *Conn) {
	for {
		r.readConn(c, conn)
		if r.closing.Load() {
			return
		}
		for {
			var err error
			conn, err = r.cfg.Dialer.Dial(ctx, c.resumeURL(r.group(c.room)), c.id)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			c.refused++
			if sleepCtx(ctx, r.cfg.Reconnect) != nil {
				return
			}
		}
		if !c.store(conn) {
			return
		}
		c.reconnects++
		if r.cutAt.Load() != 0 && c.back.Load() == 0 {
			c.back.Store(int64(r.now()))
		}
		c.resuming, c.sessionFrames = true, 0
	}
}

var gochannelsPrefix = []byte(`{"gochannels":`)

// readConn reads one socket of c until it fails, checking each message's position.
func (r *reconnectRun) readConn(c *rcClient, conn *Conn) {
	defer conn.Close()
	buf := make([]byte, 0, 256)
	for {
		var err error
		if buf, err = conn.ReadText(buf); err != nil {
			if r.closing.Load() {
				return
			}
			code := "1006"
			if errors.Is(err, errClosed) {
				cc, _ := ws.ParseCloseFrameData(buf)
				code = strconv.Itoa(int(cc))
			}
			if c.closes == nil {
				c.closes = map[string]int64{}
			}
			c.closes[code]++
			if r.cutAt.Load() == 0 {
				r.noteErr(fmt.Errorf("client %d, before the cut-off: %w", c.id, err))
			}
			return
		}
		var f rcFrame
		if err := json.Unmarshal(buf, &f); err != nil || f.Pos == nil {
			c.foreign++
			continue
		}
		if bytes.HasPrefix(buf, gochannelsPrefix) {
			r.recoveryFrame(c, &f)
			continue
		}
		if f.Message == nil {
			c.foreign++
			continue
		}
		if id, ok := senderID(*f.Message); !ok || id >= len(r.senders) || r.senders[id].room != c.room {
			c.foreign++
			continue
		}
		if c.epoch == "" {
			c.epoch = f.Pos.Epoch
		} else if f.Pos.Epoch != c.epoch {
			c.epochChange++
			continue
		}
		off := f.Pos.Offset
		if c.resuming {
			c.sessionFrames++
		}
		if c.got.add(int64(off)) {
			c.dups++
			continue
		}
		if off < c.last {
			c.reordered++
		} else {
			c.last = off
		}
		if c.first.Load() == 0 {
			c.first.Store(off)
		}
		c.unique.Add(1)
	}
}

// senderID reads the sender's id from a message "id:seq:ns".
func senderID(m string) (int, bool) {
	head, _, ok := strings.Cut(m, ":")
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(head)
	return id, err == nil && id >= 0
}

// recoveryFrame records a "recovered" or "unrecoverable" frame.
func (r *reconnectRun) recoveryFrame(c *rcClient, f *rcFrame) {
	c.replayedFrames += c.sessionFrames
	c.resuming = false
	switch f.Gochannels {
	case "recovered":
		c.recovered++
		c.replayed += f.Replayed
		if first := c.first.Load(); first > 0 {
			for off := first; off <= f.Pos.Offset; off++ {
				if !c.got.has(int64(off)) {
					c.missingAtCatchUp++
				}
			}
		}
	case "unrecoverable":
		if c.unrecoverable == nil {
			c.unrecoverable = map[string]int64{}
		}
		c.unrecoverable[f.Reason]++
		// As a browser would: adopt the current position.
		c.epoch, c.last = f.Pos.Epoch, max(c.last, f.Pos.Offset)
	default:
		c.foreign++
		return
	}
	if r.cutAt.Load() != 0 {
		c.caught.Store(int64(r.now()))
	}
}

// tally fills rep's counters from the clients (after their sessions ended).
func (r *reconnectRun) tally(rep *ReconnectReport) {
	cut := time.Duration(r.cutAt.Load())
	var caught []time.Duration
	var firstBack, lastBack time.Duration
	rep.UnrecoverableReasons = map[string]int64{}
	rep.Closes = map[string]int64{}
	for _, s := range r.senders {
		rep.MessagesSent += s.sent
		rep.SendErrors += s.errors.Load()
	}
	for i := range r.roomTop {
		rep.Stored += int64(r.roomTop[i].Load())
	}
	for _, c := range r.clients {
		first, top := c.first.Load(), r.roomTop[c.room].Load()
		var expected int64
		if first > 0 && top >= first {
			expected = int64(top - first + 1)
		}
		received := c.unique.Load()
		rep.Expected += expected
		rep.Received += received
		if lost := expected - received; lost > 0 {
			rep.Lost += lost
			rep.ClientsWithLoss++
		}
		if c.dups > 0 {
			rep.ClientsWithDuplicates++
		}
		rep.Duplicates += c.dups
		rep.Reordered += c.reordered
		rep.Foreign += c.foreign
		rep.EpochChanges += c.epochChange
		rep.Recovered += c.recovered
		rep.Replayed += c.replayed
		rep.ReplayedFrames += c.replayedFrames
		rep.MissingAtCatchUp += c.missingAtCatchUp
		rep.Reconnects += c.reconnects
		rep.RefusedDials += c.refused
		for k, v := range c.unrecoverable {
			rep.Unrecoverable += v
			rep.UnrecoverableReasons[k] += v
		}
		for k, v := range c.closes {
			rep.Closes[k] += v
		}
		if at := time.Duration(c.back.Load()); c.affected && at > 0 {
			if firstBack == 0 || at-cut < firstBack {
				firstBack = at - cut
			}
			lastBack = max(lastBack, at-cut)
		}
		if at := time.Duration(c.caught.Load()); c.affected && at > 0 {
			caught = append(caught, at-cut)
		}
	}
	rep.FirstReconnectSeconds, rep.LastReconnectSeconds = round3(firstBack.Seconds()), round3(lastBack.Seconds())
	rep.CaughtUp = len(caught)
	if len(caught) > 0 {
		slices.Sort(caught)
		q := func(p float64) float64 { return round3(caught[int(p*float64(len(caught)-1))].Seconds()) }
		rep.CatchUpP50, rep.CatchUpP99, rep.CatchUpMax = q(0.5), q(0.99), q(1)
	}
}
