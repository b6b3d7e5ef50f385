// Postgres caches the reads of a PostgreSQL database in Redis, opened two ways: cachedsql.Open over
// pgx's database/sql driver, and cachedsql.WrapConnector over a pgx connector built from a parsed
// config. Both share one store and one database identity, so a write made through either is seen
// by reads through the other.
//
//	go run ./examples/postgres -pg postgres://postgres@127.0.0.1:5432/test -redis redis://127.0.0.1:6379/0
//
// The flags default to $DATABASE_URL and $CACHEDSQL_REDIS_URL, then to the local servers. The example
// creates the table example_products, and drops it when it ends (also when interrupted).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
)

// config is what the example needs to know from its flags.
type config struct {
	dsn       string // PostgreSQL
	redisURL  string // redis://host:port/db
	namespace string // Redis key prefix
}

func main() {
	var cfg config
	flag.StringVar(&cfg.dsn, "pg", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL DSN")
	flag.StringVar(&cfg.redisURL, "redis", envOr(cachedsql.EnvRedisURL, "redis://127.0.0.1:6379/0"), "Redis URL")
	flag.StringVar(&cfg.namespace, "namespace", "cachedsql-example", "Redis key prefix")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "postgres: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	// Ctrl-C cancels the context: the run stops, and drops its table on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "postgres:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newRedis returns a client of the Redis at url fit to sit next to a cache. ContextTimeoutEnabled makes
// go-redis apply context deadlines to socket I/O, so the cache's StoreTimeout (50ms by default) really
// bounds each call. MaxRetries -1 turns retries off: a failed call goes to the database at once
// instead of being retried against a Redis that is down (go-redis retries 3 times by default). The
// fail-open tests use the same settings.
func newRedis(url string) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	return redis.NewClient(o), nil
}

// run opens the database both ways and shows a write through one seen by a read through the other.
func run(ctx context.Context, out io.Writer, cfg config) error {
	rdb, err := newRedis(cfg.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	rules, err := cachedsql.NewRules(cachedsql.Rule{
		Name:  "products",
		Match: cachedsql.Match{TablesAny: []string{"example_products"}},
		TTL:   time.Minute,
	})
	if err != nil {
		return err
	}
	opts := cachedsql.Options{Redis: rdb, Rules: rules, Namespace: cfg.namespace}

	// 1. Open: a drop-in for sql.Open("pgx", dsn). The database's identity (the cluster's system
	// identifier and the database's OID) is read from the server, whatever the DSN's spelling.
	db, err := cachedsql.Open("pgx", cfg.dsn, opts)
	if err != nil {
		return err
	}
	defer db.Close()

	// 2. WrapConnector: for a connector built from a parsed config (pgx.ConnConfig can carry a TLS
	// config, a dialer, tracers …). Its identity is read from the server too, so both handles share
	// invalidations.
	pcfg, err := pgx.ParseConfig(cfg.dsn)
	if err != nil {
		return err
	}
	connector, err := cachedsql.WrapConnector(stdlib.GetConnector(*pcfg), opts)
	if err != nil {
		return err
	}
	db2 := sql.OpenDB(connector)
	defer db2.Close()

	if err := setup(ctx, db); err != nil {
		return err
	}
	defer db.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS example_products`)
	return showSharing(ctx, out, db, db2)
}

// setup creates example_products with two rows.
func setup(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{
		`DROP TABLE IF EXISTS example_products`,
		`CREATE TABLE example_products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL)`,
		`INSERT INTO example_products VALUES (1, 'pen', 1.50), (2, 'ink', 4.25)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// showSharing reads through db2 (miss, hit), writes through db, and reads through db2 again.
func showSharing(ctx context.Context, out io.Writer, db, db2 *sql.DB) error {
	const q = `SELECT name, price FROM example_products WHERE id = $1`
	read := func(what string) error {
		var name, price string
		before, _ := cachedsql.StatsOf(db2) // the cache's counters say what it did with the read
		err := db2.QueryRowContext(ctx, q, 1).Scan(&name, &price)
		after, _ := cachedsql.StatsOf(db2)
		fmt.Fprintf(out, "%s (%s): %s costs %s\n", what, outcome(before, after), name, price)
		return err
	}
	if err := read("connector, first read"); err != nil {
		return err
	}
	if err := read("connector, second read"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `UPDATE example_products SET price = $1 WHERE id = $2`, "1.75", 1); err != nil {
		return err
	}
	fmt.Fprintln(out, "open: price of pen set to 1.75")
	if err := read("connector, read after the write"); err != nil {
		return err
	}
	s1, _ := cachedsql.StatsOf(db)
	s2, _ := cachedsql.StatsOf(db2)
	fmt.Fprintf(out, "open stats: invalidations=%d\n", s1.Invalidations)
	fmt.Fprintf(out, "connector stats: hits=%d misses=%d fills=%d bypasses=%d\n", s2.Hits, s2.Misses, s2.Fills, sum(s2.Bypasses))
	return nil
}

// outcome names what the cache did with one read, from its counters before and after it.
func outcome(before, after cachedsql.Stats) string {
	switch {
	case after.Hits > before.Hits:
		return "hit"
	case after.Misses > before.Misses:
		return "miss"
	}
	for reason, n := range after.Bypasses {
		if n > before.Bypasses[reason] {
			return "bypass: " + reason.String()
		}
	}
	return "not cached"
}

// sum adds up counts by reason.
func sum(m map[cachedsql.BypassReason]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
