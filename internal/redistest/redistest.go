// Package redistest starts real redis-server processes for tests, in the style of
// net/http/httptest: Start gives each test its own server on a free loopback port, stopped when
// the test ends. Kill and Restart simulate a crash and a recovery on the same port.
//
// When the environment variable REDIS_URL is set, Start uses that server instead (one database
// per shard for StartN) and gives each test a unique key prefix, deleted (with SCAN) when the
// test ends. StartPrivate always starts a child process, whatever REDIS_URL says: tests that
// Kill or Restart a server use it, and Kill or Restart on a REDIS_URL server fails the test.
// Without a redis-server binary the test is skipped, except when CI=true, where it fails: CI
// must never silently skip Redis tests (see SkipOrFail).
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points the tests at an existing Redis server.
const EnvURL = "REDIS_URL"

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one Redis server for a test: a child redis-server process, or (with REDIS_URL) a
// database of an existing server.
type Server struct {
	t        testing.TB
	bin      string
	dir      string
	port     int
	external *url.URL // set when REDIS_URL is used
	prefix   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result
	log    *os.File
}

// Start returns a running Redis server for t, stopped (or, with REDIS_URL, cleaned of the
// test's keys) when t ends. A test that kills, restarts or stops the server uses StartPrivate.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartN(t, 1)[0]
}

// StartN returns n running Redis servers, for sharding tests. With REDIS_URL they are n
// databases (0, 1, ... from the URL's one) of that server.
func StartN(t testing.TB, n int) []*Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("redistest: StartN(%d): need at least one server", n)
	}
	if raw := os.Getenv(EnvURL); raw != "" {
		return startExternal(t, raw, n)
	}
	return startPrivate(t, n, "redis-server not found; install redis-server or set "+EnvURL)
}

// StartPrivate returns a running Redis server for t that is always a child redis-server
// process, whatever REDIS_URL says: a test that kills, restarts or stops a server must use it
// (or StartPrivateN), so that no environment can turn that test into a skip.
func StartPrivate(t testing.TB) *Server {
	t.Helper()
	return StartPrivateN(t, 1)[0]
}

// StartPrivateN is StartN with private redis-server processes, whatever REDIS_URL says.
func StartPrivateN(t testing.TB, n int) []*Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("redistest: StartPrivateN(%d): need at least one server", n)
	}
	return startPrivate(t, n, "redis-server not found; install redis-server")
}

// startPrivate starts n child redis-server processes; without the binary the test is
// skipped with missing as the reason (failing when CI=true).
func startPrivate(t testing.TB, n int, missing string) []*Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		SkipOrFail(t, missing)
	}
	servers := make([]*Server, n)
	for i := range servers {
		s := &Server{t: t, bin: bin, dir: t.TempDir(), prefix: "asgi"}
		s.startFresh()
		t.Cleanup(s.stop)
		servers[i] = s
	}
	return servers
}

func startExternal(t testing.TB, raw string, n int) []*Server {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("redistest: bad %s %q: %v", EnvURL, raw, err)
	}
	baseDB := 0
	if p := strings.Trim(u.Path, "/"); p != "" {
		if baseDB, err = strconv.Atoi(p); err != nil {
			t.Fatalf("redistest: bad database %q in %s", p, EnvURL)
		}
	}
	prefix := "t" + randomHex(6) + "asgi"
	servers := make([]*Server, n)
	for i := range servers {
		cu := *u
		cu.Path = "/" + strconv.Itoa(baseDB+i)
		s := &Server{t: t, external: &cu, prefix: prefix}
		if err := ping(s.URL(), startTimeout); err != nil {
			t.Fatalf("redistest: %s %s does not answer: %v", EnvURL, cu.Redacted(), err)
		}
		t.Cleanup(s.deletePrefix)
		servers[i] = s
	}
	return servers
}

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	if s.external != nil {
		return s.external.Host
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns a redis:// URL for the server's database (0 for a local server).
func (s *Server) URL() string {
	if s.external != nil {
		return s.external.String()
	}
	return "redis://" + s.Addr() + "/0"
}

// Prefix returns the key prefix the test should give its layers: "asgi" (channels_redis's
// default) on a private server, a unique prefix per test with REDIS_URL, so that tests
// sharing one server do not see each other's keys.
func (s *Server) Prefix() string { return s.prefix }

// External reports whether the server comes from REDIS_URL.
func (s *Server) External() bool { return s.external != nil }

// Client returns a go-redis client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	opt.DisableIdentity = true
	c := redis.NewClient(opt)
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it to exit. It needs a
// private server (StartPrivate): on one from REDIS_URL it fails the test, never skips it.
func (s *Server) Kill() {
	s.t.Helper()
	s.requirePrivate("Kill")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// Restart starts the server again on the same port (after Kill, or restarting a running
// one), with an empty database, and waits until it answers. It needs a private server
// (StartPrivate): on one from REDIS_URL it fails the test, never skips it.
func (s *Server) Restart() {
	s.t.Helper()
	s.requirePrivate("Restart")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the port may linger briefly after a kill
		if err = s.launchLocked(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart on port %d: %v", s.port, err)
}

// requirePrivate fails the test when s comes from REDIS_URL: op would stop a server the test
// does not own. The test should have started its server with StartPrivate.
func (s *Server) requirePrivate(op string) {
	s.t.Helper()
	if s.external != nil {
		s.t.Fatalf("redistest: %s needs a private redis-server: start it with StartPrivate, not Start (%s is set)", op, EnvURL)
	}
}

// startFresh picks a free port and launches the server, retrying if the port was taken in
// between.
func (s *Server) startFresh() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			continue
		}
		if err = s.launchLocked(); err == nil {
			return
		}
	}
	s.t.Fatalf("redistest: start redis-server: %v", err)
}

func (s *Server) launchLocked() error {
	logPath := filepath.Join(s.dir, "redis.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open redis log: %w", err)
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--protected-mode", "yes")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.log = cmd, f
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case werr := <-exited:
			s.cmd = nil
			f.Close()
			return fmt.Errorf("redis-server exited at start (%v): %s", werr, tail(logPath))
		default:
		}
		if err := ping(s.URL(), 200*time.Millisecond); err == nil {
			s.exited = exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	s.cmd = nil
	f.Close()
	return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", s.port, startTimeout, tail(logPath))
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd, s.exited = nil, nil
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// deletePrefix removes the test's keys from an external server.
func (s *Server) deletePrefix() {
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		return
	}
	opt.DisableIdentity = true
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			c.Del(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Del(ctx, batch...)
	}
}

// ping sends PING over a plain connection (no client library state) and waits for +PONG.
func ping(rawURL string, timeout time.Duration) error {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", opt.Addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	cmd := "PING\r\n"
	if opt.Password != "" {
		cmd = fmt.Sprintf("AUTH %s\r\nPING\r\n", opt.Password)
	}
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "+PONG") {
			return nil
		}
		if strings.HasPrefix(line, "-") {
			return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
