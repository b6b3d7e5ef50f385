package lockstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/lockstore"
)

// recorder is a go-redis hook that records the name of every command sent.
type recorder struct {
	mu    sync.Mutex // guards names
	names []string
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.mu.Lock()
		r.names = append(r.names, cmd.Name())
		r.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// take returns the commands recorded since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := r.names
	r.names = nil
	return names
}

// TestRedisReleaseNoScript runs on a Redis server of its own, since it
// flushes the script cache, which the shared server must keep.
func TestRedisReleaseNoScript(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	rec := &recorder{}
	rdb.AddHook(rec)
	leases := lockstore.NewRedis(rdb, nil)

	steps := []struct {
		name  string
		setup func(t *testing.T)
		want  []string // commands sent by Release
	}{
		{"fresh server", func(*testing.T) {}, []string{"evalsha", "eval"}},
		{"script cached", func(*testing.T) {}, []string{"evalsha"}},
		{"after script flush", func(t *testing.T) {
			if err := rdb.ScriptFlush(ctx(t)).Err(); err != nil {
				t.Fatalf("SCRIPT FLUSH: %v", err)
			}
		}, []string{"evalsha", "eval"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.setup(t)
			l, ok, err := leases.Acquire(ctx(t), "k", time.Minute)
			if err != nil || !ok {
				t.Fatalf("Acquire = ok %v, err %v; want true, nil", ok, err)
			}
			rec.take()
			if got, err := leases.Release(ctx(t), l); err != nil || !got {
				t.Errorf("Release = %v, %v; want true, nil", got, err)
			}
			if got := rec.take(); !slices.Equal(got, s.want) {
				t.Errorf("Release sent %q, want %q", got, s.want)
			}
			if n, err := rdb.Exists(ctx(t), "k").Result(); err != nil || n != 0 {
				t.Errorf("EXISTS k after Release = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// TestRedisSetsPX checks the command Acquire sends: SET NX with a TTL that
// Redis applies, in milliseconds when the TTL is not whole seconds.
func TestRedisSetsPX(t *testing.T) {
	rdb := testenv.Redis(t)
	k := testenv.Prefix(t) + "k"
	const ttl = 1500 * time.Millisecond
	before := time.Now()
	l, ok, err := lockstore.NewRedis(rdb, nil).Acquire(ctx(t), k, ttl)
	if err != nil || !ok {
		t.Fatalf("Acquire = ok %v, err %v; want true, nil", ok, err)
	}
	// A nil clock is the system clock.
	if lo, hi := before.Add(ttl), time.Now().Add(ttl); l.Expires.Before(lo) || l.Expires.After(hi) {
		t.Errorf("Expires = %v, want within [%v, %v]", l.Expires, lo, hi)
	}
	if got, err := rdb.Get(ctx(t), k).Result(); err != nil || got != l.Token {
		t.Errorf("GET %s = %q, %v; want the token %q", k, got, err, l.Token)
	}
	pttl, err := rdb.PTTL(ctx(t), k).Result()
	if err != nil || pttl <= 0 || pttl > ttl {
		t.Errorf("PTTL %s = %v, %v; want in (0, %v]", k, pttl, err, ttl)
	}
}

func TestNewRedisNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewRedis(nil) did not panic")
		}
	}()
	lockstore.NewRedis(nil, nil)
}

// sink keeps benchmark results alive.
var sink bool

func BenchmarkAcquireRelease(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchAcquireRelease(b, lockstore.NewMemory(nil), "k")
	})
	b.Run("redis", func(b *testing.B) {
		benchAcquireRelease(b, lockstore.NewRedis(testenv.Redis(b), nil), testenv.Prefix(b)+"k")
	})
}

// benchAcquireRelease measures one Acquire and one Release of key.
func benchAcquireRelease(b *testing.B, leases lockstore.Leases, key string) {
	c := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		l, ok, err := leases.Acquire(c, key, time.Minute)
		if err != nil || !ok {
			b.Fatalf("Acquire = ok %v, err %v; want true, nil", ok, err)
		}
		if sink, err = leases.Release(c, l); err != nil || !sink {
			b.Fatalf("Release = %v, %v; want true, nil", sink, err)
		}
	}
}
