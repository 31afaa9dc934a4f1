// Command idleconns measures the memory an idle WebSocket connection costs the gochannels
// server.
//
// It starts the server in a child process (this same program, with -serve) running a trivial
// application that accepts every connection and then waits in Receive, opens N loopback
// WebSocket clients from this process, and reads the child's VmRSS from /proc before and
// after (each time after a GC and a pause). It prints the RSS growth per connection, in KiB.
//
// The connections are verified open when the RSS is read: the child's ESTABLISHED sockets on
// its port are counted from /proc right before and right after the reading (N plus the
// warm-up connection), and every client has a reader that answers the server's pings. A
// connection that ends before the measurement is over fails the run (exit status 1, with the
// connection and the reason).
//
//	go run ./tools/cmd/idleconns -n 10000
//	go run ./tools/cmd/idleconns -n 10000 -chat -v   # the examples/chat consumer, joined to its room
//
// With -chat the child serves the examples/chat WebSocket consumer on an in-memory layer, the
// clients spread over -rooms rooms. -v prints the child's runtime.MemStats (heap and stack in
// use) before and after; IDLECONNS_HEAP=file writes a fine-grained heap profile of the child
// holding the connections.
//
// Client sockets are spread over the source addresses 127.0.0.2, 127.0.0.3, ... so that no
// address runs out of local ports. The open-files limit is raised to its hard limit.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/tools/loadtest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr, childCommand); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

// childCommand is the server child: this program again, with args.
func childCommand(args ...string) *exec.Cmd { return exec.Command(os.Args[0], args...) }

// config is one measurement.
type config struct {
	n, perAddr, rooms       int
	noPoller, chat, verbose bool
	// child makes the server child's command from its arguments.
	child func(args ...string) *exec.Cmd
	// midRun, when set (by tests), runs once every client is open, with the server's base URL.
	midRun func(base string, conns []*loadtest.Conn, failed <-chan struct{})
}

func run(args []string, stdout, stderr io.Writer, child func(args ...string) *exec.Cmd) error {
	fs := flag.NewFlagSet("idleconns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10000, "number of idle WebSocket connections")
	serve := fs.Bool("serve", false, "run as the server child (internal)")
	noPoller := fs.Bool("no-poller", false, "server: use a reader goroutine per connection")
	verbose := fs.Bool("v", false, "print the server's runtime memory statistics")
	perAddr := fs.Int("per-addr", 5000, "client connections per source address")
	chatApp := fs.Bool("chat", false, "serve the examples/chat WebSocket consumer (in-memory layer) instead of the trivial application; clients join -rooms rooms")
	rooms := fs.Int("rooms", 10, "with -chat: rooms the connections are spread over")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := loadtest.RaiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "idleconns: cannot raise the open-files limit:", err)
	}
	if *serve {
		return runServer(*noPoller, *chatApp, os.Stdin, stdout)
	}
	if *n < 1 {
		return fmt.Errorf("-n must be at least 1, got %d", *n)
	}
	return measure(context.Background(), config{n: *n, perAddr: *perAddr, rooms: max(*rooms, 1), noPoller: *noPoller, chat: *chatApp, verbose: *verbose, child: child}, stdout)
}

// runServer is the child: it serves, prints its address, then answers commands on in:
// "count" prints the number of open connections the trivial application accepted (-1 for the
// chat), "gc" collects garbage and prints "ok", "goroutines", "memstats" and "heap".
func runServer(noPoller, chatApp bool, in io.Reader, out io.Writer) error {
	if os.Getenv("IDLECONNS_HEAP") != "" {
		runtime.MemProfileRate = 256 // a fine-grained profile of what each connection holds
	}
	var open atomic.Int64
	var app channels.Application = channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			m, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			switch m.Type() {
			case channels.TypeWebsocketConnect:
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
					return err
				}
				open.Add(1)
				defer open.Add(-1)
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	})
	if chatApp {
		// The chat consumer accepts by itself; the client counts the sockets.
		open.Store(-1)
		app = chat.NewWebsocketApplication(layers.NewMemory(layers.MemoryOptions{}), nil)
	}
	srv := &channels.Server{Application: app, DisablePoller: noPoller}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	go func() { _ = srv.Serve(l) }()
	fmt.Fprintln(out, l.Addr().String())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "count":
			fmt.Fprintln(out, open.Load())
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			time.Sleep(500 * time.Millisecond)
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Fprintln(out, "ok")
		case "goroutines":
			fmt.Fprintln(out, runtime.NumGoroutine())
		case "memstats":
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "heap-inuse=%dKiB stack-inuse=%dKiB sys=%dKiB other=%dKiB mspan=%dKiB objects=%d\n",
				ms.HeapInuse>>10, ms.StackInuse>>10, ms.Sys>>10, (ms.OtherSys+ms.GCSys+ms.BuckHashSys)>>10, ms.MSpanInuse>>10, ms.HeapObjects)
		case "heap":
			if f, err := os.Create(os.Getenv("IDLECONNS_HEAP")); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
			fmt.Fprintln(out, "ok")
		}
	}
	return nil
}

type child struct {
	in  io.Writer
	out *bufio.Scanner
}

func (c *child) ask(cmd string) (string, error) {
	fmt.Fprintln(c.in, cmd)
	if !c.out.Scan() {
		return "", fmt.Errorf("the server child exited (asked %q): %v", cmd, c.out.Err())
	}
	return c.out.Text(), nil
}

func (c *child) askInt(cmd string) (int, error) {
	s, err := c.ask(cmd)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("the server child answered %q to %q: %w", s, cmd, err)
	}
	return n, nil
}

// clients are the open client connections; a reader per connection answers the server's
// pings and records the first connection that ends before close.
type clients struct {
	conns   []*loadtest.Conn
	wg      sync.WaitGroup
	closing atomic.Bool
	once    sync.Once
	failed  chan struct{}
	err     error
}

func (cs *clients) read(i int) {
	defer cs.wg.Done()
	var buf []byte
	for {
		var err error
		if buf, err = cs.conns[i].ReadText(buf[:0]); err != nil {
			if !cs.closing.Load() {
				cs.once.Do(func() { cs.err = fmt.Errorf("connection %d lost: %w", i, err); close(cs.failed) })
			}
			return
		}
	}
}

// Err returns the first lost connection, or nil.
func (cs *clients) Err() error {
	select {
	case <-cs.failed:
		return cs.err
	default:
		return nil
	}
}

func (cs *clients) close() {
	cs.closing.Store(true)
	for _, c := range cs.conns {
		if c != nil {
			_ = c.CloseGracefully()
		}
	}
	cs.wg.Wait()
}

func measure(ctx context.Context, cfg config, stdout io.Writer) (err error) {
	args := []string{"-serve"}
	if cfg.noPoller {
		args = append(args, "-no-poller")
	}
	if cfg.chat {
		args = append(args, "-chat")
	}
	path := func(i int) string {
		if cfg.chat {
			return "/ws/chat/room" + strconv.Itoa(i%cfg.rooms) + "/"
		}
		return "/ws"
	}
	cmd := cfg.child(args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("server child stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("server child stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the server child: %w", err)
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	c := &child{in: in, out: bufio.NewScanner(out)}
	if !c.out.Scan() {
		return fmt.Errorf("the server child printed no address")
	}
	addr := c.out.Text()
	pid := cmd.Process.Pid
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	base := "ws://" + addr
	d := loadtest.Dialer{PerSource: cfg.perAddr}

	// Warm up: one connection, so that one-time costs (poller, pools) are in the baseline.
	// Client i uses source index i (127.0.0.2 + i/per-addr); the warm-up one comes after them.
	cs := &clients{conns: make([]*loadtest.Conn, cfg.n+1), failed: make(chan struct{})}
	defer cs.close()
	warm, err := d.Dial(ctx, base+path(0), cfg.n)
	if err != nil {
		return fmt.Errorf("warm-up connection: %w", err)
	}
	cs.conns[cfg.n] = warm
	cs.wg.Add(1)
	go cs.read(cfg.n)
	if _, err := c.ask("gc"); err != nil {
		return err
	}
	before, err := loadtest.VmRSS(pid)
	if err != nil {
		return err
	}
	g0, err := c.askInt("goroutines")
	if err != nil {
		return err
	}
	ms0, err := c.ask("memstats")
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr error
	sem := make(chan struct{}, 64)
	start := time.Now()
	for i := range cfg.n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := d.Dial(ctx, base+path(i), i)
			if err != nil {
				if failed.Add(1) == 1 {
					firstErr = fmt.Errorf("dial %d: %w", i, err)
				}
				return
			}
			cs.conns[i] = conn
			cs.wg.Add(1)
			go cs.read(i)
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d connections failed (first: %w)", f, cfg.n, firstErr)
	}
	dialTime := time.Since(start)
	if cfg.midRun != nil {
		cfg.midRun(base, cs.conns[:cfg.n], cs.failed)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		got, err := c.askInt("count")
		if err != nil {
			return err
		}
		if got < 0 || got >= cfg.n+1 { // < 0: not counted by the application
			break
		}
		if err := cs.Err(); err != nil {
			return fmt.Errorf("run failed: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server accepted %d of %d", got, cfg.n+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if _, err := c.ask("gc"); err != nil {
		return err
	}
	// Verified open at the reading: the clients' readers are alive, and the child holds every
	// socket, right before and right after.
	check := func(when string) error {
		if err := cs.Err(); err != nil {
			return fmt.Errorf("run failed: %w", err)
		}
		// A wrong count is read again (up to three reads): the kernel's TCP table is read in
		// pieces while other sockets come and go. A lost connection stays lost.
		var open int
		for range 3 {
			var err error
			if open, err = loadtest.ServerConns(pid, port); err != nil {
				return err
			}
			if open == cfg.n+1 {
				break
			}
		}
		if open != cfg.n+1 {
			return fmt.Errorf("run failed: the server holds %d open connections %s, want %d", open, when, cfg.n+1)
		}
		return nil
	}
	if err := check("right before its RSS reading"); err != nil {
		return err
	}
	after, err := loadtest.VmRSS(pid)
	if err != nil {
		return err
	}
	if err := check("right after its RSS reading"); err != nil {
		return err
	}
	g1, err := c.askInt("goroutines")
	if err != nil {
		return err
	}
	if os.Getenv("IDLECONNS_HEAP") != "" {
		if _, err := c.ask("heap"); err != nil {
			return err
		}
	}
	if cfg.verbose {
		ms1, err := c.ask("memstats")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "server memstats before:", ms0)
		fmt.Fprintln(stdout, "server memstats after: ", ms1)
	}
	mode := "epoll poller"
	if cfg.noPoller {
		mode = "reader goroutine per connection"
	}
	fmt.Fprintf(stdout, "connections:      %d (%s), opened in %v; %d open on the server before and after the reading\n", cfg.n, mode, dialTime.Round(time.Millisecond), cfg.n+1)
	fmt.Fprintf(stdout, "server RSS:       %d KiB before, %d KiB after\n", before, after)
	fmt.Fprintf(stdout, "server goroutines: %d before, %d after (%.2f per connection)\n", g0, g1, float64(g1-g0)/float64(cfg.n))
	fmt.Fprintf(stdout, "RSS per idle connection: %.2f KiB\n", float64(after-before)/float64(cfg.n))
	return nil
}
