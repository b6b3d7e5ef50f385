package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// clusterMasters is the number of masters of the throwaway Redis Cluster.
const clusterMasters = 3

// errNoClusterBinary reports that a binary needed to start a Redis Cluster is
// not installed: tests skip rather than fail on it, outside CI.
var errNoClusterBinary = errors.New("testenv: RedisCluster needs redis-server and redis-cli in PATH (apt-get install redis-server)")

// clusterEnv holds the process-wide throwaway Redis Cluster, started once.
var clusterEnv struct {
	// mu guards the fields below; it is held while the cluster starts so
	// that parallel tests wait for one start.
	mu       sync.Mutex
	resolved bool
	addrs    []string // addresses of the masters, nil if none
	err      error    // why there is no cluster
}

// RedisCluster returns a client to a throwaway Redis Cluster of three
// masters (no replicas) on loopback ports, with ContextTimeoutEnabled so
// that context deadlines bound socket I/O. The cluster is started on first
// use, shared by the whole test process and stopped by [Main]; the client is
// closed when t ends. Tests sharing the cluster must not collide: use
// [Prefix] for keys, and delete them through the client, since the cleanup
// of [Prefix] knows only the Redis of [RedisAddr].
//
// Without the redis-server and redis-cli binaries it skips t, or fails it
// when [InCI]; it fails t if the cluster does not start.
func RedisCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	addrs, err := clusterState()
	switch {
	case errors.Is(err, errNoClusterBinary):
		skipOrFail(t, err.Error())
	case err != nil:
		t.Fatal(err)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 addrs,
		ContextTimeoutEnabled: true,
		DialTimeout:           probeTimeout,
		ReadTimeout:           probeTimeout,
		WriteTimeout:          probeTimeout,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clusterState starts the process-wide cluster on first use and returns the
// addresses of its masters, or why there is none.
func clusterState() ([]string, error) {
	clusterEnv.mu.Lock()
	defer clusterEnv.mu.Unlock()
	if !clusterEnv.resolved {
		clusterEnv.resolved = true
		c, err := startRedisCluster()
		if err != nil {
			clusterEnv.err = err
		} else {
			atExit(c.stop)
			clusterEnv.addrs = c.addrs()
		}
	}
	return clusterEnv.addrs, clusterEnv.err
}

// redisCluster is a running throwaway Redis Cluster.
type redisCluster struct {
	dir   string       // temporary directory: node configs and logs
	nodes []*redisProc // one per master
}

// startRedisCluster starts clusterMasters cluster-enabled redis-servers,
// joins them into a cluster with redis-cli and waits until every node
// reports the cluster as ok.
func startRedisCluster() (*redisCluster, error) {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%w: %w", errNoClusterBinary, err)
		}
	}
	dir, err := os.MkdirTemp("", "cachedsql-rediscluster-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c := &redisCluster{dir: dir}
	for n := range clusterMasters {
		p, err := startClusterNode(dir, n)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, p)
	}
	if err := c.create(); err != nil {
		c.stop()
		return nil, err
	}
	if err := poll(startTimeout, nil, c.ready); err != nil {
		c.stop()
		return nil, fmt.Errorf("testenv: redis cluster: %w", err)
	}
	return c, nil
}

// startClusterNode starts cluster node n on free data and bus ports, trying a
// few ports in case one is taken meanwhile. The bus port is chosen rather
// than left at port+10000, which may be past 65535 or in use.
func startClusterNode(dir string, n int) (*redisProc, error) {
	conf := filepath.Join(dir, "nodes-"+strconv.Itoa(n)+".conf")
	var err error
	for range 3 {
		var port, bus int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		if bus, err = freePort(); err != nil {
			return nil, err
		}
		if bus == port {
			err = errors.New("testenv: data and bus port collide")
			continue
		}
		var p *redisProc
		p, err = startRedisProc(dir, port, "--cluster-enabled", "yes",
			"--cluster-config-file", conf, "--cluster-port", strconv.Itoa(bus))
		if err == nil {
			return p, nil
		}
	}
	return nil, err
}

// addrs returns the host:port of every node.
func (c *redisCluster) addrs() []string {
	a := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		a[i] = p.addr
	}
	return a
}

// create assigns the slots to the nodes with redis-cli --cluster create,
// bounded in time.
func (c *redisCluster) create() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	cmd.Dir = c.dir
	cmd.WaitDelay = probeTimeout
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: redis-cli --cluster create: %w\n%s", err, out)
	}
	return nil
}

// ready checks that every node reports cluster_state:ok.
func (c *redisCluster) ready() error {
	for _, p := range c.nodes {
		if err := clusterNodeOK(p.addr); err != nil {
			return err
		}
	}
	return nil
}

// clusterNodeOK asks the node at addr for CLUSTER INFO within probeTimeout
// and checks its cluster_state.
func clusterNodeOK(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("testenv: CLUSTER INFO on %s: %w", addr, err)
	}
	if state := clusterStateOf(info); state != "ok" {
		return fmt.Errorf("testenv: node %s: cluster_state is %q, want ok", addr, state)
	}
	return nil
}

// clusterStateOf returns the cluster_state field of a CLUSTER INFO reply, or
// "" if it has none.
func clusterStateOf(info string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "cluster_state:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// stop kills every node and removes the cluster's directory.
func (c *redisCluster) stop() {
	for _, p := range c.nodes {
		p.stop()
	}
	_ = os.RemoveAll(c.dir)
}
