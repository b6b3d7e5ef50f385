package lockstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/clock"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/lockstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// shortTTL is the lease TTL of the cases that wait for a lease to expire.
const shortTTL = 50 * time.Millisecond

// env is one [lockstore.Leases] implementation under the contract suite.
type env struct {
	leases inspectable
	prefix string // key prefix unique to the test
	// expire returns once l has expired in the store.
	expire func(t *testing.T, l lockstore.Lease)
	// clock dates the leases' Expires.
	clock *clock.Fake
}

// key returns name under the test's prefix.
func (e env) key(name string) string { return e.prefix + name }

// memoryEnv returns a Memory on a fake clock; expiry advances the clock.
func memoryEnv(t *testing.T) env {
	fake := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	return env{
		leases: lockstore.NewMemory(fake),
		prefix: "mem:",
		expire: func(t *testing.T, l lockstore.Lease) { fake.Set(l.Expires) },
		clock:  fake,
	}
}

// redisEnv returns a Redis on the shared server, keys under a fresh prefix,
// its Expires dated by a fake clock; expiry polls until Redis has dropped the
// key, which Redis does by its own clock.
func redisEnv(t *testing.T) env {
	fake := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	leases := lockstore.NewRedis(testenv.Redis(t), fake)
	return env{
		leases: leases,
		prefix: testenv.Prefix(t),
		expire: func(t *testing.T, l lockstore.Lease) {
			t.Helper()
			b := lockstore.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond}
			gone, err := lockstore.Poll(ctx(t), b, 5*time.Second, func(ctx context.Context) (bool, error) {
				held, err := leases.Held(ctx, l.Key)
				return !held, err
			})
			if err != nil || !gone {
				t.Fatalf("waiting for %s to expire: gone = %v, err = %v", l.Key, gone, err)
			}
		},
		clock: fake,
	}
}

// ctx returns a context that ends with t or after a few seconds.
func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestLeasesContract(t *testing.T) {
	impls := []struct {
		name string
		env  func(t *testing.T) env
	}{
		{"memory", memoryEnv},
		{"redis", redisEnv},
	}
	cases := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{"acquire contend release", testAcquireContendRelease},
		{"release after expiry keeps new owner", testReleaseAfterExpiry},
		{"held", testHeld},
		{"keys are independent", testIndependentKeys},
		{"lease fields", testLeaseFields},
		{"zero lease", testZeroLease},
		{"bad ttl", testBadTTL},
		{"cancelled context", testCancelledContext},
		{"racing acquires", testRacingAcquires},
		{"reacquire", testReacquire},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, impl.env(t))
				})
			}
		})
	}
}

// mustAcquire takes the lease on key or fails t.
func mustAcquire(t *testing.T, e env, key string, ttl time.Duration) lockstore.Lease {
	t.Helper()
	l, ok, err := e.leases.Acquire(ctx(t), key, ttl)
	if err != nil || !ok {
		t.Fatalf("Acquire(%s) = ok %v, err %v; want true, nil", key, ok, err)
	}
	return l
}

// checkAcquireFails checks that key's lease is taken by someone else.
func checkAcquireFails(t *testing.T, e env, key string) {
	t.Helper()
	l, ok, err := e.leases.Acquire(ctx(t), key, time.Minute)
	if err != nil || ok {
		t.Errorf("Acquire(%s) of a held lease = ok %v, err %v; want false, nil", key, ok, err)
	}
	if l != (lockstore.Lease{}) {
		t.Errorf("Acquire(%s) of a held lease returned %+v, want the zero Lease", key, l)
	}
}

// checkRelease checks that Release(l) reports want.
func checkRelease(t *testing.T, e env, l lockstore.Lease, want bool) {
	t.Helper()
	got, err := e.leases.Release(ctx(t), l)
	if err != nil || got != want {
		t.Errorf("Release(%s) = %v, %v; want %v, nil", l.Key, got, err, want)
	}
}

// inspectable is a Leases whose holding a test can observe: Memory and Redis both are.
type inspectable interface {
	lockstore.Leases
	Held(ctx context.Context, key string) (bool, error)
}

// checkHeld checks that Held(key) reports want.
func checkHeld(t *testing.T, e env, key string, want bool) {
	t.Helper()
	got, err := e.leases.Held(ctx(t), key)
	if err != nil || got != want {
		t.Errorf("Held(%s) = %v, %v; want %v, nil", key, got, err, want)
	}
}

func testAcquireContendRelease(t *testing.T, e env) {
	k := e.key("k")
	first := mustAcquire(t, e, k, time.Minute)
	checkAcquireFails(t, e, k)
	checkRelease(t, e, first, true)
	checkRelease(t, e, first, false) // already given back
	second := mustAcquire(t, e, k, time.Minute)
	checkRelease(t, e, first, false) // an old lease must not free the new one
	checkHeld(t, e, k, true)
	checkRelease(t, e, second, true)
}

func testReleaseAfterExpiry(t *testing.T, e env) {
	k := e.key("k")
	old := mustAcquire(t, e, k, shortTTL)
	e.expire(t, old)
	checkHeld(t, e, k, false)
	cur := mustAcquire(t, e, k, time.Minute)
	checkRelease(t, e, old, false)
	checkHeld(t, e, k, true)
	checkAcquireFails(t, e, k)
	checkRelease(t, e, cur, true)
}

func testHeld(t *testing.T, e env) {
	k := e.key("k")
	checkHeld(t, e, k, false)
	l := mustAcquire(t, e, k, time.Minute)
	checkHeld(t, e, k, true)
	checkRelease(t, e, l, true)
	checkHeld(t, e, k, false)

	l = mustAcquire(t, e, k, shortTTL)
	e.expire(t, l)
	checkHeld(t, e, k, false)
}

func testIndependentKeys(t *testing.T, e env) {
	a := mustAcquire(t, e, e.key("a"), time.Minute)
	b := mustAcquire(t, e, e.key("b"), time.Minute)
	checkRelease(t, e, lockstore.Lease{Key: b.Key, Token: a.Token, Expires: a.Expires}, false)
	checkHeld(t, e, b.Key, true)
	checkRelease(t, e, a, true)
	checkHeld(t, e, b.Key, true)
	checkRelease(t, e, b, true)
}

func testLeaseFields(t *testing.T, e env) {
	const ttl = time.Minute
	k := e.key("k")
	e.clock.Advance(time.Hour)
	l := mustAcquire(t, e, k, ttl)
	if l.Key != k {
		t.Errorf("Key = %q, want %q", l.Key, k)
	}
	if b, err := hex.DecodeString(l.Token); err != nil || len(b) != 16 {
		t.Errorf("Token = %q, want 32 hex digits", l.Token)
	}
	if want := e.clock.Now().Add(ttl); !l.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v (its clock's time plus the TTL)", l.Expires, want)
	}
	checkRelease(t, e, l, true)
	if again := mustAcquire(t, e, k, ttl); again.Token == l.Token {
		t.Errorf("two leases share token %s, want a fresh token each time", l.Token)
	}
}

func testZeroLease(t *testing.T, e env) {
	checkRelease(t, e, lockstore.Lease{}, false)
	l := mustAcquire(t, e, e.key("k"), time.Minute)
	checkRelease(t, e, lockstore.Lease{Key: l.Key}, false) // no token: not ours
	checkHeld(t, e, l.Key, true)
}

func testBadTTL(t *testing.T, e env) {
	for _, ttl := range []time.Duration{0, -time.Second, time.Microsecond} {
		if _, ok, err := e.leases.Acquire(ctx(t), e.key("k"), ttl); err == nil || ok {
			t.Errorf("Acquire(ttl %v) = ok %v, err %v; want an error", ttl, ok, err)
		}
	}
	checkHeld(t, e, e.key("k"), false)
}

func testCancelledContext(t *testing.T, e env) {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	k := e.key("k")
	if _, _, err := e.leases.Acquire(c, k, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire(cancelled ctx) error = %v, want context.Canceled", err)
	}
	if _, err := e.leases.Held(c, k); !errors.Is(err, context.Canceled) {
		t.Errorf("Held(cancelled ctx) error = %v, want context.Canceled", err)
	}
	l := mustAcquire(t, e, k, time.Minute)
	if _, err := e.leases.Release(c, l); !errors.Is(err, context.Canceled) {
		t.Errorf("Release(cancelled ctx) error = %v, want context.Canceled", err)
	}
	checkHeld(t, e, k, true)
}

func testRacingAcquires(t *testing.T, e env) {
	const n = 100
	k := e.key("k")
	start := make(chan struct{})
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    []lockstore.Lease
		errs   []error
		losers int
	)
	for range n {
		wg.Go(func() {
			<-start
			l, ok, err := e.leases.Acquire(ctx(t), k, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				won = append(won, l)
			default:
				losers++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 1 || losers != n-1 || len(errs) != 0 {
		t.Fatalf("%d racing Acquires: %d won, %d lost, errors %v; want 1 won, %d lost, no errors",
			n, len(won), losers, errs, n-1)
	}
	checkRelease(t, e, won[0], true)
}

// testReacquire: a lease whose Acquire reply was lost is recognised as ours by Reacquire; another
// owner's lease is not taken; a free key is.
func testReacquire(t *testing.T, e env) {
	k := e.key("k")
	mine := mustAcquire(t, e, k, time.Minute)
	again, ok, err := e.leases.Reacquire(ctx(t), mine, 2*time.Minute)
	if err != nil || !ok || again.Token != mine.Token || !again.Expires.After(mine.Expires) {
		t.Fatalf("Reacquire(own lease) = %+v, %v, %v; want the lease with a later expiry", again, ok, err)
	}
	other := lockstore.Lease{Key: k, Token: "someone else"}
	if l, ok, err := e.leases.Reacquire(ctx(t), other, time.Minute); err != nil || ok || l != (lockstore.Lease{}) {
		t.Errorf("Reacquire(another owner's lease) = %+v, %v, %v; want the zero Lease, false, nil", l, ok, err)
	}
	checkRelease(t, e, again, true)
	if _, ok, err := e.leases.Reacquire(ctx(t), other, time.Minute); err != nil || !ok {
		t.Errorf("Reacquire(free key) = %v, %v; want true, nil", ok, err)
	}
	checkAcquireFails(t, e, k)
	checkRelease(t, e, mine, false)
	checkRelease(t, e, other, true)
	if l, ok, err := e.leases.Reacquire(ctx(t), lockstore.Lease{}, time.Minute); err != nil || ok || l != (lockstore.Lease{}) {
		t.Errorf("Reacquire(zero Lease) = %+v, %v, %v; want nothing taken", l, ok, err)
	}
}
