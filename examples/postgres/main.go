// Postgres caches the reads of a PostgreSQL database in Redis, opened two ways: cachedsql.Open over
// pgx's database/sql driver, and cachedsql.WrapConnector over a pgx connector built from a parsed
// config. Both share one store and one database identity, so a write made through either is seen
// by reads through the other.
//
//	go run ./examples/postgres -dsn postgres://postgres@127.0.0.1:5432/test -redis 127.0.0.1:6379
//
// The flags default to $DATABASE_URL and $REDIS_ADDR, then to the local servers. The example creates
// the table example_products, and drops it when it ends.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
)

// config is what the example needs to know from its flags.
type config struct {
	dsn       string // PostgreSQL
	redisAddr string // host:port
	namespace string // Redis key prefix
	// storeTimeout bounds each Redis round trip (0: the default, 50ms); a slower Redis sends the
	// read to the database.
	storeTimeout time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.dsn, "dsn", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL DSN")
	flag.StringVar(&cfg.redisAddr, "redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	flag.StringVar(&cfg.namespace, "namespace", "cachedsql-example", "Redis key prefix")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		log.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newRedis returns a client fit to sit next to a cache. ContextTimeoutEnabled makes go-redis apply
// context deadlines to socket I/O, so the cache's StoreTimeout (50ms by default) really bounds each
// call. MaxRetries -1 turns retries off: a failed call goes to the database at once instead of being
// retried against a Redis that is down (go-redis retries 3 times by default). The fail-open tests use
// the same settings.
func newRedis(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
	})
}

// run opens the database both ways and shows a write through one seen by a read through the other.
func run(ctx context.Context, out io.Writer, cfg config) error {
	rdb := newRedis(cfg.redisAddr)
	defer rdb.Close()
	rules, err := cachedsql.NewRules(cachedsql.Rule{
		Name:  "products",
		Match: cachedsql.Match{TablesAny: []string{"example_products"}},
		TTL:   time.Minute,
	})
	if err != nil {
		return err
	}
	opts := cachedsql.Options{Redis: rdb, Rules: rules, Namespace: cfg.namespace, StoreTimeout: cfg.storeTimeout}

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
		err := db2.QueryRowContext(ctx, q, 1).Scan(&name, &price)
		fmt.Fprintf(out, "%s: %s costs %s\n", what, name, price)
		return err
	}
	if err := read("connector, first read (miss)"); err != nil {
		return err
	}
	if err := read("connector, second read (hit)"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `UPDATE example_products SET price = $1 WHERE id = $2`, "1.75", 1); err != nil {
		return err
	}
	fmt.Fprintln(out, "open: price of pen set to 1.75")
	if err := read("connector, read after the write (fresh)"); err != nil {
		return err
	}
	s1, _ := cachedsql.StatsOf(db)
	s2, _ := cachedsql.StatsOf(db2)
	fmt.Fprintf(out, "open stats: invalidations=%d\n", s1.Invalidations)
	fmt.Fprintf(out, "connector stats: hits=%d misses=%d fills=%d\n", s2.Hits, s2.Misses, s2.Fills)
	return nil
}
