// Gorm runs GORM over the caching wrapper, in each way GORM accepts a database/sql driver:
//
//   - SQLite through gorm.io/driver/sqlite with Conn: a *sql.DB from cachedsql.Open (always run);
//   - PostgreSQL through gorm.io/driver/postgres with Conn: a *sql.DB from cachedsql.Open;
//   - PostgreSQL with DriverName: a name made by cachedsql.Register, which GORM passes to sql.Open.
//
// The PostgreSQL ways run when a DSN is given (-pg or $DATABASE_URL), caching in Redis (-redis or
// $CACHEDSQL_REDIS_URL, default redis://127.0.0.1:6379/0). They create and drop the tables users and posts.
//
//	go run ./examples/gorm
//	go run ./examples/gorm -pg postgres://postgres@127.0.0.1:5432/test
//
// pgx and migrations: pgx's default query mode prepares every statement that has arguments and keeps
// it per connection. After a migration changes a table (AutoMigrate adding a column), PostgreSQL
// refuses such a statement once with "cached plan must not change result type". GORM avoids this
// with PreferSimpleProtocol only when it opens pgx itself: with DriverName set (and for a *sql.DB
// passed as Conn) the option does nothing. So put default_query_exec_mode=simple_protocol (or exec)
// in the DSN, as below. The cache is never stale across a migration: DDL replaces the database's
// epoch, which every cached entry records.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/cachedsql/cachedsql"
)

// User has many posts.
type User struct {
	ID    uint
	Name  string
	Posts []Post
}

// Post belongs to a user.
type Post struct {
	ID     uint
	UserID uint
	Title  string
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
		fmt.Fprintf(os.Stderr, "gorm: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := start(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gorm:", err)
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
		// Register once, at start-up: the name is what GORM's DriverName (or sql.Open) takes.
		cfg.pgDriver = "pgx+cache"
		cachedsql.Register(cfg.pgDriver, stdlib.GetDefaultDriver(), options(rdb, cfg.namespace))
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

// run shows each way to open GORM over the cache.
func run(ctx context.Context, out io.Writer, cfg config, rdb *redis.Client) error {
	dir, err := os.MkdirTemp("", "cachedsql-gorm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// SQLite: GORM over a caching *sql.DB, passed as Conn.
	db, err := cachedsql.Open("sqlite3", filepath.Join(dir, "blog.db"), options(nil, cfg.namespace))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := demo(ctx, out, "sqlite, Conn", sqlite.New(sqlite.Config{Conn: db})); err != nil {
		return err
	}
	if cfg.pgDSN == "" {
		fmt.Fprintln(out, "postgres: skipped (no -pg DSN)")
		return nil
	}
	dsn := simpleProtocol(cfg.pgDSN)

	// PostgreSQL: GORM over a caching *sql.DB, passed as Conn.
	pg, err := cachedsql.Open("pgx", dsn, options(rdb, cfg.namespace))
	if err != nil {
		return err
	}
	defer pg.Close()
	if err := demo(ctx, out, "postgres, Conn", postgres.New(postgres.Config{Conn: pg})); err != nil {
		return err
	}

	// PostgreSQL: GORM opens the registered caching driver by name.
	return demo(ctx, out, "postgres, DriverName", postgres.New(postgres.Config{DriverName: cfg.pgDriver, DSN: dsn}))
}

// simpleProtocol sets pgx's default_query_exec_mode=simple_protocol in a URL-style DSN (see the
// package comment for why).
func simpleProtocol(dsn string) string {
	if strings.Contains(dsn, "default_query_exec_mode=") {
		return dsn
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&default_query_exec_mode=simple_protocol"
	}
	return dsn + "?default_query_exec_mode=simple_protocol"
}

// demo migrates, writes a user with posts, reads it twice (a miss, then a hit), renames the user and
// reads again (fresh), then prints the cache's counters.
func demo(ctx context.Context, out io.Writer, label string, d gorm.Dialector) error {
	g, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	g = g.WithContext(ctx)
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	if err := g.AutoMigrate(&User{}, &Post{}); err != nil {
		return err
	}
	defer g.Migrator().DropTable(&Post{}, &User{})
	ann := User{Name: "ann", Posts: []Post{{Title: "hello"}, {Title: "again"}}}
	if err := g.Create(&ann).Error; err != nil {
		return err
	}
	for range 2 {
		var u User
		if err := g.Preload("Posts").First(&u, ann.ID).Error; err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s has %d posts\n", label, u.Name, len(u.Posts))
	}
	if err := g.Model(&ann).Update("name", "ann2").Error; err != nil {
		return err
	}
	var u User
	if err := g.First(&u, ann.ID).Error; err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: after the update, the name read is %s\n", label, u.Name)
	st, _ := cachedsql.StatsOf(sqlDB)
	var bypasses uint64
	for _, n := range st.Bypasses {
		bypasses += n
	}
	fmt.Fprintf(out, "%s: hits=%d misses=%d bypasses=%d\n", label, st.Hits, st.Misses, bypasses)
	return nil
}
