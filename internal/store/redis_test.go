package store_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/store/storetest"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// The suite also runs against a real three-master Redis Cluster started by
// testenv.RedisCluster (cluster_test.go), and through a one-shard Ring below.

func TestRedisContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, string) {
		return store.NewRedis(testenv.Redis(t)).LimitValues(storetest.MaxValueBytes), testenv.Prefix(t)
	})
}

// TestRedisRingContract runs the suite through a one-shard *redis.Ring, whose
// Scan goes through ForEachShard like a Cluster's goes through ForEachMaster.
func TestRedisRingContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, string) {
		ring := redis.NewRing(&redis.RingOptions{
			Addrs:                 map[string]string{"only": testenv.RedisAddr(t)},
			ContextTimeoutEnabled: true,
		})
		t.Cleanup(func() { ring.Close() })
		return store.NewRedis(ring).LimitValues(storetest.MaxValueBytes), testenv.Prefix(t)
	})
}

var tokenFormat = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestRedisTokenLayout checks what token keys hold: 16 hex digits, no TTL.
func TestRedisTokenLayout(t *testing.T) {
	c, prefix := testenv.Redis(t), testenv.Prefix(t)
	s := store.NewRedis(c)
	ctx := context.Background()
	ensured, bumped := prefix+"ensured", prefix+"bumped"
	if err := s.EnsureTokens(ctx, []string{ensured}, make([]uint64, 1)); err != nil {
		t.Fatal(err)
	}
	// Bump must also clear a TTL that a foreign write left on the key.
	if err := c.Set(ctx, bumped, "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Bump(ctx, []string{bumped}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{ensured, bumped} {
		v, err := c.Get(ctx, k).Result()
		if err != nil || !tokenFormat.MatchString(v) {
			t.Errorf("GET %q = %q, %v; want 16 lower-case hex digits", k, v, err)
		}
		if ttl, err := c.TTL(ctx, k).Result(); err != nil || ttl != -1 {
			t.Errorf("TTL %q = %v, %v; want -1 (no TTL)", k, ttl, err)
		}
	}
}

// TestRedisGarbledToken writes a garbled token directly, without TTL as the
// store would: it reads as a stable non-zero token that EnsureTokens keeps.
func TestRedisGarbledToken(t *testing.T) {
	c, prefix := testenv.Redis(t), testenv.Prefix(t)
	s := store.NewRedis(c)
	ctx := context.Background()
	key := prefix + "tok"
	if err := c.Set(ctx, key, "\x00garbled\xff", 0).Err(); err != nil {
		t.Fatal(err)
	}
	fetched := make([]uint64, 1)
	if _, err := s.Fetch(ctx, prefix+"e", []string{key}, fetched); err != nil {
		t.Fatal(err)
	}
	ensured := make([]uint64, 1)
	if err := s.EnsureTokens(ctx, []string{key}, ensured); err != nil {
		t.Fatal(err)
	}
	if fetched[0] == 0 || ensured[0] != fetched[0] {
		t.Errorf("garbled token: Fetch read %#x, EnsureTokens %#x; want equal and non-zero", fetched[0], ensured[0])
	}
	if v := c.Get(ctx, key).Val(); v != "\x00garbled\xff" {
		t.Errorf("EnsureTokens rewrote a garbled token to %q, want it left alone", v)
	}
}

// TestRedisSetTTL checks the TTL reaches Redis, rounded up to 1ms when
// shorter.
func TestRedisSetTTL(t *testing.T) {
	c, prefix := testenv.Redis(t), testenv.Prefix(t)
	s := store.NewRedis(c)
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
			key := prefix + tt.name
			if err := s.Set(context.Background(), key, []byte("v"), tt.ttl); err != nil {
				t.Fatal(err)
			}
			got, err := c.PTTL(context.Background(), key).Result()
			if err != nil {
				t.Fatal(err)
			}
			// -2 (already gone) is fine for a 1ms TTL.
			if got > tt.max || (got <= 0 && tt.max > time.Millisecond) {
				t.Errorf("PTTL after Set with ttl %v = %v, want in (0, %v]", tt.ttl, got, tt.max)
			}
		})
	}
}

// TestRedisClosedClient checks that a real failure of every operation is
// wrapped under the operation name and is not mistaken for a miss or a
// refused guard.
func TestRedisClosedClient(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t), ContextTimeoutEnabled: true})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s := store.NewRedis(c)
	ctx := context.Background()
	tests := []struct {
		op   string
		call func() error
	}{
		{"fetch", func() error { _, err := s.Fetch(ctx, "k", []string{"t"}, make([]uint64, 1)); return err }},
		{"ensure tokens", func() error { return s.EnsureTokens(ctx, []string{"t"}, make([]uint64, 1)) }},
		{"bump", func() error { return s.Bump(ctx, []string{"t"}) }},
		{"set", func() error { return s.Set(ctx, "k", []byte("v"), time.Minute) }},
		{"delete", func() error { return s.Delete(ctx, "k", "j") }},
		{"scan", func() error { return s.Scan(ctx, "k", func(string) bool { return true }) }},
		{"ping", func() error { return s.Ping(ctx) }},
		{"fetch hash", func() error { _, err := s.FetchHash(ctx, "k", []string{"t"}, make([]uint64, 1)); return err }},
		{"set hash", func() error {
			_, err := s.SetHashIf(ctx, "k", []string{"f", "v"}, time.Minute, "g", 1, "", 0)
			return err
		}},
		{"set hash", func() error {
			_, err := s.SetHashIf(ctx, "k", []string{"f", "v"}, time.Minute, "g", 0, "idx", time.Minute)
			return err
		}},
		{"bump and read", func() error {
			_, err := s.BumpAndRead(ctx, []string{"t"}, "log", store.LogEntry{}, store.BumpRead{Sets: []string{"s"}})
			return err
		}},
		{"add members", func() error { return s.AddMembers(ctx, "s", "m") }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.Nil) {
				t.Fatalf("error = %v, want one wrapping redis.ErrClosed and not redis.Nil", err)
			}
			if want := "store: " + tt.op + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error text = %q, want prefix %q", err, want)
			}
		})
	}
}

// TestRedisDeadlineHungServer points the store at a server that accepts but
// never answers: a ctx deadline must end Fetch with an error.
func TestRedisDeadlineHungServer(t *testing.T) {
	proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	c := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	s := store.NewRedis(c)
	proxy.Blackhole(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := s.Fetch(ctx, "k", []string{"t"}, make([]uint64, 1))
	// go-redis reports either the ctx error or the socket deadline it set
	// from the ctx deadline, depending on which fires first.
	var netErr net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
	if !timeout || !strings.HasPrefix(err.Error(), "store: fetch: ") {
		t.Errorf("Fetch from a hung server = %v, want a wrapped timeout", err)
	}
}
