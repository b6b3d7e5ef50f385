package cachedsql_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// failFastClient is a go-redis client configured as the README recommends next to a cache: context
// deadlines cut socket I/O, and no retries beyond the store timeout.
func failFastClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           100 * time.Millisecond,
		PoolSize:              8,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func readName(t testing.TB, db *sql.DB, id int) string {
	t.Helper()
	var n string
	if err := db.QueryRowContext(context.Background(), `SELECT name FROM users WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatalf("read failed (the cache must never make a query fail): %v", err)
	}
	return n
}

func failOpenOptions(t testing.TB, rdb *redis.Client) cachedsql.Options {
	return cachedsql.Options{
		Redis:     rdb,
		Namespace: strings.TrimSuffix(testenv.Prefix(t), ":"),
	}
}

func TestFailOpenRedisStopped(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	rdb := failFastClient(t, srv.Addr())
	_, db := openSQLite(t, failOpenOptions(t, rdb))
	readName(t, db, 1)
	readName(t, db, 1)
	if st := stats(t, db); st.Hits != 1 {
		t.Fatalf("no hit before the outage: %+v", st)
	}
	srv.Stop()
	for range 10 {
		if got := readName(t, db, 1); got != "ann" {
			t.Fatalf("read during the outage: %q", got)
		}
	}
	st := stats(t, db)
	if st.StoreErrors == 0 || st.Bypasses[cachedsql.BypassStore] == 0 {
		t.Errorf("outage not seen: %+v", st)
	}
	// A write during the outage cannot replace the token: it stays pending, and this process bypasses
	// the cache for that table rather than serve what it cached before.
	mustExec(t, db, `UPDATE users SET name = 'ann2' WHERE id = 1`)
	if st := stats(t, db); st.PendingInvalidations == 0 {
		t.Errorf("the write's invalidation was not kept pending: %+v", st)
	}
	if got := readName(t, db, 1); got != "ann2" {
		t.Fatalf("read after a write during the outage: %q, want ann2", got)
	}
	srv.Start()
	// Once the store answers again the pending token is delivered, then reads are cached again.
	eventually(t, "pending invalidations delivered", func() bool {
		readName(t, db, 1)
		return stats(t, db).PendingInvalidations == 0
	})
	hits := stats(t, db).Hits
	eventually(t, "a hit after the outage", func() bool {
		if got := readName(t, db, 1); got != "ann2" {
			t.Fatalf("read after the outage: %q, want ann2", got)
		}
		return stats(t, db).Hits > hits
	})
}

func TestFailOpenSlowAndHungRedis(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"slow", "blackhole", "refused"} {
		t.Run(mode, func(t *testing.T) {
			rdb0 := testenv.Redis(t)
			proxy := testenv.NewProxy(t, rdb0.Options().Addr)
			rdb := failFastClient(t, proxy.Addr())
			_, db := openSQLite(t, failOpenOptions(t, rdb))
			readName(t, db, 2)
			switch mode {
			case "slow":
				proxy.SetDelay(200 * time.Millisecond) // ten times the default store timeout
			case "blackhole":
				proxy.Blackhole(true)
			case "refused":
				proxy.Refuse(true)
			}
			read := func() {
				if got := readName(t, db, 2); got != "bob" {
					t.Fatalf("read: %q, want bob", got)
				}
			}
			// Each read is bounded by StoreTimeout until failures have lasted long enough to open the
			// breaker; then reads stop calling the store but for one trial per cooldown.
			eventually(t, "the breaker to open", func() bool { read(); return stats(t, db).BreakerOpen })
			before := stats(t, db)
			for range 20 {
				read()
			}
			st := stats(t, db)
			if st.Bypasses[cachedsql.BypassStore] < before.Bypasses[cachedsql.BypassStore]+20 {
				t.Errorf("reads with the breaker open were not bypasses: %+v", st)
			}
			if n := st.StoreErrors - before.StoreErrors; n > 2 {
				t.Errorf("%d store errors for 20 reads with the breaker open: it did not stop the calls", n)
			}
		})
	}
}

// TestFailOpenPendingAcrossProcesses: a second engine (standing for another process) shares the
// store; once the first delivers its pending invalidation, the second reads fresh data.
func TestFailOpenPendingAcrossProcesses(t *testing.T) {
	rdb0 := testenv.Redis(t)
	proxy := testenv.NewProxy(t, rdb0.Options().Addr)
	opts := failOpenOptions(t, failFastClient(t, proxy.Addr()))
	_, a := openSQLite(t, opts)
	// b opens the same file, directly on Redis, in the same namespace.
	var path string
	if err := a.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	bOpts := opts
	bOpts.Redis = rdb0
	bOpts.Identity = cachedsql.IdentityOf("sqlite3", path)
	opts.Identity = bOpts.Identity
	a2, err := cachedsql.Open("sqlite3", path, withRules(t, opts))
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	b, err := cachedsql.Open("sqlite3", path, withRules(t, bOpts))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	readName(t, b, 3)
	readName(t, a2, 3)
	proxy.Refuse(true)
	mustExec(t, a2, `UPDATE users SET name = 'cy2' WHERE id = 3`)
	if got := readName(t, a2, 3); got != "cy2" {
		t.Fatalf("writer's own read during the outage: %q", got)
	}
	proxy.Refuse(false)
	eventually(t, "delivery of the pending invalidation", func() bool {
		readName(t, a2, 3)
		return stats(t, a2).PendingInvalidations == 0
	})
	if got := readName(t, b, 3); got != "cy2" {
		t.Fatalf("other process after delivery: %q, want cy2", got)
	}
}

func withRules(t testing.TB, o cachedsql.Options) cachedsql.Options {
	if o.Rules == nil {
		o.Rules = cacheAll(t)
	}
	return o
}

// TestFailOpenPendingRowKeys: a process without row rules writes a row while Redis is unreachable from
// it; another process caches that row under a row rule. Once the writer reaches Redis again, delivering
// its pending invalidation also reaches the other process's row entries (found through the key
// registry), so the other process reads the new value.
func TestFailOpenPendingRowKeys(t *testing.T) {
	rdb0 := testenv.Redis(t)
	proxy := testenv.NewProxy(t, rdb0.Options().Addr)
	opts := failOpenOptions(t, failFastClient(t, proxy.Addr()))
	path, _, a := openSQLitePath(t, withRules(t, opts))
	bOpts := opts
	bOpts.Redis = rdb0
	bOpts.Rules = mustRules(t, cachedsql.Rule{Name: "name", Match: cachedsql.Match{SQL: `SELECT name FROM users WHERE id = ?`},
		Key: []string{"id"}, TTL: time.Minute})
	b, err := cachedsql.Open("sqlite3", path, bOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	readName(t, b, 3)
	if h, _ := hitsOf(t, b, func() { readName(t, b, 3) }); h != 1 {
		t.Fatal("the row entry is not cached")
	}
	proxy.Refuse(true)
	mustExec(t, a, `UPDATE users SET name = 'cy2' WHERE id = 3`)
	if stats(t, a).PendingInvalidations == 0 {
		t.Fatal("the write's invalidation is not pending")
	}
	proxy.Refuse(false)
	eventually(t, "delivery of the pending invalidation", func() bool {
		readName(t, a, 1)
		return stats(t, a).PendingInvalidations == 0
	})
	if got := readName(t, b, 3); got != "cy2" {
		t.Fatalf("row entry of the other process after delivery: %q, want cy2", got)
	}
}
