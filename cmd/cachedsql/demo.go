package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
)

//go:embed demo-rules.yaml
var demoRules []byte

// demoDB is one database the demo runs on.
type demoDB struct {
	driver, dsn string
	dollar      bool // $1 placeholders (PostgreSQL) instead of ?
	cleanup     func()
}

const demoAbout = `
Demo runs a few reads and writes through the wrapper next to the bare driver, and prints their timings
and what the cache did with each, from the library's counters. By default it runs on a SQLite file in
a temporary folder and caches in process memory; -pg runs on PostgreSQL (it creates and drops the
tables demo_customers and demo_orders), -redis caches in Redis (default $CACHEDSQL_REDIS_URL, under a
namespace of its own, deleted at the end). Redis calls are bounded by $CACHEDSQL_STORE_TIMEOUT (default
50ms). An unreachable Redis is said so, and the reads then bypass the cache. An interrupted demo
cleans up what it made.`

// demoStep is called at each step of the demo (tests interrupt it there).
var demoStep = func(step string) {}

func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.flags("demo", demoAbout)
	pg := fs.String("pg", "", "PostgreSQL DSN to run on instead of a SQLite file")
	fs.String(redisFlag.flag, "", "Redis URL to cache in instead of process memory (default $"+cachedsql.EnvRedisURL+")")
	nrows := fs.Int("rows", 100_000, "rows in the orders table (at least 1)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	if *nrows < 1 {
		return usagef("-rows must be at least 1, got %d", *nrows)
	}
	opts, err := c.options(fs, redisFlag, timeoutFlag)
	if opts.Redis != nil {
		defer opts.Redis.Close()
	}
	if err != nil {
		return err
	}
	out := c.stdout
	d, err := openDemoDB(*pg)
	if err != nil {
		return err
	}
	defer d.cleanup()
	demoStep("opened")

	opts.Namespace = fmt.Sprintf("cachedsql-demo-%d", os.Getpid())
	storeName := "in-memory store"
	if opts.Redis != nil {
		defer cleanNamespace(opts.Redis, opts.Namespace)
		storeName = "Redis"
		if err := pingRedis(ctx, opts.Redis); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			storeName = "Redis (unreachable)"
			fmt.Fprintf(out, "Redis is unreachable (%v).\nThe cache fails open: the reads below go to the database, bypassing the cache (\"store unavailable\").\n\n", err)
		}
	}
	// The file's statements use ? placeholders: PostgreSQL's are $n.
	if opts.Rules, err = cachedsql.ParseRules("demo-rules.yaml", []byte(d.q(string(demoRules)))); err != nil {
		return err
	}

	bare, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		return err
	}
	defer bare.Close()
	db, err := cachedsql.Open(d.driver, d.dsn, opts)
	if err != nil {
		return err
	}
	defer db.Close()

	// Open a connection on each now, so that the timings below do not include connecting.
	if err := errors.Join(bare.PingContext(ctx), db.PingContext(ctx)); err != nil {
		return err
	}
	fmt.Fprintf(out, "cachedsql demo: %s + %s\n\n", d.name(), storeName)
	if err := seed(ctx, bare, d, *nrows); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	demoStep("seeded")
	fmt.Fprintf(out, "Seeded %d customers and %d orders. Rules (demo-rules.yaml):\n", 1000, *nrows)
	for _, r := range opts.Rules.All() {
		fmt.Fprintf(out, "  %-16s ttl %v\n", r.Name, r.TTL)
	}
	p := newPrinter(out)
	lookup := d.q("-- name: GetCustomer :one\nSELECT id, name, region, created FROM demo_customers WHERE id = ?")
	if err := p.compare(ctx, "1. A primary-key lookup (GetCustomer id=42)", bare, db, lookup, 42); err != nil {
		return err
	}
	revenue := d.q("-- name: RevenueByRegion :many\nSELECT c.region, count(*), sum(o.amount) FROM demo_orders o JOIN demo_customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY c.region")
	if err := p.compare(ctx, fmt.Sprintf("2. An aggregate over %d orders (RevenueByRegion)", *nrows), bare, db, revenue); err != nil {
		return err
	}
	if err := p.writeThenRead(ctx, db, d); err != nil {
		return err
	}
	if err := p.rowWriteThrough(ctx, db, d, lookup); err != nil {
		return err
	}
	st, _ := cachedsql.StatsOf(db)
	p.stats(st)
	return nil
}

// pingRedis checks that Redis answers, within a second.
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
}

func (d demoDB) name() string {
	if d.driver == "pgx" {
		return "PostgreSQL"
	}
	return "SQLite file " + d.dsn
}

// q rewrites ? placeholders as $n for PostgreSQL.
func (d demoDB) q(s string) string {
	if !d.dollar {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func openDemoDB(pg string) (demoDB, error) {
	if pg != "" {
		return demoDB{driver: "pgx", dsn: pg, dollar: true, cleanup: func() { dropPG(pg) }}, nil
	}
	dir, err := os.MkdirTemp("", "cachedsql-demo-")
	if err != nil {
		return demoDB{}, err
	}
	path := filepath.Join(dir, "demo.db")
	return demoDB{driver: "sqlite3", dsn: path, cleanup: func() { os.RemoveAll(dir) }}, nil
}

// dropPG drops the demo's tables, also when the demo was interrupted.
func dropPG(dsn string) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db.ExecContext(ctx, "DROP TABLE IF EXISTS demo_orders, demo_customers")
}

func seed(ctx context.Context, db *sql.DB, d demoDB, n int) error {
	stmts := []string{
		"DROP TABLE IF EXISTS demo_orders",
		"DROP TABLE IF EXISTS demo_customers",
		"CREATE TABLE demo_customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL, created TIMESTAMP NOT NULL)",
		"CREATE TABLE demo_orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount INTEGER NOT NULL)",
	}
	if d.driver == "pgx" {
		stmts = append(stmts,
			`INSERT INTO demo_customers SELECT i, 'customer ' || i, (ARRAY['north','south','east','west'])[1 + i % 4], TIMESTAMP '2026-01-01' + i * INTERVAL '1 hour' FROM generate_series(1, 1000) i`,
			fmt.Sprintf(`INSERT INTO demo_orders SELECT i, 1 + i %% 1000, i %% 97 FROM generate_series(1, %d) i`, n))
	} else {
		stmts = append(stmts,
			`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
			 INSERT INTO demo_customers SELECT i, 'customer ' || i, CASE i % 4 WHEN 0 THEN 'north' WHEN 1 THEN 'south' WHEN 2 THEN 'east' ELSE 'west' END, datetime('2026-01-01', '+' || i || ' hours') FROM s`,
			fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
			 INSERT INTO demo_orders SELECT i, 1 + i %% 1000, i %% 97 FROM s`, n))
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// cleanNamespace deletes the demo's keys, through the Admin (which reaches every master of a
// Cluster). It runs at the end of the demo, also when it is interrupted.
func cleanNamespace(rdb redis.UniversalClient, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cachedsql.NewAdmin(rdb, ns).Flush(ctx)
}

// printer writes the demo's report.
type printer struct{ out io.Writer }

func newPrinter(out io.Writer) *printer { return &printer{out: out} }

const samples = 25

// compare times a query on the bare driver, then through the wrapper: a first read, then more reads.
// What the cache did with them comes from its counters.
func (p *printer) compare(ctx context.Context, title string, bare, db *sql.DB, query string, args ...any) error {
	fmt.Fprintf(p.out, "\n%s\n", title)
	uncached, err := median(samples, func() error { return readAll(ctx, bare, query, args...) })
	if err != nil {
		return err
	}
	var first time.Duration
	what, err := outcome(db, func() error {
		start := time.Now()
		err := readAll(ctx, db, query, args...)
		first = time.Since(start)
		return err
	})
	if err != nil {
		return err
	}
	var next time.Duration
	whatNext, err := outcome(db, func() error {
		next, err = median(samples, func() error { return readAll(ctx, db, query, args...) })
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "  bare driver   %10s  (median of %d)\n", round(uncached), samples)
	fmt.Fprintf(p.out, "  first read    %10s  (%s)\n", round(first), what)
	fmt.Fprintf(p.out, "  next reads    %10s  (median of %d: %s)  %s\n", round(next), samples, whatNext, speedup(uncached, next))
	return nil
}

// outcome runs f and says what the cache of db did with its reads, from db's counters: "hit", "miss,
// stored", "bypass: store unavailable", or counts of each ("25 hits").
func outcome(db *sql.DB, f func() error) (string, error) {
	before, _ := cachedsql.StatsOf(db)
	err := f()
	after, _ := cachedsql.StatsOf(db)
	return describeDelta(before, after), err
}

// describeDelta names what the counters say happened between two snapshots.
func describeDelta(before, after cachedsql.Stats) string {
	var parts []string
	add := func(n uint64, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(after.Hits-before.Hits, "hit", "hits")
	add(after.Misses-before.Misses, "miss", "misses")
	add(after.Fills-before.Fills, "stored", "stored")
	add(after.FillsSkipped-before.FillsSkipped, "not stored", "not stored")
	for _, r := range slices.Sorted(maps.Keys(after.Bypasses)) {
		add(after.Bypasses[r]-before.Bypasses[r], "bypass: "+r.String(), "bypasses: "+r.String())
	}
	for _, r := range slices.Sorted(maps.Keys(after.StaleServed)) {
		add(after.StaleServed[r]-before.StaleServed[r], "stale: "+r.String(), "stale: "+r.String())
	}
	add(after.StoreErrors-before.StoreErrors, "1 store error", "store errors")
	if len(parts) == 0 {
		return "no cache activity"
	}
	return strings.Join(parts, ", ")
}

func speedup(base, hit time.Duration) string {
	if hit <= 0 {
		return ""
	}
	r := float64(base) / float64(hit)
	if r >= 1 {
		return fmt.Sprintf("%.1f× faster than the bare driver", r)
	}
	return fmt.Sprintf("%.1f× slower than the bare driver: caching does not pay here", 1/r)
}

func (p *printer) writeThenRead(ctx context.Context, db *sql.DB, d demoDB) error {
	fmt.Fprintf(p.out, "\n3. A write through the wrapper, then the same read\n")
	total := d.q("-- name: CustomerTotal :one\nSELECT count(*), coalesce(sum(amount), 0) FROM demo_orders WHERE customer_id = ?")
	var n, before, after int64
	first, err := outcome(db, func() error { return db.QueryRowContext(ctx, total, 7).Scan(&n, &before) })
	if err != nil {
		return err
	}
	second, err := outcome(db, func() error { return db.QueryRowContext(ctx, total, 7).Scan(&n, &before) })
	if err != nil {
		return err
	}
	upd := d.q("UPDATE demo_orders SET amount = amount + 1000 WHERE customer_id = ?")
	res, err := db.ExecContext(ctx, upd, 7)
	if err != nil {
		return err
	}
	changed, _ := res.RowsAffected()
	third, err := outcome(db, func() error { return db.QueryRowContext(ctx, total, 7).Scan(&n, &after) })
	if err != nil {
		return err
	}
	fresh := "stale!"
	if after == before+1000*changed {
		fresh = "fresh"
	}
	fmt.Fprintf(p.out, "  total for customer 7:        %d  (%s, then %s)\n", before, first, second)
	fmt.Fprintf(p.out, "  %s  (%d rows)\n", strings.ReplaceAll(upd, "\n", " "), changed)
	fmt.Fprintf(p.out, "  total right after:           %d  (%s: %s)\n", after, fresh, third)
	return nil
}

// rowWriteThrough shows the row rule: a write to one customer leaves that customer's entry a hit with
// the new values (write-through) and the other customers' entries hits.
func (p *printer) rowWriteThrough(ctx context.Context, db *sql.DB, d demoDB, lookup string) error {
	fmt.Fprintf(p.out, "\n4. A write to one row under a row rule with write_through\n")
	read := func(id int) (name, what string, err error) {
		what, err = outcome(db, func() error {
			return db.QueryRowContext(ctx, lookup, id).Scan(new(int64), &name, new(string), new(any))
		})
		return name, what, err
	}
	for _, id := range []int{42, 43} {
		if _, _, err := read(id); err != nil {
			return err
		}
	}
	upd := d.q("UPDATE demo_customers SET name = ? WHERE id = ?")
	before, _ := cachedsql.StatsOf(db)
	if _, err := db.ExecContext(ctx, upd, "Ada Lovelace", 42); err != nil {
		return err
	}
	after, _ := cachedsql.StatsOf(db)
	fmt.Fprintf(p.out, "  %s  ('Ada Lovelace', 42): %d entry written through\n", upd, after.WriteThroughs-before.WriteThroughs)
	for _, id := range []int{42, 43} {
		name, what, err := read(id)
		if err != nil {
			return err
		}
		fmt.Fprintf(p.out, "  GetCustomer id=%d right after: %-14q (%s)\n", id, name, what)
	}
	return nil
}

func (p *printer) stats(st cachedsql.Stats) {
	fmt.Fprintf(p.out, "\n5. Stats\n")
	fmt.Fprintf(p.out, "  hits %d  misses %d  hit ratio %.0f%%  fills %d  written through %d  invalidations %d  store errors %d\n",
		st.Hits, st.Misses, 100*st.HitRatio(), st.Fills, st.WriteThroughs, st.Invalidations, st.StoreErrors)
	names := make([]string, 0, len(st.Rules))
	for n := range st.Rules {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := st.Rules[n]
		fmt.Fprintf(p.out, "  rule %-16s hits %d  misses %d  fills %d\n", n, r.Hits, r.Misses, r.Fills)
	}
	for _, reason := range slices.Sorted(maps.Keys(st.Bypasses)) {
		fmt.Fprintf(p.out, "  bypassed (%s): %d\n", reason, st.Bypasses[reason])
	}
}

func readAll(ctx context.Context, db *sql.DB, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
	}
	return rows.Err()
}

func median(n int, f func() error) (time.Duration, error) {
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2], nil
}

func round(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond).String()
	}
	return d.String()
}
