package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"flag"
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

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	pg := fs.String("pg", "", "PostgreSQL DSN to run on instead of a SQLite file (tables demo_customers, demo_orders are created and dropped)")
	redisURL := fs.String("redis", "", "Redis URL (redis://host:port/db) to cache in instead of process memory")
	nrows := fs.Int("rows", 100_000, "rows in the orders table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := openDemoDB(*pg)
	if err != nil {
		return err
	}
	defer d.cleanup()

	opts := cachedsql.Options{Namespace: fmt.Sprintf("cachedsql-demo-%d", os.Getpid())}
	storeName := "in-memory store"
	if *redisURL != "" {
		rdb, err := cliRedis("demo", *redisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
		defer cleanNamespace(ctx, rdb, opts.Namespace)
		opts.Redis = rdb
		storeName = "Redis at " + rdb.Options().Addr
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

func dropPG(dsn string) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	db.Exec("DROP TABLE IF EXISTS demo_orders, demo_customers")
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

func cleanNamespace(ctx context.Context, rdb *redis.Client, ns string) {
	iter := rdb.Scan(ctx, 0, ns+":*", 500).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// printer writes the demo's report.
type printer struct{ out io.Writer }

func newPrinter(out io.Writer) *printer { return &printer{out: out} }

const samples = 25

// compare times a query on the bare driver, then through the wrapper (a miss, then hits).
func (p *printer) compare(ctx context.Context, title string, bare, db *sql.DB, query string, args ...any) error {
	fmt.Fprintf(p.out, "\n%s\n", title)
	uncached, err := median(samples, func() error { return readAll(ctx, bare, query, args...) })
	if err != nil {
		return err
	}
	start := time.Now()
	if err := readAll(ctx, db, query, args...); err != nil {
		return err
	}
	miss := time.Since(start)
	hit, err := median(samples, func() error { return readAll(ctx, db, query, args...) })
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "  bare driver   %10s  (median of %d)\n", round(uncached), samples)
	fmt.Fprintf(p.out, "  cache miss    %10s  (database, then the result is stored)\n", round(miss))
	fmt.Fprintf(p.out, "  cache hit     %10s  (median of %d)  %s\n", round(hit), samples, speedup(uncached, hit))
	return nil
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
	if err := db.QueryRowContext(ctx, total, 7).Scan(&n, &before); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, total, 7).Scan(&n, &before); err != nil { // a hit
		return err
	}
	upd := d.q("UPDATE demo_orders SET amount = amount + 1000 WHERE customer_id = ?")
	res, err := db.ExecContext(ctx, upd, 7)
	if err != nil {
		return err
	}
	changed, _ := res.RowsAffected()
	st0, _ := cachedsql.StatsOf(db)
	if err := db.QueryRowContext(ctx, total, 7).Scan(&n, &after); err != nil {
		return err
	}
	st1, _ := cachedsql.StatsOf(db)
	fresh := "stale!"
	if after == before+1000*changed {
		fresh = "fresh"
	}
	how := "hit"
	if st1.Misses > st0.Misses {
		how = "miss: the write replaced the orders table's token"
	}
	fmt.Fprintf(p.out, "  total for customer 7 before: %d\n", before)
	fmt.Fprintf(p.out, "  %s  (%d rows)\n", strings.ReplaceAll(upd, "\n", " "), changed)
	fmt.Fprintf(p.out, "  total right after:           %d  (%s, %s)\n", after, fresh, how)
	return nil
}

// rowWriteThrough shows the row rule: a write to one customer leaves that customer's entry a hit with
// the new values (write-through) and the other customers' entries hits.
func (p *printer) rowWriteThrough(ctx context.Context, db *sql.DB, d demoDB, lookup string) error {
	fmt.Fprintf(p.out, "\n4. A write to one row under a row rule with write_through\n")
	read := func(id int) (name string, hit bool, err error) {
		st0, _ := cachedsql.StatsOf(db)
		err = db.QueryRowContext(ctx, lookup, id).Scan(new(int64), &name, new(string), new(any))
		st1, _ := cachedsql.StatsOf(db)
		return name, st1.Hits > st0.Hits, err
	}
	for _, id := range []int{42, 43} {
		if _, _, err := read(id); err != nil {
			return err
		}
	}
	upd := d.q("UPDATE demo_customers SET name = ? WHERE id = ?")
	if _, err := db.ExecContext(ctx, upd, "Ada Lovelace", 42); err != nil {
		return err
	}
	fmt.Fprintf(p.out, "  %s  ('Ada Lovelace', 42)\n", upd)
	for _, id := range []int{42, 43} {
		name, hit, err := read(id)
		if err != nil {
			return err
		}
		how := "miss"
		if hit {
			how = "hit"
		}
		fmt.Fprintf(p.out, "  GetCustomer id=%d right after: %-14q (%s)\n", id, name, how)
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
