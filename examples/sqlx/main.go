// Sqlx runs sqlx over the caching wrapper. sqlx picks its placeholder style (? or $1) from the driver
// name, so:
//
//   - over a *sql.DB from cachedsql.Open, wrap it with sqlx.NewDb(db, parentDriverName);
//   - over a driver registered with cachedsql.Register, tell sqlx the new name's style once with
//     sqlx.BindDriver(name, sqlx.DOLLAR), then sqlx.Open(name, dsn) as usual.
//
// SQLite always runs; PostgreSQL runs both ways when a DSN is given (-pg or $DATABASE_URL), caching in
// Redis (-redis URL or $CACHEDSQL_REDIS_URL, default redis://127.0.0.1:6379/0). It creates and drops the table example_books.
//
//	go run ./examples/sqlx
//	go run ./examples/sqlx -pg postgres://postgres@127.0.0.1:5432/test
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3"
	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
)

// Book is one row of example_books.
type Book struct {
	ID     int    `db:"id"`
	Title  string `db:"title"`
	Copies int    `db:"copies"`
}

// config is what the example needs to know from its flags.
type config struct {
	pgDSN     string // "" runs SQLite only
	pgDriver  string // the name cachedsql.Register gave the caching pgx driver
	redisURL  string // redis://host:port/db
	namespace string // Redis key prefix
}

func main() {
	var cfg config
	flag.StringVar(&cfg.pgDSN, "pg", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (empty: SQLite only)")
	flag.StringVar(&cfg.redisURL, "redis", envOr(cachedsql.EnvRedisURL, "redis://127.0.0.1:6379/0"), "Redis URL")
	flag.StringVar(&cfg.namespace, "namespace", "cachedsql-example", "Redis key prefix")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sqlx: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := start(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "sqlx:", err)
		os.Exit(1)
	}
}

// start runs the example until it ends or Ctrl-C cancels it; either way its temporary folder is removed
// and its tables are dropped.
func start(cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rdb *redis.Client
	if cfg.pgDSN != "" {
		var err error
		if rdb, err = newRedis(cfg.redisURL); err != nil {
			return err
		}
		defer rdb.Close()
		// Register once, at start-up, and tell sqlx the name's placeholder style.
		cfg.pgDriver = "pgx+cache"
		cachedsql.Register(cfg.pgDriver, stdlib.GetDefaultDriver(), options(rdb, cfg.namespace))
		sqlx.BindDriver(cfg.pgDriver, sqlx.DOLLAR)
	}
	return run(ctx, os.Stdout, cfg, rdb)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newRedis returns a client of the Redis at url whose calls the cache's StoreTimeout bounds
// (ContextTimeoutEnabled), and that does not retry a failed call (MaxRetries -1): the cache then goes to
// the database at once.
func newRedis(url string) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	return redis.NewClient(o), nil
}

// options caches every read for a minute; rdb nil caches in process memory.
func options(rdb *redis.Client, namespace string) cachedsql.Options {
	rules, err := cachedsql.NewRules(cachedsql.Rule{Name: "all", Match: cachedsql.Match{Default: true}, TTL: time.Minute})
	if err != nil {
		panic(err) // a fixed, valid rule
	}
	o := cachedsql.Options{Rules: rules, Namespace: namespace}
	if rdb != nil {
		o.Redis = rdb
	}
	return o
}

// run shows each way to open sqlx over the cache.
func run(ctx context.Context, out io.Writer, cfg config, rdb *redis.Client) error {
	dir, err := os.MkdirTemp("", "cachedsql-sqlx")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// SQLite: a caching *sql.DB, wrapped under its parent's name so that sqlx uses ? placeholders.
	db, err := cachedsql.Open("sqlite3", filepath.Join(dir, "library.db"), options(nil, cfg.namespace))
	if err != nil {
		return err
	}
	if err := demo(ctx, out, "sqlite, NewDb", sqlx.NewDb(db, "sqlite3")); err != nil {
		return err
	}
	if cfg.pgDSN == "" {
		fmt.Fprintln(out, "postgres: skipped (no -pg DSN)")
		return nil
	}

	// PostgreSQL: the same with $1 placeholders, since the parent is named "pgx".
	pg, err := cachedsql.Open("pgx", cfg.pgDSN, options(rdb, cfg.namespace))
	if err != nil {
		return err
	}
	if err := demo(ctx, out, "postgres, NewDb", sqlx.NewDb(pg, "pgx")); err != nil {
		return err
	}

	// PostgreSQL through the registered name (see main for sqlx.BindDriver).
	named, err := sqlx.Open(cfg.pgDriver, cfg.pgDSN)
	if err != nil {
		return err
	}
	return demo(ctx, out, "postgres, Register", named)
}

// demo creates example_books, reads with Get, Select and In (twice: a miss, then a hit), lends a
// book with NamedExec, reads again (fresh), and prints the cache's counters. It closes db.
func demo(ctx context.Context, out io.Writer, label string, db *sqlx.DB) error {
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE example_books (id integer PRIMARY KEY, title text NOT NULL, copies integer NOT NULL)`); err != nil {
		return err
	}
	defer db.ExecContext(context.WithoutCancel(ctx), `DROP TABLE example_books`)
	books := []Book{{1, "Dune", 2}, {2, "Emma", 1}, {3, "Ulysses", 4}}
	if _, err := db.NamedExecContext(ctx, `INSERT INTO example_books (id, title, copies) VALUES (:id, :title, :copies)`, books); err != nil {
		return err
	}
	for range 2 {
		if err := show(ctx, out, label, db); err != nil {
			return err
		}
	}
	lend := Book{ID: 1, Copies: 1}
	if _, err := db.NamedExecContext(ctx, `UPDATE example_books SET copies = :copies WHERE id = :id`, lend); err != nil {
		return err
	}
	if err := show(ctx, out, label+", after lending Dune", db); err != nil {
		return err
	}
	st, _ := cachedsql.StatsOf(db.DB)
	var bypasses uint64
	for _, n := range st.Bypasses {
		bypasses += n
	}
	fmt.Fprintf(out, "%s: hits=%d misses=%d bypasses=%d\n", label, st.Hits, st.Misses, bypasses)
	return nil
}

// show reads one book with Get, all with Select, and two with In.
func show(ctx context.Context, out io.Writer, label string, db *sqlx.DB) error {
	var dune Book
	if err := db.GetContext(ctx, &dune, db.Rebind(`SELECT * FROM example_books WHERE id = ?`), 1); err != nil {
		return err
	}
	var all []Book
	if err := db.SelectContext(ctx, &all, `SELECT * FROM example_books ORDER BY id`); err != nil {
		return err
	}
	q, args, err := sqlx.In(`SELECT * FROM example_books WHERE id IN (?) ORDER BY id`, []int{2, 3})
	if err != nil {
		return err
	}
	var some []Book
	if err := db.SelectContext(ctx, &some, db.Rebind(q), args...); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s has %d copies; %d books; %s and %s\n", label, dune.Title, dune.Copies, len(all), some[0].Title, some[1].Title)
	return nil
}
