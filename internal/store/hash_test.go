package store_test

import (
	"context"
	"maps"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestRedisHashLayout checks what SetHashIf and AddMembers leave in Redis: a
// hash with a millisecond TTL (rounded up to 1ms when shorter), an index with
// its TTL, and a set of AddMembers without TTL.
func TestRedisHashLayout(t *testing.T) {
	c, prefix := testenv.Redis(t), testenv.Prefix(t)
	s := store.NewRedis(c)
	ctx := context.Background()
	guard := prefix + "r:{1}:e"
	tokens := make([]uint64, 1)
	if err := s.EnsureTokens(ctx, []string{guard}, tokens); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ttl  time.Duration
		max  time.Duration
	}{
		{"minute", time.Minute, time.Minute},
		{"sub-second", 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"sub-millisecond", time.Microsecond, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, index := prefix+"r:{1}:"+tt.name, prefix+"idx:"+tt.name
			stored, err := s.SetHashIf(ctx, key, []string{"a", "1", "b", "2"}, tt.ttl, guard, tokens[0], index, 2*time.Minute)
			if err != nil || !stored {
				t.Fatalf("SetHashIf = %v, %v; want true, nil", stored, err)
			}
			if typ := c.Type(ctx, key).Val(); typ != "hash" && tt.max > time.Millisecond {
				t.Errorf("TYPE %q = %q, want hash", key, typ)
			}
			got, err := c.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			// -2 (already gone) is fine for a 1ms TTL.
			if got > tt.max || (got <= 0 && tt.max > time.Millisecond) {
				t.Errorf("PTTL after SetHashIf with ttl %v = %v, want in (0, %v]", tt.ttl, got, tt.max)
			}
			if got := c.PTTL(ctx, index).Val(); got <= time.Minute || got > 2*time.Minute {
				t.Errorf("PTTL of the index = %v, want in (1m, 2m]", got)
			}
		})
	}
	set := prefix + "set:reg"
	if err := s.AddMembers(ctx, set, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.TTL(ctx, set).Result(); err != nil || ttl != -1 {
		t.Errorf("TTL of an AddMembers set = %v, %v; want -1 (no TTL)", ttl, err)
	}
}

// evalCalls returns how many EVAL commands the server behind c has run.
func evalCalls(t *testing.T, ctx context.Context, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^cmdstat_eval:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestRedisSetHashIfNoScript flushes the script cache of the throwaway
// Cluster's master for the key (never the shared Redis'): SetHashIf must
// fall back to EVAL, once, and still check the guard and write the index.
func TestRedisSetHashIfNoScript(t *testing.T) {
	s, c, prefix := clusterStore(t)
	ctx := t.Context()
	key, guard, index := prefix+"r:{ns}", prefix+"r:{ns}:e", prefix+"idx:ns"
	tokens := make([]uint64, 1)
	if err := s.EnsureTokens(ctx, []string{guard}, tokens); err != nil {
		t.Fatal(err)
	}
	master, err := c.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		guard uint64
		want  bool
	}{
		{"stale guard", tokens[0] + 1, false},
		{"current guard", tokens[0], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := master.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			before := evalCalls(t, ctx, master)
			stored, err := s.SetHashIf(ctx, key, []string{"f", tt.name}, time.Minute, guard, tt.guard, index, time.Minute)
			if err != nil || stored != tt.want {
				t.Fatalf("SetHashIf after SCRIPT FLUSH = %v, %v; want %v, nil", stored, err, tt.want)
			}
			if n := evalCalls(t, ctx, master) - before; n != 1 {
				t.Errorf("EVAL ran %d times, want 1 (the NOSCRIPT fallback)", n)
			}
			if got, err := s.IndexMembers(ctx, index); err != nil || len(got) != 1 || got[0] != key {
				t.Errorf("IndexMembers = %q, %v; want [%q]", got, err, key)
			}
		})
	}
	got, err := s.FetchHash(ctx, key, nil, nil)
	if want := map[string]string{"f": "current guard"}; err != nil || !maps.Equal(got, want) {
		t.Errorf("FetchHash = %q, %v; want %q", got, err, want)
	}
}

// TestRedisClusterHashCrossSlot reads tokens and sets that live on several
// masters, so each pipeline must be split by node.
func TestRedisClusterHashCrossSlot(t *testing.T) {
	s, c, prefix := clusterStore(t)
	ctx := t.Context()
	names := make([]string, 12)
	masters := make(map[string]bool)
	for i := range names {
		names[i] = prefix + "x:" + strconv.Itoa(i)
		m, err := c.MasterForKey(ctx, names[i])
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Fatalf("%d keys live on %d masters, want at least 2", len(names), len(masters))
	}
	tokenKeys, sets := names[:6], names[6:]
	for i, k := range sets {
		if err := s.AddMembers(ctx, k, "m"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	ensured := make([]uint64, len(tokenKeys))
	if err := s.EnsureTokens(ctx, tokenKeys, ensured); err != nil {
		t.Fatal(err)
	}
	key, guard := prefix+"r:{x}", prefix+"r:{x}:e"
	g := make([]uint64, 1)
	if err := s.EnsureTokens(ctx, []string{guard}, g); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetHashIf(ctx, key, []string{"f", "v"}, time.Minute, guard, g[0], "", 0); err != nil || !ok {
		t.Fatalf("SetHashIf = %v, %v; want true, nil", ok, err)
	}
	fetched := make([]uint64, len(tokenKeys))
	if h, err := s.FetchHash(ctx, key, tokenKeys, fetched); err != nil || h["f"] != "v" {
		t.Fatalf("FetchHash across slots = %q, %v; want f=v", h, err)
	}
	for i := range tokenKeys {
		if fetched[i] != ensured[i] {
			t.Errorf("token %d: FetchHash %#x, EnsureTokens %#x; want equal", i, fetched[i], ensured[i])
		}
	}
	res, err := s.BumpAndRead(ctx, tokenKeys, prefix+"log", store.LogEntry{Cause: "c"}, store.BumpRead{Sets: sets, Tokens: tokenKeys})
	if err != nil {
		t.Fatalf("BumpAndRead across slots: %v", err)
	}
	for i := range sets {
		if got := res.Members[i]; len(got) != 1 || got[0] != "m"+strconv.Itoa(i) {
			t.Errorf("set %d = %q, want [m%d]", i, got, i)
		}
	}
	after := make([]uint64, len(tokenKeys))
	if _, err := s.FetchHash(ctx, key, tokenKeys, after); err != nil {
		t.Fatal(err)
	}
	for i := range tokenKeys {
		if res.Tokens[i] != after[i] || after[i] == ensured[i] {
			t.Errorf("token %d read by BumpAndRead %#x, after it %#x, before %#x; want the new value", i, res.Tokens[i], after[i], ensured[i])
		}
	}
}
