package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IdleSet is a set of open, idle chat WebSockets. Each has a reader goroutine that answers
// the server's pings, so the connections stay up for as long as the set is open. A reader
// that stops before Close (the server closed the connection, a read failed) fails the set:
// Err reports it, with the connection's index.
type IdleSet struct {
	conns   []*Conn
	rooms   int
	offset  int
	prefix  string
	wg      sync.WaitGroup
	closing atomic.Bool
	fail    *failure

	probeMu sync.Mutex
	probes  map[string]*probeWait // by message, while a probe round runs
	round   int
}

// OpenIdle opens n chat WebSockets spread round-robin over urls and rooms rooms, with at
// most conc handshakes at a time. Socket i uses source address index offset+i (see
// Dialer.SourceAddr), so that several processes can open disjoint sets. On error the sockets
// already open are closed.
func OpenIdle(ctx context.Context, d Dialer, urls []string, n, rooms, conc, offset int) (*IdleSet, error) {
	if len(urls) == 0 || n < 0 {
		return nil, fmt.Errorf("loadtest: idle needs URLs and a count (got %d URLs, %d)", len(urls), n)
	}
	rooms = max(rooms, 1)
	prefix := RoomPrefix()
	s := &IdleSet{conns: make([]*Conn, n), rooms: rooms, offset: offset, prefix: prefix, fail: newFailure(), probes: map[string]*probeWait{}}
	err := dialAll(ctx, max(conc, 1), n, func(ctx context.Context, i int) error {
		u := strings.TrimRight(urls[i%len(urls)], "/") + "/ws/chat/" + prefix + strconv.Itoa(i%rooms) + "/"
		c, err := d.Dial(ctx, u, offset+i)
		if err != nil {
			return err
		}
		s.conns[i] = c
		s.wg.Add(1)
		go s.read(c, i)
		return nil
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// read is connection i's reader: it answers pings, passes probes on, and fails the set when
// the connection ends before Close.
func (s *IdleSet) read(c *Conn, i int) {
	defer s.wg.Done()
	defer c.Close()
	var buf []byte
	for {
		var err error
		if buf, err = c.ReadText(buf[:0]); err != nil {
			if !s.closing.Load() {
				s.fail.set(fmt.Errorf("loadtest: idle connection %d lost: %w", s.offset+i, err))
			}
			return
		}
		if isProbe(buf) {
			s.probeArrived(buf, i)
		}
	}
}

// Len returns the number of open sockets.
func (s *IdleSet) Len() int { return len(s.conns) }

// Err returns the first failure of a connection of the set (its reader ended before Close),
// or nil.
func (s *IdleSet) Err() error { return s.fail.Err() }

// Failed is closed when a connection of the set fails.
func (s *IdleSet) Failed() <-chan struct{} { return s.fail.Done() }

// Close closes every socket (with a close frame) and waits for the readers.
func (s *IdleSet) Close() {
	s.closing.Store(true)
	for _, c := range s.conns {
		if c != nil {
			_ = c.CloseGracefully()
		}
	}
	s.wg.Wait()
}

// ServerRSS is one server process's resident memory before and after, in KiB, and the
// connections it held open when the "after" figure was read.
type ServerRSS struct {
	PID       int   `json:"pid"`
	BeforeKiB int64 `json:"before_kib"`
	AfterKiB  int64 `json:"after_kib"`
	// Clients is the number of measured idle clients this server was given; Open and
	// OpenAfter are the ESTABLISHED sockets the process held on its port (counted from /proc)
	// right before and right after AfterKiB was read: Clients plus the warm-up connection.
	Clients   int `json:"clients"`
	Open      int `json:"open_before_read"`
	OpenAfter int `json:"open_after_read"`
	// MetricsOpen is the server's own count of open WebSockets (examples/chat's
	// gochannels_connections_open{type="websocket"}), nil for a server without /metrics.
	MetricsOpen *int    `json:"metrics_websockets_open,omitempty"`
	PerConnKiB  float64 `json:"rss_per_conn_kib"`
}

// IdleReport is the outcome of an idle-connection memory measurement.
type IdleReport struct {
	Layer           string      `json:"layer,omitempty"`
	Connections     int         `json:"connections"`
	Rooms           int         `json:"rooms"`
	ClientProcesses int         `json:"client_processes"`
	OpenSeconds     float64     `json:"open_s"`
	Servers         []ServerRSS `json:"servers"`
	PerConnKiB      float64     `json:"rss_per_conn_kib"`
	PerConnKB       float64     `json:"rss_per_conn_kb"`
	FileLimit       uint64      `json:"nofile_limit"`
	// Probes is the number of probe messages sent (and delivered) in each of the two probe
	// rounds around the RSS reading.
	Probes int `json:"probes_per_round"`
}

// RSSAll reads the VmRSS of every pid.
func RSSAll(pids []int) ([]int64, error) {
	out := make([]int64, len(pids))
	for i, p := range pids {
		v, err := VmRSS(p)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Finish fills the per-server figures and the RSS growth per connection.
func (r *IdleReport) Finish(pids []int, before, after []int64) {
	var growth int64
	old := r.Servers
	r.Servers = make([]ServerRSS, 0, len(pids))
	for i, p := range pids {
		s := ServerRSS{PID: p, BeforeKiB: before[i], AfterKiB: after[i]}
		if i < len(old) {
			s.Clients, s.Open, s.OpenAfter, s.MetricsOpen = old[i].Clients, old[i].Open, old[i].OpenAfter, old[i].MetricsOpen
		}
		if s.Clients > 0 {
			s.PerConnKiB = round3(float64(after[i]-before[i]) / float64(s.Clients))
		}
		r.Servers = append(r.Servers, s)
		growth += after[i] - before[i]
	}
	if r.Connections > 0 {
		r.PerConnKiB = round3(float64(growth) / float64(r.Connections))
		r.PerConnKB = round3(float64(growth) * 1.024 / float64(r.Connections))
	}
}

// WriteText writes a human-readable summary.
func (r *IdleReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "idle connections: %d in %d rooms (from %d client processes) on %d server(s)%s, opened in %.2fs, open-files limit %d\n",
		r.Connections, r.Rooms, r.ClientProcesses, len(r.Servers), layerText(r.Layer), r.OpenSeconds, r.FileLimit)
	fmt.Fprintf(&b, "verified:         %d probes delivered before and %d after the RSS reading; open sockets counted on each server around it\n", r.Probes, r.Probes)
	for _, s := range r.Servers {
		metrics := ""
		if s.MetricsOpen != nil {
			metrics = fmt.Sprintf(", %d in its /metrics", *s.MetricsOpen)
		}
		fmt.Fprintf(&b, "server pid %d:  %d clients (%d/%d sockets open before/after the reading%s), RSS %d KiB before, %d KiB after, %.2f KiB per connection\n",
			s.PID, s.Clients, s.Open, s.OpenAfter, metrics, s.BeforeKiB, s.AfterKiB, s.PerConnKiB)
	}
	fmt.Fprintf(&b, "RSS per idle connection: %.2f KiB (%.2f KB)\n", r.PerConnKiB, r.PerConnKB)
	_, err := io.WriteString(w, b.String())
	return err
}

// IdleConfig describes an idle-connection memory measurement.
type IdleConfig struct {
	// URLs are the servers' base WebSocket URLs, PIDs the server processes whose RSS is
	// measured: PIDs[i] serves URLs[i].
	URLs []string
	PIDs []int
	// Conns is the number of idle connections (N), spread over Rooms rooms.
	Conns, Rooms int
	// PerProcess is the most connections one client process holds (default 15000); beyond
	// it the rest are opened by worker processes from Worker, so no process passes its
	// open-files limit.
	PerProcess int
	// Worker returns the command of a client worker process (one that runs ServeWorker) that
	// opens n idle connections with source index offset. Nil means everything is opened in
	// this process.
	Worker func(offset, n int) *exec.Cmd
	// Settle is the pause before each RSS reading (default 3s).
	Settle time.Duration
	// ProbeTimeout bounds each probe round (default 2 minutes).
	ProbeTimeout time.Duration
	// Dialer opens the sockets; DialConcurrency bounds concurrent handshakes (default 64).
	Dialer          Dialer
	DialConcurrency int

	// afterOpen, when set (by tests), runs once every connection is open.
	afterOpen func(r *idleRun)
}

// idleRun is the state of one RunIdle.
type idleRun struct {
	cfg     IdleConfig
	local   *IdleSet
	workers []*worker
	clients []int // measured clients per server
	ports   []int
}

// failed returns the first failure of any connection set, or nil.
func (r *idleRun) failed() error {
	if r.local != nil {
		if err := r.local.Err(); err != nil {
			return err
		}
	}
	for _, w := range r.workers {
		if err := w.fail.Err(); err != nil {
			return err
		}
	}
	return nil
}

// wait pauses for d, failing early when a connection fails.
func (r *idleRun) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTicker(min(d, 100*time.Millisecond))
	defer t.Stop()
	end := time.Now().Add(d)
	for {
		if err := r.failed(); err != nil {
			return err
		}
		if !time.Now().Before(end) {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("loadtest: interrupted: %w", ctx.Err())
		}
	}
}

// probe runs one probe round in every client process at once and returns the probes sent.
func (r *idleRun) probe(ctx context.Context) (int, error) {
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1+len(r.workers))
	go func() {
		n, err := r.local.Probe(ctx, r.cfg.ProbeTimeout)
		res <- result{n, err}
	}()
	for _, w := range r.workers {
		go func() {
			n, err := w.probe(ctx, r.cfg.ProbeTimeout)
			res <- result{n, err}
		}()
	}
	total := 0
	var errs []error
	for range 1 + len(r.workers) {
		x := <-res
		total += x.n
		if x.err != nil {
			errs = append(errs, x.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("loadtest: idle run failed: %w", err)
	}
	return total, nil
}

// countOpen counts each server's open sockets on its port and checks them against want. The
// kernel's TCP table is read in pieces while other sockets (the clients' own, TIME_WAIT ones)
// come and go, which can skip a line: a wrong count is read again, up to three times in all,
// before it fails the run. A connection really lost stays lost.
func (r *idleRun) countOpen(want []int, when string) ([]int, error) {
	got := make([]int, len(r.cfg.PIDs))
	for i, pid := range r.cfg.PIDs {
		var n int
		for range 3 {
			var err error
			if n, err = ServerConns(pid, r.ports[i]); err != nil {
				return nil, err
			}
			if n == want[i] {
				break
			}
		}
		got[i] = n
		if n != want[i] {
			return nil, fmt.Errorf("loadtest: idle run failed: server pid %d holds %d open connections on port %d %s, want %d", pid, n, r.ports[i], when, want[i])
		}
	}
	return got, nil
}

// RunIdle opens one warm-up connection per server and probes them, reads the servers' RSS,
// opens Conns idle connections (in this process and, past PerProcess, in worker processes),
// and verifies them: a probe round (ProbeSample messages per client process, each of which
// must reach another member of its room), then after Settle the open sockets of each server
// counted from /proc right before and right after its RSS is read (each must be exactly its
// clients plus the warm-up connection), the servers' own open-WebSocket gauge where they
// serve /metrics, and a second probe round. Any connection that ends before the run closes
// them fails the run, as does any check; the error names the reason.
func RunIdle(ctx context.Context, cfg IdleConfig) (*IdleReport, error) {
	if cfg.Conns < 1 || len(cfg.URLs) == 0 || len(cfg.PIDs) != len(cfg.URLs) {
		return nil, fmt.Errorf("loadtest: idle mode needs connections, URLs and one server pid per URL (got %d, %d, %d)", cfg.Conns, len(cfg.URLs), len(cfg.PIDs))
	}
	if cfg.PerProcess <= 0 {
		cfg.PerProcess = 15000
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 2 * time.Minute
	}
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 64
	}
	cfg.Rooms = max(cfg.Rooms, 1)
	r := &idleRun{cfg: cfg, clients: make([]int, len(cfg.URLs))}
	for _, u := range cfg.URLs {
		p, err := portOf(u)
		if err != nil {
			return nil, err
		}
		r.ports = append(r.ports, p)
	}
	// Warm-up connections use source indexes past everything else; they exchange a message
	// each, so that the servers' one-time costs of sending are in the baseline.
	warm, err := OpenIdle(ctx, cfg.Dialer, cfg.URLs, len(cfg.URLs), 1, cfg.DialConcurrency, cfg.Conns+1)
	if err != nil {
		return nil, fmt.Errorf("loadtest: warm-up connections: %w", err)
	}
	defer warm.Close()
	if _, err := warm.Probe(ctx, cfg.ProbeTimeout); err != nil {
		return nil, fmt.Errorf("loadtest: warm-up probe: %w", err)
	}
	ones := make([]int, len(cfg.URLs))
	for i := range ones {
		ones[i] = 1
	}
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	if _, err := r.countOpen(ones, "before the clients open (the warm-up connection only)"); err != nil {
		return nil, err
	}
	before, err := RSSAll(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	rep := &IdleReport{Connections: cfg.Conns, Rooms: cfg.Rooms, ClientProcesses: 1}
	start := time.Now()
	r.local, err = OpenIdle(ctx, cfg.Dialer, cfg.URLs, min(cfg.PerProcess, cfg.Conns), cfg.Rooms, cfg.DialConcurrency, 0)
	if err != nil {
		return nil, err
	}
	defer r.local.Close()
	r.addClients(r.local.Len())
	for off := cfg.PerProcess; off < cfg.Conns; off += cfg.PerProcess {
		if cfg.Worker == nil {
			return nil, fmt.Errorf("loadtest: %d connections need client worker processes (at most %d per process)", cfg.Conns, cfg.PerProcess)
		}
		n := min(cfg.PerProcess, cfg.Conns-off)
		w, err := startWorker(ctx, cfg.Worker(off, n))
		if err != nil {
			return nil, err
		}
		defer w.stop()
		r.workers = append(r.workers, w)
		r.addClients(n)
		rep.ClientProcesses++
	}
	rep.OpenSeconds = round3(time.Since(start).Seconds())
	if cfg.afterOpen != nil {
		cfg.afterOpen(r)
	}
	if rep.Probes, err = r.probe(ctx); err != nil {
		return nil, err
	}
	if err := r.wait(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	want := make([]int, len(r.clients))
	for i, c := range r.clients {
		want[i] = c + 1 // and the warm-up connection
	}
	open, err := r.countOpen(want, "right before its RSS reading")
	if err != nil {
		return nil, err
	}
	after, err := RSSAll(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	openAfter, err := r.countOpen(want, "right after its RSS reading")
	if err != nil {
		return nil, err
	}
	rep.Servers = make([]ServerRSS, len(cfg.PIDs))
	for i := range rep.Servers {
		rep.Servers[i] = ServerRSS{Clients: r.clients[i], Open: open[i], OpenAfter: openAfter[i]}
		if n, ok := scrapeOpenWebsockets(ctx, cfg.URLs[i]); ok {
			rep.Servers[i].MetricsOpen = &n
			if n != want[i] {
				return nil, fmt.Errorf("loadtest: idle run failed: server %s counts %d open WebSockets in its /metrics, want %d", cfg.URLs[i], n, want[i])
			}
		}
	}
	n2, err := r.probe(ctx)
	if err != nil {
		return nil, err
	}
	if n2 != rep.Probes {
		return nil, fmt.Errorf("loadtest: idle run failed: %d probes in the second round, %d in the first", n2, rep.Probes)
	}
	if err := r.failed(); err != nil {
		return nil, fmt.Errorf("loadtest: idle run failed: %w", err)
	}
	if err := warm.Err(); err != nil {
		return nil, fmt.Errorf("loadtest: idle run failed (warm-up connection): %w", err)
	}
	rep.Finish(cfg.PIDs, before, after)
	return rep, nil
}

// addClients counts n more measured clients, placed round-robin over the servers as OpenIdle
// places them.
func (r *idleRun) addClients(n int) {
	s := len(r.clients)
	for i := range r.clients {
		r.clients[i] += n / s
		if i < n%s {
			r.clients[i]++
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("loadtest: interrupted: %w", ctx.Err())
	}
}

// worker is a client worker process. After "ready" it answers "probe" on its stdin with
// "probed <n>" on its stdout, and says "failed <reason>" as soon as one of its connections
// fails; it closes its connections and exits when its stdin closes.
type worker struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	replies  chan int
	fail     *failure
	stopping atomic.Bool
	probeMu  sync.Mutex
}

// startWorker starts a client worker and waits (up to 5 minutes) for its "ready" line.
func startWorker(ctx context.Context, cmd *exec.Cmd) (*worker, error) {
	cmd.SysProcAttr = childAttr()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("loadtest: worker stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("loadtest: worker stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: start client worker: %w", err)
	}
	w := &worker{cmd: cmd, stdin: in, exited: make(chan struct{}), replies: make(chan int, 1), fail: newFailure()}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		} else {
			line <- ""
		}
		for sc.Scan() {
			l := sc.Text()
			if n, ok := parseProbeReply(l); ok {
				w.replies <- n
			} else if reason, ok := strings.CutPrefix(l, failedReply+" "); ok {
				w.fail.set(fmt.Errorf("loadtest: client worker (pid %d): %s", cmd.Process.Pid, reason))
			}
		}
		_, _ = io.Copy(io.Discard, out)
		err := cmd.Wait()
		if !w.stopping.Load() {
			w.fail.set(fmt.Errorf("loadtest: client worker (pid %d) exited before the end of the run (%v)", cmd.Process.Pid, err))
		}
		close(w.exited)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			w.stop()
			return nil, fmt.Errorf("loadtest: client worker failed (said %q; its errors are above)", l)
		}
		return w, nil
	case <-time.After(5 * time.Minute):
		w.stop()
		return nil, errors.New("loadtest: client worker not ready after 5 minutes")
	case <-ctx.Done():
		w.stop()
		return nil, fmt.Errorf("loadtest: interrupted: %w", ctx.Err())
	}
}

// probe asks the worker for a probe round and waits for its answer.
func (w *worker) probe(ctx context.Context, timeout time.Duration) (int, error) {
	w.probeMu.Lock()
	defer w.probeMu.Unlock()
	if err := w.fail.Err(); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(w.stdin, "probe\n"); err != nil {
		// Most likely the worker has exited: report why, as its reader goroutine sees it.
		select {
		case <-w.fail.Done():
			return 0, w.fail.Err()
		case <-time.After(10 * time.Second):
			return 0, fmt.Errorf("loadtest: ask client worker (pid %d) to probe: %w", w.cmd.Process.Pid, err)
		}
	}
	t := time.NewTimer(timeout + 10*time.Second)
	defer t.Stop()
	select {
	case n := <-w.replies:
		return n, nil
	case <-w.fail.Done():
		return 0, w.fail.Err()
	case <-t.C:
		return 0, fmt.Errorf("loadtest: client worker (pid %d) did not answer its probe round", w.cmd.Process.Pid)
	case <-ctx.Done():
		return 0, fmt.Errorf("loadtest: probing: %w", ctx.Err())
	}
}

// stop closes the worker's stdin (it closes its sockets and exits), killing it after 10s.
func (w *worker) stop() {
	w.stopping.Store(true)
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}

// ServeWorker is the body of a client worker process: it opens n idle connections, prints
// "ready" to out, and holds them until in reaches EOF or ctx ends. Each line "probe" on in
// runs a probe round (IdleSet.Probe), answered "probed <n>" on out; when a connection fails
// (or a probe round does), it prints "failed <reason>" and returns the error.
func ServeWorker(ctx context.Context, d Dialer, urls []string, n, rooms, offset int, in io.Reader, out io.Writer) error {
	s, err := OpenIdle(ctx, d, urls, n, rooms, 64, offset)
	if err != nil {
		fmt.Fprintln(out, "error")
		return err
	}
	defer s.Close()
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	say("ready")
	cmds := make(chan string)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case cmds <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case c, ok := <-cmds:
			if !ok {
				return nil // stdin closed: the run is over
			}
			if c != "probe" {
				continue
			}
			k, err := s.Probe(ctx, 2*time.Minute)
			if err != nil {
				say("%s %v", failedReply, err)
				return err
			}
			say("%s %d", probeReply, k)
		case <-s.Failed():
			say("%s %v", failedReply, s.Err())
			return s.Err()
		case <-ctx.Done():
			return nil
		}
	}
}
