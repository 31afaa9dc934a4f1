package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name StartSentinel's sentinel monitors.
const SentinelMaster = "mymaster"

// Sentinel is a small Redis Sentinel deployment on loopback: a master, one replica of it, and
// one sentinel monitoring the master as SentinelMaster (quorum 1, everything announced as
// 127.0.0.1).
type Sentinel struct {
	t        testing.TB
	master   *proc
	replica  *proc
	sentinel *proc
}

// StartSentinel returns a running master, replica and sentinel for t, stopped when t ends.
// It returns once the replica is in sync and the sentinel knows both, so Failover works at
// once. Without a redis-server the test is skipped (failing when CI=true). REDIS_URL is
// ignored: the processes are always private children.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := requireBinary(t, "redis-server")
	s := &Sentinel{t: t}
	plain := func(replicaOf int) func(dir string, ports []int) []string {
		return func(dir string, ports []int) []string {
			args := []string{
				"--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
				"--replica-announce-ip", "127.0.0.1", "--repl-diskless-sync-delay", "0",
			}
			if replicaOf != 0 {
				args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(replicaOf))
			}
			return args
		}
	}
	s.master = launch(t, "sentinel master", bin, 0, plain(0), func(ctx context.Context, port int) error {
		return ping(localURL(port), 200*time.Millisecond)
	})
	s.replica = launch(t, "sentinel replica", bin, 0, plain(s.master.port), func(ctx context.Context, port int) error {
		if err := ping(localURL(port), 200*time.Millisecond); err != nil {
			return err
		}
		info, err := infoOf(ctx, port, "replication")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica not in sync yet")
		}
		return nil
	})
	s.sentinel = launch(t, "sentinel", bin, 0, func(dir string, ports []int) []string {
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel announce-ip 127.0.0.1\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %s 2000\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			ports[0], dir, SentinelMaster, s.master.port, SentinelMaster, SentinelMaster, SentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatalf("redistest: write sentinel.conf: %v", err)
		}
		return []string{conf, "--sentinel"}
	}, func(ctx context.Context, port int) error {
		if err := ping(localURL(port), 200*time.Millisecond); err != nil {
			return err
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: addrOf(port), MaxRetries: -1, DialerRetries: 1})
		defer c.Close()
		if _, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result(); err != nil {
			return err
		}
		replicas, err := c.Replicas(ctx, SentinelMaster).Result()
		if err != nil {
			return err
		}
		for _, r := range replicas {
			if r["port"] == strconv.Itoa(s.replica.port) && !strings.Contains(r["flags"], "down") &&
				!strings.Contains(r["flags"], "disconnected") && r["master-link-status"] == "ok" {
				return nil
			}
		}
		return fmt.Errorf("sentinel does not know the replica yet")
	})
	return s
}

// Addr returns the sentinel's host:port.
func (s *Sentinel) Addr() string { return addrOf(s.sentinel.port) }

// MasterName returns the monitored master's name (SentinelMaster).
func (s *Sentinel) MasterName() string { return SentinelMaster }

// URL returns the layer URL "redis+sentinel://<sentinel>/0?master_name=mymaster".
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + s.Addr() + "/0?master_name=" + SentinelMaster
}

// MasterAddr returns the host:port the sentinel currently names as the master.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	hp, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return "", fmt.Errorf("redistest: ask the sentinel for the master: %w", err)
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("redistest: unexpected master address %q", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// Failover makes the sentinel promote the replica (SENTINEL FAILOVER) and waits until the
// sentinel names it as the master and it answers as one; then it makes the old master a
// replica of the new one, which the sentinel itself would do only at its next poll. It
// returns the new master's address.
func (s *Sentinel) Failover(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	if err := c.Failover(ctx, SentinelMaster).Err(); err != nil {
		return "", fmt.Errorf("redistest: SENTINEL FAILOVER: %w", err)
	}
	want := addrOf(s.replica.port)
	for {
		addr, err := s.MasterAddr(ctx)
		if err == nil && addr == want {
			if info, err := infoOf(ctx, s.replica.port, "replication"); err == nil && strings.Contains(info, "role:master") {
				// The sentinel turns the old master into a replica only when it next polls it
				// (up to 10 s later); until then the old master still takes writes, and a
				// client that has not followed the switch would seem to work. Do it now.
				if err := s.demote(ctx, s.master.port, s.replica.port); err != nil {
					return "", err
				}
				return addr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("redistest: failover to %s did not complete: %w", want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demote makes the server on port a replica of the one on master, as the sentinel would.
func (s *Sentinel) demote(ctx context.Context, port, master int) error {
	c := redis.NewClient(&redis.Options{Addr: addrOf(port), DisableIdentity: true, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	if err := c.Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(master)).Err(); err != nil {
		return fmt.Errorf("redistest: demote the old master: %w", err)
	}
	return nil
}

func addrOf(port int) string   { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
func localURL(port int) string { return "redis://" + addrOf(port) + "/0" }
func infoOf(ctx context.Context, port int, section string) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: addrOf(port), DisableIdentity: true, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	return c.Info(ctx, section).Result()
}
