package cachedsql_test

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// clusterBackends open a database bare and through the wrapper with opts, with the tables and rows of
// openSQLite's orders: (1, 1, 10), (2, 1, 20), (3, 2, 5).
var clusterBackends = []struct {
	name string
	open func(t testing.TB, opts cachedsql.Options) (bare, db *sql.DB)
}{
	{"sqlite", openSQLite},
	{"postgres", func(t testing.TB, opts cachedsql.Options) (bare, db *sql.DB) {
		t.Helper()
		bare, db, _ = pgRedis(t, opts)
		mustExec(t, bare, `CREATE TABLE users (id int PRIMARY KEY, name text)`)
		mustExec(t, bare, `INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')`)
		mustExec(t, bare, `CREATE TABLE orders (id int PRIMARY KEY, user_id int, total int)`)
		mustExec(t, bare, `INSERT INTO orders VALUES (1, 1, 10), (2, 1, 20), (3, 2, 5)`)
		return bare, db
	}},
}

// clusterNamespace returns a namespace unique to t whose keys are deleted from the cluster when t ends
// (testenv.Prefix cleans up only the single Redis).
func clusterNamespace(t testing.TB, c *redis.ClusterClient) string {
	t.Helper()
	ns := strings.TrimSuffix(testenv.Prefix(t), ":")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := forEachClusterKey(ctx, c, ns+":", func(ctx context.Context, m *redis.Client, key string) error {
			return m.Del(ctx, key).Err()
		})
		if err != nil {
			t.Errorf("clean up namespace %s: %v", ns, err)
		}
	})
	return ns
}

// forEachClusterKey calls fn, on the master holding it, for every key with the prefix. fn runs on
// several goroutines at once, one per master.
func forEachClusterKey(ctx context.Context, c *redis.ClusterClient, prefix string,
	fn func(ctx context.Context, m *redis.Client, key string) error) error {
	return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := fn(ctx, m, iter.Val()); err != nil {
				return err
			}
		}
		return iter.Err()
	})
}

// TestClusterEndToEnd runs the cache on a real three-master Redis Cluster: entries, table tokens and
// the epoch of one namespace land in different slots on different masters, so every step that
// touches several keys (fetch with tokens, token creation, invalidation) must work across slots.
func TestClusterEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			c := testenv.RedisCluster(t)
			onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
				ns := clusterNamespace(t, c)
				_, db := b.open(t, cachedsql.Options{
					Redis:     c,
					Namespace: ns,
					Rules:     cacheAll(t),
				})
				watch(db)
				testClusterReads(t, db)
				testClusterSpread(t, c, db, ns)
			})
		})
	}
}

// sumOrders reads sum(total) of orders through db.
func sumOrders(t testing.TB, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), `SELECT sum(total) FROM orders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRead reads sum(total) of orders and checks its value and whether it was a hit.
func wantRead(t testing.TB, db *sql.DB, step string, want int64, hit bool) {
	t.Helper()
	before := stats(t, db)
	if got := sumOrders(t, db); got != want {
		t.Errorf("%s: sum(total) = %d, want %d", step, got, want)
	}
	after := stats(t, db)
	if gotHit := after.Hits == before.Hits+1; gotHit != hit || after.Hits+after.Misses != before.Hits+before.Misses+1 {
		t.Errorf("%s: hits %d→%d, misses %d→%d; want one %s", step, before.Hits, after.Hits,
			before.Misses, after.Misses, map[bool]string{true: "hit", false: "miss"}[hit])
	}
}

// testClusterReads checks miss then hit, and that a write and a committed transaction invalidate.
func testClusterReads(t testing.TB, db *sql.DB) {
	wantRead(t, db, "first read", 35, false)
	wantRead(t, db, "second read", 35, true)

	mustExec(t, db, `UPDATE orders SET total = total + 1 WHERE id = 1`)
	wantRead(t, db, "after a write", 36, false)
	wantRead(t, db, "again after a write", 36, true)

	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, `UPDATE orders SET total = 100 WHERE id = 2`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wantRead(t, db, "after a commit", 116, false)
	wantRead(t, db, "again after a commit", 116, true)

	st := stats(t, db)
	if st.Invalidations < 2 {
		t.Errorf("invalidations = %d, want at least 2", st.Invalidations)
	}
	if st.StoreErrors != 0 || st.Bypasses[cachedsql.BypassStore] != 0 || st.BreakerOpen {
		t.Errorf("store errors %d, store bypasses %d, breaker open %v; want none",
			st.StoreErrors, st.Bypasses[cachedsql.BypassStore], st.BreakerOpen)
	}
}

// testClusterSpread caches more reads, over both tables, and checks that the namespace's keys live on
// at least two masters and that every read of them was served without a store error.
func testClusterSpread(t testing.TB, c *redis.ClusterClient, db *sql.DB, ns string) {
	queries := []string{`SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id ORDER BY o.id`}
	for id := range 12 {
		queries = append(queries, `SELECT total FROM orders WHERE id = `+strconv.Itoa(id),
			`SELECT name FROM users WHERE id = `+strconv.Itoa(id))
	}
	for range 2 {
		for _, q := range queries {
			queryAll(t, db, context.Background(), q)
		}
	}
	st := stats(t, db)
	if st.StoreErrors != 0 || st.Bypasses[cachedsql.BypassStore] != 0 {
		t.Errorf("store errors %d, store bypasses %d; want none", st.StoreErrors, st.Bypasses[cachedsql.BypassStore])
	}
	if st.Hits < uint64(len(queries)) {
		t.Errorf("hits = %d, want at least %d (the second read of each query)", st.Hits, len(queries))
	}

	var mu sync.Mutex
	perMaster := make(map[string]int)
	err := forEachClusterKey(t.Context(), c, ns+":", func(_ context.Context, m *redis.Client, _ string) error {
		mu.Lock()
		defer mu.Unlock()
		perMaster[m.Options().Addr]++
		return nil
	})
	if err != nil {
		t.Fatalf("SCAN on each master: %v", err)
	}
	if len(perMaster) < 2 {
		t.Errorf("the namespace's keys per master = %v, want keys on at least 2 masters", perMaster)
	}
}

// TestClusterRows runs row rules with write-through on a Redis Cluster: a row's entry and its token
// share a slot (the guarded store is one script), other keys spread, and a pinned write leaves the
// written row a hit with its new values and the other rows hits.
func TestClusterRows(t *testing.T) {
	t.Parallel()
	const byID = `SELECT id, name FROM users WHERE id = $1`
	for _, b := range clusterBackends {
		t.Run(b.name, func(t *testing.T) {
			c := testenv.RedisCluster(t)
			stale := t.Errorf // a wrong row fails the test whatever the host's load
			onLoadedHost(t, func(t *testenv.Attempt, watch func(*sql.DB)) {
				ns := clusterNamespace(t, c)
				_, db := b.open(t, cachedsql.Options{
					Redis:     c,
					Namespace: ns,
					Rules: mustRules(t, cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: byID},
						Key: []string{"id"}, WriteThrough: true, TTL: time.Minute}),
				})
				watch(db)
				ctx := context.Background()
				name := func(id int) string {
					var got int
					var n string
					if err := db.QueryRowContext(ctx, byID, id).Scan(&got, &n); err != nil {
						t.Fatalf("user %d: %v", id, err)
					}
					return n
				}
				for id := 1; id <= 3; id++ {
					name(id)
				}
				mustExec(t, db, `UPDATE users SET name = $1 WHERE id = $2`, "bea", 2)
				before := stats(t, db)
				got := []string{name(1), name(2), name(3)}
				after := stats(t, db)
				if got[0] != "ann" || got[1] != "bea" || got[2] != "cy" {
					stale("names after the write = %q", got)
				}
				if after.Hits-before.Hits != 3 || after.WriteThroughs != 1 || after.StoreErrors != 0 {
					t.Errorf("hits %d (want 3), write-throughs %d (want 1), store errors %d (want 0)",
						after.Hits-before.Hits, after.WriteThroughs, after.StoreErrors)
				}
			})
		})
	}
}
