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
	"time"
)

// IdleSet is a set of open, idle chat WebSockets. Each has a reader goroutine that answers
// the server's pings, so the connections stay up for as long as the set is open.
type IdleSet struct {
	conns []*Conn
	wg    sync.WaitGroup
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
	s := &IdleSet{conns: make([]*Conn, n)}
	err := dialAll(ctx, max(conc, 1), n, func(ctx context.Context, i int) error {
		u := strings.TrimRight(urls[i%len(urls)], "/") + "/ws/chat/" + prefix + strconv.Itoa(i%rooms) + "/"
		c, err := d.Dial(ctx, u, offset+i)
		if err != nil {
			return err
		}
		s.conns[i] = c
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			var buf []byte
			for {
				var err error
				if buf, err = c.ReadText(buf[:0]); err != nil {
					return
				}
			}
		}()
		return nil
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Len returns the number of open sockets.
func (s *IdleSet) Len() int { return len(s.conns) }

// Close closes every socket (with a close frame) and waits for the readers.
func (s *IdleSet) Close() {
	for _, c := range s.conns {
		if c != nil {
			_ = c.CloseGracefully()
		}
	}
	s.wg.Wait()
}

// ServerRSS is one server process's resident memory before and after, in KiB.
type ServerRSS struct {
	PID       int   `json:"pid"`
	BeforeKiB int64 `json:"before_kib"`
	AfterKiB  int64 `json:"after_kib"`
}

// IdleReport is the outcome of an idle-connection memory measurement.
type IdleReport struct {
	Layer           string      `json:"layer,omitempty"`
	Connections     int         `json:"connections"`
	ClientProcesses int         `json:"client_processes"`
	OpenSeconds     float64     `json:"open_s"`
	Servers         []ServerRSS `json:"servers"`
	PerConnKiB      float64     `json:"rss_per_conn_kib"`
	PerConnKB       float64     `json:"rss_per_conn_kb"`
	FileLimit       uint64      `json:"nofile_limit"`
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
	r.Servers = r.Servers[:0]
	for i, p := range pids {
		r.Servers = append(r.Servers, ServerRSS{PID: p, BeforeKiB: before[i], AfterKiB: after[i]})
		growth += after[i] - before[i]
	}
	if r.Connections > 0 {
		r.PerConnKiB = round3(float64(growth) / float64(r.Connections))
		r.PerConnKB = round3(float64(growth) * 1.024 / float64(r.Connections))
	}
}

// IdleConfig describes an idle-connection memory measurement.
type IdleConfig struct {
	// URLs are the servers' base WebSocket URLs, PIDs the server processes whose RSS is
	// measured (normally all of them).
	URLs []string
	PIDs []int
	// Conns is the number of idle connections (N), spread over Rooms rooms.
	Conns, Rooms int
	// PerProcess is the most connections one client process holds (default 15000); beyond
	// it the rest are opened by worker processes from Worker, so no process passes its
	// open-files limit.
	PerProcess int
	// Worker returns the command of a client worker process that opens n idle connections
	// with source index offset, prints "ready" on stdout, and holds them until its stdin
	// closes. Nil means everything is opened in this process.
	Worker func(offset, n int) *exec.Cmd
	// Settle is the pause before each RSS reading (default 3s).
	Settle time.Duration
	// Dialer opens the sockets; DialConcurrency bounds concurrent handshakes (default 64).
	Dialer          Dialer
	DialConcurrency int
}

// RunIdle opens one warm-up connection per server, reads the servers' RSS, opens Conns
// idle connections (in this process and, past PerProcess, in worker processes), reads the
// RSS again, closes everything, and reports the growth per connection.
func RunIdle(ctx context.Context, cfg IdleConfig) (*IdleReport, error) {
	if cfg.Conns < 1 || len(cfg.URLs) == 0 || len(cfg.PIDs) == 0 {
		return nil, fmt.Errorf("loadtest: idle mode needs connections, URLs and server pids (got %d, %d, %d)", cfg.Conns, len(cfg.URLs), len(cfg.PIDs))
	}
	per := cfg.PerProcess
	if per <= 0 {
		per = 15000
	}
	settle := cfg.Settle
	if settle <= 0 {
		settle = 3 * time.Second
	}
	conc := cfg.DialConcurrency
	if conc <= 0 {
		conc = 64
	}
	// Warm-up connections use source indexes past everything else.
	warm, err := OpenIdle(ctx, cfg.Dialer, cfg.URLs, len(cfg.URLs), 1, conc, cfg.Conns+1)
	if err != nil {
		return nil, fmt.Errorf("loadtest: warm-up connections: %w", err)
	}
	defer warm.Close()
	if err := sleepCtx(ctx, settle); err != nil {
		return nil, err
	}
	before, err := RSSAll(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	rep := &IdleReport{Connections: cfg.Conns, ClientProcesses: 1}
	start := time.Now()
	local, err := OpenIdle(ctx, cfg.Dialer, cfg.URLs, min(per, cfg.Conns), cfg.Rooms, conc, 0)
	if err != nil {
		return nil, err
	}
	defer local.Close()
	for off := per; off < cfg.Conns; off += per {
		if cfg.Worker == nil {
			return nil, fmt.Errorf("loadtest: %d connections need client worker processes (at most %d per process)", cfg.Conns, per)
		}
		w, err := startWorker(ctx, cfg.Worker(off, min(per, cfg.Conns-off)))
		if err != nil {
			return nil, err
		}
		defer w.stop()
		rep.ClientProcesses++
	}
	rep.OpenSeconds = round3(time.Since(start).Seconds())
	if err := sleepCtx(ctx, settle); err != nil {
		return nil, err
	}
	after, err := RSSAll(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	rep.Finish(cfg.PIDs, before, after)
	return rep, nil
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

type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
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
	w := &worker{cmd: cmd, stdin: in, exited: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		} else {
			line <- ""
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
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

// stop closes the worker's stdin (it closes its sockets and exits), killing it after 10s.
func (w *worker) stop() {
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}

// ServeWorker is the body of a client worker process: it opens n idle connections, prints
// "ready" to out, and holds them until in reaches EOF or ctx ends.
func ServeWorker(ctx context.Context, d Dialer, urls []string, n, rooms, offset int, in io.Reader, out io.Writer) error {
	s, err := OpenIdle(ctx, d, urls, n, rooms, 64, offset)
	if err != nil {
		fmt.Fprintln(out, "error")
		return err
	}
	defer s.Close()
	fmt.Fprintln(out, "ready")
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, in); close(eof) }()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return nil
}
