package cachedsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// The read benchmarks compare, for one query, on one database, in one run:
//
//	bare       the parent driver alone
//	norule     through the wrapper with no matching rule (the wrapper's own overhead)
//	memory-hit a hit from the in-process store
//	redis-hit  a hit from Redis
//	redis-get  a raw go-redis GET of the same entry bytes (the floor of a Redis hit)
//
// and hit-vs-get alternates a Redis hit and a raw GET in each iteration, reporting both medians and
// their ratio, so that the comparison does not depend on how busy the machine was.

const benchOrders = 100_000

type benchDB struct {
	name, driver, dsn string
	q                 func(string) string
}

var sinkRows int

func benchDatabases(b *testing.B) []benchDB {
	dir := b.TempDir()
	dbs := []benchDB{{name: "sqlite", driver: "sqlite3", dsn: filepath.Join(dir, "bench.db"), q: func(s string) string { return s }}}
	dbs = append(dbs, benchDB{name: "postgres", driver: "pgx", dsn: testenv.Postgres(b), q: dollar})
	for _, d := range dbs {
		bare, err := sql.Open(d.driver, d.dsn)
		if err != nil {
			b.Fatal(err)
		}
		seedBench(b, bare, d)
		bare.Close()
	}
	return dbs
}

// dollar turns ? placeholders into $n.
func dollar(s string) string {
	var sb strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			fmt.Fprintf(&sb, "$%d", n)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func seedBench(b *testing.B, db *sql.DB, d benchDB) {
	mustExec(b, db, `CREATE TABLE bench_users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, score INTEGER NOT NULL, created TIMESTAMP NOT NULL)`)
	mustExec(b, db, `CREATE TABLE bench_orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, amount INTEGER NOT NULL)`)
	if d.driver == "pgx" {
		mustExec(b, db, `INSERT INTO bench_users SELECT i, 'user ' || i, 'u' || i || '@example.com', i % 100, TIMESTAMP '2026-01-01' + i * INTERVAL '1 minute' FROM generate_series(1, 1000) i`)
		mustExec(b, db, fmt.Sprintf(`INSERT INTO bench_orders SELECT i, 1 + i %% 1000, i %% 97 FROM generate_series(1, %d) i`, benchOrders))
		mustExec(b, db, `ANALYZE`)
		return
	}
	mustExec(b, db, `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
		INSERT INTO bench_users SELECT i, 'user ' || i, 'u' || i || '@example.com', i % 100, datetime('2026-01-01', '+' || i || ' minutes') FROM s`)
	mustExec(b, db, fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
		INSERT INTO bench_orders SELECT i, 1 + i %% 1000, i %% 97 FROM s`, benchOrders))
}

var benchQueries = []struct {
	name, sql string
	args      []any
}{
	{"pk", `SELECT id, name, email, score, created FROM bench_users WHERE id = ?`, []any{42}},
	// A join and distinct counts over the 100,000 orders: around 100 ms on either database here.
	{"aggregate", `SELECT u.score % 10, count(DISTINCT o.amount * u.score), count(DISTINCT o.id % 9973 * u.score),
		count(DISTINCT (o.id * 31 + u.score) % 49999), sum(o.amount), avg(o.amount)
		FROM bench_orders o JOIN bench_users u ON u.id = o.user_id GROUP BY 1 ORDER BY 1`, nil},
}

func BenchmarkRead(b *testing.B) {
	rdb := testenv.Redis(b)
	for _, d := range benchDatabases(b) {
		for _, q := range benchQueries {
			b.Run(d.name+"/"+q.name, func(b *testing.B) {
				benchQuery(b, d, rdb, d.q(q.sql), q.args)
			})
		}
	}
}

func benchQuery(b *testing.B, d benchDB, rdb *redis.Client, query string, args []any) {
	ctx := context.Background()
	open := func(opts cachedsql.Options) *sql.DB {
		db, err := cachedsql.Open(d.driver, d.dsn, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
	bare, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bare.Close() })
	ns := strings.TrimSuffix(testenv.Prefix(b), ":")
	norule := open(cachedsql.Options{})
	memory := open(cachedsql.Options{Rules: cacheAll(b)})
	viaRedis := open(cachedsql.Options{Rules: cacheAll(b), Redis: rdb, Namespace: ns})

	run := func(db *sql.DB) func(*testing.B) {
		return func(b *testing.B) {
			readAllB(b, ctx, db, query, args) // warm: fills the cache where there is one
			b.ReportAllocs()
			for b.Loop() {
				readAllB(b, ctx, db, query, args)
			}
		}
	}
	b.Run("bare", run(bare))
	b.Run("norule", run(norule))
	b.Run("memory-hit", run(memory))
	b.Run("redis-hit", run(viaRedis))
	b.Run("redis-get", func(b *testing.B) {
		readAllB(b, ctx, viaRedis, query, args)
		key := entryKey(b, rdb, ns)
		b.ReportAllocs()
		for b.Loop() {
			v, err := rdb.Get(ctx, key).Bytes()
			if err != nil {
				b.Fatal(err)
			}
			sinkRows += len(v)
		}
	})
	b.Run("hit-vs-get", func(b *testing.B) {
		readAllB(b, ctx, viaRedis, query, args)
		key := entryKey(b, rdb, ns)
		// The same keys a hit reads (the entry, the epoch and each table's token), in one raw MGET:
		// the floor of a hit's single round trip.
		keys := append([]string{key}, namespaceKeys(b, rdb, ns+":e:*", ns+":t:*")...)
		var hits, gets, mgets []time.Duration
		for b.Loop() {
			t0 := time.Now()
			readAllB(b, ctx, viaRedis, query, args)
			t1 := time.Now()
			if _, err := rdb.Get(ctx, key).Bytes(); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if _, err := rdb.MGet(ctx, keys...).Result(); err != nil {
				b.Fatal(err)
			}
			hits, gets, mgets = append(hits, t1.Sub(t0)), append(gets, t2.Sub(t1)), append(mgets, time.Since(t2))
		}
		h, g, m := medianOf(hits), medianOf(gets), medianOf(mgets)
		b.ReportMetric(float64(h.Nanoseconds()), "hit-ns")
		b.ReportMetric(float64(g.Nanoseconds()), "get-ns")
		b.ReportMetric(float64(m.Nanoseconds()), "mget-ns")
		b.ReportMetric(float64(h)/float64(g), "hit/get")
		b.ReportMetric(float64(h)/float64(m), "hit/mget")
	})
}

// namespaceKeys lists the keys matching patterns.
func namespaceKeys(b *testing.B, rdb *redis.Client, patterns ...string) []string {
	b.Helper()
	var out []string
	for _, p := range patterns {
		keys, err := rdb.Keys(context.Background(), p).Result()
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, keys...)
	}
	return out
}

// entryKey finds the one result entry stored under namespace ns.
func entryKey(b *testing.B, rdb *redis.Client, ns string) string {
	b.Helper()
	keys, err := rdb.Keys(context.Background(), ns+":q:*").Result()
	if err != nil || len(keys) != 1 {
		b.Fatalf("entries under %s: %v, %v; want exactly one", ns, keys, err)
	}
	return keys[0]
}

func medianOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func readAllB(b *testing.B, ctx context.Context, db *sql.DB, query string, args []any) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		b.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		sinkRows++
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHitDriverLevel measures what this package alone costs, below database/sql (which adds its
// own allocations and locking): the driver connection's QueryContext, Next and Close, for the bare
// SQLite connection, the wrapper with no matching rule, and a hit from the in-process store, of a
// result-set rule and of a row rule.
func BenchmarkHitDriverLevel(b *testing.B) {
	ctx := context.Background()
	none, err := cachedsql.NewRules(cachedsql.Rule{Name: "other", Match: cachedsql.Match{QueryName: "Other"}})
	if err != nil {
		b.Fatal(err)
	}
	const q = `SELECT id, name, score, born, avatar FROM users WHERE id = ?`
	_, norule := openSQLite(b, cachedsql.Options{Rules: none})
	_, cached := openSQLite(b, cachedsql.Options{})
	_, row := openSQLite(b, cachedsql.Options{Rules: mustRules(b, cachedsql.Rule{Name: "user",
		Match: cachedsql.Match{SQL: q}, Key: []string{"id"}, TTL: time.Hour})})
	args := []driver.NamedValue{{Ordinal: 1, Value: int64(1)}}
	cases := []struct {
		name   string
		db     *sql.DB
		unwrap bool
	}{{"bare", norule, true}, {"norule", norule, false}, {"memory-hit", cached, false}, {"memory-row-hit", row, false}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			conn, err := c.db.Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			err = conn.Raw(func(dc any) error {
				if c.unwrap {
					dc = cachedsql.Unwrap(dc)
				}
				qc := dc.(driver.QueryerContext)
				dest := make([]driver.Value, 5)
				readOnce := func() {
					rows, err := qc.QueryContext(ctx, q, args)
					if err != nil {
						b.Fatal(err)
					}
					for rows.Next(dest) == nil {
						sinkRows++
					}
					rows.Close()
				}
				readOnce()
				b.ReportAllocs()
				for b.Loop() {
					readOnce()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkMissFill measures a miss that queries and stores (forced with WithRefresh), beside the bare
// driver's query, on SQLite and the in-process store.
func BenchmarkMissFill(b *testing.B) {
	ctx := context.Background()
	bare, db := openSQLite(b, cachedsql.Options{})
	const q = `SELECT id, name, score, born, avatar FROM users WHERE id = ?`
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			readAllB(b, ctx, bare, q, []any{1})
		}
	})
	b.Run("miss-fill", func(b *testing.B) {
		b.ReportAllocs()
		rctx := cachedsql.WithRefresh(ctx)
		for b.Loop() {
			readAllB(b, rctx, db, q, []any{1})
		}
	})
}
