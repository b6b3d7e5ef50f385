package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/store/storetest"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// clusterStore returns a store on the throwaway Redis Cluster, its client and
// a key prefix whose keys are deleted through the store when t ends (the
// cleanup of testenv.Prefix reaches only the single Redis).
func clusterStore(t *testing.T) (*store.Redis, *redis.ClusterClient, string) {
	t.Helper()
	c := testenv.RedisCluster(t)
	s, prefix := store.NewRedis(c).LimitValues(storetest.MaxValueBytes), testenv.Prefix(t)
	// Registered after RedisCluster's, so it runs while the client is open.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var keys []string
		if err := s.Scan(ctx, prefix, func(k string) bool { keys = append(keys, k); return true }); err != nil {
			t.Errorf("clean up keys %s*: %v", prefix, err)
			return
		}
		if err := s.Delete(ctx, keys...); err != nil {
			t.Errorf("clean up keys %s*: %v", prefix, err)
		}
	})
	return s, c, prefix
}

func TestRedisClusterContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, string) {
		s, _, prefix := clusterStore(t)
		return s, prefix
	})
}

// TestRedisClusterCrossSlot runs every multi-key step on keys that live on
// different masters, so each pipeline must be split by node.
func TestRedisClusterCrossSlot(t *testing.T) {
	s, c, prefix := clusterStore(t)
	ctx := t.Context()
	tokenKeys := make([]string, 12)
	masters := make(map[string]bool)
	for i := range tokenKeys {
		tokenKeys[i] = prefix + "t:" + strconv.Itoa(i)
		m, err := c.MasterForKey(ctx, tokenKeys[i])
		if err != nil {
			t.Fatalf("MasterForKey(%q): %v", tokenKeys[i], err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Fatalf("%d token keys live on %d masters, want at least 2", len(tokenKeys), len(masters))
	}
	entry := prefix + "entry"
	if err := s.Set(ctx, entry, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	ensured := make([]uint64, len(tokenKeys))
	if err := s.EnsureTokens(ctx, tokenKeys, ensured); err != nil {
		t.Fatalf("EnsureTokens across slots: %v", err)
	}
	fetched := make([]uint64, len(tokenKeys))
	v, err := s.Fetch(ctx, entry, tokenKeys, fetched)
	if err != nil || string(v) != "v" {
		t.Fatalf("Fetch across slots = %q, %v; want \"v\", nil", v, err)
	}
	for i := range tokenKeys {
		if ensured[i] == 0 || fetched[i] != ensured[i] {
			t.Errorf("token %d: EnsureTokens %#x, Fetch %#x; want equal and non-zero", i, ensured[i], fetched[i])
		}
	}
	if err := s.Bump(ctx, tokenKeys); err != nil {
		t.Fatalf("Bump across slots: %v", err)
	}
	if _, err := s.Fetch(ctx, entry, tokenKeys, fetched); err != nil {
		t.Fatal(err)
	}
	for i := range tokenKeys {
		if fetched[i] == 0 || fetched[i] == ensured[i] {
			t.Errorf("token %d after Bump = %#x, want non-zero and not %#x", i, fetched[i], ensured[i])
		}
	}
	if err := s.Delete(ctx, append([]string{entry}, tokenKeys...)...); err != nil {
		t.Fatalf("Delete across slots: %v", err)
	}
	if v, err := s.Fetch(ctx, entry, tokenKeys, fetched); err != nil || v != nil {
		t.Errorf("Fetch after Delete = %q, %v; want nil, nil", v, err)
	}
	for i, tok := range fetched {
		if tok != 0 {
			t.Errorf("token %d after Delete = %#x, want 0", i, tok)
		}
	}
}
