package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ChatPackage is the import path of the chat server the cluster builds.
const ChatPackage = "github.com/gochannels/gochannels/examples/chat"

// ClusterConfig describes the processes StartCluster starts.
type ClusterConfig struct {
	// Procs is the number of chat server processes (at least 1).
	Procs int
	// LayerURL is the chat servers' -layer: "memory://" (one process only), a redis:// URL of
	// an existing server, or "" / "redis" to start a private redis-server; "redis?params"
	// starts one too and gives the servers its URL with those parameters (for example
	// "redis?pipeline_depth=256").
	LayerURL string
	// ChatBinary is a built examples/chat; empty means build it into the work directory (go
	// build, which must run inside the repository: its workspace, or the tools or examples
	// module).
	ChatBinary string
	// Logger receives progress (slog.Default() when nil).
	Logger *slog.Logger
	// Server is ServerGo (default), ServerBare or ServerDjango.
	Server string
	// Pprof starts Go servers (examples/chat, the bare server) with -pprof on a free loopback
	// port each (Cluster.PprofURLs), for profiles of a run (see Profiler).
	Pprof bool
	// DjangoHandshakeTimeout is daphne's --websocket_connect_timeout for the Django
	// reference, rounded up to whole seconds (zero: daphne's default, 5 s). Daphne rejects
	// with 403 a connection that its application has not accepted within it, which on a
	// loaded 2-core machine happens while thousands of connections open at once.
	DjangoHandshakeTimeout time.Duration
	// KeepLogs leaves the work directory with the servers' logs (chat-N.log, redis.log) in
	// place after Close; Dir names it.
	KeepLogs bool
}

// Cluster is a set of chat server processes on free loopback ports, with their private
// redis-server when they need one. Close stops them all.
type Cluster struct {
	// URLs are the servers' base WebSocket URLs, ws://127.0.0.1:port.
	URLs []string
	// LayerURL is the layer the servers use (LayerNone for the bare server).
	LayerURL string
	// PprofURLs are the servers' debug addresses (http://127.0.0.1:port) when
	// ClusterConfig.Pprof was set.
	PprofURLs []string

	dir  string
	keep bool
	// djangoTimeout is ClusterConfig.DjangoHandshakeTimeout.
	djangoTimeout time.Duration
	log           *slog.Logger
	chat          []*proc
	redis         *proc
}

type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has been waited for
	err     error         // Wait's result, set before exited closes
}

// Dir returns the work directory, which holds the servers' logs.
func (c *Cluster) Dir() string { return c.dir }

// PIDs returns the process ids of the chat servers.
func (c *Cluster) PIDs() []int {
	pids := make([]int, len(c.chat))
	for i, p := range c.chat {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// RedisPID returns the private redis-server's process id, or 0.
func (c *Cluster) RedisPID() int {
	if c.redis == nil {
		return 0
	}
	return c.redis.cmd.Process.Pid
}

// StartCluster builds examples/chat (unless cfg.ChatBinary names a binary, or cfg.Server is
// ServerDjango), starts a private redis-server when the layer needs one, starts cfg.Procs chat
// servers, and waits until each accepts TCP connections. On error everything started so far is stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	if cfg.Procs < 1 {
		return nil, fmt.Errorf("loadtest: need at least one server process, got %d", cfg.Procs)
	}
	if strings.HasPrefix(cfg.LayerURL, "memory:") && cfg.Procs > 1 {
		return nil, fmt.Errorf("loadtest: %d processes cannot share the in-memory layer; use redis", cfg.Procs)
	}
	switch cfg.Server {
	case "", ServerGo:
	case ServerDjango:
		if err := checkDjango(); err != nil {
			return nil, err
		}
	case ServerBare:
		if err := checkBare(cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("loadtest: unknown server %q (want %q, %q or %q)", cfg.Server, ServerGo, ServerBare, ServerDjango)
	}
	c := &Cluster{log: cfg.Logger, keep: cfg.KeepLogs, djangoTimeout: cfg.DjangoHandshakeTimeout}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.dir, err = os.MkdirTemp("", "chatload-"); err != nil {
		return nil, fmt.Errorf("loadtest: work directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	bin := cfg.ChatBinary
	if cfg.Server == ServerDjango {
		if err := writeDjangoRef(c.dir); err != nil {
			return nil, err
		}
	} else if bin == "" || cfg.Server == ServerBare {
		pkg := ChatPackage
		if cfg.Server == ServerBare {
			pkg = BarePackage
		}
		bin = filepath.Join(c.dir, path.Base(pkg))
		c.log.Info("chatload: building " + pkg)
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, pkg).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("loadtest: go build %s (run inside the repository, or pass a built binary): %w: %s", pkg, err, strings.TrimSpace(string(out)))
		}
	}
	switch layer := cfg.LayerURL; {
	case cfg.Server == ServerBare:
		c.LayerURL = LayerNone
	case layer == "" || layer == "redis" || strings.HasPrefix(layer, "redis?"):
		if c.LayerURL, err = c.startRedis(ctx); err != nil {
			return nil, err
		}
		if q, ok := strings.CutPrefix(layer, "redis?"); ok {
			c.LayerURL = withQuery(c.LayerURL, q)
		}
	default:
		c.LayerURL = layer
	}
	for i := range cfg.Procs {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		var p *proc
		var args []string
		if cfg.Pprof && cfg.Server != ServerDjango {
			if args, err = c.pprofArgs(); err != nil {
				return nil, err
			}
		}
		switch cfg.Server {
		case ServerDjango:
			p, err = c.startDjango(i, port)
		case ServerBare:
			p, err = c.start("bare", bin, nil, append(args, "-addr", addr)...)
		default:
			p, err = c.start(fmt.Sprintf("chat-%d", i), bin, nil, append(args, "-addr", addr, "-layer", c.LayerURL)...)
		}
		if err != nil {
			return nil, err
		}
		c.chat = append(c.chat, p)
		if err := p.waitAccepting(ctx, addr, 30*time.Second, nil); err != nil {
			return nil, err
		}
		c.URLs = append(c.URLs, "ws://"+addr)
	}
	c.log.Info("chatload: servers up", "urls", c.URLs, "layer", c.LayerURL)
	return c, nil
}

func (c *Cluster) startRedis(ctx context.Context) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("loadtest: the redis layer needs redis-server on PATH (or a -redis URL): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := c.startRedisOn(ctx, bin, "redis", addr); err != nil {
		return "", err
	}
	return "redis://" + addr + "/0", nil
}

// startRedisOn starts redis-server (bin) on addr, logging to <name>.log, and waits until it
// answers PING; it becomes the cluster's redis.
func (c *Cluster) startRedisOn(ctx context.Context, bin, name, addr string) error {
	_, port, _ := net.SplitHostPort(addr)
	p, err := c.start(name, bin, nil, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", c.dir, "--daemonize", "no", "--maxclients", "10000")
	if err != nil {
		return err
	}
	c.redis = p
	return p.waitAccepting(ctx, addr, 15*time.Second, pingRedis)
}

// startDjango starts the i-th Django reference server (daphne) on port.
func (c *Cluster) startDjango(i, port int) (*proc, error) {
	layer, err := djangoLayer(c.LayerURL)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "DJANGOREF_LAYER="+layer, "PYTHONPATH="+c.dir, "PYTHONDONTWRITEBYTECODE=1")
	args := []string{"-m", "daphne", "-b", "127.0.0.1", "-p", strconv.Itoa(port)}
	if c.djangoTimeout > 0 {
		secs := int((c.djangoTimeout + time.Second - 1) / time.Second)
		args = append(args, "--websocket_connect_timeout", strconv.Itoa(secs))
	}
	return c.start(fmt.Sprintf("django-%d", i), DjangoPython, env, append(args, "djangoref.asgi:application")...)
}

// start starts bin with args (and env, when not nil), its output going to <name>.log.
func (c *Cluster) start(name, bin string, env []string, args ...string) (*proc, error) {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("loadtest: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitAccepting polls addr until it accepts (and check, if not nil, succeeds on the
// connection), the process exits, or timeout passes.
func (p *proc) waitAccepting(ctx context.Context, addr string, timeout time.Duration, check func(net.Conn) error) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("loadtest: %s exited at start (%v): %s", p.name, p.err, tail(p.logPath))
		case <-ctx.Done():
			return fmt.Errorf("loadtest: waiting for %s: %w", p.name, ctx.Err())
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			if check != nil {
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				err = check(conn)
			}
			conn.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loadtest: %s not accepting on %s after %v (%v): %s", p.name, addr, timeout, err, tail(p.logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pingRedis(conn net.Conn) error {
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return nil
}

// stop sends SIGTERM, waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Close stops the chat servers (SIGTERM, then SIGKILL after 10s), then redis, and removes
// the work directory unless KeepLogs was set. It is safe to call more than once.
func (c *Cluster) Close() error {
	done := make(chan struct{})
	for _, p := range c.chat {
		go func() { p.stop(10 * time.Second); done <- struct{}{} }()
	}
	for range c.chat {
		<-done
	}
	c.chat = nil
	if c.redis != nil {
		c.redis.stop(5 * time.Second)
		c.redis = nil
	}
	if c.dir == "" || c.keep {
		return nil
	}
	err := os.RemoveAll(c.dir)
	c.dir = ""
	if err != nil {
		return fmt.Errorf("loadtest: remove work directory: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loadtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// RaiseFileLimit raises this process's open-files soft limit to its hard limit. Because it
// calls setrlimit itself, child processes started afterwards inherit the raised limit (Go
// restores the original soft limit for children only when the runtime raised it). It returns
// the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("loadtest: getrlimit: %w", err)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("loadtest: setrlimit: %w", err)
	}
	return rl.Cur, nil
}

// VmRSS returns a process's resident set size in KiB, from /proc/<pid>/status.
func VmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("loadtest: read RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("loadtest: no VmRSS in /proc status")
}

// withQuery appends the URL parameters q ("a=1&b=2") to a layer URL.
func withQuery(layerURL, q string) string {
	if q == "" {
		return layerURL
	}
	if strings.Contains(layerURL, "?") {
		return layerURL + "&" + q
	}
	return layerURL + "?" + q
}
