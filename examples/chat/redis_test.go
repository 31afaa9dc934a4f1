package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/internal/redistest"
)

// liveClient is a chat WebSocket client whose frames are read by a goroutine, so that a test
// can wait on several clients at once.
type liveClient struct {
	name   string
	conn   net.Conn
	w      io.Writer
	frames chan map[string]any
	ended  chan error // receives why the read loop ended (a close frame, an error)
	wg     sync.WaitGroup
}

func connectLive(t *testing.T, ctx context.Context, addr, room, name string) *liveClient {
	t.Helper()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(map[string][]string{"Origin": {"http://" + addr}})}
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+"/ws/chat/"+room+"/")
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	var r io.Reader = conn
	if br != nil {
		r = bufio.NewReader(io.MultiReader(br, conn))
	}
	w := &lockedWriter{w: conn}
	rw := struct {
		io.Reader
		io.Writer
	}{r, w}
	c := &liveClient{name: name, conn: conn, w: w, frames: make(chan map[string]any, 1024), ended: make(chan error, 1)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			b, err := wsutil.ReadServerText(rw)
			if err != nil {
				c.ended <- err
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				c.ended <- fmt.Errorf("frame %q: %w", b, err)
				return
			}
			c.frames <- m
		}
	}()
	t.Cleanup(c.close)
	return c
}

// lockedWriter keeps the frames of the test and of the read loop (control replies) whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (c *liveClient) close() {
	_ = c.conn.Close()
	c.wg.Wait()
}

func (c *liveClient) send(t *testing.T, m string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"message": m})
	var frame bytes.Buffer // one Write per frame: the read loop may write control frames
	if err := wsutil.WriteClientText(&frame, b); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.w.Write(frame.Bytes()); err != nil {
		t.Fatalf("%s: send: %v", c.name, err)
	}
}

// waitTimeout bounds every wait of these tests for a frame or for traffic to resume. It only
// stops a hung test: how long a recovery takes is logged, not asserted (a loaded two-core
// machine running -race may be slow).
const waitTimeout = 60 * time.Second

// next returns the next frame, failing the test if the socket ends or nothing comes in time.
func (c *liveClient) next(t *testing.T, timeout time.Duration) map[string]any {
	t.Helper()
	select {
	case m := <-c.frames:
		return m
	case err := <-c.ended:
		t.Fatalf("%s: connection ended: %v", c.name, err)
	case <-time.After(timeout):
		t.Fatalf("%s: no frame within %v", c.name, timeout)
	}
	return nil
}

// expect reads frames until one carries message want (others, e.g. earlier probes, are
// skipped), within timeout.
func (c *liveClient) expect(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: %q not received within %v", c.name, want, timeout)
		}
		if m := c.next(t, left); m["message"] == want && m["error"] == nil {
			return
		}
	}
}

// startChat runs the chat program (run, as main does) on a loopback port with layerURL and
// returns its address; it is shut down when the test ends.
func startChat(t *testing.T, layerURL string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-layer", layerURL}, logger, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("chat server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("chat server did not shut down")
		}
	})
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		t.Fatalf("chat server: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("chat server did not start")
	}
	return ""
}

func layerURL(srv *redistest.Server, scheme string) string {
	return strings.Replace(srv.URL(), "redis://", scheme+"://", 1) + "?prefix=" + srv.Prefix()
}

// TestTwoServersOneRedis: a message sent by a client of server A reaches the clients of the
// same room on server B (two servers, two layer instances, one Redis), for both Redis
// layers.
func TestTwoServersOneRedis(t *testing.T) {
	for _, scheme := range []string{"redis", "redis+pubsub"} {
		t.Run(scheme, func(t *testing.T) {
			srv := redistest.Start(t)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			a, b := startChat(t, layerURL(srv, scheme)), startChat(t, layerURL(srv, scheme))
			alice := connectLive(t, ctx, a, "lobby", "alice@A")
			bob := connectLive(t, ctx, b, "lobby", "bob@B")
			carol := connectLive(t, ctx, b, "lobby", "carol@B")
			eve := connectLive(t, ctx, b, "attic", "eve@B")
			alice.send(t, "hello from A")
			for _, c := range []*liveClient{alice, bob, carol} {
				c.expect(t, "hello from A", waitTimeout)
			}
			bob.send(t, "hello from B")
			for _, c := range []*liveClient{alice, bob, carol} {
				c.expect(t, "hello from B", waitTimeout)
			}
			eve.send(t, "attic only")
			eve.expect(t, "attic only", waitTimeout)
			select {
			case m := <-alice.frames:
				t.Errorf("alice heard another room: %v", m)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestRedisOutageWithLiveSockets runs two chat servers on one Redis, kills Redis in the middle
// of traffic and restarts it: no socket is closed, messages sent during the outage come back
// as error frames (chat.SendTimeout bounds the send), and traffic from each server to both
// resumes by itself after Redis's return (the layer puts its channels back into their
// groups). How long each takes is logged. The package's TestMain checks that no goroutine
// leaks.
func TestRedisOutageWithLiveSockets(t *testing.T) {
	for _, scheme := range []string{"redis", "redis+pubsub"} {
		t.Run(scheme, func(t *testing.T) { testOutage(t, scheme) })
	}
}

func testOutage(t *testing.T, scheme string) {
	srv := redistest.StartPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	a, b := startChat(t, layerURL(srv, scheme)), startChat(t, layerURL(srv, scheme))
	clients := []*liveClient{
		connectLive(t, ctx, a, "lobby", "a1"), connectLive(t, ctx, a, "lobby", "a2"),
		connectLive(t, ctx, b, "lobby", "b1"), connectLive(t, ctx, b, "lobby", "b2"),
	}
	round := func(tag string) {
		for i, from := range clients {
			text := fmt.Sprintf("%s-%d", tag, i)
			from.send(t, text)
			for _, c := range clients {
				c.expect(t, text, waitTimeout)
			}
		}
	}
	round("before")

	// Traffic in flight while Redis dies.
	for i := 0; i < 20; i++ {
		clients[i%4].send(t, fmt.Sprintf("inflight-%d", i))
	}
	srv.Kill()
	killed := time.Now()
	// During the outage a message is refused with an error frame, and the socket stays open.
	for _, c := range clients {
		start := time.Now()
		c.send(t, "during outage")
		for {
			m := c.next(t, waitTimeout)
			if m["error"] != nil && m["error"] != chat.ErrorUndelivered {
				t.Errorf("%s: error frame %v", c.name, m)
			}
			if m["error"] != nil && m["message"] == "during outage" {
				break
			}
			// Else an in-flight message delivered before the kill, or refused (its own
			// error frame): both are fine.
		}
		t.Logf("%s: error frame after %v (send timeout %v)", c.name, time.Since(start).Round(time.Millisecond), chat.SendTimeout)
	}
	t.Logf("outage checks took %v", time.Since(killed).Round(time.Millisecond))

	srv.Restart()
	back := time.Now()
	// Probe, alternately from a client of A and of B, until a message from each server has
	// reached every client on both. Both servers must be able to send again: each has its
	// own Redis connections, and go-redis, after as many failed dials as its pool size,
	// answers with the last dial error and tries a new dial only once a second, so a server
	// that sent nothing since Redis returned may fail its first sends for up to about 1 s.
	senders := []int{0, 2} // a1 on A, b1 on B
	got := make([][]bool, len(senders))
	for s := range got {
		got[s] = make([]bool, len(clients))
	}
	all := func() bool {
		for _, g := range got {
			for _, ok := range g {
				if !ok {
					return false
				}
			}
		}
		return true
	}
	for n := 0; ; n++ {
		if time.Since(back) > waitTimeout {
			t.Fatalf("traffic did not resume within %v of Redis returning (by sender: %v)", waitTimeout, got)
		}
		s := n % len(senders)
		clients[senders[s]].send(t, fmt.Sprintf("probe-%d-%d", s, n))
		wait := time.After(100 * time.Millisecond)
	collect:
		for {
			for i, c := range clients {
				select {
				case m := <-c.frames:
					var from, k int
					if text, _ := m["message"].(string); m["error"] == nil {
						if _, err := fmt.Sscanf(text, "probe-%d-%d", &from, &k); err == nil && from < len(got) {
							got[from][i] = true
						}
					}
				case err := <-c.ended:
					t.Fatalf("%s: connection ended after the restart: %v", c.name, err)
				default:
				}
			}
			select {
			case <-wait:
				break collect
			case <-time.After(5 * time.Millisecond):
			}
		}
		if all() {
			break
		}
	}
	t.Logf("traffic resumed %v after Redis returned", time.Since(back).Round(time.Millisecond))
	// Every socket is still up and every client reaches everyone.
	round("after")
}

// TestTwoProcesses builds the chat program and runs it twice as separate processes on one
// Redis: a client of process A and a client of process B chat in the same room.
func TestTwoProcesses(t *testing.T) {
	if redistest.Short() { // never under CI=true
		t.Skip("builds the program")
	}
	srv := redistest.Start(t)
	bin := filepath.Join(t.TempDir(), "chat")
	bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer bcancel()
	if out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	a := startProcess(t, bin, layerURL(srv, "redis"))
	b := startProcess(t, bin, layerURL(srv, "redis"))
	alice := connectLive(t, ctx, a, "lobby", "alice@A")
	bob := connectLive(t, ctx, b, "lobby", "bob@B")
	alice.send(t, "hi from process A")
	bob.expect(t, "hi from process A", waitTimeout)
	alice.expect(t, "hi from process A", waitTimeout)
	bob.send(t, "hi from process B")
	alice.expect(t, "hi from process B", waitTimeout)
}

var servingAddr = regexp.MustCompile(`msg="chat: serving" addr=(\S+)`)

// startProcess runs the chat binary on a loopback port and returns its address, read from
// its log; the process gets SIGTERM (a graceful shutdown) when the test ends.
func startProcess(t *testing.T, bin, layer string) string {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-layer", layer)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { <-logDone; exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("chat process: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("chat process did not stop on SIGTERM")
		}
	})
	select {
	case a := <-addr:
		return a
	case <-time.After(15 * time.Second):
		t.Fatal("chat process did not report its address")
	}
	return ""
}
