package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startHistoryCluster starts a private redis-server and procs examples/chat processes on it
// with -history size (built into the work directory unless bin names a binary). It returns
// the cluster and, per process, the arguments that restart it on the same port.
func startHistoryCluster(ctx context.Context, cfg *ReconnectConfig) (_ *Cluster, _ [][]string, err error) {
	c := &Cluster{log: cfg.Logger, keep: cfg.KeepLogs}
	if c.dir, err = os.MkdirTemp("", "chatload-reconnect-"); err != nil {
		return nil, nil, fmt.Errorf("loadtest: work directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	bin := cfg.ChatBinary
	if bin == "" {
		bin = filepath.Join(c.dir, path.Base(ChatPackage))
		c.log.Info("chatload: building " + ChatPackage)
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, ChatPackage).CombinedOutput()
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("loadtest: go build %s (run inside the repository, or pass a built binary): %w: %s", ChatPackage, err, strings.TrimSpace(string(out)))
		}
	}
	if c.LayerURL, err = c.startRedis(ctx); err != nil {
		return nil, nil, err
	}
	var args [][]string
	for i := range cfg.Procs {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		a := []string{"-addr", addr, "-layer", c.LayerURL, "-history", strconv.Itoa(cfg.History)}
		p, err := c.start(fmt.Sprintf("chat-%d", i), bin, nil, a...)
		if err != nil {
			return nil, nil, err
		}
		c.chat = append(c.chat, p)
		if err := p.waitAccepting(ctx, addr, 30*time.Second, nil); err != nil {
			return nil, nil, err
		}
		c.URLs = append(c.URLs, "ws://"+addr)
		args = append(args, append([]string{bin}, a...))
	}
	c.log.Info("chatload: servers up", "urls", c.URLs, "layer", c.LayerURL, "history", cfg.History)
	return c, args, nil
}

// killChat SIGKILLs chat process i and waits until it has exited.
func (c *Cluster) killChat(i int) error {
	p := c.chat[i]
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("loadtest: kill %s: %w", p.name, err)
	}
	<-p.exited
	return nil
}

// restartChat starts chat process i again with args (its binary first, see
// startHistoryCluster), on the same port, and waits until it accepts (at most timeout: the
// probe waits behind the clients' reconnects).
func (c *Cluster) restartChat(ctx context.Context, i int, args []string, timeout time.Duration) error {
	p, err := c.start(fmt.Sprintf("chat-%d-restarted", i), args[0], nil, args[1:]...)
	if err != nil {
		return err
	}
	c.chat[i] = p
	return p.waitAccepting(ctx, strings.TrimPrefix(c.URLs[i], "ws://"), timeout, nil)
}

// redisCommandStats returns the calls per command of the redis-server at a redis:// URL
// (INFO commandstats), without the INFO calls themselves.
func redisCommandStats(ctx context.Context, layerURL string) (map[string]int64, error) {
	addr := strings.TrimPrefix(layerURL, "redis://")
	if i := strings.IndexAny(addr, "/?"); i >= 0 {
		addr = addr[:i]
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadtest: INFO commandstats: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("INFO commandstats\r\n")); err != nil {
		return nil, fmt.Errorf("loadtest: INFO commandstats: %w", err)
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("loadtest: INFO commandstats: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("loadtest: INFO commandstats: unexpected answer %q", strings.TrimSpace(head))
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("loadtest: INFO commandstats: %w", err)
	}
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || name == "info" {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls, _ := strconv.ParseInt(v, 10, 64)
				out[name] = calls
			}
		}
	}
	return out, nil
}

// commandDelta returns after - before per command (commands with no calls in between left
// out) and the total.
func commandDelta(before, after map[string]int64) (map[string]int64, int64) {
	out := map[string]int64{}
	var total int64
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
			total += d
		}
	}
	return out, total
}
