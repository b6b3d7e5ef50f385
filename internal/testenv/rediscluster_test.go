package testenv

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// clusterMastersOf returns the sorted addresses of the masters c reaches.
func clusterMastersOf(t *testing.T, c *redis.ClusterClient) []string {
	t.Helper()
	var mu sync.Mutex
	var addrs []string
	err := c.ForEachMaster(ctx(t), func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		addrs = append(addrs, m.Options().Addr)
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachMaster: %v", err)
	}
	slices.Sort(addrs)
	return addrs
}

func TestRedisClusterNodes(t *testing.T) {
	c := RedisCluster(t)
	masters := clusterMastersOf(t, c)
	if len(masters) != clusterMasters {
		t.Fatalf("masters = %q, want %d", masters, clusterMasters)
	}
	for _, addr := range masters {
		if err := clusterNodeOK(addr); err != nil {
			t.Error(err)
		}
	}
	covered := 0
	slots, err := c.ClusterSlots(ctx(t)).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		covered += s.End - s.Start + 1
	}
	if covered != 16384 {
		t.Errorf("slots covered = %d, want 16384", covered)
	}
	t.Run("shared", func(t *testing.T) {
		if got := clusterMastersOf(t, RedisCluster(t)); !slices.Equal(got, masters) {
			t.Errorf("second RedisCluster reaches %q, want the same cluster %q", got, masters)
		}
	})
}

// TestRedisClusterCrossSlotPipeline writes keys in many slots in one
// pipeline and finds them spread over more than one master.
func TestRedisClusterCrossSlotPipeline(t *testing.T) {
	c := RedisCluster(t)
	prefix := "cachedsqltest:" + randomHex(8) + ":"
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	t.Cleanup(func() {
		pipe := c.Pipeline()
		for _, k := range keys {
			pipe.Del(context.Background(), k)
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			t.Errorf("delete test keys: %v", err)
		}
	})
	pipe := c.Pipeline()
	for _, k := range keys {
		pipe.Set(ctx(t), k, k, 0)
	}
	if _, err := pipe.Exec(ctx(t)); err != nil {
		t.Fatalf("pipelined SET across slots: %v", err)
	}
	var mu sync.Mutex
	holding := 0 // masters holding at least one key
	err := c.ForEachMaster(ctx(t), func(ctx context.Context, m *redis.Client) error {
		found, _, err := m.Scan(ctx, 0, prefix+"*", 1000).Result()
		if err == nil && len(found) > 0 {
			mu.Lock()
			holding++
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		t.Fatalf("SCAN on each master: %v", err)
	}
	if holding < 2 {
		t.Errorf("%d keys live on %d masters, want at least 2", len(keys), holding)
	}
}

func TestClusterStateOf(t *testing.T) {
	tests := []struct {
		name, info, want string
	}{
		{"ok", "cluster_enabled:1\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\n", "ok"},
		{"fail", "cluster_state:fail\r\ncluster_slots_assigned:0\r\n", "fail"},
		{"last line", "cluster_slots_ok:0\ncluster_state:ok", "ok"},
		{"missing", "cluster_slots_ok:0\r\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clusterStateOf(tt.info); got != tt.want {
				t.Errorf("clusterStateOf(%q) = %q, want %q", tt.info, got, tt.want)
			}
		})
	}
}
