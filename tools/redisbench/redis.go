package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// commandCalls sums the calls of INFO commandstats.
func commandCalls(ctx context.Context, c *redis.Client) (int64, error) {
	s, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO commandstats: %w", err)
	}
	var total int64
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		_, rest, _ := strings.Cut(line, ":calls=")
		v, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
	}
	return total, nil
}

func redisBenchmark(opt *redis.Options) (string, error) {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return "", errors.New("redis-benchmark not installed")
	}
	host, port, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return "", fmt.Errorf("redis address: %w", err)
	}
	args := []string{"-h", host, "-p", port, "-P", "16", "-q", "-t", "zadd", "-n", "200000"}
	if opt.Password != "" {
		args = append(args, "-a", opt.Password)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	// The -q output rewrites its progress line with \r; keep the final one.
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndex(s, "\r"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s), nil
}

// startRedis runs a private redis-server on a free loopback port, without persistence.
func startRedis(dir string) (stop func(), url string, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server not found; install it or pass -redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("pick a port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--daemonize", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url = "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer c.Close()
	for i := 0; i < 200; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return stop, url, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return nil, "", errors.New("redis-server did not answer PING within 5 s")
}
