package cachedsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/lockstore"
)

// Stampede control when the store is slow or failing (issue 8, item 2), with the default options a
// user gets: identical concurrent reads in one process share one query even when their lookups time
// out, and even while the circuit breaker keeps the store out of the way.

// slowStoreDelay delays each request and each reply, which puts a Redis round trip (80ms) beyond the
// default StoreTimeout (50ms).
const slowStoreDelay = 40 * time.Millisecond

// storeCommands counts the commands sent to Redis but the watch's (watch.go: a beat every 250ms in the
// background, whatever reads do) and connection handshakes.
type storeCommands struct{ n atomic.Int64 }

func (c *storeCommands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *storeCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}
func (c *storeCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *storeCommands) count(cmd redis.Cmder) {
	if cmd.Name() == "hello" { // a new connection's handshake (the watch's, reconnecting)
		return
	}
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && (strings.Contains(s, ":live:") || strings.Contains(s, ":gen:")) {
			return
		}
	}
	c.n.Add(1)
}

// proxiedStore returns default options (with the real default store bounds) whose Redis is reached
// through a fault proxy, the proxy, and a counter of the commands sent.
func proxiedStore(t *testing.T) (cachedsql.Options, *testenv.Proxy, *storeCommands) {
	t.Helper()
	proxy := testenv.NewProxy(t, testenv.RedisAddr(t))
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	cmds := new(storeCommands)
	rdb.AddHook(cmds)
	opts := cachedsql.Options{Redis: rdb, Namespace: namespace(t)}
	return opts, proxy, cmds
}

// holdUntilJoined sets o's beforeQuery hook so that, once armed, a shared load's query waits until want
// other reads of *db have joined it (bounded, so that a broken build fails instead of hanging). A read
// that began after a shared query began may not take its rows (a write may have returned in between),
// so the test makes sure every read began before the query: that is what "concurrent" means here.
func holdUntilJoined(o *cachedsql.Options, db **sql.DB, want int) (arm func()) {
	var armed atomic.Bool
	cachedsql.Hooks(o, nil, func() {
		deadline := time.Now().Add(10 * time.Second)
		for armed.Load() && cachedsql.FlightWaiters(*db) < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}, nil)
	return func() { armed.Store(true) }
}

// readConcurrently reads q n times at once on db and fails t on any error or wrong row.
func readConcurrently(t *testing.T, db *sql.DB, q string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			name, err := readGated(context.Background(), db, q)
			if err == nil && name != "one" {
				err = fmt.Errorf("got %q, want one", name)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestStampedeSlowStore: with Redis replies delayed beyond StoreTimeout, 32 concurrent identical reads
// in one process reached the database 32 times: a failed lookup went straight to the database,
// skipping single flight. They must share one query.
func TestStampedeSlowStore(t *testing.T) {
	t.Parallel()
	const n = 32
	opts, proxy, _ := proxiedStore(t)
	var db *sql.DB
	arm := holdUntilJoined(&opts, &db, n-1)
	g, dbs, q := openGated(t, 1, opts)
	db = dbs[0]
	db.SetMaxOpenConns(n)
	g.open()
	proxy.SetDelay(slowStoreDelay)
	arm()
	readConcurrently(t, db, q, n)
	st := stats(t, db)
	t.Logf("store errors %d, breaker open %v, bypasses %v, shared %d", st.StoreErrors, st.BreakerOpen, st.Bypasses, st.SharedLoads)
	if st.StoreErrors == 0 {
		t.Errorf("no store error: the store was not slow enough for the test")
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions: %d, want 1", got)
	}
}

// TestStampedeBreakerOpen: while the circuit breaker is open, 32 concurrent identical reads in one
// process each went to the database. They must share one query, and call the store not at all.
func TestStampedeBreakerOpen(t *testing.T) {
	t.Parallel()
	const n = 32
	opts, proxy, cmds := proxiedStore(t)
	var db *sql.DB
	arm := holdUntilJoined(&opts, &db, n-1)
	g, dbs, q := openGated(t, 1, opts)
	db = dbs[0]
	db.SetMaxOpenConns(n)
	g.open()
	proxy.Refuse(true)
	// closed is a time at which the breaker was still closed: it opened after it.
	closed := time.Now()
	eventually(t, "the breaker to open", func() bool {
		var name string
		if err := db.QueryRow(`SELECT name FROM items WHERE id = ?`, 2).Scan(&name); err != nil || name != "two" {
			t.Fatalf("read while the store is down: %q, %v", name, err)
		}
		if !stats(t, db).BreakerOpen {
			closed = time.Now()
			return false
		}
		return true
	})
	arm()
	before := cmds.n.Load()
	readConcurrently(t, db, q, n)
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions: %d, want 1", got)
	}
	// An open breaker lets one trial call through once its cooldown (default 2s) has passed.
	if sent := cmds.n.Load() - before; sent > 0 && time.Since(closed) < 2*time.Second {
		t.Errorf("%d store commands sent while the breaker was open, want none", sent)
	}
}

// countingLeases calls before ahead of the nth Acquire, then acquires.
type countingLeases struct {
	lockstore.Leases
	calls  atomic.Int64
	nth    int64
	before func()
}

func (l *countingLeases) Acquire(ctx context.Context, key string, ttl time.Duration) (lockstore.Lease, bool, error) {
	if l.calls.Add(1) == l.nth {
		l.before()
	}
	return l.Leases.Acquire(ctx, key, ttl)
}

// TestWaiterRechecksAfterTakingLease forces the interleaving seen as 200 reads → 2 executions: a
// waiter looks the cache up and misses; the lease holder fills and releases; the waiter takes the
// freed lease. It must look again before querying, and find the fill.
func TestWaiterRechecksAfterTakingLease(t *testing.T) {
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t)}
	g, dbs, q := openGated(t, 2, opts)
	holder := readLater(context.Background(), dbs[0], q)
	<-g.entered // the first process holds the lease and is in the database
	// Should the waiter query without taking the lease (its store calls all timed out), it would block
	// in the gate that only its second Acquire opens: fail then instead of hanging.
	watchdog := time.AfterFunc(10*time.Second, g.open)
	defer watchdog.Stop()
	var holderErr error
	cachedsql.WrapLeases(dbs[1], func(l lockstore.Leases) lockstore.Leases {
		// Acquire 1 finds the lease held; acquire 2 comes after the waiter's first poll missed: the
		// holder fills and releases just then.
		return &countingLeases{Leases: l, nth: 2, before: func() {
			g.open()
			holderErr = <-holder
		}}
	})
	name, err := readGated(context.Background(), dbs[1], q)
	if err != nil || name != "one" {
		t.Fatalf("waiter: %q, %v", name, err)
	}
	if holderErr != nil {
		t.Fatal(holderErr)
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions: %d, want 1 (the waiter took the freed lease and queried without looking again)", got)
	}
}

// lostReply takes the lease on its first Acquire but reports an error, as when the reply of a SET NX
// that reached Redis is lost to a timeout.
type lostReply struct {
	lockstore.Leases
	calls atomic.Int64
}

func (l *lostReply) Acquire(ctx context.Context, key string, ttl time.Duration) (lockstore.Lease, bool, error) {
	lease, ok, err := l.Leases.Acquire(ctx, key, ttl)
	if l.calls.Add(1) == 1 && ok && err == nil {
		return lease, false, errors.New("lost reply: i/o timeout")
	}
	return lease, ok, err
}

// TestLostLeaseReply: a caller whose lease Acquire timed out after taking the lease (seen in
// TestStampedeMultiProcessDefaults) must not wait out LockWait for its own lease, nor leave it to
// block others: it takes it back by its token (Reacquire) and fills at once. Without that it tries new
// owner tokens against its own lease until the lease expires.
func TestLostLeaseReply(t *testing.T) {
	opts := cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t)}
	g, dbs, q := openGated(t, 1, opts)
	g.open()
	lost := new(lostReply)
	cachedsql.WrapLeases(dbs[0], func(l lockstore.Leases) lockstore.Leases { lost.Leases = l; return lost })
	if name, err := readGated(context.Background(), dbs[0], q); err != nil || name != "one" {
		t.Fatalf("read: %q, %v", name, err)
	}
	// Each further Acquire is a new owner token tried against the caller's own lease, which would
	// only succeed once that lease expires (its TTL is as long as LockWait).
	if n := lost.calls.Load(); n != 1 {
		t.Errorf("%d lease Acquires, want 1: the caller competed with its own lease", n)
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("database executions %d, want 1", got)
	}
}
