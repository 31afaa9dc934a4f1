package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster on loopback: masters only, no replicas, every slot assigned.
type Cluster struct {
	t     testing.TB
	nodes []*proc
}

// StartCluster returns a running Redis Cluster of masters nodes (at least 3, as redis-cli
// requires) for t, stopped when t ends. The slots are spread evenly by redis-cli --cluster
// create; it returns once every node reports cluster_state:ok and knows every other node.
// Without redis-server and redis-cli the test is skipped (failing when CI=true). REDIS_URL is
// ignored: the nodes are always private children.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: StartCluster(%d): Redis Cluster needs at least 3 masters", masters)
	}
	bin := requireBinary(t, "redis-server")
	cli := requireBinary(t, "redis-cli")
	c := &Cluster{t: t}
	for i := 0; i < masters; i++ {
		p := launch(t, "cluster node "+strconv.Itoa(i), bin, 1, func(dir string, ports []int) []string {
			return []string{
				"--port", strconv.Itoa(ports[0]), "--cluster-port", strconv.Itoa(ports[1]),
				"--bind", "127.0.0.1", "--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
				"--cluster-announce-ip", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
			}
		}, func(ctx context.Context, port int) error {
			return ping(localURL(port), 200*time.Millisecond)
		})
		c.nodes = append(c.nodes, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(c.Addrs(), "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, append([]string{"--cluster", "create"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, p := range c.nodes {
		err := p.ready(func(ctx context.Context) error {
			info, err := clusterInfo(ctx, p.port)
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_slots_assigned:16384") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r") {
				return fmt.Errorf("cluster not ready: %s", strings.ReplaceAll(info, "\r\n", " "))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	return c
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		addrs[i] = addrOf(p.port)
	}
	return addrs
}

// URL returns the layer URL "redis+cluster://<node 0>?host=<node 1>&host=...", naming every
// node as a seed.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	q := url.Values{"host": addrs[1:]}
	return "redis+cluster://" + addrs[0] + "?" + q.Encode()
}

// Client returns a go-redis cluster client, closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true})
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func clusterInfo(ctx context.Context, port int) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: addrOf(port), DisableIdentity: true, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	return c.ClusterInfo(ctx).Result()
}
