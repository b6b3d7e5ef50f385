package cachedsql_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"database/sql"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// writerAndReader opens one SQLite file twice, standing for two processes sharing a Redis: the writer
// reaches Redis through a fault proxy, the reader directly. Both use the default options but for the
// store, the namespace and the identity (the file's, so that they share tokens).
func writerAndReader(t testing.TB, obs cachedsql.Observer) (proxy *testenv.Proxy, writer, reader *sql.DB, ns string) {
	t.Helper()
	rdb0 := testenv.Redis(t)
	proxy = testenv.NewProxy(t, rdb0.Options().Addr)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	path, _, _ := openSQLitePath(t, cachedsql.Options{})
	ns = strings.TrimSuffix(testenv.Prefix(t), ":")
	id := cachedsql.IdentityOf("sqlite3", path)
	open := func(c redis.UniversalClient, obs cachedsql.Observer) *sql.DB {
		db, err := cachedsql.Open("sqlite3", path, cachedsql.Options{Redis: c, Namespace: ns, Identity: id,
			Rules: cacheAll(t), Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return proxy, open(rdb, obs), open(rdb0, nil), ns
}

// TestWriteInvalidatesWhileBreakerOpen (issue 8): reads through a failing store open the writer's circuit
// breaker; once Redis answers again, its writes must replace their tokens at once, whatever the breaker. Before the fix a write
// saw the open breaker and only queued its tokens, which the other process never learnt of.
func TestWriteInvalidatesWhileBreakerOpen(t *testing.T) {
	t.Parallel()
	proxy, w, r, _ := writerAndReader(t, nil)
	readName(t, r, 1) // cached by the reader
	// The store stops answering long enough to open the writer's breaker, then answers again while the
	// breaker is still open (it stays open until a trial call succeeds).
	proxy.Blackhole(true)
	eventually(t, "the writer's breaker to open", func() bool {
		readName(t, w, 2)
		return stats(t, w).BreakerOpen
	})
	proxy.Blackhole(false)
	mustExec(t, w, `UPDATE users SET name = 'ann2' WHERE id = 1`)
	if got := readName(t, r, 1); got != "ann2" {
		t.Fatalf("the other process read %q after the write returned, want ann2", got)
	}
	if st := stats(t, w); st.PendingInvalidations != 0 {
		t.Errorf("the write's tokens were queued although the store took them: %+v", st)
	}
}

// TestPendingDeliveredInBackground (issue 8): a write made while the store refused connections is
// delivered once the store is back, though the writer runs no further statement. Before the fix pending
// tokens were delivered only by the writer's next statement.
func TestPendingDeliveredInBackground(t *testing.T) {
	t.Parallel()
	proxy, w, r, _ := writerAndReader(t, nil)
	readName(t, r, 3)
	proxy.Refuse(true)
	mustExec(t, w, `UPDATE users SET name = 'cy2' WHERE id = 3`)
	if stats(t, w).PendingInvalidations == 0 {
		t.Fatal("the write's invalidation is not pending")
	}
	proxy.Refuse(false)
	// The reader may serve the old row until the writer's deliverer gets through: that window is the
	// documented one for a writer cut off before its write. It must close without help from the writer.
	eventually(t, "the deliverer to replace the tokens", func() bool {
		return stats(t, w).PendingInvalidations == 0 && readName(t, r, 3) == "cy2"
	})
}

// TestCloseDeliversPending (issue 8): Close makes a last attempt to deliver what is pending, so that a
// process shutting down right after the store came back does not leave others stale. Before the fix
// Close dropped the queue.
func TestCloseDeliversPending(t *testing.T) {
	t.Parallel()
	proxy, w, r, _ := writerAndReader(t, nil)
	readName(t, r, 3)
	proxy.Refuse(true)
	mustExec(t, w, `UPDATE users SET name = 'cy2' WHERE id = 3`)
	proxy.Refuse(false)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readName(t, r, 3); got != "cy2" {
		t.Fatalf("after the writer closed, the other process read %q, want cy2", got)
	}
}

// storeErrorOps records the operations of store errors.
type storeErrorOps struct {
	mu  sync.Mutex
	ops []string
}

func (o *storeErrorOps) ObserveRead(context.Context, cachedsql.ReadEvent)             {}
func (o *storeErrorOps) ObserveInvalidate(context.Context, cachedsql.InvalidateEvent) {}
func (o *storeErrorOps) ObserveStoreError(_ context.Context, ev cachedsql.StoreErrorEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, ev.Op)
}

func (o *storeErrorOps) count(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, x := range o.ops {
		if x == op {
			n++
		}
	}
	return n
}

// TestOutageWritesDoNotWait (issue 8): during an outage that refuses connections, the first write tries
// the store once; later writes queue their tokens without a round trip of their own while the outage is
// known (the deliverer retries for them). Before the fix every write flushed the queue, then tried its
// own replacement: two failed round trips each. Counted, not timed: writes' failed replacements.
func TestOutageWritesDoNotWait(t *testing.T) {
	t.Parallel()
	obs := &storeErrorOps{}
	proxy, w, _, _ := writerAndReader(t, obs)
	readName(t, w, 1)
	proxy.Refuse(true)
	for i := range 10 {
		mustExec(t, w, `UPDATE users SET name = ? WHERE id = 1`, "ann"+string(rune('a'+i)))
	}
	if n := obs.count("bump"); n != 1 {
		t.Errorf("%d writes paid a failed round trip; want only the first", n)
	}
	if got := readName(t, w, 1); got != "annj" {
		t.Fatalf("the writer's own read during the outage: %q", got)
	}
}

// cutOffObserver cuts the writer off from Redis when it is told of an invalidation: after the database
// has run the write, before the cache replaces its tokens.
type cutOffObserver struct {
	storeErrorOps
	proxy *testenv.Proxy
	armed atomic.Bool
}

func (o *cutOffObserver) ObserveInvalidate(context.Context, cachedsql.InvalidateEvent) {
	if o.armed.Load() {
		o.proxy.Refuse(true)
	}
}

// staleWindow reads user 1 through r until it is no longer the old "ann", and returns how long that
// took and how many reads served the old row.
func staleWindow(t testing.TB, r *sql.DB) (time.Duration, int) {
	t.Helper()
	start, stale := time.Now(), 0
	eventually(t, "the old row to stop being served", func() bool {
		if readName(t, r, 1) == "ann" {
			stale++
			return false
		}
		return true
	})
	return time.Since(start), stale
}

// TestWriterCutOff (issue 8): a writer loses Redis for good, before its write or right after it (between
// the database's write and the replacement of its tokens). The other process must stop serving the
// old row within the stated bound (2s: the writer stops beating, the others see it silent after
// watchLapse and bypass), though nothing tells it of the write; and once the writer is back and has
// delivered, the other process caches again. Before the fix the other process served the old row until
// the writer came back, however long that took.
func TestWriterCutOff(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"before the write", "right after the write"} {
		t.Run(when, func(t *testing.T) {
			obs := &cutOffObserver{}
			proxy, w, r, ns := writerAndReader(t, obs)
			obs.proxy = proxy
			hasWritten(t, w, ns)
			// On a loaded machine a lookup may exceed StoreTimeout (a bypass): read until a hit.
			eventually(t, "the row to be cached", func() bool {
				h, _ := hitsOf(t, r, func() { readName(t, r, 1) })
				return h == 1
			})
			if when == "before the write" {
				proxy.Refuse(true)
			} else {
				obs.armed.Store(true)
			}
			mustExec(t, w, `UPDATE users SET name = 'ann2' WHERE id = 1`)
			window, stale := staleWindow(t, r)
			t.Logf("the old row was served %d times for %v after the write returned", stale, window)
			// The bound is 2s (1.5s of silence, a 250ms beat); a loaded machine may delay a beat.
			if window > 3*time.Second {
				t.Errorf("the old row was served for %v after the write returned, want at most about 2s", window)
			}
			for range 10 {
				if got := readName(t, r, 1); got != "ann2" {
					t.Fatalf("read %q after the other process stopped serving the old row", got)
				}
			}
			obs.armed.Store(false)
			proxy.Refuse(false)
			eventually(t, "the other process to cache again once the writer is back", func() bool {
				h, _ := hitsOf(t, r, func() {
					if got := readName(t, r, 1); got != "ann2" {
						t.Fatalf("read %q after the writer came back", got)
					}
				})
				return h == 1
			})
		})
	}
}

// hasWritten makes w write once, and waits until it beats in the watch of namespace ns: processes
// that have never written are not watched (watch.go).
func hasWritten(t *testing.T, w *sql.DB, ns string) {
	t.Helper()
	mustExec(t, w, `UPDATE users SET name = 'bob' WHERE id = 2`)
	rdb := testenv.Redis(t)
	eventually(t, "the writer's first beat", func() bool {
		keys, err := rdb.Keys(context.Background(), ns+":live:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys) == 1 && rdb.ZCard(context.Background(), keys[0]).Val() == 1
	})
}

// TestSilentProcessPresumedGone (issue 8): a writer cut off from Redis closes (or dies) with its
// invalidation undelivered. The others bypass the cache while it is silent, then presume it gone,
// replace the database's epoch (so that nothing it may have written is served) and cache again.
func TestSilentProcessPresumedGone(t *testing.T) {
	t.Parallel()
	proxy, w, r, ns := writerAndReader(t, nil)
	hasWritten(t, w, ns)
	readName(t, r, 1)
	proxy.Refuse(true)
	mustExec(t, w, `UPDATE users SET name = 'ann2' WHERE id = 1`)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other process to stop serving the old row", func() bool { return readName(t, r, 1) == "ann2" })
	// The gone bound is 10s: wait for it, then the reader caches again, the new row.
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, _ := hitsOf(t, r, func() {
			if got := readName(t, r, 1); got != "ann2" {
				t.Fatalf("read %q while the writer was silent or after it was presumed gone", got)
			}
		})
		if h == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process never cached again after the silent writer's gone bound")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStoreLostWrites (issue 8): Redis goes back in time (restored from a snapshot taken before a
// write, or a failover to a replica that had not received it): the old tokens come back with the old
// entries. The processes that saw a later write generation replace the database's epoch within a beat
// of the watch, so the old rows stop being served. Before the fix they were served until their TTL.
func TestStoreLostWrites(t *testing.T) {
	t.Parallel()
	// The read right after the write is fresh only if the writer's token replacement succeeded: one
	// that timed out on a loaded host (InvalidateTimeout) leaves the documented window of a writer that
	// lost Redis, which TestWriterCutOff measures. Such an attempt says nothing here and runs again.
	onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) { testStoreLostWrites(t, watch) })
}

func testStoreLostWrites(t testing.TB, watch func(*sql.DB)) {
	_, w, r, ns := writerAndReader(t, nil)
	watch(w)
	rdb := testenv.Redis(t)
	readName(t, r, 1)
	readName(t, r, 1)
	snapshot := dumpPrefix(t, rdb, ns+":")
	mustExec(t, w, `UPDATE users SET name = 'ann2' WHERE id = 1`)
	if got := readName(t, r, 1); got != "ann2" {
		t.Fatalf("read %q after the write", got)
	}
	// The restore: every key of the namespace as it was, and none of the later ones.
	restoreKeys(t, rdb, ns+":", snapshot)
	window, stale := staleWindow(t, r)
	t.Logf("the restored old row was served %d times for %v", stale, window)
	if window > 2*time.Second {
		t.Errorf("the restored old row was served for %v, want at most about 1s", window)
	}
}

// dumpPrefix returns a DUMP of every key under prefix.
func dumpPrefix(t testing.TB, rdb *redis.Client, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		v, err := rdb.Dump(ctx, iter.Val()).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		if err == nil {
			out[iter.Val()] = v
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// restoreKeys makes the keys under prefix exactly those of snapshot, as a restore of it would.
func restoreKeys(t testing.TB, rdb *redis.Client, prefix string, snapshot map[string]string) {
	t.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if _, ok := snapshot[iter.Val()]; !ok {
			rdb.Del(ctx, iter.Val())
		}
	}
	for k, v := range snapshot {
		if err := rdb.RestoreReplace(ctx, k, 0, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// readMark marks the context of the reads of TestReadsDoNotDeliver.
type readMark struct{}

// readOps records the operations of the store errors raised on a marked read's own context.
type readOps struct{ storeErrorOps }

func (o *readOps) ObserveStoreError(ctx context.Context, ev cachedsql.StoreErrorEvent) {
	if ctx.Value(readMark{}) != nil {
		o.storeErrorOps.ObserveStoreError(ctx, ev)
	}
}

// TestReadsDoNotDeliver (issue 8): a read must never deliver pending invalidations itself. Before the
// fix the read path flushed them, holding a lock across one round trip per pending table, so that a
// read of an unrelated table waited for a store that did not answer (606 ms measured).
func TestReadsDoNotDeliver(t *testing.T) {
	t.Parallel()
	obs := &readOps{}
	proxy, w, _, _ := writerAndReader(t, obs)
	readName(t, w, 1)
	proxy.Blackhole(true)
	mustExec(t, w, `UPDATE users SET name = 'ann2' WHERE id = 1`) // queued after InvalidateTimeout
	ctx := context.WithValue(context.Background(), readMark{}, true)
	for range 5 {
		var n int
		if err := w.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, op := range obs.ops {
		if strings.Contains(op, "bump") || strings.Contains(op, "pending") {
			t.Errorf("a read made a store call to deliver invalidations (%q)", op)
		}
	}
}
