// Command idleconns measures the memory an idle WebSocket connection costs the gochannels
// server.
//
// It starts the server in a child process (this same program, with -serve) running a trivial
// application that accepts every connection and then waits in Receive, opens N loopback
// WebSocket clients from this process, and reads the child's VmRSS from /proc before and
// after (each time after a GC and a pause). It prints the RSS growth per connection, in KiB.
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
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/layers"
)

var verbose *bool

func main() {
	n := flag.Int("n", 10000, "number of idle WebSocket connections")
	serve := flag.Bool("serve", false, "run as the server child (internal)")
	noPoller := flag.Bool("no-poller", false, "server: use a reader goroutine per connection")
	verbose = flag.Bool("v", false, "print the server's runtime memory statistics")
	perAddr := flag.Int("per-addr", 5000, "client connections per source address")
	chatApp := flag.Bool("chat", false, "serve the examples/chat WebSocket consumer (in-memory layer) instead of the trivial application; clients join -rooms rooms")
	rooms := flag.Int("rooms", 10, "with -chat: rooms the connections are spread over")
	flag.Parse()
	raiseFileLimit()
	if *serve {
		runServer(*noPoller, *chatApp)
		return
	}
	if err := measure(*n, *perAddr, *noPoller, *chatApp, max(*rooms, 1)); err != nil {
		log.Fatal(err)
	}
}

func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("getrlimit: %v", err)
		return
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("setrlimit: %v", err)
	}
}

// runServer is the child: it serves, prints its address, then answers commands on stdin:
// "count" prints the number of accepted connections, "gc" collects garbage and prints "ok".
func runServer(noPoller, chatApp bool) {
	if os.Getenv("IDLECONNS_HEAP") != "" {
		runtime.MemProfileRate = 256 // a fine-grained profile of what each connection holds
	}
	var accepted atomic.Int64
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
				accepted.Add(1)
			case channels.TypeWebsocketDisconnect:
				return nil
			}
		}
	})
	if chatApp {
		// The chat consumer accepts by itself; the client counts its 101 responses.
		accepted.Store(-1)
		app = chat.NewWebsocketApplication(layers.NewMemory(layers.MemoryOptions{}), nil)
	}
	srv := &channels.Server{Application: app, DisablePoller: noPoller}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	fmt.Println(l.Addr().String())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "count":
			fmt.Println(accepted.Load())
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			time.Sleep(500 * time.Millisecond)
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println("ok")
		case "goroutines":
			fmt.Println(runtime.NumGoroutine())
		case "memstats":
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("heap-inuse=%dKiB stack-inuse=%dKiB sys=%dKiB other=%dKiB mspan=%dKiB objects=%d\n",
				ms.HeapInuse>>10, ms.StackInuse>>10, ms.Sys>>10, (ms.OtherSys+ms.GCSys+ms.BuckHashSys)>>10, ms.MSpanInuse>>10, ms.HeapObjects)
		case "heap":
			if f, err := os.Create(os.Getenv("IDLECONNS_HEAP")); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
			fmt.Println("ok")
		}
	}
}

type child struct {
	cmd *exec.Cmd
	in  io.Writer
	out *bufio.Scanner
}

func (c *child) ask(cmd string) string {
	fmt.Fprintln(c.in, cmd)
	if !c.out.Scan() {
		log.Fatalf("server child exited: %v", c.out.Err())
	}
	return c.out.Text()
}

func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	log.Fatal("no VmRSS in /proc status")
	return 0
}

func measure(n, perAddr int, noPoller, chatApp bool, rooms int) error {
	args := []string{"-serve"}
	if noPoller {
		args = append(args, "-no-poller")
	}
	if chatApp {
		args = append(args, "-chat")
	}
	path := func(i int) string {
		if chatApp {
			return "/ws/chat/room" + strconv.Itoa(i%rooms) + "/"
		}
		return "/ws"
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the server child: %w", err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if !c.out.Scan() {
		return fmt.Errorf("server child printed no address")
	}
	addr := c.out.Text()
	pid := cmd.Process.Pid

	// Warm up: one connection, so that one-time costs (poller, pools) are in the baseline.
	warm, err := dialWS(addr, "127.0.0.1", path(0))
	if err != nil {
		return err
	}
	defer warm.Close()
	c.ask("gc")
	before := vmRSS(pid)
	g0, _ := strconv.Atoi(c.ask("goroutines"))
	ms0 := c.ask("memstats")

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			src := fmt.Sprintf("127.0.0.%d", 2+i/perAddr)
			conn, err := dialWS(addr, src, path(i))
			if err != nil {
				if failed.Add(1) == 1 {
					log.Printf("dial %d: %v", i, err)
				}
				return
			}
			conns[i] = conn
		}(i)
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d connections failed", f, n)
	}
	dialTime := time.Since(start)
	for deadline := time.Now().Add(30 * time.Second); ; {
		got, _ := strconv.Atoi(c.ask("count"))
		if got < 0 || got >= n+1 { // < 0: not counted by the server
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server accepted %d of %d", got, n+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	c.ask("gc")
	after := vmRSS(pid)
	g1, _ := strconv.Atoi(c.ask("goroutines"))
	if os.Getenv("IDLECONNS_HEAP") != "" {
		c.ask("heap")
	}
	if *verbose {
		fmt.Println("server memstats before:", ms0)
		fmt.Println("server memstats after: ", c.ask("memstats"))
	}
	mode := "epoll poller"
	if noPoller {
		mode = "reader goroutine per connection"
	}
	fmt.Printf("connections:      %d (%s), opened in %v\n", n, mode, dialTime.Round(time.Millisecond))
	fmt.Printf("server RSS:       %d KiB before, %d KiB after\n", before, after)
	fmt.Printf("server goroutines: %d before, %d after (%.2f per connection)\n", g0, g1, float64(g1-g0)/float64(n))
	fmt.Printf("RSS per idle connection: %.2f KiB\n", float64(after-before)/float64(n))
	for _, conn := range conns {
		conn.Close()
	}
	return nil
}

// dialWS opens a WebSocket from source address src and waits for the 101.
func dialWS(addr, src, path string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
